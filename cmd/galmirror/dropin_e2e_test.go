//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An RMM adds and removes customers as files in tenants.d, beside a
// settings file shared by none of them: sync and check read them, the
// running service picks them up (a bad file is refused with event 400 and
// the rest runs on), and a removed customer is listed as orphaned.
func TestTenantsDropInFolderThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	srv2, tn2, cred2 := simTenant(t, 2)
	// A settings file without tenants: every customer is a drop-in.
	settings := filepath.Join(c.dir, "settings.json")
	writeJSON(t, settings, map[string]any{"dataDir": "state"})
	dropDir := filepath.Join(c.dir, "tenants.d")
	if err := os.MkdirAll(dropDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A customer as an RMM script adds it: its certificate beside its file,
	// written to a temporary name and renamed into place.
	drop := func(name string, ten map[string]any) {
		t.Helper()
		ten["certificate"] = map[string]any{"file": name + ".pem"}
		ten["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
		if err := os.Rename(filepath.Join(c.dir, name+".pem"), filepath.Join(dropDir, name+".pem")); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dropDir, "."+name+".json")
		writeJSON(t, tmp, ten)
		if err := os.Rename(tmp, filepath.Join(dropDir, name+".json")); err != nil {
			t.Fatal(err)
		}
	}
	// Both customers' Graph hosts are trusted by the machine from the start.
	contoso, fabrikam := c.tenant("contoso", srv, tn, cred), c.tenant("fabrikam", srv2, tn2, cred2)
	drop("contoso", contoso)
	if code, out, errOut := c.run("sync", "--config", settings, "--tenant", "contoso"); code != exitOK || !strings.Contains(out, "contoso: ok") {
		t.Fatalf("sync of a drop-in tenant: exit %d\n%s\n%s", code, out, errOut)
	}

	svc := c.startService(t, settings)
	svc.events.wait(t, "200", 30*time.Second, "tenant=contoso")
	drop("fabrikam", fabrikam)
	svc.events.wait(t, "401", 30*time.Second, "added=fabrikam")
	svc.events.wait(t, "200", 30*time.Second, "tenant=fabrikam")

	// A bad file: refused, named, and the others run on.
	if err := os.WriteFile(filepath.Join(dropDir, "broken.json"), []byte(`{"name": "broken", "tenantId": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	svc.events.wait(t, "400", 30*time.Second, "broken.json", "tenantId", "keeping the last good configuration")
	if code, _, errOut := c.run("check", "--config", settings); code != exitUsage || !strings.Contains(errOut, filepath.Join("tenants.d", "broken.json")+":1:") {
		t.Errorf("check with a bad drop-in: exit %d\n%s", code, errOut)
	}
	os.Remove(filepath.Join(dropDir, "broken.json"))

	// The customer leaves: its file goes, its state stays, orphaned.
	os.Remove(filepath.Join(dropDir, "contoso.json"))
	svc.events.wait(t, "401", 30*time.Second, "removed=contoso")
	_, rep, _ := statusJSON(t, c, settings)
	if tr := tenantOf(t, rep, "contoso"); tr["state"] != "orphaned" {
		t.Errorf("a removed drop-in tenant: %v", tr)
	}
	if tr := tenantOf(t, rep, "fabrikam"); tr["state"] != "ok" {
		t.Errorf("fabrikam: %v", tr)
	}
}
