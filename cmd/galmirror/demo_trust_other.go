//go:build !(aix || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package main

// demoTrust: Windows and macOS verify certificates with the platform's
// own store, which a demo cannot add a CA to without an administrator, so
// the settings name graphsim's CA in endpoints.caFile (the option a
// customer behind a TLS-inspecting proxy uses).
func demoTrust(caFile string) (env []string, endpointCA string) {
	return nil, caFile
}
