//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/graphsim"
)

// check names every configured group id and user exclusion the tenant
// does not have, each with its setting.
func TestCheckResolvesGroupsAndUsersThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	grp := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Staff", Members: []string{tn.Users[0].ID, tn.Users[1].ID}}
	if err := srv.PutGroup(tn.ID, grp); err != nil {
		t.Fatal(err)
	}
	missing1, missing2 := graphsim.NewGUID(), graphsim.NewGUID()
	ten := c.tenant("contoso", srv, tn, cred)
	ten["source"] = map[string]any{"includeGroups": []string{grp.ID, missing1}}
	ten["target"] = map[string]any{"groups": []string{missing2}}
	settings := c.settings(ten)
	code, out, errOut := c.run("check", "--config", settings)
	if code != exitFailed || !strings.Contains(out, "source.includeGroups[1]: no group "+missing1) ||
		!strings.Contains(out, "target.groups[0]: no group "+missing2) || strings.Contains(out, "includeGroups[0]") {
		t.Fatalf("check with unknown groups: exit %d\n%s\n%s", code, out, errOut)
	}

	ten["target"] = map[string]any{"groups": []string{grp.ID}, "excludeUsers": []string{strings.ToUpper(tn.Users[1].UserPrincipalName), "ceo@contoso.example"}}
	ten["source"] = map[string]any{"excludeUsers": []string{tn.Users[2].ID, graphsim.NewGUID()}}
	settings = c.settings(ten)
	code, out, errOut = c.run("check", "--config", settings)
	if code != exitFailed || !strings.Contains(out, "target.excludeUsers[1]: no user ceo@contoso.example") ||
		!strings.Contains(out, "source.excludeUsers[1]: no user") || strings.Contains(out, "excludeUsers[0]") ||
		!strings.Contains(out, "ok    groups") {
		t.Fatalf("check with unknown users: exit %d\n%s\n%s", code, out, errOut)
	}
	ten["source"] = map[string]any{"excludeUsers": []string{tn.Users[2].ID}}
	ten["target"] = map[string]any{"groups": []string{grp.ID}, "excludeUsers": []string{tn.Users[1].UserPrincipalName}}
	settings = c.settings(ten)
	if code, out, errOut := c.run("check", "--config", settings); code != exitOK || !strings.Contains(out, "every one of the 2 excluded users exists") {
		t.Fatalf("check of good settings: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A Graph root with a path is a configuration error before any request;
// at a reload the service keeps the last good configuration (event 400)
// and goes on syncing with it.
func TestGraphRootWithAPathThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	ten := c.tenant("contoso", srv, tn, cred)
	ten["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
	settings := c.settings(ten)
	logSettings := map[string]any{"file": "logs/galmirror.log", "maxSizeMB": 1, "maxFiles": 2}
	writeJSON(t, settings, map[string]any{"dataDir": "state", "log": logSettings, "tenants": []any{ten}})
	svc := c.startService(t, settings)
	svc.events.wait(t, "200", 30*time.Second, "tenant=contoso")

	bad := c.tenant("contoso", srv, tn, cred)
	bad["endpoints"] = map[string]any{"authority": srv.URL(), "graph": srv.URL() + "/v1.0"}
	writeJSON(t, settings, map[string]any{"dataDir": "state", "log": logSettings, "tenants": []any{bad}})
	code, out, errOut := c.run("sync", "--config", settings)
	if code != exitUsage || !strings.Contains(errOut, "tenants[0].endpoints.graph") || !strings.Contains(errOut, "without a path") {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	_ = svc.proc.Signal(syscall.SIGHUP)
	svc.events.wait(t, "400", 20*time.Second, "endpoints.graph", "keeping the last good configuration")
	// The settings file is bad: the socket is found by its path.
	sock := localipc.DefaultPath(filepath.Join(c.dir, "state"))
	if code, out, errOut := c.run("admin", "--socket", sock, "sync", "contoso"); code != exitOK {
		t.Fatalf("admin sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := waitCount(svc.events, "200", 2, 30*time.Second, "tenant=contoso"); n < 2 {
		t.Fatalf("the service did not sync with its last good configuration:\n%s", strings.Join(svc.events.lines, "\n"))
	}
	if n := svc.events.count("202"); n > 0 {
		t.Errorf("a run failed after the bad reload")
	}
	// The log file (log.file) has what stderr has, the events included.
	b, err := os.ReadFile(filepath.Join(c.dir, "logs", "galmirror.log"))
	if err != nil || !strings.Contains(string(b), "event_id=100") || !strings.Contains(string(b), "event_id=400") ||
		!strings.Contains(string(b), `msg="tenant run finished" tenant=contoso`) {
		t.Errorf("log file: %v\n%s", err, b)
	}
	if fi, err := os.Stat(filepath.Join(c.dir, "logs", "galmirror.log")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode: %v %v", fi.Mode(), err)
	}
}

// waitCount waits until n events with id and parts were seen, and returns
// how many there are.
func waitCount(l *eventLog, id string, n int, d time.Duration, parts ...string) int {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if got := l.count(id, parts...); got >= n {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l.count(id, parts...)
}

// "every": "1m" alone is a valid schedule: the default jitter (5m) is at
// most every.
func TestEveryMinuteWithoutJitterThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	ten := c.tenant("contoso", srv, tn, cred)
	ten["schedule"] = map[string]any{"every": "1m"}
	settings := c.settings(ten)
	if code, out, errOut := c.run("check", "--config", settings); code != exitOK {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
}
