//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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
	// Trust is configuration, not an outage of Microsoft nor a refusal.
	if !strings.Contains(stderr, "failure=config code=UntrustedCertificate") || !strings.Contains(stdout, "endpoints.caFile") {
		t.Errorf("an untrusted certificate not reported as configuration:\n%s\n%s", stdout, stderr)
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
	// In the global cloud nothing galmirror removed sits in its owners'
	// Deleted Items (permanentDelete).
	for _, u := range tn.Users {
		fs, _ := srv.Folders(tn.ID, u.ID)
		if len(fs) != 2 || len(fs[1].Contacts) != 0 {
			t.Errorf("mailbox %s after purge: %s", u.UserPrincipalName, mustMarshal(fs))
		}
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
	for _, want := range []string{"first run", "second run", " 0 created, 0 updated, 0 deleted", "0 writes",
		"1 sharedMailbox, 1 room, 1 equipment, 1 group",
		"from tenant ", "people (source.fromTenants)"} { // the second tenant's people in the first's mailboxes
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(errOut, "caFile") || strings.Contains(out, "caFile") {
		t.Errorf("the demo's settings name a caFile")
	}
	// The tenant's settings name is the generated tenant's, and the
	// settings file it removes is not shown as if it stayed.
	m := regexp.MustCompile(`serving tenant "([^"]+)"`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, demoName(m[1])+": ok") || strings.Contains(out, "settings: /") ||
		!strings.Contains(out, "removed at the end") {
		t.Errorf("demo output:\n%s", out)
	}
}

// managed returns a mailbox's managed folder under its Contacts folder and
// fails on a duplicate contact in it.
func managed(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, user string) *graphsim.Folder {
	t.Helper()
	fs, err := srv.Folders(tn.ID, user)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		if fs[i].ParentFolderID != fs[0].ID {
			continue
		}
		for _, p := range fs[i].ExtendedProperties {
			if strings.Contains(p.ID, "galmirror.folder") {
				seen := map[string]bool{}
				for _, c := range fs[i].Contacts {
					for _, q := range c.ExtendedProperties {
						if strings.Contains(q.ID, "galmirror.sourceId") {
							if seen[q.Value] {
								t.Fatalf("mailbox %s holds two contacts for %s", user, q.Value)
							}
							seen[q.Value] = true
						}
					}
				}
				return &fs[i]
			}
		}
	}
	return nil
}

func jsonResult(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil {
		t.Fatalf("not one JSON result: %v\n%s", err, out)
	}
	return m
}

// An app scoped with Exchange RBAC for Applications (no Contacts role in
// its token): check names the model and the mailboxes it reaches, and sync
// syncs those and lists the others as skipped, with the reason.
func TestRBACScopedAppThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	if err := srv.SetRoles(tn.ID, cred.ClientID, []string{graphsim.RoleUserReadAll, graphsim.RoleGroupMemberReadAll}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetMailboxGrants(tn.ID, cred.ClientID, []string{tn.Users[0].ID, tn.Users[1].ID}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := c.run("check", "--config", settings)
	if code != exitOK || !strings.Contains(out, "RBAC-scoped") || !strings.Contains(out, "2 of 3 reachable") ||
		!strings.Contains(out, tn.Users[2].UserPrincipalName) {
		t.Fatalf("check exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = c.run("sync", "--config", settings, "--json")
	if code != exitOK {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}
	res := jsonResult(t, out)
	skipped, _ := res["skipped"].([]any)
	if res["mailboxAccess"] != "rbac-scoped" || len(skipped) != 1 {
		t.Fatalf("result %v", res)
	}
	if s := skipped[0].(map[string]any); s["mailbox"] != tn.Users[2].UserPrincipalName || s["code"] != "ErrorAccessDenied" || s["reason"] == "" {
		t.Errorf("skipped %v", s)
	}
	if !strings.Contains(errOut, "mailbox skipped") {
		t.Errorf("the log does not name the skipped mailbox:\n%s", errOut)
	}
}

// A managed folder its owner deleted sits in Deleted Items: the next sync
// leaves it there untouched and makes a new one.
func TestOwnerDeletedFolderThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}
	u := tn.Users[0].ID
	old := managed(t, srv, tn, u)
	if err := srv.OwnerDeleteFolder(tn.ID, u, old.ID); err != nil {
		t.Fatal(err)
	}
	if err := srv.PatchUser(tn.ID, tn.Users[1].ID, map[string]any{"jobTitle": "New title"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := c.run("sync", "--config", settings)
	if code != exitOK || !strings.Contains(out, "2 created") {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}
	if nf := managed(t, srv, tn, u); nf == nil || nf.ID == old.ID || len(nf.Contacts) != 2 {
		t.Fatalf("new folder %+v", nf)
	}
	fs, _ := srv.Folders(tn.ID, u)
	for _, f := range fs {
		if f.ID == old.ID {
			if f.ParentFolderID != fs[1].ID || !strings.Contains(string(mustMarshal(f)), `"Úser 1"`) || strings.Contains(string(mustMarshal(f)), "New title") {
				t.Errorf("the folder in Deleted Items moved or changed: %s", mustMarshal(f))
			}
		}
	}
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Graph answering committed writes with 5xx (503 included) and dropping
// batches after they ran: three runs through the binary, then one without
// faults, and no mailbox ever holds a duplicate.
func TestCommittedWritesAnswered5xxThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 8)
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	srv.SetFaults(graphsim.Faults{AfterCommitRate: 0.2, BatchDropRate: 0.05, RetryAfter503: 10 * time.Millisecond})
	for run := range 3 {
		code, out, errOut := c.run("sync", "--config", settings)
		if code != exitOK && code != exitPartial {
			t.Fatalf("run %d exit %d\n%s\n%s", run, code, out, errOut)
		}
		for _, u := range tn.Users {
			managed(t, srv, tn, u.ID)
		}
		if err := srv.PatchUser(tn.ID, tn.Users[run].ID, map[string]any{"jobTitle": fmt.Sprint("T", run)}); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Counters().AfterCommitFaults == 0 {
		t.Fatal("no fault after commit: the test proves nothing")
	}
	srv.SetFaults(graphsim.Faults{})
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK {
		t.Fatalf("clean run exit %d\n%s\n%s", code, out, errOut)
	}
	for _, u := range tn.Users {
		if f := managed(t, srv, tn, u.ID); f == nil || len(f.Contacts) != len(tn.Users)-1 {
			t.Fatalf("mailbox %s: %+v", u.UserPrincipalName, f)
		}
	}
}

// Two entries of one tenant keep two folders; one tenant and one folder
// twice is a configuration error before any Graph call.
func TestTwoEntriesOfOneTenantThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	all := c.tenant("contoso", srv, tn, cred)
	sales := c.tenant("contoso-sales", srv, tn, cred)
	sales["folder"] = "Company directory"
	settings := c.settings(all, sales)
	code, _, errOut := c.run("sync", "--config", settings)
	if code != exitUsage || !strings.Contains(errOut, "tenants[1].folder") || srv.Counters().Requests != 0 {
		t.Fatalf("same folder twice: exit %d, %d requests\n%s", code, srv.Counters().Requests, errOut)
	}
	sales["folder"] = "Sales"
	settings = c.settings(all, sales)
	for run := range 2 {
		if code, out, errOut := c.run("sync", "--config", settings); code != exitOK {
			t.Fatalf("run %d exit %d\n%s\n%s", run, code, out, errOut)
		}
	}
	fs, _ := srv.Folders(tn.ID, tn.Users[0].ID)
	var names []string
	for _, f := range fs[2:] {
		names = append(names, f.DisplayName+fmt.Sprint(len(f.Contacts)))
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "Company Directory2,Sales2" {
		t.Fatalf("folders %v", names)
	}
}

// A second installation (its own state database) pointed at the same
// tenant and entry: it reports the folders it does not maintain instead of
// fighting over them, until one of them takes them over on purpose.
func TestSecondInstallationThroughTheBinary(t *testing.T) {
	first := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	s1 := first.settings(first.tenant("contoso", srv, tn, cred))
	if code, out, errOut := first.run("sync", "--config", s1); code != exitOK {
		t.Fatalf("first: exit %d\n%s\n%s", code, out, errOut)
	}
	second := newCustomer(t)
	s2 := second.settings(second.tenant("contoso", srv, tn, cred))
	// The second one runs on this same host: it takes the folders over
	// (what a reinstall after a lost state directory needs), and the first
	// then reports them taken over and writes nothing more.
	if code, out, errOut := second.run("sync", "--config", s2); code != exitOK || !strings.Contains(errOut, "taking over") {
		t.Fatalf("second: exit %d\n%s\n%s", code, out, errOut)
	}
	srv.ResetCounters()
	code, out, errOut := first.run("sync", "--config", s1)
	if code != exitPartial || !strings.Contains(out, "OtherInstallation") || srv.Counters().Writes != 0 {
		t.Fatalf("first again: exit %d, %d writes\n%s\n%s", code, srv.Counters().Writes, out, errOut)
	}
	if code, out, errOut := first.run("sync", "--config", s1, "--take-over"); code != exitOK {
		t.Fatalf("take over: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, u := range tn.Users {
		if f := managed(t, srv, tn, u.ID); f == nil || len(f.Contacts) != 2 {
			t.Fatalf("mailbox %s: %+v", u.UserPrincipalName, f)
		}
	}
}
