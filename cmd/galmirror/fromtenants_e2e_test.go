//go:build linux

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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

// xtenant is the world of TestFromTenantsThroughTheBinary: contoso lists
// fabrikam in source.fromTenants, each tenant on its own graphsim.
type xtenant struct {
	t                 *testing.T
	c                 *customer
	srvA, srvB        *graphsim.Server
	tnA, tnB          graphsim.Tenant
	credB             graphsim.AppCredential
	contoso, fabrikam map[string]any
	settings          string
	schema            *schemacheck.Schema
	errOut            string   // the last sync's stderr
	want              []string // a contoso mailbox's marks, its owner's aside
}

func newXTenant(t *testing.T) *xtenant {
	x := &xtenant{t: t, c: newCustomer(t)}
	var credA graphsim.AppCredential
	x.srvA, x.tnA, credA = simTenantAt(t, 3, "Contoso", "contoso.example")
	x.srvB, x.tnB, x.credB = simTenantAt(t, 2, "Fabrikam", "fabrikam.example")
	x.contoso = x.c.tenant("contoso", x.srvA, x.tnA, credA)
	x.contoso["source"] = map[string]any{"fromTenants": []string{"fabrikam"}}
	x.fabrikam = x.c.tenant("fabrikam", x.srvB, x.tnB, x.credB)
	x.settings = x.c.settings(x.contoso, x.fabrikam)
	for _, u := range x.tnA.Users[1:] {
		x.want = append(x.want, u.ID)
	}
	for _, u := range x.tnB.Users {
		x.want = append(x.want, strings.ToLower(x.tnB.ID)+"/"+u.ID)
	}
	slices.Sort(x.want)
	b, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if x.schema, err = schemacheck.Parse(b); err != nil {
		t.Fatal(err)
	}
	return x
}

// mailboxHas fails unless contoso's first mailbox holds exactly these
// marks.
func (x *xtenant) mailboxHas(want []string) {
	x.t.Helper()
	if got := sourceMarks(x.t, x.srvA, x.tnA, x.tnA.Users[0].ID); !slices.Equal(got, want) {
		x.t.Fatalf("contoso mailbox marks\n%v\nwant\n%v", got, want)
	}
}

// sync runs sync --json, checks its exit code and each line against the
// schema, and returns the results by tenant.
func (x *xtenant) sync(wantCode int, args ...string) map[string]map[string]any {
	x.t.Helper()
	code, out, errOut := x.c.run(append([]string{"sync", "--config", x.settings, "--json"}, args...)...)
	x.errOut = errOut
	if code != wantCode {
		x.t.Fatalf("sync %v: exit %d, want %d\n%s\n%s", args, code, wantCode, out, errOut)
	}
	by := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if errs := x.schema.Check("syncResult", []byte(l)); len(errs) > 0 {
			x.t.Errorf("sync --json does not match the schema: %v\n%s", errs, l)
		}
		m := jsonResult(x.t, l)
		by[m["tenant"].(string)] = m
	}
	return by
}

// deltaReads returns fabrikam's users/delta requests since the last call.
func (x *xtenant) deltaReads() int64 {
	n := x.srvB.Counters().ByRoute["GET /users/delta"]
	x.srvB.ResetCounters()
	return n
}

func (x *xtenant) sourceTenant(res map[string]any) map[string]any {
	x.t.Helper()
	sts, _ := res["sourceTenants"].([]any)
	if len(sts) != 1 {
		x.t.Fatalf("sourceTenants %v", res["sourceTenants"])
	}
	return sts[0].(map[string]any)
}

func contactCount(res map[string]any, what string) any { return res["contacts"].(map[string]any)[what] }

// source.fromTenants through the built binary, two tenants on two
// graphsims: fabrikam's people appear in contoso's mailboxes marked with
// fabrikam's tenant id; fabrikam's directory is read once per sync of
// both; a fabrikam that cannot be read keeps its people in contoso's
// mailboxes (partial, with the reason); taken off the list, its people go
// under the mass-delete guard; no run makes a duplicate.
func TestFromTenantsThroughTheBinary(t *testing.T) {
	x := newXTenant(t)
	x.firstSyncs()
	x.checkAndAgain()
	x.unreadable()
	x.offTheList()
}

