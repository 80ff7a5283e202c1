//go:build !windows

package service

// DefaultDir is galmirror's directory for settings: /etc/galmirror (the
// state lives in dataDir, /var/lib/galmirror under systemd).
func DefaultDir() string { return "/etc/galmirror" }
