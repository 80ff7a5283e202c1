//go:build linux

package localipc

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestListenUnix(t *testing.T) {
	path := DefaultPath(t.TempDir())
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Listen(path, nil); err == nil {
		t.Error("a second listener took over a live socket")
	}
	done := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	c, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-done
	defer sc.Close()
	p, ok := PeerOf(sc)
	if !ok || p.UID != os.Geteuid() || p.PID != os.Getpid() {
		t.Fatalf("peer %+v, want uid %d pid %d", p, os.Geteuid(), os.Getpid())
	}
	l.Close()

	// A stale socket (no listener) is replaced; a regular file is not.
	if _, err := os.Stat(path); err == nil {
		l2, err := Listen(path, nil)
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		l2.Close()
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Listen(file, nil); err == nil {
		t.Error("a regular file was replaced by the socket")
	}
	if _, err := Dial(t.Context(), filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Error("dialled a missing socket")
	}
}
