//go:build linux

package localipc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// TestHelperListener is not a test: run by ListenHolder as a separate
// process, it listens on $LOCALIPC_HELPER_SOCKET until its standard input
// closes.
func TestHelperListener(t *testing.T) {
	path := os.Getenv("LOCALIPC_HELPER_SOCKET")
	if path == "" {
		t.Skip("helper process for the tests holding a socket path")
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0) // without closing l: the socket file stays, as after a crash
}

// listenHolder runs a separate process listening on path until the test
// ends or stop is called; stop kills it, leaving its socket file behind.
func listenHolder(t *testing.T, path string) (pid int, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperListener$")
	cmd.Env = append(os.Environ(), "LOCALIPC_HELPER_SOCKET="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "listening\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
			stdin.Close()
		})
	}
	t.Cleanup(stop)
	return cmd.Process.Pid, stop
}

// A socket path held by another process is left alone, and the error names
// the process; once that process is gone, its socket (ours: same user) is
// replaced.
func TestListenLeavesLiveForeignListener(t *testing.T) {
	path := DefaultPath(t.TempDir())
	pid, stop := listenHolder(t, path)
	_, err := Listen(path, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("process %d of uid=%d", pid, os.Geteuid())) ||
		!strings.Contains(err.Error(), "is listening on it") {
		t.Fatalf("Listen on a path another process listens on: %v", err)
	}
	stop()
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatalf("Listen after the holder died: %v", err)
	}
	l.Close()
}

// A socket or file of another user is never removed, even with nobody
// listening on it.
func TestListenLeavesForeignFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file of another user")
	}
	const nobody = 65534
	dir := t.TempDir()
	sock := filepath.Join(dir, "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		sock: "a socket of uid=65534(nobody) is in the way: nobody answers on it, but it is not this user's to remove",
		file: "a file of uid=65534(nobody) is in the way",
	} {
		if err := os.Chown(path, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		_, err := Listen(path, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Listen on %s: %v, want %q", path, err, want)
		}
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("%s was removed: %v", path, err)
		}
	}
}
