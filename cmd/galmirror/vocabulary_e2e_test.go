//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/report/schemacheck"
)

// Every JSON output of the built binary matches docs/report.schema.json,
// and the outputs name one fact the same: a tenant's certificate expiry,
// its last run's status, counts and trigger, in sync --json, status
// --json, admin --json and the events.
func TestOneVocabularyThroughTheBinary(t *testing.T) {
	b, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := schemacheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	check := func(def, doc string) map[string]any {
		t.Helper()
		if errs := schema.Check(def, []byte(doc)); len(errs) > 0 {
			t.Errorf("%s does not match the schema:\n%s\n%s", def, strings.Join(errs, "\n"), doc)
		}
		checked[def]++
		var m map[string]any
		_ = json.Unmarshal([]byte(doc), &m)
		return m
	}
	lines := func(out string) []string { return strings.Split(strings.TrimSpace(out), "\n") }

	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	srv2, tn2, cred2 := simTenant(t, 2)
	_, stranger, _ := graphsim.NewApp("stranger")
	broken := cred2
	broken.CertPEM, broken.KeyPEM = stranger.CertPEM, stranger.KeyPEM
	sched := map[string]any{"every": "1h", "jitter": "0s"}
	a, bad := c.tenant("contoso", srv, tn, cred), c.tenant("broken", srv2, tn2, broken)
	a["schedule"], bad["schedule"] = sched, sched
	settings := c.settings(a, bad)

	_, out, _ := c.run("sync", "--config", settings, "--dry-run", "--json")
	for _, l := range lines(out) {
		check("syncResult", l)
	}
	_, out, _ = c.run("sync", "--config", settings, "--json")
	var synced map[string]any
	for _, l := range lines(out) {
		if m := check("syncResult", l); m["tenant"] == "contoso" {
			synced = m
		}
	}
	_, out, _ = c.run("check", "--config", settings, "--json")
	for _, l := range lines(out) {
		check("checkReport", l)
	}
	_, out, _ = c.run("status", "--config", settings, "--json")
	rep := check("statusReport", out)
	last := tenantOf(t, rep, "contoso")["lastRun"].(map[string]any)
	for _, k := range []string{"status", "trigger", "mailboxes", "contacts", "certificateExpires"} {
		if fmt.Sprint(last[k]) != fmt.Sprint(synced[k]) {
			t.Errorf("%s: status --json says %v, sync --json %v", k, last[k], synced[k])
		}
	}
	if tenantOf(t, rep, "contoso")["certificateExpires"] != synced["certificateExpires"] || last["trigger"] != "cli" {
		t.Errorf("certificate expiry or trigger differ: %v", tenantOf(t, rep, "contoso"))
	}

	checkAdminOutputs(t, c, settings, synced, check)
	_, out, _ = c.run("purge", "--config", settings, "--tenant", "contoso", "--yes", "--json")
	check("purgeResult", out)

	for _, def := range schema.Defs() {
		switch def {
		case "syncResult", "statusReport", "checkReport", "purgeResult", "adminService", "adminSyncNow", "adminTenants",
			"adminRuns", "adminRunDetail", "adminTenant", "adminCheck", "event":
			if checked[def] == 0 {
				t.Errorf("no output checked against %s", def)
			}
		}
	}
}

// checkAdminOutputs checks admin --json's outputs against a running
// service, and that they name the facts as sync --json (synced) does.
func checkAdminOutputs(t *testing.T, c *customer, settings string, synced map[string]any, check func(def, doc string) map[string]any) {
	lines := func(out string) []string { return strings.Split(strings.TrimSpace(out), "\n") }
	svc := c.startService(t, settings)
	svc.events.wait(t, "200", 30*time.Second, "tenant=contoso", "trigger=startup")
	admin := func(def string, args ...string) map[string]any {
		t.Helper()
		code, out, errOut := c.run(append([]string{"admin", "--config", settings, "--json"}, args...)...)
		if code != exitOK && code != exitPartial {
			t.Fatalf("admin %v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		return check(def, out)
	}
	admin("adminService", "status")
	started := admin("adminSyncNow", "sync", "contoso")
	svc.events.wait(t, "200", 30*time.Second, "tenant=contoso", "trigger=manual")
	tenants := admin("adminTenants", "tenants")
	runs := admin("adminRuns", "runs", "contoso")
	newest := runs["runs"].([]any)[0].(map[string]any)
	if newest["runId"] != started["runId"] || newest["trigger"] != "manual" || newest["status"] != "ok" || newest["requestedBy"] == "" {
		t.Errorf("newest run %v, started %v", newest, started)
	}
	admin("adminRunDetail", "run", fmt.Sprint(started["runId"]))
	for _, tt := range tenants["tenants"].([]any) {
		tm := tt.(map[string]any)
		if tm["name"] == "contoso" && tm["certificateExpires"] != synced["certificateExpires"] {
			t.Errorf("admin says the certificate expires %v, sync %v", tm["certificateExpires"], synced["certificateExpires"])
		}
	}
	admin("adminTenant", "pause", "contoso", "--reason", "vocabulary")
	admin("adminTenant", "resume", "contoso")
	admin("adminCheck", "check", "broken")
	_, out, _ := c.run("admin", "--config", settings, "--json", "events")
	for _, l := range lines(out) {
		check("event", l)
	}
	svc.stop(t)
}
