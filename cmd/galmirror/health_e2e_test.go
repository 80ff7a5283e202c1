//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// statusJSON runs `status --json` and returns its exit code and report.
func statusJSON(t *testing.T, c *customer, settings string, args ...string) (int, map[string]any, string) {
	t.Helper()
	code, out, errOut := c.run(append([]string{"status", "--config", settings, "--json"}, args...)...)
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("status --json: %v\n%s\n%s", err, out, errOut)
	}
	return code, rep, errOut
}

// tenantOf returns the named tenant of a status report.
func tenantOf(t *testing.T, rep map[string]any, name string) map[string]any {
	t.Helper()
	for _, x := range rep["tenants"].([]any) {
		if m := x.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("no tenant %s in %v", name, rep)
	return nil
}

// A tenant whose consent was revoked: `status` is unhealthy (exit 1) with
// the reason, and healthy again once it syncs; --max-failures tolerates a
// configured number of failures.
func TestStatusTellsTheTruthThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	srv2, tn2, cred2 := simTenant(t, 2)
	settings := c.settings(c.tenant("good", srv, tn, cred), c.tenant("revoked", srv2, tn2, cred2))
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := c.run("status", "--config", settings); code != exitOK || !strings.Contains(out, "healthy") {
		t.Fatalf("status exit %d\n%s\n%s", code, out, errOut)
	}
	if err := srv2.SetRoles(tn2.ID, cred2.ClientID, nil); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := c.run("sync", "--config", settings); code != exitFailed {
		t.Fatalf("sync with consent revoked: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := c.run("status", "--config", settings)
	if code != exitFailed || !strings.Contains(errOut, "UNHEALTHY: tenant revoked: 1 failed run in a row") ||
		!strings.Contains(errOut, "consent") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("status after a failed run: exit %d\n%s\n%s", code, out, errOut)
	}
	code, rep, _ := statusJSON(t, c, settings)
	r := tenantOf(t, rep, "revoked")
	probs := r["problems"].([]any)
	if code != exitFailed || rep["healthy"] != false || r["healthy"] != false || r["state"] != "failing" || len(probs) != 1 ||
		probs[0].(map[string]any)["code"] != "failing" || r["lastRun"].(map[string]any)["failure"].(map[string]any)["class"] != "consent" {
		t.Fatalf("status --json: exit %d %v", code, r)
	}
	if g := tenantOf(t, rep, "good"); g["healthy"] != true || g["state"] != "ok" {
		t.Errorf("good tenant %v", g)
	}
	if code, out, errOut := c.run("status", "--config", settings, "--max-failures", "2"); code != exitOK {
		t.Errorf("one failure with --max-failures 2: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := srv2.SetRoles(tn2.ID, cred2.ClientID, graphsim.AllRoles); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := c.run("sync", "--config", settings, "--tenant", "revoked"); code != exitOK {
		t.Fatalf("sync after consent: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := c.run("status", "--config", settings); code != exitOK {
		t.Fatalf("status after recovery: exit %d\n%s\n%s", code, out, errOut)
	}
}

// An Entra outage (503 AADSTS90033) and a login host that refuses
// connections are outages (class unavailable), not authentication
// failures.
func TestEntraOutageIsNotAuthThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	srv.SetFaults(graphsim.Faults{TokenOutage: true})
	closed := c.tenant("closed", srv, tn, cred)
	closed["endpoints"] = map[string]any{"authority": "https://127.0.0.1:" + fmt.Sprint(closedPort(t)), "graph": srv.URL()}
	closed["folder"] = "Directory"
	settings := c.settings(c.tenant("contoso", srv, tn, cred), closed)
	start := time.Now()
	code, out, errOut := c.run("sync", "--config", settings, "--json")
	t.Logf("two tenants unreachable: %v", time.Since(start))
	if code != exitFailed {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		res := jsonResult(t, line)
		f, _ := res["failure"].(map[string]any)
		if res["status"] != "failed" || f["class"] != "unavailable" || f["service"] != "entra" {
			t.Errorf("%s: %v", res["tenant"], res)
		}
		if res["tenant"] == "contoso" && f["code"] != "AADSTS90033" {
			t.Errorf("contoso: code %v", f["code"])
		}
	}
	if strings.Contains(out+errOut, "class=auth") || strings.Contains(out, `"auth"`) {
		t.Errorf("an outage reported as auth:\n%s\n%s", out, errOut)
	}
}

// closedPort returns a local TCP port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// serviceRun is `galmirror run` as its own process with its events read
// from stderr.
type serviceRun struct {
	events *eventLog
	done   chan struct{}
	proc   *os.Process
}

func (c *customer) startService(t *testing.T, settings string) *serviceRun {
	t.Helper()
	cmd := c.command("run", "--config", settings, "--stop-timeout", "10s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serviceRun{events: &eventLog{seen: make(chan struct{}, 1)}, done: make(chan struct{}), proc: cmd.Process}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.events.add(sc.Text())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	s.events.wait(t, "100", 20*time.Second)
	return s
}

// count returns how many event lines with id contain every part.
func (l *eventLog) count(id string, parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if m := eventRE.FindStringSubmatch(line); m != nil && m[1] == id {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				n++
			}
		}
	}
	return n
}

func getHealthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The service during an Entra outage of two tenants: one Warning (481)
// for both instead of a 202 and 300 each, one Error (482) once it outlasts
// health.outageAfter, one Information (483) when both run again; /healthz
// turns 503 only past outageAfter and names no tenant. A tenant whose
// consent was revoked raises 202 and 301, and 480 when it syncs again.
func TestOutageAndRecoveryEventsThroughTheService(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	srv2, tn2, cred2 := simTenant(t, 2)
	srv.SetFaults(graphsim.Faults{TokenOutage: true})
	srv2.SetFaults(graphsim.Faults{TokenOutage: true})
	sched := map[string]any{"every": "1h", "jitter": "0s"}
	a, b := c.tenant("alpha", srv, tn, cred), c.tenant("beta", srv2, tn2, cred2)
	a["schedule"], b["schedule"] = sched, sched
	health := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	settings := c.settings(a, b)
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{a, b},
		"health": map[string]any{"outageAfter": "20s", "listen": health}})
	svc := c.startService(t, settings)

	line := svc.events.wait(t, "481", 60*time.Second)
	if !strings.Contains(line, "Entra ID unreachable for 2 tenants") || !strings.Contains(line, "tenants=alpha,beta") {
		t.Errorf("481: %s", line)
	}
	if code, body := getHealthz(t, health); code != http.StatusOK || strings.Contains(body, "alpha") {
		t.Errorf("/healthz within outageAfter: %d %s", code, body)
	}
	time.Sleep(12 * time.Second) // the next run ends past outageAfter
	if code, out, errOut := c.run("admin", "--config", settings, "sync", "alpha"); code != exitOK {
		t.Fatalf("admin sync: %d %s %s", code, out, errOut)
	}
	svc.events.wait(t, "482", 60*time.Second, "Entra ID unreachable for 2 tenants")
	if code, body := getHealthz(t, health); code != http.StatusServiceUnavailable || !strings.Contains(body, `"unhealthy"`) || strings.Contains(body, "alpha") {
		t.Errorf("/healthz past outageAfter: %d %s", code, body)
	}

	// The outage ends; beta's consent is revoked meanwhile.
	srv.SetFaults(graphsim.Faults{})
	srv2.SetFaults(graphsim.Faults{})
	if err := srv2.SetRoles(tn2.ID, cred2.ClientID, nil); err != nil {
		t.Fatal(err)
	}
	c.run("admin", "--config", settings, "sync", "alpha")
	svc.events.wait(t, "200", 60*time.Second, "tenant=alpha")
	c.run("admin", "--config", settings, "sync", "beta")
	svc.events.wait(t, "202", 60*time.Second, "tenant=beta", "class=consent")
	svc.events.wait(t, "301", 10*time.Second, "tenant=beta")
	svc.events.wait(t, "483", 10*time.Second, "Entra ID reachable again", "count=2")
	if err := srv2.SetRoles(tn2.ID, cred2.ClientID, graphsim.AllRoles); err != nil {
		t.Fatal(err)
	}
	c.run("admin", "--config", settings, "sync", "beta")
	// Two failed runs: the outage's, then the consent's.
	svc.events.wait(t, "480", 60*time.Second, "tenant=beta", "class=consent", "failures=2")
	if code, body := getHealthz(t, health); code != http.StatusOK {
		t.Errorf("/healthz after recovery: %d %s", code, body)
	}
	for _, id := range []string{"300", "482", "481"} {
		if n := svc.events.count(id); n > 1 || id == "300" && n > 0 {
			t.Errorf("event %s raised %d times:\n%s", id, n, strings.Join(svc.events.lines, "\n"))
		}
	}
	if n := svc.events.count("202", "tenant=alpha"); n > 0 {
		t.Errorf("202 for alpha during the outage")
	}
}
