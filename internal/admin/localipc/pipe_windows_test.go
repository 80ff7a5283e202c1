package localipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/galmirror/galmirror/internal/fsperm"
	"github.com/galmirror/galmirror/internal/winetest"
)

var pipeSeq atomic.Int32

// testPipe is a pipe name of its own for each test.
func testPipe() string {
	return fmt.Sprintf(`\\.\pipe\galmirror-test-%d-%d`, os.Getpid(), pipeSeq.Add(1))
}

// squat creates a pipe as another program would: owner and DACL from sddl,
// one instance at most; it is closed with the test.
func squat(t *testing.T, path, sddl string) windows.Handle {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := windows.UTF16PtrFromString(path)
	h, err := windows.CreateNamedPipe(name, windows.PIPE_ACCESS_DUPLEX, windows.PIPE_TYPE_BYTE, 1, 4096, 4096, 0,
		&windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd})
	if errors.Is(err, windows.ERROR_INVALID_OWNER) {
		t.Skipf("this account cannot make a pipe owned by another (%s): %v", sddl, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { windows.CloseHandle(h) })
	return h
}

// The admin API over the pipe: the server identifies the client from its
// token after its first bytes, which the HTTP server still reads; the
// client checks the pipe's owner.
func TestPipeServesHTTPWithPeer(t *testing.T) {
	path := testPipe()
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	self, admin, err := fsperm.TokenIdentity(windows.GetCurrentProcessToken())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("running as %s (%s), Administrators enabled: %v", fsperm.AccountName(self), self, admin)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := r.Context().Value(peerKey{}).(Peer)
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s|%d|%s|%s", p.SID, p.PID, p.Name, body)
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if p, ok := PeerOf(c); ok {
				return context.WithValue(ctx, peerKey{}, p)
			}
			return ctx
		},
	}
	go srv.Serve(l)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return Dial(ctx, path)
	}}}
	for i := range 3 { // a new connection each time: instances are made as clients come
		resp, err := client.Post("http://pipe/x", "text/plain", strings.NewReader(fmt.Sprintf("hello %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("%s|%d|%s|hello %d", self, os.Getpid(), fsperm.AccountName(self), i)
		if string(b) != want {
			t.Errorf("response %q, want %q", b, want)
		}
		client.CloseIdleConnections()
	}
}

type peerKey struct{}

// A client that connects and sends nothing neither blocks the others nor
// stays connected.
func TestPipeSilentClient(t *testing.T) {
	defer func(d time.Duration) { firstReadTimeout = d }(firstReadTimeout)
	firstReadTimeout = 300 * time.Millisecond
	path := testPipe()
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	silent, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	select {
	case sc := <-accepted:
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 8)
		n, _ := sc.Read(buf)
		if string(buf[:n]) != "ping" {
			t.Errorf("server read %q", buf[:n])
		}
		sc.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a silent client blocked Accept")
	}
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Errorf("the silent client is still connected: %v", err)
	}
}

// Dial refuses a pipe that neither SYSTEM, Administrators, the service's
// account nor the caller owns, before sending anything.
func TestDialRefusesForeignPipe(t *testing.T) {
	path := testPipe()
	squat(t, path, "O:AND:P(A;;GA;;;WD)") // owned by ANONYMOUS LOGON, open to everyone
	_, err := Dial(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "refusing to talk to it") || !strings.Contains(err.Error(), "process "+fmt.Sprint(os.Getpid())) {
		t.Fatalf("Dial to a foreign pipe: %v", err)
	}
}

// Listen fails, naming the holder, while another process holds the name
// (on Windows FILE_FLAG_FIRST_PIPE_INSTANCE refuses; Wine ignores that flag,
// and refuses only because the squatter allows one instance), and succeeds
// once it is gone: what svcbackend.Start retries.
func TestListenSquatted(t *testing.T) {
	path := testPipe()
	h := squat(t, path, "D:P(A;;GA;;;WD)")
	_, err := Listen(path, nil)
	if err == nil || !strings.Contains(err.Error(), "another process holds the name") {
		t.Fatalf("Listen on a squatted pipe: %v", err)
	}
	t.Logf("squatted: %v", err)
	windows.CloseHandle(h)
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatalf("Listen after the squatter left: %v", err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	// Everything was released: the name can be had again.
	l, err = Listen(path, nil)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	l.Close()
	if winetest.UnderWine() {
		t.Log("under Wine: FILE_FLAG_FIRST_PIPE_INSTANCE is ignored, so only a squatter allowing one instance is detected")
	}
}
