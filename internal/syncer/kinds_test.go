package syncer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/store"
)

// disabled is a disabled account with a mailbox of the given purpose.
func disabled(local, purpose string) graphsim.User {
	off := false
	addr := local + "@contoso.example"
	return graphsim.User{ID: graphsim.NewGUID(), UserPrincipalName: addr, Mail: addr, DisplayName: local,
		AccountEnabled: &off, MailboxPurpose: purpose}
}

func purposeReadsOf(c graphsim.Counters) int64 { return c.ByRoute["GET /users/{id}/mailboxSettings"] }

func hasAddress(cs map[string]map[string]any, addr string) bool {
	for _, c := range cs {
		b, _ := json.Marshal(c["emailAddresses"])
		if strings.Contains(string(b), `"`+addr+`"`) {
			return true
		}
	}
	return false
}

// Mailbox purposes are read once per candidate and kept: a run without
// directory changes reads none; a conversion in Exchange alone (no
// directory change) is seen when the purpose is a day old.
func TestPurposesReadOnceAndRefreshedDaily(t *testing.T) {
	gone := disabled("gone", "")
	gone.Mailbox = graphsim.MailboxNone // 404 MailboxNotEnabledForRESTAPI: no mailbox, not a failure
	users := append(threeUsers(), disabled("helpdesk", "shared"), disabled("leaver", "user"), gone)
	e := newEnv(t, users)
	e.settings = map[string]any{"source": map[string]any{"includeShared": true}}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if n := purposeReadsOf(e.counters()); n != 3 || res.SourcesByKind[directory.SourceSharedMailbox] != 1 || res.SourceCount != 4 {
		t.Fatalf("first run: %d purpose reads, sources %v", n, res.SourcesByKind)
	}
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	if n := purposeReadsOf(e.counters()); n != 0 {
		t.Fatalf("a steady run read %d purposes", n)
	}

	// The leaver's mailbox becomes a shared one: nothing in users/delta.
	if err := e.srv.PatchUser(e.tenant.ID, users[4].ID, map[string]any{"mailboxPurpose": "shared"}); err != nil {
		t.Fatal(err)
	}
	res = e.sync(RunOptions{})
	if res.SourceCount != 4 || hasAddress(e.contacts(users[0].ID), users[4].Mail) {
		t.Fatalf("the conversion was seen without a directory change: %v", res.SourcesByKind)
	}
	// A day later the purposes are read again.
	ctx := t.Context()
	var aged []store.Person
	for sp, err := range e.st.Persons(ctx, "contoso") {
		if err != nil {
			t.Fatal(err)
		}
		p, err := directory.UnmarshalPerson(sp.Data)
		if err != nil {
			t.Fatal(err)
		}
		if p.PurposeRead > 0 {
			p.PurposeRead -= int64(purposeRefresh/time.Second) + 1
			aged = append(aged, storePerson(p))
		}
	}
	if len(aged) != 3 {
		t.Fatalf("%d persons with a stored purpose, want 3", len(aged))
	}
	if err := e.st.ApplyPersonDelta(ctx, "contoso", store.KindUser, aged, nil, ""); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	res = e.sync(RunOptions{})
	mustOK(t, res)
	if n := purposeReadsOf(e.counters()); n != 3 || res.SourcesByKind[directory.SourceSharedMailbox] != 2 ||
		!hasAddress(e.contacts(users[0].ID), users[4].Mail) {
		t.Fatalf("a day later: %d purpose reads, sources %v", n, res.SourcesByKind)
	}
}

// Under Exchange RBAC for Applications without "Application
// MailboxSettings.Read", the purpose read answers 403: the run fails
// (consent, naming the permission) and removes nothing.
func TestPurposeRefusedFailsTheRunWithoutDeleting(t *testing.T) {
	users := append(threeUsers(), disabled("helpdesk", "shared"))
	e := newEnv(t, users)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	e.settings = map[string]any{"source": map[string]any{"includeShared": true}}
	mustOK(t, e.sync(RunOptions{}))
	// RBAC-scoped: no Contacts role, the three people's mailboxes granted
	// (Contacts only), no MailboxSettings.Read.
	must(e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, []string{graphsim.RoleUserReadAll, graphsim.RoleGroupMemberReadAll}))
	must(e.srv.SetMailboxGrants(e.tenant.ID, e.cred.ClientID, []string{users[0].ID, users[1].ID, users[2].ID}))
	// The helpdesk account changes, so its purpose is read again.
	must(e.srv.PatchUser(e.tenant.ID, users[3].ID, map[string]any{"displayName": "Help Desk"}))
	must(e.srv.PatchUser(e.tenant.ID, users[3].ID, map[string]any{"mail": "support@contoso.example"}))
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	if res.Status != StatusFailed || res.Failure == nil || res.Failure.Class != FailConsent ||
		!slices.Contains(res.Failure.MissingRoles, "MailboxSettings.Read") || res.Failure.Code != "ErrorAccessDenied" {
		t.Fatalf("run %s, failure %+v", res.Status, res.Failure)
	}
	if w := e.counters().Writes; w != 0 {
		t.Fatalf("%d writes in a run that could not read a purpose", w)
	}
	if !hasAddress(e.contacts(users[0].ID), users[3].Mail) {
		t.Fatal("the shared mailbox's contact went")
	}
}

// Purposes are read through the mailbox dispatcher, many to a $batch: a
// dry run that reads 60 of them takes a handful of requests, not 60.
func TestPurposesShareBatches(t *testing.T) {
	users := threeUsers()
	for i := range 60 {
		users = append(users, disabled(fmt.Sprintf("shared%02d", i), "shared"))
	}
	e := newEnv(t, users)
	mustOK(t, e.sync(RunOptions{}))
	e.settings = map[string]any{"source": map[string]any{"includeShared": true}}
	e.cfg = nil
	e.srv.ResetCounters()
	res := e.sync(RunOptions{DryRun: true})
	mustOK(t, res)
	c := e.counters()
	t.Logf("dry run reading 60 purposes: %d requests, %d batch items", c.Requests, c.BatchItems)
	if n := purposeReadsOf(c); n != 60 || res.SourcesByKind[directory.SourceSharedMailbox] != 60 {
		t.Fatalf("%d purpose reads, sources %v", n, res.SourcesByKind)
	}
	if c.Requests > 10 {
		t.Fatalf("60 purpose reads took %d requests: not batched", c.Requests)
	}
}