// firstSyncs: a dry run writes nothing; a sync of both reads fabrikam
// once and fills contoso's mailboxes with its people.
func (x *xtenant) firstSyncs() {
	t := x.t
	res := x.sync(exitOK, "--dry-run", "--tenant", "contoso")
	if got := contactCount(res["contoso"], "created"); got != float64(12) || x.sourceTenant(res["contoso"])["sources"] != float64(2) {
		t.Errorf("dry run: to create %v, source tenants %v", got, res["contoso"]["sourceTenants"])
	}
	if f := managed(t, x.srvA, x.tnA, x.tnA.Users[0].ID); f != nil {
		t.Fatalf("the dry run made a folder")
	}

	// Both tenants in one process: fabrikam's directory is read once.
	x.srvB.ResetCounters()
	res = x.sync(exitOK)
	x.mailboxHas(x.want)
	if st := x.sourceTenant(res["contoso"]); st["name"] != "fabrikam" || st["sources"] != float64(2) || st["tenantId"] != strings.ToLower(x.tnB.ID) {
		t.Errorf("contoso's source tenant: %v", st)
	}
	if got := contactCount(res["contoso"], "created"); got != float64(12) {
		t.Errorf("contoso created %v, want 12 (3 mailboxes × 2 colleagues + 2 of fabrikam)", got)
	}
	if n := x.deltaReads(); n != 1 {
		t.Errorf("fabrikam's users/delta was requested %d times in one sync of both tenants, want 1", n)
	}
	if got := sourceMarks(t, x.srvB, x.tnB, x.tnB.Users[0].ID); !slices.Equal(got, []string{x.tnB.Users[1].ID}) {
		t.Errorf("fabrikam's own mailbox holds %v", got)
	}
}

// checkAndAgain: check says what fabrikam adds; further syncs write
// nothing and make no duplicate; contoso alone reads fabrikam once.
func (x *xtenant) checkAndAgain() {
	t := x.t
	code, out, checkErr := x.c.run("check", "--config", x.settings, "--tenant", "contoso")
	if code != exitOK || !strings.Contains(out, "source tenant fabrikam") || !strings.Contains(out, "2 people by its own source rules") ||
		!strings.Contains(out, "5 sources") {
		t.Errorf("check exit %d\n%s\n%s", code, out, checkErr)
	}
	x.srvB.ResetCounters()
	res := x.sync(exitOK)
	if n := x.deltaReads(); n != 1 || contactCount(res["contoso"], "created") != float64(0) {
		t.Errorf("second sync: %d users/delta requests, contacts %v", n, res["contoso"]["contacts"])
	}
	res = x.sync(exitOK, "--tenant", "contoso")
	if n := x.deltaReads(); n != 1 || x.sourceTenant(res["contoso"])["status"] != "read" {
		t.Errorf("sync --tenant contoso: %d users/delta requests of fabrikam, %v", n, res["contoso"]["sourceTenants"])
	}
	x.mailboxHas(x.want)
}

