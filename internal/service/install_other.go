//go:build !windows

package service

// Install returns ErrUnsupportedPlatform: use packaging/systemd on Linux.
func Install(o InstallOptions) error {
	if err := o.normalise(); err != nil {
		return err
	}
	return ErrUnsupportedPlatform
}

// Secure returns ErrUnsupportedPlatform on this system: galmirror creates
// its folders with mode 0700, and `chmod 700 DIR` mends one that is not.
func Secure(dirs ...string) error { return ErrUnsupportedPlatform }

// Uninstall returns ErrUnsupportedPlatform on this system.
func Uninstall(name string) error { return ErrUnsupportedPlatform }

// Start returns ErrUnsupportedPlatform on this system.
func Start(name string) error { return ErrUnsupportedPlatform }

// Stop returns ErrUnsupportedPlatform on this system.
func Stop(name string) error { return ErrUnsupportedPlatform }
