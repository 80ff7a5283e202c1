package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

func threeUsers() []graphsim.User {
	return []graphsim.User{user("Zoë", "Ångström"), user("Łukasz", "Wróbel"), user("太郎", "山田")}
}

func TestFirstSyncAndNoChangeRerun(t *testing.T) {
	users := threeUsers()
	users[0].BusinessPhones = []string{"+46 8 555 0100", "+46 8 555 0101"}
	e := newEnv(t, users)
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Mailboxes.Synced != 3 || res.Contacts.Created != 6 {
		t.Fatalf("first run: %+v %+v", res.Mailboxes, res.Contacts)
	}
	for _, u := range users {
		cs := e.contacts(u.ID)
		if _, self := cs[u.ID]; self {
			t.Errorf("mailbox %s holds its own owner's contact", u.UserPrincipalName)
		}
		if len(cs) != 2 {
			t.Errorf("mailbox %s has %d managed contacts, want 2", u.UserPrincipalName, len(cs))
		}
	}
	zoe := e.contacts(users[1].ID)[users[0].ID]
	if zoe["displayName"] != "Zoë Ångström" || zoe["givenName"] != "Zoë" || zoe["jobTitle"] != "Engineer" {
		t.Errorf("contact fields: %v", zoe)
	}
	if phones, _ := zoe["businessPhones"].([]any); len(phones) != 2 || phones[1] != "+46 8 555 0101" {
		t.Errorf("businessPhones %v, want both numbers", zoe["businessPhones"])
	}
	if emails, _ := zoe["emailAddresses"].([]any); len(emails) != 1 {
		t.Errorf("emailAddresses %v", zoe["emailAddresses"])
	}
	yamada := e.contacts(users[0].ID)[users[2].ID]
	if yamada["surname"] != "山田" || yamada["fileAs"] != "山田, 太郎" {
		t.Errorf("unicode contact: %v", yamada)
	}

	e.srv.ResetCounters()
	res = e.sync(RunOptions{})
	mustOK(t, res)
	c := e.counters()
	if c.Writes != 0 || res.Contacts.Created+res.Contacts.Updated+res.Contacts.Deleted != 0 {
		t.Fatalf("no-change rerun wrote: graphsim writes %d, result %+v", c.Writes, res.Contacts)
	}
	if res.Contacts.Unchanged != 6 {
		t.Errorf("unchanged %d, want 6", res.Contacts.Unchanged)
	}
	// One users/delta request plus $batch requests carrying the three
	// mailboxes' folder and contacts delta reads: one when the dispatcher
	// gathers them all, at worst one per mailbox on a loaded machine (under
	// -race in CI), never a request per read (7).
	if c.Requests > 4 || c.ByRoute["POST /$batch"] == 0 {
		t.Errorf("no-change rerun made %d requests (%v), want at most 4, batched", c.Requests, c.ByRoute)
	}
}

