package service

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// DefaultDir is galmirror's directory for settings and state:
// %ProgramData%\galmirror (absolute: services start in System32).
func DefaultDir() string {
	if d, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0); err == nil && d != "" {
		return filepath.Join(d, "galmirror")
	}
	if d := os.Getenv("ProgramData"); d != "" {
		return filepath.Join(d, "galmirror")
	}
	return `C:\ProgramData\galmirror`
}

// DefaultDataDir is the dataDir of settings galmirror deploy writes,
// inside the private folder.
func DefaultDataDir() string { return filepath.Join(DefaultDir(), "state") }
