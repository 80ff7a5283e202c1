//go:build !windows

package service

// Install returns ErrUnsupportedPlatform: use packaging/systemd on Linux.
func Install(o InstallOptions) error {
	if err := o.normalise(); err != nil {
		return err
	}
	return ErrUnsupportedPlatform
}

// Uninstall returns ErrUnsupportedPlatform on this system.
func Uninstall(name string) error { return ErrUnsupportedPlatform }

// Start returns ErrUnsupportedPlatform on this system.
func Start(name string) error { return ErrUnsupportedPlatform }

// Stop returns ErrUnsupportedPlatform on this system.
func Stop(name string) error { return ErrUnsupportedPlatform }
