//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// kindsTenant is simTenant's three people plus a shared mailbox, a room
// and an equipment mailbox (disabled accounts with a mailbox), a leaver
// (a disabled user mailbox), and four groups: a distribution list, a
// mail-enabled security group, a visible and a hidden Microsoft 365
// group, and a security group without mail.
func kindsTenant(t *testing.T) (*graphsim.Server, graphsim.Tenant, graphsim.AppCredential) {
	t.Helper()
	srv, tn, cred := simTenant(t, 3)
	off := false
	for _, u := range []struct{ name, purpose string }{
		{"helpdesk", "shared"}, {"boardroom", "room"}, {"projector", "equipment"}, {"leaver", "user"},
	} {
		upn := u.name + "@contoso.example"
		if err := srv.PutUser(tn.ID, graphsim.User{ID: graphsim.NewGUID(), UserPrincipalName: upn, Mail: upn,
			DisplayName: strings.ToUpper(u.name[:1]) + u.name[1:], AccountEnabled: &off, MailboxPurpose: u.purpose}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []graphsim.Group{
		{DisplayName: "Sales DL", Mail: "sales@contoso.example", MailEnabled: true},
		{DisplayName: "Security Mail", Mail: "secmail@contoso.example", MailEnabled: true, SecurityEnabled: true},
		{DisplayName: "Project Team", Mail: "project@contoso.example", MailEnabled: true, GroupTypes: []string{"Unified"}},
		{DisplayName: "Hidden Team", Mail: "hidden@contoso.example", MailEnabled: true, GroupTypes: []string{"Unified"}, HideFromAddressLists: true},
		{DisplayName: "Plain Security", SecurityEnabled: true},
	} {
		g.ID = graphsim.NewGUID()
		if err := srv.PutGroup(tn.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	return srv, tn, cred
}

func purposeReads(srv *graphsim.Server) int64 {
	return srv.Counters().ByRoute["GET /users/{id}/mailboxSettings"]
}

// Shared, room and equipment mailboxes and mail groups through the built
// binary: each option adds its own kind (the leaver's disabled user
// mailbox and the hidden Microsoft 365 group never), the dry run and the
// JSON report count sources by kind, mailbox purposes are read once per
// candidate and not again in the next run, and turning the options off
// removes those contacts under the mass-delete guard.
func TestResourceMailboxesAndMailGroupsThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := kindsTenant(t)
	k := &kindsWorld{t: t, c: c, srv: srv, tn: tn, ten: c.tenant("contoso", srv, tn, cred)}
	k.switchOn()
	k.switchOff()
}

// kindsWorld is the customer, tenant and settings entry of
// TestResourceMailboxesAndMailGroupsThroughTheBinary's steps.
type kindsWorld struct {
	t   *testing.T
	c   *customer
	srv *graphsim.Server
	tn  graphsim.Tenant
	ten map[string]any
}

// sync runs the binary with the entry and wants exit 0 and want.
func (k *kindsWorld) sync(want string, args ...string) string {
	k.t.Helper()
	code, out, errOut := k.c.run(append([]string{"sync", "--config", k.c.settings(k.ten)}, args...)...)
	if code != exitOK || !strings.Contains(out, want) {
		k.t.Fatalf("sync %v: exit %d, want %q\n%s\n%s", args, code, want, out, errOut)
	}
	return out
}

// switchOn turns the options on: shared mailboxes first, then all.
func (k *kindsWorld) switchOn() {
	t, c, srv, tn, ten, sync := k.t, k.c, k.srv, k.tn, k.ten, k.sync

	sync("sources 3 (3 user)")
	if n := purposeReads(srv); n != 0 {
		t.Fatalf("%d mailboxSettings reads without the options", n)
	}

	ten["source"] = map[string]any{"includeShared": true}
	srv.ResetCounters()
	sync("sources 4 (3 user, 1 sharedMailbox); mailboxes: 3 synced")
	// The four disabled accounts with an address, once each.
	if n := purposeReads(srv); n != 4 {
		t.Fatalf("%d mailboxSettings reads, want 4 (one per disabled account with an address)", n)
	}
	srv.ResetCounters()
	sync("0 created, 0 updated, 0 deleted, 9 unchanged")
	if n := purposeReads(srv); n != 0 {
		t.Fatalf("a run without directory changes read %d mailbox purposes", n)
	}
	if !hasContact(t, srv, tn, tn.Users[0].ID, "helpdesk@contoso.example") {
		t.Fatal("no contact for the shared mailbox")
	}

	// Everything on: the dry run counts by kind and writes nothing; the
	// hidden Microsoft 365 group and the group without mail stay out.
	ten["source"] = map[string]any{"includeShared": true, "includeRooms": true, "includeEquipment": true, "mailGroups": true}
	srv.ResetCounters()
	out := sync("sources 9 (3 user, 1 sharedMailbox, 1 room, 1 equipment, 3 group)", "--dry-run")
	if !strings.Contains(out, "contacts: 15 to create") || srv.Counters().Writes != 0 {
		t.Fatalf("dry run: %d writes\n%s", srv.Counters().Writes, out)
	}
	code, out, errOut := c.run("check", "--config", c.settings(ten))
	if code != exitOK || !strings.Contains(out, "MailboxSettings.Read]") ||
		!strings.Contains(out, "9 sources (3 user, 1 sharedMailbox, 1 room, 1 equipment, 3 group)") {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = c.run("sync", "--config", c.settings(ten), "--json")
	res := jsonResult(t, out)
	kinds, _ := res["sourcesByKind"].(map[string]any)
	want := map[string]float64{"user": 3, "sharedMailbox": 1, "room": 1, "equipment": 1, "group": 3}
	if code != exitOK || len(kinds) != len(want) {
		t.Fatalf("sync --json: exit %d, sourcesByKind %v\n%s\n%s", code, kinds, out, errOut)
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("sourcesByKind[%s] = %v, want %v", k, kinds[k], n)
		}
	}
	for _, addr := range []string{"boardroom@", "projector@", "sales@", "secmail@", "project@"} {
		if !hasContact(t, srv, tn, tn.Users[1].ID, addr+"contoso.example") {
			t.Errorf("no contact for %s", addr)
		}
	}
	for _, addr := range []string{"leaver@", "hidden@"} {
		if hasContact(t, srv, tn, tn.Users[1].ID, addr+"contoso.example") {
			t.Errorf("a contact for %s", addr)
		}
	}
	// The resources and groups are no targets: no folder in their mailboxes.
	if f := managed(t, srv, tn, "helpdesk@contoso.example"); f != nil {
		t.Error("the shared mailbox received the folder")
	}

}

// switchOff hides a group, then turns the options off: all at once (the
// guard holds the deletes back), then one at a time.
func (k *kindsWorld) switchOff() {
	t, c, srv, tn, ten, sync := k.t, k.c, k.srv, k.tn, k.ten, k.sync
	// A Microsoft 365 group hidden later: its hideFromAddressLists is
	// trusted for a day, but a rename reads it again.
	var team graphsim.Group
	tenant, err := srv.Tenant(tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range tenant.Groups {
		if g.DisplayName == "Project Team" {
			team = g
		}
	}
	team.HideFromAddressLists, team.DisplayName = true, "Project Team (archived)"
	if err := srv.PutGroup(tn.ID, team); err != nil {
		t.Fatal(err)
	}
	sync("0 created, 0 updated, 3 deleted")

	// All off at once: the 5 remaining contacts of the kinds would go
	// from each mailbox; 5 of 7 is past the mass-delete guard, which
	// holds them back.
	all := ten["source"]
	delete(ten, "source")
	code, out, errOut := c.run("sync", "--config", c.settings(ten))
	if code != exitPartial || !strings.Contains(out, "15 deletes HELD BACK") {
		t.Fatalf("switched off: exit %d\n%s\n%s", code, out, errOut)
	}
	ten["source"] = all
	sync("0 created, 0 updated, 0 deleted, 21 unchanged")

	// One at a time: each option takes its own kind away.
	src := map[string]any{"includeShared": true, "includeRooms": true, "includeEquipment": true}
	for _, step := range []struct{ off, want string }{
		{"mailGroups", "sources 6 (3 user, 1 sharedMailbox, 1 room, 1 equipment); mailboxes: 3 synced, 0 skipped, 0 failed\n  contacts: 0 created, 0 updated, 6 deleted"},
		{"includeEquipment", "sources 5 (3 user, 1 sharedMailbox, 1 room); mailboxes: 3 synced, 0 skipped, 0 failed\n  contacts: 0 created, 0 updated, 3 deleted"},
		{"includeRooms", "sources 4 (3 user, 1 sharedMailbox); mailboxes: 3 synced, 0 skipped, 0 failed\n  contacts: 0 created, 0 updated, 3 deleted"},
		{"includeShared", "sources 3 (3 user); mailboxes: 3 synced, 0 skipped, 0 failed\n  contacts: 0 created, 0 updated, 3 deleted"},
	} {
		delete(src, step.off)
		ten["source"] = src
		sync(step.want)
	}
	sync("0 created, 0 updated, 0 deleted, 6 unchanged")
	if hasContact(t, srv, tn, tn.Users[1].ID, "helpdesk@contoso.example") || hasContact(t, srv, tn, tn.Users[1].ID, "sales@contoso.example") {
		t.Error("a contact of a switched-off kind stayed")
	}
}

// hasContact reports whether the managed folder of mailbox holds a
// contact with the address.
func hasContact(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, mailbox, addr string) bool {
	t.Helper()
	f := managed(t, srv, tn, mailbox)
	if f == nil {
		return false
	}
	for _, ct := range f.Contacts {
		if strings.Contains(string(ct.Properties), fmt.Sprintf("%q", addr)) {
			return true
		}
	}
	return false
}

// Without MailboxSettings.Read (granted tenant-wide mailbox access), the
// options are refused before any change: check names the permission, a
// sync fails with class consent and writes nothing.
func TestResourceMailboxesNeedMailboxSettingsRead(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := kindsTenant(t)
	if err := srv.SetRoles(tn.ID, cred.ClientID, []string{graphsim.RoleUserReadAll, graphsim.RoleGroupMemberReadAll, graphsim.RoleContactsReadWrite}); err != nil {
		t.Fatal(err)
	}
	ten := c.tenant("contoso", srv, tn, cred)
	ten["source"] = map[string]any{"includeRooms": true}
	settings := c.settings(ten)
	code, out, errOut := c.run("check", "--config", settings)
	if code == exitOK || !strings.Contains(out+errOut, "MailboxSettings.Read") {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = c.run("sync", "--config", settings)
	if code == exitOK || !strings.Contains(out, "grant admin consent for: MailboxSettings.Read") || srv.Counters().Writes != 0 {
		t.Fatalf("sync: exit %d, %d writes\n%s\n%s", code, srv.Counters().Writes, out, errOut)
	}
}
