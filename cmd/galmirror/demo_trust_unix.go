//go:build aix || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package main

// demoTrust makes graphsim's CA trusted the way a customer's machine
// trusts a CA: through the system store, which Go reads from SSL_CERT_FILE
// on these systems. No caFile goes into the settings.
func demoTrust(caFile string) (env []string, endpointCA string) {
	return []string{"SSL_CERT_FILE=" + caFile}, ""
}
