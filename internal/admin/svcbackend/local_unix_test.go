//go:build !windows

package svcbackend

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/events"
)

// syncBuffer is a bytes.Buffer safe for a logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// startLocal runs Start with only the local socket, in dataDir, and
// returns the events it emitted and its log; the server stops with the
// test.
func startLocal(t *testing.T, dataDir string) (emitted func() []events.Event, log *syncBuffer) {
	t.Helper()
	log = &syncBuffer{}
	o := admin.Options{Backend: &Backend{}, DataDir: dataDir, LocalPath: localipc.DefaultPath(dataDir),
		Log: slog.New(slog.NewTextHandler(log, nil))}
	s, err := admin.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []events.Event
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := Start(ctx, s, o, func(_ context.Context, e events.Event) {
		mu.Lock()
		defer mu.Unlock()
		evs = append(evs, e)
	})
	if err != nil {
		cancel()
		t.Fatalf("Start refused to start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("serving ended with %v", err)
		}
	})
	return func() []events.Event { mu.Lock(); defer mu.Unlock(); return append([]events.Event(nil), evs...) }, log
}

// waitServing waits until the admin API answers on the socket.
func waitServing(t *testing.T, path string, log *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "admin API local socket serving") {
		if time.Now().After(deadline) {
			t.Fatalf("the local socket was not opened again:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := localipc.Dial(t.Context(), path)
	if err != nil {
		t.Fatalf("dial after the retry: %v", err)
	}
	c.Close()
}

func checkUnavailable(t *testing.T, evs []events.Event, path, want string) {
	t.Helper()
	if len(evs) != 1 || evs[0].ID != events.AdminLocalUnavailable {
		t.Fatalf("events %+v, want one 603", evs)
	}
	fields := map[string]string{}
	for _, f := range evs[0].Fields {
		fields[f.Key] = f.Value
	}
	if fields["path"] != path || !strings.Contains(fields["error"], want) || fields["retry"] == "" {
		t.Errorf("event 603 fields %v, want path %s and an error with %q", fields, path, want)
	}
}

// A live listener held by another process on the socket path does not stop
// the admin API from starting: Start emits 603 once, keeps retrying, and
// serves once the holder has gone (its socket file, ours, is replaced).
func TestStartDegradesWhileAnotherProcessListens(t *testing.T) {
	defer func(d time.Duration) { localRetry = d }(localRetry)
	localRetry = 20 * time.Millisecond
	dir := t.TempDir()
	path := localipc.DefaultPath(dir)

	// The holder: a `sleep` that inherited the listening socket, which this
	// process then closes (without removing the file).
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	f, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "600")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Skipf("no sleep to hold the socket: %v", err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	f.Close()
	ul.Close()

	emitted, log := startLocal(t, dir)
	checkUnavailable(t, emitted(), path, "is listening on it")
	time.Sleep(5 * localRetry) // retries fail quietly while the holder lives
	if n := len(emitted()); n != 1 {
		t.Errorf("%d events while retrying, want the one 603", n)
	}
	if strings.Contains(log.String(), "admin API local socket serving") {
		t.Fatalf("serving while another process holds the socket:\n%s", log)
	}
	holder.Process.Kill()
	holder.Wait()
	waitServing(t, path, log)
}

// A file of another user on the socket path is not removed; the admin API
// degrades until an administrator removes it.
func TestStartDegradesOnForeignFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file of another user")
	}
	defer func(d time.Duration) { localRetry = d }(localRetry)
	localRetry = 20 * time.Millisecond
	dir := t.TempDir()
	path := localipc.DefaultPath(dir)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	emitted, log := startLocal(t, dir)
	checkUnavailable(t, emitted(), path, "a file of uid=65534(nobody) is in the way")
	time.Sleep(5 * localRetry)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the foreign file was removed: %v", err)
	}
	if err := os.Remove(filepath.Clean(path)); err != nil {
		t.Fatal(err)
	}
	waitServing(t, path, log)
}
