//go:build !windows

package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/galmirror/galmirror/internal/fsperm"
)

// A data directory others can write to is refused before anything is
// opened in it: they could have planted galmirror.db or a -wal file.
func TestOpenRefusesWritableDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dir, Options{})
	if !errors.As(err, new(*fsperm.NotPrivateError)) || !strings.Contains(err.Error(), "folder "+dir+" is not private") ||
		!strings.Contains(err.Error(), "every user: write (mode 0777)") {
		t.Fatalf("Open of a world-writable data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a database was created in the refused directory: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatalf("Open of a 0700 data directory: %v", err)
	}
	s.Close()
}

// Everything the store creates in a new data directory is private, even
// under a umask of 0: the directory 0700, the database and SQLite's -wal
// and -shm files 0600, the lock directory 0700.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "new", "state")
	s, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustTenant(t, s, "contoso")
	l, ok, err := lockTenant(dir, "contoso")
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	defer l.unlock()
	want := map[string]os.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, filepath.Join(dir, "locks"): 0o700,
		filepath.Join(dir, FileName): 0o600, filepath.Join(dir, FileName+"-wal"): 0o600, filepath.Join(dir, FileName+"-shm"): 0o600}
	for p, m := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if fi.Mode().Perm() != m {
			t.Errorf("%s: mode %#o, want %#o", p, fi.Mode().Perm(), m)
		}
	}
}
