// Package logfile is the service's rotating log file: galmirror.log in a
// private folder, at most MaxSize bytes, with at most Keep older files
// (galmirror.log.1 the newest of them). Windows administrators look there
// for the per-mailbox detail the Event Log does not hold.
package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/galmirror/galmirror/internal/fsperm"
)

// File is a rotating log file. It is safe for concurrent use; a write that
// fails is reported to its caller (the log handler), never retried.
type File struct {
	path    string
	maxSize int64
	keep    int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open opens (or creates, with its folder, private: fsperm.MkdirPrivate)
// the log file at path, appending. maxSize bounds each file (at least 64
// KiB); keep is how many rotated files are kept (at least 1).
func Open(path string, maxSize int64, keep int) (*File, error) {
	if err := fsperm.MkdirPrivate(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	}
	l := &File{path: path, maxSize: max(maxSize, 64<<10), keep: max(keep, 1)}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p (one log record), rotating first when it would make the
// file larger than its bound.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.maxSize {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate renames galmirror.log.N to .N+1 (the oldest beyond keep goes),
// galmirror.log to .1, and starts a new file.
func (l *File) rotate() error {
	l.f.Close()
	l.f = nil
	_ = os.Remove(l.path + "." + strconv.Itoa(l.keep))
	for i := l.keep - 1; i >= 1; i-- {
		_ = os.Rename(l.path+"."+strconv.Itoa(i), l.path+"."+strconv.Itoa(i+1))
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil && !os.IsNotExist(err) {
		// Another process holds it open without FILE_SHARE_DELETE
		// (Windows): go on in the same file rather than lose the log.
		return l.open()
	}
	return l.open()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
