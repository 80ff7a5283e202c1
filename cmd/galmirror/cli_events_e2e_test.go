//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// eventLines returns the event log lines (event_id=...) of a command's
// stderr with id and every part.
func eventLines(stderr, id string, parts ...string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, "event_id="+id+" ") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// A sync run by an RMM emits the service's events: 200 per tenant, 202
// and 301 for a revoked consent, 480 when it syncs again; an outage is one
// 481 for all tenants and all invocations, 482 once it outlasts
// health.outageAfter, 483 when it is over; --no-events emits none. check
// emits the condition event of what it finds. The state database keeps the
// events for the admin API.
func TestSyncAndCheckEmitEventsThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	srv2, tn2, cred2 := simTenant(t, 2)
	a, b := c.tenant("contoso", srv, tn, cred), c.tenant("fabrikam", srv2, tn2, cred2)
	settings := c.settings(a, b)
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{a, b}, "health": map[string]any{"outageAfter": "25s"}})
	sync := func(args ...string) string {
		t.Helper()
		code, out, errOut := c.run(append([]string{"sync", "--config", settings}, args...)...)
		return fmt.Sprintf("exit %d\n%s%s", code, out, errOut)
	}
	errOut := sync()
	if len(eventLines(errOut, "200", "tenant=contoso", "trigger=cli")) != 1 || len(eventLines(errOut, "200", "tenant=fabrikam")) != 1 {
		t.Fatalf("first sync:\n%s", errOut)
	}
	if errOut := sync("--no-events"); strings.Contains(errOut, "event_id=") {
		t.Errorf("--no-events:\n%s", errOut)
	}

	if err := srv2.SetRoles(tn2.ID, cred2.ClientID, nil); err != nil {
		t.Fatal(err)
	}
	errOut = sync()
	if len(eventLines(errOut, "202", "tenant=fabrikam", "class=consent", "trigger=cli")) != 1 || len(eventLines(errOut, "301", "tenant=fabrikam")) != 1 {
		t.Fatalf("revoked consent:\n%s", errOut)
	}
	code, out, checkErr := c.run("check", "--config", settings, "--tenant", "fabrikam")
	if code != exitFailed || len(eventLines(checkErr, "301", "tenant=fabrikam")) != 1 || strings.Contains(out, "event_id") {
		t.Errorf("check: exit %d\n%s\n%s", code, out, checkErr)
	}
	if _, _, checkErr := c.run("check", "--config", settings, "--tenant", "fabrikam", "--no-events"); strings.Contains(checkErr, "event_id=") {
		t.Errorf("check --no-events:\n%s", checkErr)
	}
	if err := srv2.SetRoles(tn2.ID, cred2.ClientID, graphsim.AllRoles); err != nil {
		t.Fatal(err)
	}
	errOut = sync()
	if len(eventLines(errOut, "480", "tenant=fabrikam", "class=consent", "failures=1")) != 1 {
		t.Fatalf("recovery:\n%s", errOut)
	}

	// An outage of Entra ID: one 481 for both tenants, not again in the
	// next invocation; 482 once it outlasts outageAfter; 483 at its end.
	srv.SetFaults(graphsim.Faults{TokenOutage: true})
	srv2.SetFaults(graphsim.Faults{TokenOutage: true})
	start := time.Now()
	errOut = sync()
	if len(eventLines(errOut, "481", "count=2", "tenants=contoso,fabrikam")) != 1 || len(eventLines(errOut, "202")) != 0 || len(eventLines(errOut, "300")) != 0 {
		t.Fatalf("outage:\n%s", errOut)
	}
	second := sync()
	if len(eventLines(second, "481")) != 0 || len(eventLines(second, "202")) != 0 {
		t.Errorf("the outage's second invocation:\n%s", second)
	}
	time.Sleep(time.Until(start.Add(26 * time.Second)))
	// 482 comes with the first invocation that ends past outageAfter:
	// the third, or on a slow machine already the second.
	third := sync()
	if n := len(eventLines(second, "482", "count=2")) + len(eventLines(third, "482", "count=2")); n != 1 {
		t.Errorf("the outage past outageAfter: %d events 482\n%s\n%s", n, second, third)
	}
	srv.SetFaults(graphsim.Faults{})
	srv2.SetFaults(graphsim.Faults{})
	errOut = sync()
	if len(eventLines(errOut, "483", "count=2")) != 1 || len(eventLines(errOut, "480")) != 0 || len(eventLines(errOut, "200")) != 2 {
		t.Fatalf("after the outage:\n%s", errOut)
	}

	svc := c.startService(t, settings)
	svc.events.wait(t, "200", 30*time.Second)
	_, out, _ = c.run("admin", "--config", settings, "events", "--tenant", "fabrikam")
	if !strings.Contains(out, " 202 fabrikam") || !strings.Contains(out, " 480 fabrikam") {
		t.Errorf("the state database lacks the events of sync:\n%s", out)
	}
}
