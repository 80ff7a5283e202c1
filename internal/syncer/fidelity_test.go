package syncer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/store"
)

// The tests of this file each pin a way Microsoft Graph behaves that
// graphsim once did not, and the engine's answer to it
// (docs/graph-fidelity.md has the sources).

// sameContacts fails unless every mailbox holds exactly one contact per
// other source (e.contacts fails on a duplicate).
func (e *env) sameContacts(users []graphsim.User, what string) {
	e.t.Helper()
	for _, u := range users {
		if n := len(e.contacts(u.ID)); n != len(users)-1 {
			e.t.Errorf("%s: mailbox %s has %d contacts, want %d", what, u.UserPrincipalName, n, len(users)-1)
		}
	}
}

// Exchange RBAC for Applications: no Contacts role in the token; the
// mailboxes in the app's scope are synced, the others skipped with their
// reason, and only a run where every target refuses fails.
func TestRBACScopedMailboxAccess(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, []string{graphsim.RoleUserReadAll, graphsim.RoleGroupMemberReadAll}))
	must(e.srv.SetMailboxGrants(e.tenant.ID, e.cred.ClientID, []string{users[0].ID, users[1].UserPrincipalName}))
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.MailboxAccess != entra.MailboxAccessRBAC || res.Mailboxes.Synced != 2 || res.Mailboxes.Skipped != 1 {
		t.Fatalf("access %q mailboxes %+v", res.MailboxAccess, res.Mailboxes)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Mailbox != users[2].UserPrincipalName || res.Skipped[0].Code != "ErrorAccessDenied" ||
		!strings.Contains(res.Skipped[0].Reason, "RBAC") {
		t.Errorf("skipped %+v", res.Skipped)
	}
	if e.folder(users[2].ID) != nil || len(e.contacts(users[0].ID)) != 2 {
		t.Error("the out-of-scope mailbox got a folder, or a granted one lacks contacts")
	}

	rep := New(e.opts).Check(t.Context(), &e.cfg.Tenants[0])
	if !rep.OK || rep.MailboxAccess != entra.MailboxAccessRBAC || rep.Reachable != 2 ||
		len(rep.OutOfScope) != 1 || rep.OutOfScope[0] != users[2].UserPrincipalName {
		t.Fatalf("check: %+v", rep)
	}

	// No grant at all: every target refuses (the one without a mailbox
	// aside), and the run says why.
	must(e.srv.SetMailboxState(e.tenant.ID, users[1].ID, graphsim.MailboxNone))
	must(e.srv.SetMailboxGrants(e.tenant.ID, e.cred.ClientID, []string{users[1].ID}))
	e.srv.ResetCounters()
	res = e.sync(RunOptions{})
	if res.Status != StatusFailed || res.Failure == nil || res.Failure.Class != FailConsent || !strings.Contains(res.Failure.Message, "no target mailbox accepted") {
		t.Fatalf("no grant: %+v %+v", res.Status, res.Failure)
	}
	if e.counters().Writes != 0 {
		t.Error("wrote without mailbox access")
	}
	rep = New(e.opts).Check(t.Context(), &e.cfg.Tenants[0])
	if rep.OK || rep.Reachable != 0 || len(rep.OutOfScope) != 2 || len(rep.NoMailbox) != 1 {
		t.Fatalf("check without grants: %+v", rep)
	}
}

