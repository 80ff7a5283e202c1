//go:build windows

package entra

import "os"

// openNonBlocking opens path for reading. Windows has no FIFOs in the file
// system (named pipes live under \\.\pipe\, which Stat does not report as
// regular files), so a plain open does not block.
func openNonBlocking(path string) (*os.File, error) {
	return os.Open(path)
}
