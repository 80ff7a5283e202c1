//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/report/schemacheck"
)

func reportSchema(t *testing.T) *schemacheck.Schema {
	t.Helper()
	b, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := schemacheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// defaultPlace is a mailbox's default Contacts folder as the tests see it:
// galmirror's contacts there (by their source-id mark, failing the test on
// two for one source) and the owner's (everything else), as stored.
type defaultPlace struct {
	ours   map[string]graphsim.Contact // source id → contact
	owners []graphsim.Contact
}

func inDefaultFolder(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, user string) defaultPlace {
	t.Helper()
	fs, err := srv.Folders(tn.ID, user)
	if err != nil {
		t.Fatal(err)
	}
	if fs[0].WellKnownName != "contacts" {
		t.Fatalf("first folder %q is not the default Contacts folder", fs[0].DisplayName)
	}
	p := defaultPlace{ours: map[string]graphsim.Contact{}}
	for _, ct := range fs[0].Contacts {
		sid := ""
		for _, q := range ct.ExtendedProperties {
			if strings.Contains(q.ID, "galmirror.sourceId") {
				sid = q.Value
			}
		}
		if sid == "" {
			p.owners = append(p.owners, ct)
			continue
		}
		if _, dup := p.ours[sid]; dup {
			t.Fatalf("the default Contacts folder of %s holds two contacts for %s", user, sid)
		}
		p.ours[sid] = ct
	}
	return p
}

// ownersContacts puts two contacts of the owner's into user's default
// Contacts folder: one with a colleague's name and address (not
// galmirror's: it has no mark), one of their own.
func ownersContacts(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, user string, colleague graphsim.User) []byte {
	t.Helper()
	for _, props := range []string{
		`{"displayName": "` + colleague.DisplayName + `", "emailAddresses": [{"address": "` + colleague.Mail + `", "name": "` + colleague.DisplayName + `"}], "jobTitle": "my note"}`,
		`{"displayName": "Plumber", "mobilePhone": "+1 206 555 0100", "categories": ["Company Directory"]}`,
	} {
		if _, err := srv.OwnerCreateContact(tn.ID, user, "", json.RawMessage(props)); err != nil {
			t.Fatal(err)
		}
	}
	return mustMarshal(inDefaultFolder(t, srv, tn, user).owners)
}

// Default folder mode through the built binary: galmirror's contacts go
// into each mailbox's default Contacts folder with the category and the
// marks, beside the owner's own, which stay byte for byte the same across
// runs, directory changes, an owner's delete, a mode switch and purge.
func TestDefaultFolderModeThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	u0, u1 := tn.Users[0].ID, tn.Users[1].ID
	before := ownersContacts(t, srv, tn, u0, tn.Users[1])
	ten := c.tenant("contoso", srv, tn, cred)
	ten["folder"] = map[string]any{"mode": "default", "category": "Company Directory"}
	settings := c.settings(ten)
	sync := func(want string) {
		t.Helper()
		code, out, errOut := c.run("sync", "--config", settings)
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("sync exit %d, want %q\n%s\n%s", code, want, out, errOut)
		}
	}
	ownersKept := func(when string) {
		t.Helper()
		if got := mustMarshal(inDefaultFolder(t, srv, tn, u0).owners); !bytes.Equal(got, before) {
			t.Fatalf("%s: the owner's contacts changed:\n%s\nwas\n%s", when, got, before)
		}
	}

	code, out, errOut := c.run("sync", "--config", settings, "--dry-run", "--json")
	if code != exitOK || !strings.Contains(out, `"folderMode":"default","folder":"Company Directory"`) || !strings.Contains(out, `"creates":2`) {
		t.Fatalf("dry run exit %d\n%s\n%s", code, out, errOut)
	}
	if errs := reportSchema(t).Check("syncResult", []byte(out)); len(errs) > 0 {
		t.Errorf("sync --json does not match the schema: %s", strings.Join(errs, "\n"))
	}
	sync("6 created, 0 updated, 0 deleted")
	categorised(t, srv, tn)
	ownersKept("first run")
	sync("0 created, 0 updated, 0 deleted, 6 unchanged")

	if err := srv.PatchUser(tn.ID, u1, map[string]any{"jobTitle": "Director", "displayName": "Úser One"}); err != nil {
		t.Fatal(err)
	}
	sync("0 created, 2 updated, 0 deleted")
	ownersKept("a directory change")

	// The owner deletes galmirror's contact of u1: it is made again, the
	// deleted one stays in Deleted Items as the folder mode leaves it.
	ct := inDefaultFolder(t, srv, tn, u0).ours[u1]
	if err := srv.OwnerDeleteContact(tn.ID, u0, ct.ID); err != nil {
		t.Fatal(err)
	}
	sync("1 created, 0 updated, 0 deleted")
	ownersKept("an owner's delete")
	if fs, _ := srv.Folders(tn.ID, u0); len(fs[1].Contacts) != 1 {
		t.Errorf("Deleted Items holds %d contacts, want the owner's deleted one", len(fs[1].Contacts))
	}
	sync("0 created, 0 updated, 0 deleted, 6 unchanged")

	// The owner moves galmirror's contact of u2 into a folder of their own:
	// it is made again in the default folder; the moved one (marks and
	// all) is the owner's from now on, through purge too.
	movedFolder := ownerMoves(t, srv, tn, u0, tn.Users[2].ID)
	moved := movedFolder()
	sync("1 created, 0 updated, 0 deleted")
	sync("0 created, 0 updated, 0 deleted, 6 unchanged")
	ownersKept("an owner's move")

	code, out, errOut = c.run("check", "--config", settings)
	if code != exitOK || !strings.Contains(out, "default Contacts folder") {
		t.Fatalf("check exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, _ = c.run("adopt-folder", "--config", settings, "--tenant", "contoso", "--folder", "Staff", "--dry-run")
	if code == exitOK || !strings.Contains(out, "uses the default folder mode") {
		t.Fatalf("adopt-folder in default mode: exit %d\n%s", code, out)
	}

	code, out, errOut = c.run("purge", "--config", settings, "--tenant", "contoso", "--yes")
	if code != exitOK || !strings.Contains(out, "6 contacts deleted, 0 folders deleted") {
		t.Fatalf("purge exit %d: %s\n%s", code, out, errOut)
	}
	for _, u := range tn.Users {
		if p := inDefaultFolder(t, srv, tn, u.ID); len(p.ours) != 0 {
			t.Errorf("mailbox %s after purge: %d contacts of galmirror's left", u.UserPrincipalName, len(p.ours))
		}
	}
	ownersKept("purge")
	if got := movedFolder(); !bytes.Equal(got, moved) || !strings.Contains(string(got), "galmirror.sourceId") {
		t.Errorf("the owner's folder with the moved contact changed:\n%s\nwas\n%s", got, moved)
	}
}

// categorised checks that every mailbox holds two contacts of galmirror's
// in its default folder, each with the category, and no managed folder.
func categorised(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant) {
	t.Helper()
	for _, u := range tn.Users {
		p := inDefaultFolder(t, srv, tn, u.ID)
		if len(p.ours) != 2 || managed(t, srv, tn, u.ID) != nil {
			t.Fatalf("mailbox %s: %d contacts of galmirror's in the default folder, managed folder %v", u.UserPrincipalName, len(p.ours), managed(t, srv, tn, u.ID))
		}
		for sid, ct := range p.ours {
			if !strings.Contains(string(ct.Properties), `"categories":["Company Directory"]`) {
				t.Errorf("mailbox %s, contact of %s has no category: %s", u.UserPrincipalName, sid, ct.Properties)
			}
		}
	}
}

// ownerMoves moves galmirror's contact of source sid in user's default
// folder into a new folder of the owner's, "Friends"; it returns what
// reads that folder as stored.
func ownerMoves(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, user, sid string) func() []byte {
	t.Helper()
	friends, err := srv.OwnerCreateFolder(tn.ID, user, "Friends")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.OwnerMoveContact(tn.ID, user, inDefaultFolder(t, srv, tn, user).ours[sid].ID, friends); err != nil {
		t.Fatal(err)
	}
	return func() []byte {
		t.Helper()
		fs, _ := srv.Folders(tn.ID, user)
		for _, f := range fs {
			if f.ID == friends {
				return mustMarshal(f)
			}
		}
		t.Fatal("the owner's folder is gone")
		return nil
	}
}

// place counts galmirror's contacts of every mailbox in the default
// Contacts folder and in the managed folder (failing on a duplicate).
func places(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant) (inDefault, inFolder int) {
	t.Helper()
	for _, u := range tn.Users {
		inDefault += len(inDefaultFolder(t, srv, tn, u.ID).ours)
		if f := managed(t, srv, tn, u.ID); f != nil {
			inFolder += len(f.Contacts)
		}
	}
	return inDefault, inFolder
}

// Switching folder → default → folder moves the contacts without
// duplicates and without losing any, also when the binary is killed in the
// middle of a move: the next run finishes it.
func TestFolderModeSwitchThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 8)
	u0 := tn.Users[0].ID
	before := ownersContacts(t, srv, tn, u0, tn.Users[1])
	ten := c.tenant("contoso", srv, tn, cred)
	folderMode := c.settings(ten)
	ten["folder"] = map[string]any{"mode": "default", "category": "Company Directory"}
	// A second settings file for the other mode, in the same folder.
	defaultMode := strings.TrimSuffix(folderMode, "settings.json") + "settings-default.json"
	writeJSON(t, defaultMode, map[string]any{"dataDir": "state", "tenants": []any{ten}})
	const all = 8 * 7
	sync := func(settings, want string) {
		t.Helper()
		code, out, errOut := c.run("sync", "--config", settings)
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("sync exit %d, want %q\n%s\n%s", code, want, out, errOut)
		}
	}
	check := func(when string, wantDefault, wantFolder int) {
		t.Helper()
		d, f := places(t, srv, tn)
		if d != wantDefault || f != wantFolder {
			t.Fatalf("%s: %d contacts in default folders, %d in managed folders; want %d and %d", when, d, f, wantDefault, wantFolder)
		}
		if got := mustMarshal(inDefaultFolder(t, srv, tn, u0).owners); !bytes.Equal(got, before) {
			t.Fatalf("%s: the owner's contacts changed:\n%s\nwas\n%s", when, got, before)
		}
	}
	// killDuring starts a sync with slow Graph answers and kills the
	// binary once stop says so (or the sync ends by itself).
	killDuring := func(settings string, stop func(d, f int) bool) {
		t.Helper()
		srv.SetFaults(graphsim.Faults{Latency: 60 * time.Millisecond})
		defer srv.SetFaults(graphsim.Faults{})
		cmd := exec.Command(c.bin, "sync", "--config", settings)
		cmd.Env = c.env()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		for {
			select {
			case <-done:
				t.Logf("the sync ended before it could be killed")
				return
			case <-time.After(10 * time.Millisecond):
			}
			if d, f := places(t, srv, tn); stop(d, f) {
				_ = cmd.Process.Kill()
				<-done
				d, f = places(t, srv, tn)
				t.Logf("killed with %d contacts in default folders, %d in managed folders", d, f)
				return
			}
		}
	}

	sync(folderMode, "56 created")
	check("folder mode", 0, all)

	// folder → default, killed while the new place fills.
	killDuring(defaultMode, func(d, f int) bool { return d > 0 })
	sync(defaultMode, "0 updated")
	check("default mode after a killed switch", all, 0)
	sync(defaultMode, "0 created, 0 updated, 0 deleted, 56 unchanged")

	// default → folder, killed once the old place began to empty.
	killDuring(folderMode, func(d, f int) bool { return f == all && d < all })
	sync(folderMode, "0 updated")
	check("folder mode after a killed switch", 0, all)
	sync(folderMode, "0 created, 0 updated, 0 deleted, 56 unchanged")

	// And back once more, uninterrupted: one move, 56 made, 56 removed;
	// the dry run says so first.
	code, out, errOut := c.run("sync", "--config", defaultMode, "--dry-run")
	if code != exitOK || !strings.Contains(out, "56 to create, 0 to update, 56 to delete") || !strings.Contains(out, "default Contacts folder") {
		t.Fatalf("dry run of a move: exit %d\n%s\n%s", code, out, errOut)
	}
	check("after the dry run", 0, all)
	sync(defaultMode, "56 created, 0 updated, 56 deleted")
	check("default mode again", all, 0)
	for _, u := range tn.Users {
		if fs, _ := srv.Folders(tn.ID, u.ID); len(fs) != 2 || len(fs[1].Contacts) != 0 {
			t.Errorf("mailbox %s keeps a folder or Deleted Items content after the move: %s", u.UserPrincipalName, mustMarshal(fs))
		}
	}
}