// A folder its owner deletes goes to Deleted Items, id and marks intact: it
// is left there, never written again or adopted, and a new managed folder
// takes its place, across runs, a directory change and a lost state.
func TestOwnerDeletedFolderIsLeftInDeletedItems(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	old := e.folder(users[0].ID)
	if err := e.srv.OwnerDeleteFolder(e.tenant.ID, users[0].ID, old.ID); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		fs, _ := e.deleted(users[0].ID)
		b, _ := json.Marshal(fs)
		return string(b)
	}
	before := snapshot()
	if !strings.Contains(before, old.ID) {
		t.Fatalf("the deleted folder is not in Deleted Items: %s", before)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Created != 2 {
		t.Fatalf("after the owner deleted the folder: %+v", res.Contacts)
	}
	nf := e.folder(users[0].ID)
	if nf == nil || nf.ID == old.ID || len(nf.Contacts) != 2 {
		t.Fatalf("no new managed folder: %+v", nf)
	}
	// A directory change, then a lost state directory: the folder in
	// Deleted Items stays exactly as the owner left it.
	if err := e.srv.PatchUser(e.tenant.ID, users[1].ID, map[string]any{"jobTitle": "Deleted Items stays"}); err != nil {
		t.Fatal(err)
	}
	mustOK(t, e.sync(RunOptions{}))
	if e.contacts(users[0].ID)[users[1].ID]["jobTitle"] != "Deleted Items stays" {
		t.Error("the change did not reach the new folder")
	}
	e.st.Close()
	e.st = nil
	if err := os.RemoveAll(filepath.Join(e.dir, "state")); err != nil {
		t.Fatal(err)
	}
	res = e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Created != 0 {
		t.Fatalf("after a lost state: %+v", res.Contacts)
	}
	if got := snapshot(); got != before {
		t.Errorf("the folder in Deleted Items changed:\nbefore %s\nafter  %s", before, got)
	}
	if f := e.folder(users[0].ID); f == nil || f.ID != nf.ID {
		t.Error("the lost-state run did not find the new folder")
	}
	e.sameContacts(users, "after all")
}

// A folder its owner deleted for good: its delta link answers
// ErrorSyncFolderNotFound, and the next run makes a new folder.
func TestOwnerPermanentlyDeletedFolderIsRecreated(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	if err := e.srv.OwnerPermanentDeleteFolder(e.tenant.ID, users[0].ID, e.folder(users[0].ID).ID); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if want := map[int]int{0: 2, 1: 0}[run]; res.Contacts.Created != want {
			t.Fatalf("run %d: %+v", run, res.Contacts)
		}
	}
	e.sameContacts(users, "recreated")
}

