//go:build !windows

package fsperm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCheckPrivateModes(t *testing.T) {
	for _, c := range []struct {
		mode os.FileMode
		want []string // "" when the folder is accepted
	}{
		{0o700, nil},
		{0o755, nil}, // readable: files inside are 0600 anyway
		{0o750, nil},
		{0o777, []string{"write (mode 0777)", "every user: write", "group "}},
		{0o770, []string{"group ", "write (mode 0770)"}},
		{0o703, []string{"every user: write (mode 0703)"}},
		{0o1777, []string{"every user: write"}}, // sticky, like /tmp: others can still plant files
	} {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, c.mode); err != nil {
			t.Fatal(err)
		}
		err := CheckPrivate(dir)
		if c.want == nil {
			if err != nil {
				t.Errorf("mode %#o refused: %v", c.mode, err)
			}
			continue
		}
		var npe *NotPrivateError
		if !errors.As(err, &npe) {
			t.Errorf("mode %#o: %v, want a NotPrivateError", c.mode, err)
			continue
		}
		msg := err.Error()
		for _, w := range append(c.want, "folder "+dir+" is not private", "fix it with: chmod 700 "+dir) {
			if !strings.Contains(msg, w) {
				t.Errorf("mode %#o: message %q lacks %q", c.mode, msg, w)
			}
		}
	}
}

// MkdirPrivate makes every missing folder 0700 whatever the umask, accepts
// a private folder that exists, and refuses an open one without changing it.
func TestMkdirPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	if err := MkdirPrivate(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want mode 0700", d, fi.Mode(), err)
		}
	}
	if err := MkdirPrivate(dir); err != nil {
		t.Errorf("an existing private folder: %v", err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := MkdirPrivate(open); !errors.As(err, new(*NotPrivateError)) {
		t.Errorf("an open folder: %v", err)
	}
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o777 {
		t.Errorf("MkdirPrivate changed an existing folder to %v", fi.Mode())
	}
	// A symbolic link to a private folder is followed (systemd's
	// DynamicUser StateDirectory is a link into /var/lib/private).
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(link); err != nil {
		t.Errorf("link to a private folder: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if err := MkdirPrivate(file); err == nil {
		t.Error("a file was taken for a folder")
	}
}

// A folder of another (non-root) user is refused even with mode 0700: its
// owner can write to it. Root's folders are accepted.
func TestCheckPrivateOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a folder to another user")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(dir); err != nil {
		t.Fatalf("root's folder: %v", err)
	}
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	err := CheckPrivate(dir)
	// root is not told to take the folder over: that would lock its
	// owner (the service) out of its own files.
	if !errors.As(err, new(*NotPrivateError)) || !strings.Contains(err.Error(), "owner uid 65534") ||
		!strings.Contains(err.Error(), "sudo -u '#65534' galmirror") || strings.Contains(err.Error(), "chown") {
		t.Errorf("a folder of uid 65534: %v", err)
	}
}