// unreadable: fabrikam's consent withdrawn, contoso keeps fabrikam's
// people and says why, though one of them left meanwhile; readable again,
// the leaver goes.
func (x *xtenant) unreadable() {
	t := x.t
	if err := x.srvB.SetRoles(x.tnB.ID, x.credB.ClientID, []string{graphsim.RoleContactsReadWrite}); err != nil {
		t.Fatal(err)
	}
	if err := x.srvB.DeleteUser(x.tnB.ID, x.tnB.Users[1].ID, false); err != nil {
		t.Fatal(err)
	}
	code, out, checkErr := x.c.run("check", "--config", x.settings, "--tenant", "contoso")
	if code == exitOK || !strings.Contains(out, "source tenant fabrikam") || !strings.Contains(out, "User.Read.All") {
		t.Errorf("check with fabrikam unreadable: exit %d\n%s\n%s", code, out, checkErr)
	}
	res := x.sync(exitPartial, "--tenant", "contoso")
	st := x.sourceTenant(res["contoso"])
	if res["contoso"]["status"] != "partial" || st["status"] != "kept" || !strings.Contains(st["error"].(string), "User.Read.All") {
		t.Errorf("contoso with fabrikam unreadable: status %v, source tenant %v", res["contoso"]["status"], st)
	}
	if d := contactCount(res["contoso"], "deleted"); d != float64(0) {
		t.Errorf("deleted %v with fabrikam unreadable", d)
	}
	if !strings.Contains(x.errOut, "event_id=720") || !strings.Contains(x.errOut, "source_tenant=fabrikam") ||
		!strings.Contains(x.errOut, "event_id=201") || !strings.Contains(x.errOut, "its people were kept") {
		t.Errorf("no event 720 naming fabrikam, or a 201 without the reason:\n%s", x.errOut)
	}
	x.mailboxHas(x.want)

	if err := x.srvB.SetRoles(x.tnB.ID, x.credB.ClientID, graphsim.AllRoles); err != nil {
		t.Fatal(err)
	}
	res = x.sync(exitOK, "--tenant", "contoso")
	if d := contactCount(res["contoso"], "deleted"); d != float64(3) {
		t.Errorf("deleted %v after fabrikam's leaver, want 3 (one per mailbox)", d)
	}
	x.want = slices.DeleteFunc(x.want, func(s string) bool { return strings.HasSuffix(s, x.tnB.Users[1].ID) })
	x.mailboxHas(x.want)
}

// offTheList: fabrikam's people go, under the mass-delete guard (one of
// three contacts is more than 20%: held back until allowed).
func (x *xtenant) offTheList() {
	t := x.t
	x.contoso["source"] = map[string]any{}
	x.contoso["deletes"] = map[string]any{"minCount": 0, "maxFraction": 0.2}
	x.settings = x.c.settings(x.contoso, x.fabrikam)
	res := x.sync(exitPartial, "--tenant", "contoso")
	if h := contactCount(res["contoso"], "heldDeletes"); h != float64(3) {
		t.Errorf("held deletes %v, want 3 (one of three contacts in each mailbox is above 20%%)", h)
	}
	x.mailboxHas(x.want)
	res = x.sync(exitOK, "--tenant", "contoso", "--allow-mass-delete")
	if d := contactCount(res["contoso"], "deleted"); d != float64(3) {
		t.Errorf("deleted %v after fabrikam left the list, want 3", d)
	}
	x.mailboxHas(slices.DeleteFunc(x.want, func(s string) bool { return strings.Contains(s, "/") }))
	if _, ok := res["contoso"]["sourceTenants"]; ok {
		t.Errorf("sourceTenants without fromTenants: %v", res["contoso"]["sourceTenants"])
	}
}

// The service (`galmirror run`) starts both tenants at once: fabrikam's
// directory is read once for its own run and contoso's, and fabrikam's
// people reach contoso's mailboxes.
func TestFromTenantsServiceReadsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	x := newXTenant(t)
	sched := map[string]any{"every": "1h", "jitter": "0s"}
	x.contoso["schedule"], x.fabrikam["schedule"] = sched, sched
	x.settings = x.c.settings(x.contoso, x.fabrikam)
	x.srvB.ResetCounters()

	svc := x.c.startService(t, x.settings)
	events := svc.events
	events.wait(t, "200", 30*time.Second, "tenant=contoso")
	events.wait(t, "200", 30*time.Second, "tenant=fabrikam")
	x.mailboxHas(x.want)
	if n := x.deltaReads(); n != 1 {
		t.Errorf("fabrikam's users/delta was requested %d times in the service's round, want 1", n)
	}
	_ = svc.proc.Signal(syscall.SIGTERM)
	events.wait(t, "101", 15*time.Second)
	<-svc.done
}
