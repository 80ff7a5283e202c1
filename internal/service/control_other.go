//go:build !windows

package service

import "context"

// IsWindowsService reports whether the process was started by the Windows
// service control manager: never, on this system.
func IsWindowsService() bool { return false }

// RunWindowsService returns ErrUnsupportedPlatform on this system.
func RunWindowsService(name string, run func(context.Context) error, reload func()) error {
	return ErrUnsupportedPlatform
}
