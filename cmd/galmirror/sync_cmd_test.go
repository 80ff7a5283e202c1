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
