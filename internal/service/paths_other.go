//go:build !windows

package service

// DefaultDir is galmirror's directory for settings: /etc/galmirror (the
// state lives in dataDir, /var/lib/galmirror under systemd).
func DefaultDir() string { return "/etc/galmirror" }

// DefaultDataDir is the dataDir of settings galmirror deploy writes: the
// systemd unit's StateDirectory.
func DefaultDataDir() string { return "/var/lib/galmirror" }
