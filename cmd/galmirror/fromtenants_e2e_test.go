//go:build linux

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/report/schemacheck"
)

// simTenantAt is simTenant with its own name and domain.
func simTenantAt(t *testing.T, n int, name, domain string) (*graphsim.Server, graphsim.Tenant, graphsim.AppCredential) {
	t.Helper()
	app, cred, err := graphsim.NewApp("galmirror", graphsim.AllRoles...)
	if err != nil {
		t.Fatal(err)
	}
	tn := graphsim.Tenant{ID: graphsim.NewGUID(), Name: name, Domain: domain, Apps: []graphsim.App{app}}
	for i := range n {
		upn := fmt.Sprintf("user%d@%s", i, domain)
		tn.Users = append(tn.Users, graphsim.User{ID: graphsim.NewGUID(), UserPrincipalName: upn, Mail: upn,
			DisplayName: fmt.Sprintf("%s %d", name, i), GivenName: name, Surname: fmt.Sprint(i)})
	}
	srv, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{tn}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, tn, cred
}

// sourceMarks lists the source-id marks of a mailbox's managed contacts,
// sorted (managed fails the test on two contacts with one mark).
func sourceMarks(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, user string) []string {
	t.Helper()
	f := managed(t, srv, tn, user)
	if f == nil {
		t.Fatalf("mailbox %s has no managed folder", user)
	}
	var marks []string
	for _, c := range f.Contacts {
		for _, p := range c.ExtendedProperties {
			if strings.Contains(p.ID, "galmirror.sourceId") {
				marks = append(marks, p.Value)
			}
		}
	}
	slices.Sort(marks)
	return marks
}

