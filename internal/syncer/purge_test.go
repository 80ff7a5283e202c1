package syncer

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
)

func TestPurgeRemovesOnlyWhatGalmirrorMade(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	// The owner of mailbox 0 keeps a personal contact in the managed folder;
	// the owner of mailbox 1 has one in the default Contacts folder.
	f0 := e.folder(users[0].ID)
	if _, err := e.srv.OwnerCreateContact(e.tenant.ID, users[0].ID, f0.ID, json.RawMessage(`{"givenName":"Mine"}`)); err != nil {
		t.Fatal(err)
	}
	// The owner of mailbox 2 made a folder of their own inside the managed one.
	if _, err := e.srv.OwnerCreateChildFolder(e.tenant.ID, users[2].ID, e.folder(users[2].ID).ID, "Mine"); err != nil {
		t.Fatal(err)
	}
	var deflt string
	fs, _ := e.srv.Folders(e.tenant.ID, users[1].ID)
	for _, f := range fs {
		if f.WellKnown {
			deflt = f.ID
		}
	}
	if _, err := e.srv.OwnerCreateContact(e.tenant.ID, users[1].ID, deflt, json.RawMessage(`{"givenName":"Default"}`)); err != nil {
		t.Fatal(err)
	}
	o := e.opts
	o.Store = e.st
	res := New(o).Purge(t.Context(), &e.cfg.Tenants[0])
	if res.Status != StatusOK || res.ContactsDeleted != 6 || res.FoldersDeleted != 1 || res.FoldersKept != 2 {
		t.Fatalf("purge %+v", res)
	}
	cs := e.contacts(users[0].ID)
	if len(cs) != 1 {
		t.Fatalf("mailbox 0 keeps %d contacts, want only the owner's", len(cs))
	}
	for k := range cs {
		if !strings.HasPrefix(k, "unmarked:") {
			t.Errorf("a managed contact survived: %s", k)
		}
	}
	if e.folder(users[1].ID) != nil {
		t.Error("an empty managed folder survived")
	}
	if f := e.folder(users[2].ID); f == nil || len(f.Contacts) != 0 {
		t.Error("the managed folder holding the owner's own folder was deleted, or kept managed contacts")
	}
	fs, _ = e.srv.Folders(e.tenant.ID, users[1].ID)
	for _, f := range fs {
		if f.WellKnown && len(f.Contacts) != 1 {
			t.Errorf("default folder has %d contacts, want the owner's one", len(f.Contacts))
		}
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t, threeUsers())
	e.writeSettings()
	rep := New(e.opts).Check(t.Context(), &e.cfg.Tenants[0])
	if !rep.OK {
		t.Fatalf("check failed: %+v", rep.Items)
	}
	names := map[string]bool{}
	for _, it := range rep.Items {
		names[it.Name] = true
	}
	for _, n := range []string{"certificate", "token", "roles", "mailbox access", "directory read", "target mailboxes"} {
		if !names[n] {
			t.Errorf("check has no %q line: %+v", n, rep.Items)
		}
	}
	if err := e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, []string{graphsim.RoleUserReadAll}); err != nil {
		t.Fatal(err)
	}
	// The credential caches tokens: a new engine asks again.
	rep = New(e.opts).Check(t.Context(), &e.cfg.Tenants[0])
	if rep.OK || len(rep.MissingRoles) == 0 || !strings.Contains(strings.Join(rep.MissingRoles, ","), "GroupMember.Read.All") {
		t.Fatalf("check with missing roles: %+v", rep)
	}
}
