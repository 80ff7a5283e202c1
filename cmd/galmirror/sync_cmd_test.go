package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// simTenant starts graphsim with one small tenant and returns what a
// settings file needs.
func simTenant(t *testing.T, n int) (*graphsim.Server, graphsim.Tenant, graphsim.AppCredential) {
	t.Helper()
	app, cred, err := graphsim.NewApp("galmirror", graphsim.AllRoles...)
	if err != nil {
		t.Fatal(err)
	}
	tn := graphsim.Tenant{ID: graphsim.NewGUID(), Name: "Contoso", Domain: "contoso.example", Apps: []graphsim.App{app}}
	for i := range n {
		upn := fmt.Sprintf("user%d@contoso.example", i)
		tn.Users = append(tn.Users, graphsim.User{ID: graphsim.NewGUID(), UserPrincipalName: upn, Mail: upn,
			DisplayName: fmt.Sprintf("Úser %d", i), GivenName: "Úser", Surname: fmt.Sprint(i)})
	}
	srv, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{tn}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, tn, cred
}

func tenantSettings(t *testing.T, dir, name string, srv *graphsim.Server, tn graphsim.Tenant, cred graphsim.AppCredential) map[string]any {
	t.Helper()
	pem := append(append([]byte{}, cred.CertPEM...), cred.KeyPEM...)
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"name": name, "tenantId": tn.ID, "clientId": cred.ClientID,
		"certificate": map[string]any{"file": name + ".pem"},
		"cloud":       "custom",
		"endpoints":   map[string]any{"authority": srv.URL(), "graph": srv.URL(), "caFile": name + "-ca.pem"},
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Two tenants, one with a certificate its app does not know: the good one
// syncs, the broken one fails with its AADSTS code, and the exit code says
// a tenant failed.
func TestSyncTwoTenantsOneBroken(t *testing.T) {
	dir := t.TempDir()
	srv, tn, cred := simTenant(t, 3)
	srv2, tn2, cred2 := simTenant(t, 2)
	_, stranger, _ := graphsim.NewApp("stranger")
	cred2.CertPEM, cred2.KeyPEM = stranger.CertPEM, stranger.KeyPEM
	settings := filepath.Join(dir, "settings.json")
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{
		tenantSettings(t, dir, "good", srv, tn, cred),
		tenantSettings(t, dir, "broken", srv2, tn2, cred2),
	}})
	code, stdout, stderr := runCmd(t, "sync", "--config", settings, "--json")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one JSON line per tenant, got:\n%s", stdout)
	}
	byTenant := map[string]map[string]any{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		for _, k := range []string{"tenant", "status", "mailboxes", "contacts", "errors"} {
			if _, ok := m[k]; !ok {
				t.Errorf("JSON line lacks %q: %s", k, l)
			}
		}
		byTenant[m["tenant"].(string)] = m
	}
	if byTenant["good"]["status"] != "ok" || byTenant["broken"]["status"] != "failed" {
		t.Fatalf("statuses: %v / %v", byTenant["good"]["status"], byTenant["broken"]["status"])
	}
	if c := byTenant["good"]["contacts"].(map[string]any)["created"]; c != float64(6) {
		t.Errorf("good tenant created %v, want 6", c)
	}
	if f := byTenant["broken"]["failure"].(map[string]any); f["code"] != "AADSTS700027" {
		t.Errorf("broken tenant failure %v", f)
	}
	if strings.Contains(stdout+stderr, "PRIVATE KEY") {
		t.Error("a key leaked into the output")
	}

	// Only the good tenant: exit 0, and a second run writes nothing.
	code, stdout, _ = runCmd(t, "sync", "--config", settings, "--tenant", "good")
	if code != exitOK || !strings.Contains(stdout, "0 created, 0 updated, 0 deleted, 6 unchanged") {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
}

func TestSyncConfigErrorsExit2BeforeAnyCall(t *testing.T) {
	dir := t.TempDir()
	srv, tn, cred := simTenant(t, 2)
	ts := tenantSettings(t, dir, "contoso", srv, tn, cred)
	ts["souce"] = map[string]any{"excludeUsers": []string{"x@contoso.example"}} // typo
	ts["deletes"] = map[string]any{"maxFraction": 2}
	settings := filepath.Join(dir, "settings.json")
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{ts}})
	code, _, stderr := runCmd(t, "sync", "--config", settings)
	if code != exitUsage {
		t.Fatalf("exit %d, want 2: %s", code, stderr)
	}
	for _, want := range []string{"settings.json", "tenants[0].souce", "tenants[0].deletes.maxFraction"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error does not name %q:\n%s", want, stderr)
		}
	}
	if n := srv.Counters().Requests; n != 0 {
		t.Errorf("graphsim saw %d requests for a bad configuration", n)
	}
	if code, _, stderr := runCmd(t, "sync", "--config", settings+"x"); code != exitUsage || !strings.Contains(stderr, "settings") {
		t.Errorf("missing file: exit %d %s", code, stderr)
	}
	if code, _, _ := runCmd(t, "sync"); code != exitUsage {
		t.Errorf("no --config: exit %d", code)
	}
}

func TestCheckAndPurgeCommands(t *testing.T) {
	dir := t.TempDir()
	srv, tn, cred := simTenant(t, 3)
	settings := filepath.Join(dir, "settings.json")
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{tenantSettings(t, dir, "contoso", srv, tn, cred)}})
	code, out, errOut := runCmd(t, "check", "--config", settings)
	if code != exitOK || !strings.Contains(out, "roles") {
		t.Fatalf("check exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, _ := runCmd(t, "sync", "--config", settings); code != exitOK {
		t.Fatalf("sync exit %d", code)
	}
	if code, _, _ := runCmd(t, "purge", "--config", settings, "--tenant", "contoso"); code != exitUsage {
		t.Fatalf("purge without --yes: exit %d", code)
	}
	code, out, _ = runCmd(t, "purge", "--config", settings, "--tenant", "contoso", "--yes")
	if code != exitOK || !strings.Contains(out, "6 contacts deleted, 3 folders deleted") {
		t.Fatalf("purge exit %d: %s", code, out)
	}
}
