//go:build !windows

package service

import "time"

// Install returns ErrUnsupportedPlatform: on Linux the .deb (or
// packaging/systemd) installs the service.
func Install(o InstallOptions) (InstallResult, error) {
	if err := o.normalise(); err != nil {
		return InstallResult{}, err
	}
	return InstallResult{}, ErrUnsupportedPlatform
}

// ServiceInfo is the installed service as the control manager has it.
type ServiceInfo struct {
	CommandLine string
	Account     string
	StartType   string
	State       string
}

// Query returns ErrUnsupportedPlatform on this system.
func Query(name string) (ServiceInfo, error) { return ServiceInfo{}, ErrUnsupportedPlatform }

// Secure returns ErrUnsupportedPlatform on this system: galmirror creates
// its folders with mode 0700, and `chmod 700 DIR` mends one that is not.
func Secure(dirs ...string) error { return ErrUnsupportedPlatform }

// Uninstall returns ErrUnsupportedPlatform on this system.
func Uninstall(name string) error { return ErrUnsupportedPlatform }

// Start returns ErrUnsupportedPlatform on this system.
func Start(name string, wait time.Duration) error { return ErrUnsupportedPlatform }

// Stop returns ErrUnsupportedPlatform on this system.
func Stop(name string) error { return ErrUnsupportedPlatform }
