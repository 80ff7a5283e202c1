//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// openPTY returns a pseudo-terminal's controlling side and its terminal.
func openPTY(t *testing.T) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close(); term.Close() })
	return ctl, term
}

// lockedBytes collects what a reader gives.
type lockedBytes struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBytes) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBytes) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A long sync on a terminal shows a progress line; Ctrl-C ends it with one
// line, exit code 130, and a run recorded as interrupted, which the next
// run continues. Without a terminal nothing of the progress line appears.
func TestProgressAndInterruptThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 12)
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	srv.SetFaults(graphsim.Faults{Latency: 150 * time.Millisecond})

	ctl, term := openPTY(t)
	cmd := exec.Command(c.bin, "sync", "--config", settings)
	cmd.Env = c.env()
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, term
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.Close()
	seen := &lockedBytes{}
	go func() { _, _ = ioCopy(seen, ctl) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(seen.String(), " mailboxes, ") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(seen.String(), "syncing: ") || !strings.Contains(seen.String(), "/12 mailboxes, ") {
		_ = cmd.Process.Kill()
		t.Fatalf("no progress line on the terminal:\n%q", seen.String())
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	time.Sleep(200 * time.Millisecond) // the terminal's last bytes
	out := seen.String()
	if code != exitInterrupted || strings.Count(out, "interrupted after") != 1 || !strings.Contains(out, "of 12 mailboxes; the next run continues") ||
		strings.Contains(out, "context canceled") || strings.Contains(out, "level=") || stdout.Len() != 0 {
		t.Fatalf("Ctrl-C: exit %d\nterminal:\n%q\nstdout:\n%s", code, out, stdout.String())
	}
	t.Logf("the terminal showed: %q", out)
	_, rep, _ := statusJSON(t, c, settings)
	if lr := tenantOf(t, rep, "contoso")["lastRun"].(map[string]any); lr["status"] != "interrupted" || lr["failure"].(map[string]any)["class"] != "canceled" {
		t.Errorf("the run history says %v", lr)
	}
	if n := tenantOf(t, rep, "contoso")["consecutiveFailures"]; n != float64(0) {
		t.Errorf("an interrupted run counted as a failure: %v", n)
	}

	srv.SetFaults(graphsim.Faults{})
	code, outs, errOut := c.run("sync", "--config", settings)
	if code != exitOK || strings.Contains(errOut, "\r") || strings.Contains(errOut, "mailboxes, ") {
		t.Fatalf("the next run: exit %d\n%s\n%q", code, outs, errOut)
	}
	for _, u := range tn.Users {
		if f := managed(t, srv, tn, u.ID); f == nil || len(f.Contacts) != 11 {
			t.Fatalf("mailbox %s after the interrupted and the next run: %+v", u.UserPrincipalName, f)
		}
	}
}

// ioCopy copies until the terminal closes (EIO once every writer is gone).
func ioCopy(dst *lockedBytes, src *os.File) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			dst.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}
