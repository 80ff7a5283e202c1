//go:build unix

package entra

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO, a directory and a device named as the certificate file are
// refused at once with what they are, never opened or read; a file above
// the bound is refused by its size.
func TestCertificateFileMustBeARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "contoso.pfx")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	big := filepath.Join(dir, "big.pfx")
	if err := os.WriteFile(big, make([]byte, MaxCertificateFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{fifo, "is a named pipe (FIFO), not a regular file"},
		{dir, "is a directory, not a regular file"},
		{"/dev/zero", "is a character device, not a regular file"},
		{big, "is 1048577 bytes; galmirror reads at most 1 MiB from it"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := LoadCertificateFile(t.Context(), c.path, "pw", time.Now())
			done <- err
		}()
		select {
		case err := <-done:
			var ce *CertificateError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("%s: %v, want a CertificateError naming the file and saying %q", c.path, err, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: LoadCertificateFile hangs", c.path)
		}
	}
	if _, err := LoadCAFile(t.Context(), fifo); err == nil || !strings.Contains(err.Error(), "CA file "+fifo+": is a named pipe") {
		t.Errorf("CA file FIFO: %v", err)
	}
}

// The read itself stops when its context ends. ReadFile's checks keep
// FIFOs out, so a read that blocks (a hung network share) is simulated by
// handing readAll a FIFO whose writer never writes.
func TestReadFileIsCancellable(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "slow")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A writer that opens the FIFO and never writes nor closes: a read
	// of it blocks for ever.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := readAll(ctx, fifo, f, 10)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled read: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read does not stop when its context ends")
	}

	// A context already done reads nothing.
	if _, err := ReadFile(ctx, fixture("cert.pem"), MaxCertificateFileSize); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFile with a done context: %v", err)
	}
	if _, err := LoadCertificateFile(ctx, fixture("modern.pfx"), fixturePassword, time.Now()); !errors.Is(err, context.Canceled) {
		t.Errorf("LoadCertificateFile with a done context: %v", err)
	}
}
