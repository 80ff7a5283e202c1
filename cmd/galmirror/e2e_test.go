//go:build linux

package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// Two tenants, one with a certificate its app does not know, synced by the
// built binary with system-store trust: the good one syncs, the broken one
// fails with its AADSTS code, and the exit code says a tenant failed.
func TestSyncTwoTenantsOneBroken(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	srv2, tn2, cred2 := simTenant(t, 2)
	_, stranger, _ := graphsim.NewApp("stranger")
	cred2.CertPEM, cred2.KeyPEM = stranger.CertPEM, stranger.KeyPEM
	settings := c.settings(c.tenant("good", srv, tn, cred), c.tenant("broken", srv2, tn2, cred2))
	code, stdout, stderr := c.run("sync", "--config", settings, "--json")
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
		t.Fatalf("statuses: %v / %v\n%s", byTenant["good"]["status"], byTenant["broken"]["status"], stderr)
	}
	if c := byTenant["good"]["contacts"].(map[string]any)["created"]; c != float64(6) {
		t.Errorf("good tenant created %v, want 6", c)
	}
	if f := byTenant["broken"]["failure"].(map[string]any); f["code"] != "AADSTS700027" {
		t.Errorf("broken tenant failure %v", f)
	}
	if strings.Contains(stdout+stderr, "PRIVATE KEY") || strings.Contains(stderr, "panic") {
		t.Errorf("a key or a panic in the output:\n%s", stderr)
	}

	// Only the good tenant: exit 0, and a second run writes nothing.
	code, stdout, stderr = c.run("sync", "--config", settings, "--tenant", "good")
	if code != exitOK || !strings.Contains(stdout, "0 created, 0 updated, 0 deleted, 6 unchanged") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// A machine that does not trust the endpoint's CA gets a clear failure of
// the tenant (exit 1, the TLS reason), never a panic and never a write.
func TestUntrustedEndpointFailsCleanly(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	env := append(os.Environ(), "SSL_CERT_FILE="+settings, "SSL_CERT_DIR="+c.dir) // a store without graphsim's CA
	code, stdout, stderr := c.runEnv(env, "sync", "--config", settings)
	if code != exitFailed || !strings.Contains(stdout, "certificate") || strings.Contains(stderr, "panic") {
		t.Fatalf("exit %d, want 1 naming the certificate problem\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if n := srv.Counters().Requests; n != 0 {
		t.Errorf("graphsim served %d Graph requests to an untrusting client", n)
	}
}

func TestCheckAndPurgeCommands(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	code, out, errOut := c.run("check", "--config", settings)
	if code != exitOK || !strings.Contains(out, "roles") {
		t.Fatalf("check exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, _ := c.run("purge", "--config", settings, "--tenant", "contoso"); code != exitUsage {
		t.Fatalf("purge without --yes: exit %d", code)
	}
	code, out, errOut = c.run("purge", "--config", settings, "--tenant", "contoso", "--yes")
	if code != exitOK || !strings.Contains(out, "6 contacts deleted, 3 folders deleted") {
		t.Fatalf("purge exit %d: %s\n%s", code, out, errOut)
	}
}

// `galmirror demo` as the README runs it: the built binary, which runs
// `galmirror sync` with graphsim's CA in the system store.
func TestDemo(t *testing.T) {
	c := newCustomer(t)
	code, out, errOut := c.runEnv(os.Environ(), "demo", "--users", "12", "--groups", "2")
	if code != exitOK {
		t.Fatalf("demo exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"first run", "second run", " 0 created, 0 updated, 0 deleted", "0 writes"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(errOut, "caFile") || strings.Contains(out, "caFile") {
		t.Errorf("the demo's settings name a caFile")
	}
}
