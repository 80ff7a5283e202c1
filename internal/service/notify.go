package service

import "errors"

// Notifier tells the service manager about the service's state. On Linux
// under systemd (Type=notify) it is SystemdNotifier(); on Windows the
// service control handler reports state itself, so the service uses no
// Notifier there.
type Notifier interface {
	// Ready: start-up or a reload finished (READY=1).
	Ready() error
	// Reloading: a configuration reload began (RELOADING=1).
	Reloading() error
	// Stopping: shutdown began (STOPPING=1).
	Stopping() error
}

type nopNotifier struct{}

func (nopNotifier) Ready() error     { return nil }
func (nopNotifier) Reloading() error { return nil }
func (nopNotifier) Stopping() error  { return nil }

// ErrUnsupportedPlatform is returned by the Windows service functions on
// other systems.
var ErrUnsupportedPlatform = errors.New("service: only available on Windows")
