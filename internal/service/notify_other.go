//go:build !linux

package service

// SystemdNotifier returns a no-op Notifier: systemd exists only on Linux.
func SystemdNotifier() Notifier { return nopNotifier{} }