// source.fromTenants through the built binary, two tenants on two
// graphsims: fabrikam's people appear in contoso's mailboxes marked with
// fabrikam's tenant id; fabrikam's directory is read once per sync of
// both; a fabrikam that cannot be read keeps its people in contoso's
// mailboxes (partial, with the reason); taken off the list, its people go
// under the mass-delete guard; no run makes a duplicate.
func TestFromTenantsThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srvA, tnA, credA := simTenantAt(t, 3, "Contoso", "contoso.example")
	srvB, tnB, credB := simTenantAt(t, 2, "Fabrikam", "fabrikam.example")
	contoso := c.tenant("contoso", srvA, tnA, credA)
	contoso["source"] = map[string]any{"fromTenants": []string{"fabrikam"}}
	fabrikam := c.tenant("fabrikam", srvB, tnB, credB)
	settings := c.settings(contoso, fabrikam)

	var want []string // a contoso mailbox's marks, its owner's aside
	for _, u := range tnA.Users[1:] {
		want = append(want, u.ID)
	}
	for _, u := range tnB.Users {
		want = append(want, strings.ToLower(tnB.ID)+"/"+u.ID)
	}
	slices.Sort(want)
	mailboxHas := func(want []string) {
		t.Helper()
		if got := sourceMarks(t, srvA, tnA, tnA.Users[0].ID); !slices.Equal(got, want) {
			t.Fatalf("contoso mailbox marks\n%v\nwant\n%v", got, want)
		}
	}
	b, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := schemacheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var errOut string // the last sync's stderr
	syncJSON := func(wantCode int, args ...string) map[string]map[string]any {
		t.Helper()
		var code int
		var out string
		code, out, errOut = c.run(append([]string{"sync", "--config", settings, "--json"}, args...)...)
		if code != wantCode {
			t.Fatalf("sync %v: exit %d, want %d\n%s\n%s", args, code, wantCode, out, errOut)
		}
		by := map[string]map[string]any{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if errs := schema.Check("syncResult", []byte(l)); len(errs) > 0 {
				t.Errorf("sync --json does not match the schema: %v\n%s", errs, l)
			}
			m := jsonResult(t, l)
			by[m["tenant"].(string)] = m
		}
		return by
	}
	deltaReads := func() int64 {
		n := srvB.Counters().ByRoute["GET /users/delta"]
		srvB.ResetCounters()
		return n
	}
	sourceTenant := func(res map[string]any) map[string]any {
		t.Helper()
		sts, _ := res["sourceTenants"].([]any)
		if len(sts) != 1 {
			t.Fatalf("sourceTenants %v", res["sourceTenants"])
		}
		return sts[0].(map[string]any)
	}

	// A dry run plans fabrikam's people into contoso's mailboxes and
	// writes nothing.
	res := syncJSON(exitOK, "--dry-run", "--tenant", "contoso")
	if got := res["contoso"]["contacts"].(map[string]any)["created"]; got != float64(12) || sourceTenant(res["contoso"])["sources"] != float64(2) {
		t.Errorf("dry run: to create %v, source tenants %v", got, res["contoso"]["sourceTenants"])
	}
	if f := managed(t, srvA, tnA, tnA.Users[0].ID); f != nil {
		t.Fatalf("the dry run made a folder")
	}

	// Both tenants in one process: fabrikam's directory is read once.
	srvB.ResetCounters()
	res = syncJSON(exitOK)
	mailboxHas(want)
	if st := sourceTenant(res["contoso"]); st["name"] != "fabrikam" || st["sources"] != float64(2) || st["tenantId"] != strings.ToLower(tnB.ID) {
		t.Errorf("contoso's source tenant: %v", st)
	}
	if got := res["contoso"]["contacts"].(map[string]any)["created"]; got != float64(12) {
		t.Errorf("contoso created %v, want 12 (3 mailboxes × 2 colleagues + 2 of fabrikam)", got)
	}
	if n := deltaReads(); n != 1 {
		t.Errorf("fabrikam's users/delta was requested %d times in one sync of both tenants, want 1", n)
	}
	if got := sourceMarks(t, srvB, tnB, tnB.Users[0].ID); !slices.Equal(got, []string{tnB.Users[1].ID}) {
		t.Errorf("fabrikam's own mailbox holds %v", got)
	}

	// check reads fabrikam with fabrikam's app and says what it adds.
	code, out, checkErr := c.run("check", "--config", settings, "--tenant", "contoso")
	if code != exitOK || !strings.Contains(out, "source tenant fabrikam") || !strings.Contains(out, "2 people by its own source rules") ||
		!strings.Contains(out, "5 sources") {
		t.Errorf("check exit %d\n%s\n%s", code, out, checkErr)
	}
	srvB.ResetCounters()

	// Again, and contoso alone: nothing to write, no duplicate; contoso
	// alone still reads fabrikam (once).
	res = syncJSON(exitOK)
	if n := deltaReads(); n != 1 || res["contoso"]["contacts"].(map[string]any)["created"] != float64(0) {
		t.Errorf("second sync: %d users/delta requests, contacts %v", n, res["contoso"]["contacts"])
	}
	res = syncJSON(exitOK, "--tenant", "contoso")
	if n := deltaReads(); n != 1 || sourceTenant(res["contoso"])["status"] != "read" {
		t.Errorf("sync --tenant contoso: %d users/delta requests of fabrikam, %v", n, res["contoso"]["sourceTenants"])
	}
	mailboxHas(want)

	// Fabrikam's consent withdrawn: contoso keeps fabrikam's people and
	// says why; a change in fabrikam meanwhile does not reach contoso.
	if err := srvB.SetRoles(tnB.ID, credB.ClientID, []string{graphsim.RoleContactsReadWrite}); err != nil {
		t.Fatal(err)
	}
	if err := srvB.DeleteUser(tnB.ID, tnB.Users[1].ID, false); err != nil {
		t.Fatal(err)
	}
	code, out, checkErr = c.run("check", "--config", settings, "--tenant", "contoso")
	if code == exitOK || !strings.Contains(out, "source tenant fabrikam") || !strings.Contains(out, "User.Read.All") {
		t.Errorf("check with fabrikam unreadable: exit %d\n%s\n%s", code, out, checkErr)
	}
	res = syncJSON(exitPartial, "--tenant", "contoso")
	st := sourceTenant(res["contoso"])
	if res["contoso"]["status"] != "partial" || st["status"] != "kept" || !strings.Contains(st["error"].(string), "User.Read.All") {
		t.Errorf("contoso with fabrikam unreadable: status %v, source tenant %v", res["contoso"]["status"], st)
	}
	if d := res["contoso"]["contacts"].(map[string]any)["deleted"]; d != float64(0) {
		t.Errorf("deleted %v with fabrikam unreadable", d)
	}
	if !strings.Contains(errOut, "event_id=720") || !strings.Contains(errOut, "source_tenant=fabrikam") {
		t.Errorf("no event 720 naming fabrikam:\n%s", errOut)
	}
	mailboxHas(want)

	// Readable again: the leaver goes.
	if err := srvB.SetRoles(tnB.ID, credB.ClientID, graphsim.AllRoles); err != nil {
		t.Fatal(err)
	}
	res = syncJSON(exitOK, "--tenant", "contoso")
	if d := res["contoso"]["contacts"].(map[string]any)["deleted"]; d != float64(3) {
		t.Errorf("deleted %v after fabrikam's leaver, want 3 (one per mailbox)", d)
	}
	want = slices.DeleteFunc(want, func(s string) bool { return strings.HasSuffix(s, tnB.Users[1].ID) })
	mailboxHas(want)

	// Off the list: its people go, under the mass-delete guard (one of
	// three contacts is more than 20%: held back until allowed).
	contoso["source"] = map[string]any{}
	contoso["deletes"] = map[string]any{"minCount": 0, "maxFraction": 0.2}
	settings = c.settings(contoso, fabrikam)
	res = syncJSON(exitPartial, "--tenant", "contoso")
	if h := res["contoso"]["contacts"].(map[string]any)["heldDeletes"]; h != float64(3) {
		t.Errorf("held deletes %v, want 3 (one of three contacts in each mailbox is above 20%%)", h)
	}
	mailboxHas(want)
	res = syncJSON(exitOK, "--tenant", "contoso", "--allow-mass-delete")
	if d := res["contoso"]["contacts"].(map[string]any)["deleted"]; d != float64(3) {
		t.Errorf("deleted %v after fabrikam left the list, want 3", d)
	}
	mailboxHas(slices.DeleteFunc(want, func(s string) bool { return strings.Contains(s, "/") }))
	if _, ok := res["contoso"]["sourceTenants"]; ok {
		t.Errorf("sourceTenants without fromTenants: %v", res["contoso"]["sourceTenants"])
	}
}
