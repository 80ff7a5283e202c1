package entra

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// File size bounds. A PFX or PEM file with its chain is a few KiB and a
// CA bundle (all of Mozilla's roots) about 200 KiB: anything larger is not
// what the settings meant, and is refused rather than read into memory.
const (
	MaxCertificateFileSize = 1 << 20 // 1 MiB: certificate and key files
	MaxCAFileSize          = 4 << 20 // 4 MiB: PEM bundles of trusted CAs
)

// FileError says why a file named in the settings cannot be read as one:
// it is not a regular file, or it is too large. It never carries the
// file's content.
type FileError struct {
	Path    string
	Problem string
}

func (e *FileError) Error() string { return e.Path + ": " + e.Problem }

// ReadFile reads the regular file at path, at most limit bytes, and stops
// when ctx is done. A FIFO, directory, device or socket is refused before
// it is opened (opening a FIFO blocks until a writer comes; reading a
// device may never end); a file larger than limit is refused by its size,
// and one that grows past limit while being read is refused too. Errors
// opening the file are the *fs.PathError of package os (errors.Is(err,
// fs.ErrNotExist) holds for a missing file).
func ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(path, st, limit); err != nil {
		return nil, err
	}
	// Non-blocking where the system has it: if the file was swapped for a
	// FIFO after the Stat, the open does not wait for a writer.
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	st2, err := f.Stat()
	if err == nil {
		err = regular(path, st2, limit)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return readAll(ctx, path, f, limit)
}

// readAll reads f (the file at path) to its end, at most limit bytes, and
// closes it. It returns when ctx is done even if a read blocks.
func readAll(ctx context.Context, path string, f *os.File, limit int64) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(f, limit+1))
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		f.Close()
		if r.err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: r.err}
		}
		if int64(len(r.b)) > limit {
			return nil, &FileError{path, tooLarge(limit)}
		}
		return r.b, nil
	case <-ctx.Done():
		// Closing interrupts a read the runtime poller waits on; one
		// stuck in the kernel (a hung network file system) ends on its
		// own, and the caller goes on meanwhile.
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, ctx.Err())
	}
}

// regular checks that st is a regular file of at most limit bytes.
func regular(path string, st fs.FileInfo, limit int64) error {
	m := st.Mode()
	if !m.IsRegular() {
		return &FileError{path, "is " + fileKind(m) + ", not a regular file: give the path of the file itself"}
	}
	if st.Size() > limit {
		return &FileError{path, fmt.Sprintf("is %d bytes; %s", st.Size(), tooLarge(limit))}
	}
	return nil
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("galmirror reads at most %s from it (is it the right file?)", sizeText(limit))
}

func sizeText(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
