//go:build !windows

package admin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/fsperm"
)

// The admin key is generated only in a private data directory, and is
// itself private; a directory others can write to is refused before a key
// (maybe planted) is read from it.
func TestCertificateNeedsPrivateDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	c, err := LoadOrCreateCertificate(dir, nil)
	if err != nil || len(c.Certificate) == 0 {
		t.Fatalf("new data directory: %v", err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, KeyFileName): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %#o", p, fi.Mode(), err, want)
		}
	}
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	_, err = LoadOrCreateCertificate(dir, nil)
	if !errors.As(err, new(*fsperm.NotPrivateError)) || !strings.Contains(err.Error(), "group ") {
		t.Fatalf("group-writable data directory: %v", err)
	}
	if _, err := New(Options{Backend: &fakeBackend{}, DataDir: dir}); err == nil || !strings.Contains(err.Error(), "is not private") {
		t.Errorf("admin.New on a group-writable data directory: %v", err)
	}
}