func TestSourceChangesReachEveryMailbox(t *testing.T) {
	users := threeUsers()
	joiner := user("Ana", "Núñez")
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))

	// A title changes, a mobile number is cleared, a leaver goes, a joiner comes.
	if err := e.srv.PatchUser(e.tenant.ID, users[0].ID, map[string]any{"jobTitle": "Directrice", "mobilePhone": nil}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.DeleteUser(e.tenant.ID, users[2].ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PutUser(e.tenant.ID, joiner); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	mustOK(t, res)
	// users[1] sees the change (one update; the joiner's new mailbox gets
	// it created), the leaver is deleted from 2 mailboxes, the joiner is
	// created in 2 and its own mailbox receives 2.
	if res.Contacts.Updated != 1 || res.Contacts.Deleted != 2 || res.Contacts.Created != 4 {
		t.Fatalf("contacts %+v", res.Contacts)
	}
	for _, mb := range []string{users[1].ID, joiner.ID} {
		cs := e.contacts(mb)
		z := cs[users[0].ID]
		if z["jobTitle"] != "Directrice" {
			t.Errorf("mailbox %s: jobTitle %v", mb, z["jobTitle"])
		}
		if m, ok := z["mobilePhone"]; ok && m != nil && m != "" {
			t.Errorf("mailbox %s: cleared mobilePhone is still %v", mb, m)
		}
		if _, ok := cs[users[2].ID]; ok {
			t.Errorf("mailbox %s still has the leaver", mb)
		}
	}
	if _, ok := e.contacts(users[1].ID)[joiner.ID]; !ok {
		t.Error("joiner missing")
	}
	// The update sends only what changed: one PATCH per mailbox, no
	// re-create.
	c := e.counters()
	if n := c.ByRoute["POST /users/{id}/contactFolders/{id}/contacts"]; n != 4 {
		t.Errorf("creates %d, want 4 (the joiner's): %v", n, c.ByRoute)
	}
	if n := c.ByRoute["PATCH /users/{id}/contactFolders/{id}/contacts/{id}"]; n != 1 {
		t.Errorf("updates %d, want 1: %v", n, c.ByRoute)
	}
}

func TestOwnerEditsRestoredAndOwnContactsUntouched(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	owner := users[0].ID
	f := e.folder(owner)
	cs := e.contacts(owner)
	edited, deleted := cs[users[1].ID]["id"].(string), cs[users[2].ID]["id"].(string)
	if err := e.srv.OwnerUpdateContact(e.tenant.ID, owner, edited, json.RawMessage(`{"jobTitle":"Hacked","personalNotes":"mine"}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.OwnerDeleteContact(e.tenant.ID, owner, deleted); err != nil {
		t.Fatal(err)
	}
	personal, err := e.srv.OwnerCreateContact(e.tenant.ID, owner, f.ID, json.RawMessage(`{"givenName":"Mum","mobilePhone":"+44 7700 900000"}`))
	if err != nil {
		t.Fatal(err)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Updated != 1 || res.Contacts.Created != 1 || res.Contacts.Deleted != 0 {
		t.Fatalf("contacts %+v", res.Contacts)
	}
	cs = e.contacts(owner)
	if cs[users[1].ID]["jobTitle"] != "Engineer" {
		t.Errorf("owner edit not restored: %v", cs[users[1].ID])
	}
	if _, ok := cs[users[2].ID]; !ok {
		t.Error("contact deleted by the owner was not re-created")
	}
	p, ok := cs["unmarked:"+personal]
	if !ok || p["givenName"] != "Mum" {
		t.Errorf("the owner's own contact was touched: %v", cs)
	}
	// A third run changes nothing.
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	if w := e.counters().Writes; w != 0 {
		t.Errorf("third run wrote %d times", w)
	}
}

func TestForeignFolderIsNotAdopted(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	if _, err := e.srv.OwnerCreateFolder(e.tenant.ID, users[0].ID, "Company Directory"); err != nil {
		t.Fatal(err)
	}
	res := e.sync(RunOptions{})
	if res.Status != StatusPartial || res.Mailboxes.Failed != 1 || res.Mailboxes.Synced != 2 {
		t.Fatalf("status %s mailboxes %+v", res.Status, res.Mailboxes)
	}
	if len(res.Errors) != 1 || res.Errors[0].Code != "ForeignFolder" {
		t.Fatalf("errors %+v", res.Errors)
	}
	fs, _ := e.srv.Folders(e.tenant.ID, users[0].ID)
	for _, f := range fs {
		if f.DisplayName == "Company Directory" && len(f.Contacts) != 0 {
			t.Errorf("foreign folder got contacts")
		}
	}
	if e.folder(users[0].ID) != nil {
		t.Error("a marked folder was created beside the foreign one")
	}
}

func TestLostStateMakesNoDuplicates(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	e.st.Close()
	e.st = nil
	if err := os.RemoveAll(filepath.Join(e.dir, "state")); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Created != 0 || res.Contacts.Deleted != 0 || res.Contacts.Updated != 0 {
		t.Fatalf("after losing state: %+v", res.Contacts)
	}
	for _, u := range users {
		if n := len(e.contacts(u.ID)); n != 2 {
			t.Errorf("mailbox %s has %d contacts, want 2", u.UserPrincipalName, n)
		}
	}
	// The new state database is a new installation on the same host: it
	// stamps each folder it adopts, and writes no contact.
	if w := e.counters().Writes; w != int64(len(users)) {
		t.Errorf("adoption wrote %d times, want one stamp per folder", w)
	}
	// The adopted contacts are known: the next directory change updates
	// them instead of creating second copies, in this run and the next.
	for round := range 2 {
		if err := e.srv.PatchUser(e.tenant.ID, users[1].ID, map[string]any{"jobTitle": fmt.Sprintf("Title %d", round)}); err != nil {
			t.Fatal(err)
		}
		res = e.sync(RunOptions{})
		mustOK(t, res)
		if res.Contacts.Created != 0 || res.Contacts.Updated != 2 {
			t.Fatalf("round %d after adoption: %+v", round, res.Contacts)
		}
		for _, u := range users {
			if n := len(e.contacts(u.ID)); n != 2 {
				t.Errorf("round %d: mailbox %s has %d contacts, want 2", round, u.UserPrincipalName, n)
			}
		}
	}
}

func TestKilledRunMakesNoDuplicates(t *testing.T) {
	var users []graphsim.User
	for i := range 12 {
		users = append(users, user("User", string(rune('A'+i))+"son"))
	}
	e := newEnv(t, users, func(o *graphsim.Options) { o.Faults.Latency = 20 * time.Millisecond })
	e.writeSettings()
	e.open()
	ctx, cancel := context.WithCancel(t.Context())
	o := e.opts
	o.Store = e.st
	done := make(chan *Result)
	go func() { done <- New(o).Run(ctx, &e.cfg.Tenants[0], RunOptions{}) }()
	// Cancel once some contacts exist.
	deadline := time.Now().Add(10 * time.Second)
	for e.counters().Writes < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	var first *Result
	select {
	case first = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after cancellation")
	}
	if first.Status != StatusInterrupted || first.Failure == nil || first.Failure.Class != FailCanceled || len(first.Errors) != 0 {
		t.Fatalf("cancelled run: %+v", first)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	e.sameContacts(users, "after the killed run")
	// The runs after it too: a directory change updates every copy there is
	// (one per mailbox), and the run after that has nothing to do.
	if err := e.srv.PatchUser(e.tenant.ID, users[0].ID, map[string]any{"jobTitle": "After the kill"}); err != nil {
		t.Fatal(err)
	}
	res = e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Created != 0 || res.Contacts.Updated != len(users)-1 {
		t.Fatalf("change after the killed run: %+v", res.Contacts)
	}
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	if w := e.counters().Writes; w != 0 {
		t.Errorf("a third run wrote %d times", w)
	}
	e.sameContacts(users, "two runs later")
}

func TestDeltaTokenExpiredResyncs(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	if err := e.srv.ExpireDeltaTokens(e.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PatchUser(e.tenant.ID, users[1].ID, map[string]any{"department": "Sales"}); err != nil {
		t.Fatal(err)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Created != 0 || res.Contacts.Deleted != 0 || res.Contacts.Updated != 2 {
		t.Fatalf("after resync: %+v", res.Contacts)
	}
	if e.contacts(users[0].ID)[users[1].ID]["department"] != "Sales" {
		t.Error("change after resync not applied")
	}
}

func TestConsentRevokedDeletesNothing(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	if err := e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, nil); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	if res.Status != StatusFailed || res.Failure == nil || res.Failure.Class != FailConsent {
		t.Fatalf("result %+v", res)
	}
	if !slices.Contains(res.Failure.MissingRoles, "GroupMember.Read.All") || !slices.Contains(res.Failure.MissingRoles, "User.Read.All") {
		t.Errorf("missing roles %v", res.Failure.MissingRoles)
	}
	if w := e.counters().Writes; w != 0 {
		t.Errorf("wrote %d times without consent", w)
	}
	if n := len(e.contacts(users[0].ID)); n != 2 {
		t.Errorf("contacts after revoked consent: %d", n)
	}
}

func TestWrongCertificateReportsAADSTS(t *testing.T) {
	e := newEnv(t, threeUsers())
	_, other, err := graphsim.NewApp("other")
	if err != nil {
		t.Fatal(err)
	}
	e.cred.CertPEM, e.cred.KeyPEM = other.CertPEM, other.KeyPEM
	res := e.sync(RunOptions{})
	if res.Status != StatusFailed || res.Failure == nil || res.Failure.Class != FailAuth || res.Failure.Code != "AADSTS700027" {
		t.Fatalf("result %+v", res.Failure)
	}
}

func TestMassDeleteGuard(t *testing.T) {
	var users []graphsim.User
	for i := range 10 {
		users = append(users, user("Person", string(rune('A'+i))+"berg"))
	}
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	for _, u := range users[5:] {
		if err := e.srv.SetMailboxState(e.tenant.ID, u.ID, graphsim.MailboxNormal); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.PatchUser(e.tenant.ID, u.ID, map[string]any{"accountEnabled": false}); err != nil {
			t.Fatal(err)
		}
	}
	res := e.sync(RunOptions{})
	if res.Status != StatusPartial || res.Contacts.HeldDeletes == 0 || res.Contacts.Deleted != 0 || res.Mailboxes.HeldRemovals != 5 {
		t.Fatalf("guard: status %s contacts %+v mailboxes %+v", res.Status, res.Contacts, res.Mailboxes)
	}
	if res.ExitCode() != 3 {
		t.Errorf("exit code %d, want 3", res.ExitCode())
	}
	res = e.sync(RunOptions{AllowMassDelete: true})
	mustOK(t, res)
	// The five disabled users are neither sources nor targets any more:
	// each of the five remaining mailboxes loses five contacts, and the
	// five mailboxes no longer served lose their nine.
	if res.Contacts.Deleted != 5*5+5*9 || res.Mailboxes.Removed != 5 {
		t.Fatalf("allowed: %+v %+v", res.Contacts, res.Mailboxes)
	}
	if e.folder(users[9].ID) != nil {
		t.Error("a mailbox no longer served kept its managed folder")
	}
}

func TestSkippedMailboxes(t *testing.T) {
	users := threeUsers()
	users[1].Mailbox = graphsim.MailboxNone
	users[2].Mailbox = graphsim.MailboxOutOfScope
	e := newEnv(t, users)
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Mailboxes.Synced != 1 || res.Mailboxes.Skipped != 2 {
		t.Fatalf("mailboxes %+v", res.Mailboxes)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, threeUsers())
	res := e.sync(RunOptions{DryRun: true, PlanItems: true})
	mustOK(t, res)
	if e.counters().Writes != 0 {
		t.Fatal("dry run wrote")
	}
	if res.Contacts.Created != 6 || len(res.Plan) != 3 || len(res.Plan[0].Items) != 2 {
		t.Fatalf("plan %+v", res)
	}
	// The real run afterwards still sees every change.
	res = e.sync(RunOptions{})
	mustOK(t, res)
	if res.Contacts.Created != 6 {
		t.Fatalf("after dry run: %+v", res.Contacts)
	}
}

// A user taken out of the target group loses the managed folder; a target
// group that suddenly matches almost nobody (a wrong id) removes nothing.
func TestMailboxesLeavingTheTargets(t *testing.T) {
	users := manyUsers(8)
	e := newEnv(t, users)
	grp := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Phones"}
	for _, u := range users {
		grp.Members = append(grp.Members, u.ID)
	}
	if err := e.srv.PutGroup(e.tenant.ID, grp); err != nil {
		t.Fatal(err)
	}
	e.settings = map[string]any{"target": map[string]any{"groups": []string{grp.ID}}}
	mustOK(t, e.sync(RunOptions{}))

	grp.Members = grp.Members[1:]
	if err := e.srv.PutGroup(e.tenant.ID, grp); err != nil {
		t.Fatal(err)
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.Mailboxes.Removed != 1 || e.folder(users[0].ID) != nil {
		t.Fatalf("mailboxes %+v; folder left: %v", res.Mailboxes, e.folder(users[0].ID) != nil)
	}

	empty := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Typo"}
	if err := e.srv.PutGroup(e.tenant.ID, empty); err != nil {
		t.Fatal(err)
	}
	e.settings = map[string]any{"target": map[string]any{"groups": []string{empty.ID}}}
	e.writeSettings()
	res = e.sync(RunOptions{})
	if res.Status != StatusPartial || res.Mailboxes.HeldRemovals != 7 || res.Mailboxes.Removed != 0 {
		t.Fatalf("status %s mailboxes %+v", res.Status, res.Mailboxes)
	}
	for _, u := range users[1:] {
		if e.folder(u.ID) == nil {
			t.Fatalf("mailbox %s lost its folder to a wrong target group", u.UserPrincipalName)
		}
	}
}

// A run after a directory change plans each mailbox from that change alone
// (it was in line with the previous run), and the mass-delete guard still
// weighs a leaver against every managed contact: one leaver of twelve is
// deleted, not held back as if it were all the mailbox had.
func TestNarrowPlanAfterADirectoryChange(t *testing.T) {
	var users []graphsim.User
	for i := range 12 {
		users = append(users, user("Person", string(rune('A'+i))+"dottir"))
	}
	e := newEnv(t, users)
	e.settings = map[string]any{"deletes": map[string]any{"maxFraction": 0.1, "minCount": 0}}
	var logs strings.Builder
	var mu sync.Mutex
	e.opts.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mustOK(t, e.sync(RunOptions{}))
	if strings.Contains(logs.String(), "planning from the changes") {
		t.Fatal("the first run planned narrowly")
	}
	if err := e.srv.DeleteUser(e.tenant.ID, users[11].ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PatchUser(e.tenant.ID, users[0].ID, map[string]any{"jobTitle": "Chief"}); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if n := strings.Count(logs.String(), "planning from the changes"); n != 11 {
		t.Errorf("%d of 11 mailboxes planned from the changes alone", n)
	}
	// 10 mailboxes update Person A, 11 delete the leaver; the other 10
	// contacts of each stay as they are.
	if res.Contacts.Updated != 10 || res.Contacts.Deleted != 11 || res.Contacts.HeldDeletes != 0 || res.Contacts.Unchanged != 11*10-10 {
		t.Fatalf("contacts %+v", res.Contacts)
	}
	for _, u := range users[1:11] {
		cs := e.contacts(u.ID)
		if _, ok := cs[users[11].ID]; ok || len(cs) != 10 || cs[users[0].ID]["jobTitle"] != "Chief" {
			t.Fatalf("mailbox %s: %d contacts, leaver %v, title %v", u.UserPrincipalName, len(cs), ok, cs[users[0].ID]["jobTitle"])
		}
	}
	// A change of scope is not a change of persons: the next run plans
	// every mailbox whole.
	e.settings["source"] = map[string]any{"excludeUsers": []string{users[5].UserPrincipalName}}
	e.cfg = nil
	logs.Reset()
	res = e.sync(RunOptions{})
	mustOK(t, res)
	if strings.Contains(logs.String(), "planning from the changes") {
		t.Error("a settings change was planned narrowly")
	}
	if res.Contacts.Deleted != 10 {
		t.Errorf("contacts %+v: want the excluded user deleted from 10 mailboxes", res.Contacts)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