// Delta links Graph refuses: users/delta 400 syncStateNotFound (links
// older than 7 days) and 410 resyncRequired, contacts delta 400
// ErrorInvalidSyncStateData. Each run reads again without the link, saves
// a new one, and no later run fails.
func TestRefusedDeltaLinksResync(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	for i, refuse := range []func(string) error{e.srv.StaleDeltaTokens, e.srv.ExpireDeltaTokens} {
		if err := refuse(e.tenant.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.PatchUser(e.tenant.ID, users[2].ID, map[string]any{"department": fmt.Sprint("D", i)}); err != nil {
			t.Fatal(err)
		}
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if res.Contacts.Created != 0 || res.Contacts.Updated != 2 {
			t.Fatalf("refusal %d: %+v", i, res.Contacts)
		}
		e.srv.ResetCounters()
		res = e.sync(RunOptions{})
		mustOK(t, res)
		// A plain no-change run: one users/delta page, one contacts delta
		// per mailbox, nothing read again from the start. (How many $batch
		// envelopes carry them depends on timing, so they are not counted.)
		c := e.counters()
		reads := c.ByRoute["GET /users/delta"] != 1 ||
			c.ByRoute["GET /users/{id}/contactFolders/{id}/contacts/delta"] > int64(len(users)) ||
			c.ByRoute["GET /users/{id}/contactFolders/{id}/contacts"] != 0 ||
			c.Requests-c.ByRoute["POST /$batch"] > 1
		if c.Writes != 0 || reads {
			t.Fatalf("refusal %d, next run: %d writes, %d requests (%v)", i, c.Writes, c.Requests, c.ByRoute)
		}
	}
	e.sameContacts(users, "after refusals")
}

// A mailbox whose contacts delta round could not start has no link: the
// next run reads the folder again and starts one, and the run after is a
// plain no-change run (before, every later run failed).
func TestMailboxWithoutDeltaLinkRecovers(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	mb, err := e.st.Mailbox(t.Context(), "contoso", users[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	mb.ContactsDeltaLink, mb.Digest = "", "" // what a failed start leaves
	if err := e.st.SaveMailbox(t.Context(), "contoso", mb, store.ContactChanges{}); err != nil {
		t.Fatal(err)
	}
	for run := range 3 {
		e.srv.ResetCounters()
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if res.Contacts.Created != 0 || e.counters().Writes != 0 {
			t.Fatalf("run %d: %+v, %d writes", run, res.Contacts, e.counters().Writes)
		}
	}
	if mb, _ := e.st.Mailbox(t.Context(), "contoso", users[0].ID); mb.ContactsDeltaLink == "" {
		t.Error("no delta link after recovery")
	}
}

// An address cleared in the directory is cleared on the contacts by its
// members (Graph answers a null address with 500).
func TestClearedAddressIsSentAsEmptyMembers(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	if a := e.contacts(users[1].ID)[users[0].ID]["businessAddress"].(map[string]any); a["city"] != "Redmond" {
		t.Fatalf("address not written: %v", a)
	}
	if err := e.srv.PatchUser(e.tenant.ID, users[0].ID, map[string]any{"city": nil, "country": nil}); err != nil {
		t.Fatal(err)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Updated != 2 {
		t.Fatalf("updates %+v", res.Contacts)
	}
	a := e.contacts(users[1].ID)[users[0].ID]["businessAddress"].(map[string]any)
	for k, v := range a {
		if v != "" {
			t.Errorf("businessAddress.%s = %v after clearing", k, v)
		}
	}
}

// A mailbox that loses its Exchange mailbox or leaves the app's scope after
// its first sync answers its saved (key-segment) delta link with 404 or
// 403: skipped with the reason, its folder neither re-created nor removed,
// and back in line when it returns.
func TestMailboxLosingAccessIsSkippedNotFailed(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	folder := e.folder(users[0].ID).ID
	for _, st := range []graphsim.MailboxState{graphsim.MailboxOutOfScope, graphsim.MailboxNone} {
		if err := e.srv.SetMailboxState(e.tenant.ID, users[0].ID, st); err != nil {
			t.Fatal(err)
		}
		e.srv.ResetCounters()
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if res.Mailboxes.Skipped != 1 || res.Mailboxes.Failed != 0 || len(res.Skipped) != 1 || res.Skipped[0].Code == "" {
			t.Fatalf("%s: mailboxes %+v skipped %+v errors %+v", st, res.Mailboxes, res.Skipped, res.Errors)
		}
		if e.counters().Writes != 0 {
			t.Errorf("%s: wrote %d times", st, e.counters().Writes)
		}
	}
	if err := e.srv.SetMailboxState(e.tenant.ID, users[0].ID, graphsim.MailboxNormal); err != nil {
		t.Fatal(err)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Created != 0 || e.folder(users[0].ID).ID != folder {
		t.Fatalf("back in scope: %+v", res.Contacts)
	}
	e.sameContacts(users, "back")
}

// Writes that commit and are then answered 5xx (503 included), and batches
// whose connection drops after they ran: no run leaves a duplicate, and a
// run without faults finds everything in line.
func TestCommittedWritesAnswered5xxMakeNoDuplicates(t *testing.T) {
	users := manyUsers(12)
	e := newEnv(t, users, func(o *graphsim.Options) {
		o.Faults = graphsim.Faults{AfterCommitRate: 0.25, BatchDropRate: 0.05, RetryAfter503: 10 * time.Millisecond}
	})
	e.opts.Pacer.RetryBudget = time.Minute
	e.opts.ItemAttempts = 16
	for run := range 3 {
		res := e.sync(RunOptions{})
		if res.Status == StatusFailed {
			t.Fatalf("run %d failed: %+v", run, res.Failure)
		}
		e.sameContacts(users, fmt.Sprint("run ", run))
		if err := e.srv.PatchUser(e.tenant.ID, users[run].ID, map[string]any{"jobTitle": fmt.Sprint("T", run)}); err != nil {
			t.Fatal(err)
		}
	}
	if c := e.counters(); c.AfterCommitFaults == 0 {
		t.Fatal("no write was answered 5xx after committing: the test proves nothing")
	}
	e.srv.SetFaults(graphsim.Faults{})
	res := e.sync(RunOptions{})
	mustOK(t, res)
	e.sameContacts(users, "after the faults")
}

// Copies of a managed contact carry its marks (Outlook copies them): a
// bare copy is deleted under the mass-delete guard, a copy holding the
// owner's notes is left alone and reported, and the original stays mapped.
func TestCopiesOfManagedContacts(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	f := e.folder(users[0].ID)
	var orig graphsim.Contact
	for _, c := range f.Contacts {
		for _, p := range c.ExtendedProperties {
			if p.ID == PropSourceID && p.Value == users[1].ID {
				orig = c
			}
		}
	}
	copyOf := func(extra string) string {
		t.Helper()
		var props map[string]any
		_ = json.Unmarshal(orig.Properties, &props)
		if extra != "" {
			props["personalNotes"] = extra
		}
		ext := []map[string]string{}
		for _, p := range orig.ExtendedProperties {
			ext = append(ext, map[string]string{"id": p.ID, "value": p.Value})
		}
		props["singleValueExtendedProperties"] = ext
		b, _ := json.Marshal(props)
		id, err := e.srv.OwnerCreateContact(e.tenant.ID, users[0].ID, f.ID, b)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	bare := copyOf("")
	noted := copyOf("met at the fair")
	// The run that finds the copies deletes the bare one and reports the
	// other; the next run has nothing to do.
	for run := range 2 {
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if want := map[int]int{0: 1, 1: 0}[run]; res.Contacts.Deleted != want || res.Contacts.KeptCopies != want || res.Contacts.Created != 0 {
			t.Fatalf("run %d: %+v", run, res.Contacts)
		}
	}
	ids := map[string]bool{}
	for _, c := range e.folder(users[0].ID).Contacts {
		ids[c.ID] = true
	}
	if !ids[orig.ID] || !ids[noted] || ids[bare] {
		t.Fatalf("folder holds %v; want the original %s and the noted copy %s, not the bare one %s", ids, orig.ID, noted, bare)
	}
	// A directory change updates the original only.
	if err := e.srv.PatchUser(e.tenant.ID, users[1].ID, map[string]any{"jobTitle": "Only the original"}); err != nil {
		t.Fatal(err)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Updated != 2 {
		t.Fatalf("update: %+v", res.Contacts)
	}
}

// Many copies at once (a copied folder's worth) are held back by the guard
// like any mass delete.
func TestManyCopiesTripTheGuard(t *testing.T) {
	users := manyUsers(8)
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	f := e.folder(users[0].ID)
	for _, c := range f.Contacts {
		var props map[string]any
		_ = json.Unmarshal(c.Properties, &props)
		ext := []map[string]string{}
		for _, p := range c.ExtendedProperties {
			ext = append(ext, map[string]string{"id": p.ID, "value": p.Value})
		}
		props["singleValueExtendedProperties"] = ext
		b, _ := json.Marshal(props)
		if _, err := e.srv.OwnerCreateContact(e.tenant.ID, users[0].ID, f.ID, b); err != nil {
			t.Fatal(err)
		}
	}
	res := e.sync(RunOptions{})
	if res.Status != StatusPartial || res.Contacts.HeldDeletes != 7 || res.Contacts.Deleted != 0 {
		t.Fatalf("copies: status %s %+v", res.Status, res.Contacts)
	}
	res = e.sync(RunOptions{AllowMassDelete: true})
	mustOK(t, res)
	if res.Contacts.Deleted != 7 {
		t.Fatalf("allowed: %+v", res.Contacts)
	}
	e.sameContacts(users, "after the copies went")
}

// Two settings entries of one tenant, with different folders and targets,
// each keep their own folder; purging one removes its folders only.
func TestTwoEntriesOfOneTenant(t *testing.T) {
	users := manyUsers(4)
	e := newEnv(t, users)
	sales := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Sales", Members: []string{users[0].ID, users[1].ID}}
	if err := e.srv.PutGroup(e.tenant.ID, sales); err != nil {
		t.Fatal(err)
	}
	e.writeSettings()
	all := e.cfg.Tenants[0]
	salesEntry := all
	salesEntry.Name, salesEntry.Folder = "contoso-sales", "Sales"
	salesEntry.Target.Groups = []string{sales.ID}
	e.open()
	o := e.opts
	o.Store = e.st
	eng := New(o)
	for run := range 2 {
		for _, entry := range []*config.Tenant{&all, &salesEntry} {
			mustOK(t, eng.Run(t.Context(), entry, RunOptions{}))
		}
		for i, u := range users {
			var names []string
			for _, f := range e.folders(u.ID)[2:] {
				names = append(names, f.DisplayName)
			}
			want := "Company Directory"
			if i < 2 {
				want = "Company Directory,Sales"
			}
			if got := strings.Join(names, ","); got != want {
				t.Fatalf("run %d: mailbox %d folders %q, want %q", run, i, got, want)
			}
		}
	}
	pr := eng.Purge(t.Context(), &salesEntry)
	if pr.Status != StatusOK || pr.FoldersDeleted != 2 {
		t.Fatalf("purge sales: %+v", pr)
	}
	for _, u := range users {
		if f := e.folder(u.ID); f == nil || f.DisplayName != "Company Directory" || len(f.Contacts) != 3 {
			t.Fatalf("after purging the other entry: %+v", f)
		}
	}
}

// A second installation (another state database on another host) pointed
// at the same tenant and entry: it reports the folders it finds and leaves
// them alone; with --take-over it adopts them (no duplicates), and the
// first installation then reports them taken over and writes nothing.
func TestSecondInstallationIsReported(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	// The folders now carry this installation's stamp; make them another
	// host's, as a second installation elsewhere would find them.
	for _, u := range users {
		f := e.folder(u.ID)
		patch := fmt.Sprintf(`{"singleValueExtendedProperties":[{"id":%q,"value":"0123456789abcdef0123456789abcdef other-host"}]}`, PropInstall)
		if err := e.srv.OwnerUpdateFolder(e.tenant.ID, u.ID, f.ID, json.RawMessage(patch)); err != nil {
			t.Fatal(err)
		}
	}
	// This installation maintained them: another took them over.
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	if res.Status != StatusPartial || res.Mailboxes.Failed != 3 || res.Errors[0].Code != "OtherInstallation" ||
		!strings.Contains(res.Errors[0].Message, "other-host") {
		t.Fatalf("taken over: %s %+v %+v", res.Status, res.Mailboxes, res.Errors)
	}
	if e.counters().Writes != 0 {
		t.Error("wrote into folders another installation maintains")
	}
	// A new installation (lost state) finds them too, and leaves them.
	e.st.Close()
	e.st = nil
	if err := os.RemoveAll(filepath.Join(e.dir, "state")); err != nil {
		t.Fatal(err)
	}
	res = e.sync(RunOptions{})
	if res.Mailboxes.Failed != 3 || res.Errors[0].Code != "OtherInstallation" || !strings.Contains(res.Errors[0].Message, "--take-over") {
		t.Fatalf("found: %+v %+v", res.Mailboxes, res.Errors)
	}
	if e.counters().Writes != 0 {
		t.Error("wrote into another installation's folders")
	}
	// Taken over on purpose: adopted, restamped, no duplicates.
	res = e.sync(RunOptions{TakeOver: true})
	mustOK(t, res)
	if res.Contacts.Created != 0 {
		t.Fatalf("take-over: %+v", res.Contacts)
	}
	mustOK(t, e.sync(RunOptions{}))
	e.sameContacts(users, "after the take-over")
}

// Contacts hold at most 2 business phones and 3 email addresses: more is
// cut, not sent (Graph answers 400).
func TestCollectionLimits(t *testing.T) {
	users := threeUsers()
	users[0].BusinessPhones = []string{"+1 1", "+1 2", "+1 3"}
	e := newEnv(t, users)
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if p := e.contacts(users[1].ID)[users[0].ID]["businessPhones"].([]any); len(p) != 2 || p[1] != "+1 2" {
		t.Fatalf("businessPhones %v", p)
	}
}

// A cloud without contacts delta (China, 21Vianet): the engine learns it
// from Graph's answer and reads the managed folder whole every run; owner
// edits are restored and nothing is duplicated.
func TestCloudWithoutContactsDelta(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	e.tenant.Cloud = graphsim.CloudChina
	if err := e.srv.PutTenant(e.tenant); err != nil {
		t.Fatal(err)
	}
	for run := range 3 {
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if want := map[int]int{0: 6}[run]; res.Contacts.Created != want {
			t.Fatalf("run %d: %+v", run, res.Contacts)
		}
	}
	c := e.contacts(users[0].ID)[users[1].ID]
	if err := e.srv.OwnerUpdateContact(e.tenant.ID, users[0].ID, c["id"].(string), json.RawMessage(`{"jobTitle":"Edited by the owner"}`)); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Updated != 1 || e.contacts(users[0].ID)[users[1].ID]["jobTitle"] != "Engineer" {
		t.Fatalf("owner edit not restored: %+v", res.Contacts)
	}
	// A custom cloud learns it per run: at most one refused delta request
	// per mailbox (with cloud "china" the engine asks none).
	for route, n := range e.counters().ByRoute {
		if strings.Contains(route, "contacts/delta") && n > int64(len(users)) {
			t.Errorf("contacts delta asked %d times in a run: %s", n, route)
		}
	}
	e.sameContacts(users, "china")
}

// What galmirror deletes does not land in the owner's Deleted Items where
// Graph offers permanentDelete (the global cloud); elsewhere it does, as
// one folder on purge.
func TestDeletesAvoidDeletedItems(t *testing.T) {
	for _, cloud := range []string{graphsim.CloudGlobal, graphsim.CloudUSGov} {
		t.Run("cloud="+cloud, func(t *testing.T) {
			users := threeUsers()
			e := newEnv(t, users)
			e.tenant.Cloud = cloud
			if err := e.srv.PutTenant(e.tenant); err != nil {
				t.Fatal(err)
			}
			mustOK(t, e.sync(RunOptions{}))
			if err := e.srv.DeleteUser(e.tenant.ID, users[2].ID, true); err != nil {
				t.Fatal(err)
			}
			res := e.sync(RunOptions{})
			mustOK(t, res)
			if res.Contacts.Deleted != 2 {
				t.Fatalf("leaver: %+v", res.Contacts)
			}
			_, trash := e.deleted(users[0].ID)
			if want := map[string]int{graphsim.CloudGlobal: 0, graphsim.CloudUSGov: 1}[cloud]; len(trash) != want {
				t.Errorf("Deleted Items holds %d contacts, want %d", len(trash), want)
			}
			o := e.opts
			o.Store = e.st
			pr := New(o).Purge(t.Context(), &e.cfg.Tenants[0])
			if pr.Status != StatusOK || pr.FoldersDeleted != 2 || pr.ContactsDeleted != 2 {
				t.Fatalf("purge: %+v", pr)
			}
			folders, _ := e.deleted(users[0].ID)
			if want := map[string]int{graphsim.CloudGlobal: 0, graphsim.CloudUSGov: 1}[cloud]; len(folders) != want {
				t.Errorf("Deleted Items holds %d folders after purge, want %d", len(folders), want)
			}
		})
	}
}

// A server that pages in a circle ends the run with a clear failure, not
// a run that never ends; and a run has a time limit.
func TestRunsEnd(t *testing.T) {
	e := newEnv(t, manyUsers(9), func(o *graphsim.Options) {
		o.UsersDeltaPageSize = 3
		o.Faults.RepeatNextLink = true
	})
	res := e.sync(RunOptions{})
	if res.Status != StatusFailed || res.Failure.Class != FailSource || !strings.Contains(res.Failure.Message, "repeats") {
		t.Fatalf("paging in a circle: %+v", res.Failure)
	}
	e.srv.SetFaults(graphsim.Faults{Latency: 50 * time.Millisecond})
	e.opts.RunTimeout = 300 * time.Millisecond
	res = e.sync(RunOptions{})
	if res.Status != StatusFailed || res.Failure.Class != FailTimeout {
		t.Fatalf("time limit: %+v", res.Failure)
	}
}

// Microsoft documents $expand of extended properties for single items
// only. Should a list come back without the expanded marks, galmirror
// stops the mailbox with a clear error instead of taking its own folder
// and contacts for the owner's and making them again.
func TestListWithoutExpandedMarksStops(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	e.st.Close()
	e.st = nil
	if err := os.RemoveAll(filepath.Join(e.dir, "state")); err != nil {
		t.Fatal(err)
	}
	e.srv.SetFaults(graphsim.Faults{IgnoreListExpand: true})
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	if res.Mailboxes.Failed != 3 || !strings.Contains(res.Errors[0].Message, "no extended properties") {
		t.Fatalf("mailboxes %+v errors %+v", res.Mailboxes, res.Errors)
	}
	if w := e.counters().Writes; w != 0 {
		t.Errorf("wrote %d times without seeing the marks", w)
	}
	e.srv.SetFaults(graphsim.Faults{})
	mustOK(t, e.sync(RunOptions{}))
	e.sameContacts(users, "after the marks came back")
}

// A folder an earlier galmirror made (marked with the bare tenant id) and
// named as this entry's folder is taken as this entry's and marked anew.
func TestFolderOfAnEarlierVersionIsAdopted(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	for _, u := range users {
		patch := fmt.Sprintf(`{"singleValueExtendedProperties":[{"id":%q,"value":%q},{"id":%q,"value":""}]}`,
			PropFolder, e.tenant.ID, PropInstall)
		if err := e.srv.OwnerUpdateFolder(e.tenant.ID, u.ID, e.folder(u.ID).ID, json.RawMessage(patch)); err != nil {
			t.Fatal(err)
		}
	}
	// Found from the state (an upgrade), then by name (a lost state).
	for run := range 3 {
		if run == 1 {
			e.st.Close()
			e.st = nil
			if err := os.RemoveAll(filepath.Join(e.dir, "state")); err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				patch := fmt.Sprintf(`{"singleValueExtendedProperties":[{"id":%q,"value":%q}]}`, PropFolder, e.tenant.ID)
				if err := e.srv.OwnerUpdateFolder(e.tenant.ID, u.ID, e.folder(u.ID).ID, json.RawMessage(patch)); err != nil {
					t.Fatal(err)
				}
			}
		}
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if res.Contacts.Created != 0 {
			t.Fatalf("run %d: %+v", run, res.Contacts)
		}
	}
	for _, u := range users {
		for _, p := range e.folder(u.ID).ExtendedProperties {
			if p.ID == PropFolder && p.Value != strings.ToLower(e.tenant.ID)+"/contoso" {
				t.Errorf("mark %q", p.Value)
			}
		}
	}
	e.sameContacts(users, "adopted")
}