// A move whose old place holds contacts of many sources that left since
// falls under the mass-delete guard: the new place is made, the old place
// stays whole and the move stays pending (reported as held deletes) until
// --allow-mass-delete.
func TestFolderModeSwitchHeldByTheGuard(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 6)
	ten := c.tenant("contoso", srv, tn, cred)
	settings := c.settings(ten)
	sync := func(want string, args ...string) {
		t.Helper()
		code, out, errOut := c.run(append([]string{"sync", "--config", settings}, args...)...)
		if !strings.Contains(out, want) {
			t.Fatalf("sync exit %d, want %q\n%s\n%s", code, want, out, errOut)
		}
	}
	sync("30 created")
	var gone []string // 4 of the 6 sources leave as the mode changes
	for _, u := range tn.Users[2:] {
		gone = append(gone, u.ID)
	}
	ten["source"] = map[string]any{"excludeUsers": gone}
	ten["folder"] = map[string]any{"mode": "default"}
	settings = c.settings(ten)
	// The guard is per mailbox, as the planner's: the mailboxes of the two
	// remaining sources would lose 4 of 5 (held); the others 3 of 5
	// (deletes.minCount 3 allows them).
	sync("20 deleted, 0 unchanged, 10 deletes HELD BACK")
	if d, f := places(t, srv, tn); d != 10 || f != 10 {
		t.Fatalf("held move: %d contacts in default folders, %d in managed folders; want 10 and 10", d, f)
	}
	sync("0 created, 0 updated, 0 deleted, 10 unchanged, 10 deletes HELD BACK") // still pending, nothing made twice
	if d, f := places(t, srv, tn); d != 10 || f != 10 {
		t.Fatalf("held move, second run: %d in default folders, %d in managed folders", d, f)
	}
	sync("0 created, 0 updated, 10 deleted", "--allow-mass-delete")
	if d, f := places(t, srv, tn); d != 10 || f != 0 {
		t.Fatalf("finished move: %d contacts in default folders, %d in managed folders; want 10 and 0", d, f)
	}
	sync("0 created, 0 updated, 0 deleted, 10 unchanged")
}

// A state directory lost across a change to the default mode: the run
// finds the entry's managed folder by its mark and finishes the move all
// the same (nothing made twice, nothing left behind).
func TestDefaultModeAfterLostState(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	ten := c.tenant("contoso", srv, tn, cred)
	settings := c.settings(ten)
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK || !strings.Contains(out, "6 created") {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, "state")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	ten["folder"] = map[string]any{"mode": "default"}
	settings = c.settings(ten)
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK || !strings.Contains(out, "6 created, 0 updated, 6 deleted") {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}
	if d, f := places(t, srv, tn); d != 6 || f != 0 {
		t.Fatalf("%d contacts in default folders, %d in managed folders; want 6 and 0", d, f)
	}
}
