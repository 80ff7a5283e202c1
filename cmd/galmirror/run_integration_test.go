//go:build linux

package main

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// eventLog collects the events a running service writes to stderr.
type eventLog struct {
	mu    sync.Mutex
	lines []string
	seen  chan struct{}
}

var eventRE = regexp.MustCompile(`event_id=(\d+)`)

func (l *eventLog) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	select {
	case l.seen <- struct{}{}:
	default:
	}
}

// wait returns the first event line with id whose text contains every
// part, waiting up to d.
func (l *eventLog) wait(t *testing.T, id string, d time.Duration, parts ...string) string {
	t.Helper()
	defer func(start time.Time) { t.Logf("event %s %v after %v", id, parts, time.Since(start)) }(time.Now())
	deadline := time.After(d)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if m := eventRE.FindStringSubmatch(line); m != nil && m[1] == id {
				ok := true
				for _, p := range parts {
					ok = ok && strings.Contains(line, p)
				}
				if ok {
					l.mu.Unlock()
					return line
				}
			}
		}
		l.mu.Unlock()
		select {
		case <-l.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no event %s %v within %v; the service wrote:\n%s", id, parts, d, strings.Join(l.lines, "\n"))
		}
	}
}

// The service as an MSP runs it: `galmirror run` as its own process against
// graphsim with two tenants, one broken; a bad reload is refused, a good
// one applied; SIGTERM stops it cleanly within the bound; `status` reads
// the state while and after it runs.
func TestServiceRunsReloadsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 4)
	srv2, tn2, cred2 := simTenant(t, 2)
	_, stranger, _ := graphsim.NewApp("stranger")
	broken := cred2
	broken.CertPEM, broken.KeyPEM = stranger.CertPEM, stranger.KeyPEM
	// No jitter: the start-up runs begin at once.
	sched := map[string]any{"every": "1h", "jitter": "0s"}
	good := c.tenant("good", srv, tn, cred)
	good["schedule"] = sched
	bad := c.tenant("broken", srv2, tn2, broken)
	bad["schedule"] = sched
	settings := c.settings(good, bad)

	cmd := c.command("run", "--config", settings, "--stop-timeout", "10s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	events := &eventLog{seen: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			events.add(sc.Text())
		}
	}()

	events.wait(t, "100", 20*time.Second)
	events.wait(t, "200", 30*time.Second, "good")
	events.wait(t, "300", 30*time.Second, "broken", "700027")
	if n := len(mustContacts(t, srv, tn)); n != 4*3 {
		t.Fatalf("good tenant has %d managed contacts, want 12", n)
	}

	// status works while the service runs, and flags the broken tenant.
	out, err := c.command("status", "--config", settings).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "broken") {
		t.Errorf("status should fail on the broken tenant: %v\n%s", err, out)
	}

	// A bad file is refused and the service keeps its configuration.
	if err := os.WriteFile(settings, []byte(`{"dataDir": "state", "tenants": [{"name": "x", "tenantId": 5}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	events.wait(t, "400", 20*time.Second, "tenantId")

	// A good file with the broken tenant repaired is applied.
	bad = c.tenant("repaired", srv2, tn2, cred2)
	bad["schedule"] = sched
	c.settings(good, bad)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	events.wait(t, "401", 20*time.Second)
	events.wait(t, "200", 30*time.Second, "repaired")

	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	events.wait(t, "101", 15*time.Second)
	<-readDone
	if err := cmd.Wait(); err != nil {
		t.Errorf("service exit: %v", err)
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("stop took %v", d)
	}
}

func mustContacts(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant) []graphsim.Contact {
	t.Helper()
	var all []graphsim.Contact
	for _, u := range tn.Users {
		fs, err := srv.Folders(tn.ID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if !f.WellKnown {
				all = append(all, f.Contacts...)
			}
		}
	}
	return all
}
