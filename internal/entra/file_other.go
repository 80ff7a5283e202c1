//go:build !windows

package entra

import (
	"os"
	"syscall"
)

// openNonBlocking opens path for reading without waiting for a writer if
// it is (or has become) a FIFO; for a regular file the flag changes
// nothing.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
