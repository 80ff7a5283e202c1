//go:build linux

package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// Purge while the service runs sticks: the service skips the purged tenant
// and says so (484), after a restart too; sync skips it; status lists it
// as purged, and a tenant removed from the settings as orphaned;
// re-enabling is explicit. A sync of a tenant the service is running is
// skipped, not failed.
func TestPurgeSticksWhileTheServiceRunsThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	srv2, tn2, cred2 := simTenant(t, 2)
	sched := map[string]any{"every": "1h", "jitter": "0s"}
	a, b := c.tenant("contoso", srv, tn, cred), c.tenant("fabrikam", srv2, tn2, cred2)
	a["schedule"], b["schedule"] = sched, sched
	settings := c.settings(a, b)
	svc := c.startService(t, settings)
	svc.events.wait(t, "200", 30*time.Second, "tenant=contoso")
	svc.events.wait(t, "200", 30*time.Second, "tenant=fabrikam")

	code, out, errOut := c.run("purge", "--config", settings, "--tenant", "contoso", "--yes")
	if code != exitOK || !strings.Contains(out, "6 contacts deleted, 3 folders deleted") || !strings.Contains(out, "--reenable") {
		t.Fatalf("purge: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := c.run("admin", "--config", settings, "sync", "contoso"); code == exitOK || !strings.Contains(out+errOut, "purged") {
		t.Errorf("admin sync of a purged tenant: exit %d\n%s\n%s", code, out, errOut)
	}

	// A restart: the start-up run of contoso is refused, and said so.
	svc.stop(t)
	svc = c.startService(t, settings)
	svc.events.wait(t, "484", 30*time.Second, "tenant=contoso", "--reenable")
	svc.events.wait(t, "200", 30*time.Second, "tenant=fabrikam")
	for _, u := range tn.Users {
		if f := managed(t, srv, tn, u.ID); f != nil {
			t.Fatalf("the service made the purged tenant's folder again in %s", u.UserPrincipalName)
		}
	}
	code, out, errOut = c.run("sync", "--config", settings, "--tenant", "contoso")
	if code != exitOK || !strings.Contains(out, "contoso: skipped") || !strings.Contains(out, "purged") {
		t.Errorf("sync of a purged tenant: exit %d\n%s\n%s", code, out, errOut)
	}
	code, rep, _ := statusJSON(t, c, settings)
	if tr := tenantOf(t, rep, "contoso"); code != exitOK || tr["state"] != "purged" || tr["purgedAt"] == nil {
		t.Errorf("status: exit %d %v", code, tr)
	}

	// fabrikam leaves the settings: its data stays, listed as orphaned.
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{a}})
	code, rep, _ = statusJSON(t, c, settings)
	if tr := tenantOf(t, rep, "fabrikam"); code != exitOK || tr["state"] != "orphaned" {
		t.Errorf("status of a tenant removed from the settings: exit %d %v", code, tr)
	}

	// Re-enabled explicitly, it syncs again; a sync while the service's
	// run of it is in progress is skipped, exit 0.
	if code, out, errOut := c.run("purge", "--config", settings, "--tenant", "contoso", "--reenable"); code != exitOK {
		t.Fatalf("reenable: exit %d\n%s\n%s", code, out, errOut)
	}
	srv.SetFaults(graphsim.Faults{Latency: 300 * time.Millisecond})
	if code, out, errOut := c.run("admin", "--config", settings, "sync", "contoso"); code != exitOK {
		t.Fatalf("admin sync after reenable: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = c.run("sync", "--config", settings, "--tenant", "contoso", "--json")
	if res := jsonResult(t, out); code != exitOK || res["status"] != "skipped" || res["reasonCode"] != "busy" {
		t.Errorf("sync beside the service's run: exit %d\n%s\n%s", code, out, errOut)
	}
	svc.events.wait(t, "200", 60*time.Second, "tenant=contoso", "created=6")
}

// stop stops the service and waits for it.
func (s *serviceRun) stop(t *testing.T) {
	t.Helper()
	_ = s.proc.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the service did not stop")
	}
	_, _ = s.proc.Wait()
}
