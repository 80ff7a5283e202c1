package syncer

import (
	"fmt"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/store"
)

// orgEnv is three users and the given org contacts, orgContacts on.
func orgEnv(t *testing.T, ocs []graphsim.OrgContact) (*env, []graphsim.User) {
	t.Helper()
	users := threeUsers()
	e := newEnv(t, users, func(o *graphsim.Options) { o.Tenants[0].OrgContacts = ocs })
	e.settings = map[string]any{"orgContacts": true}
	return e, users
}

func orgContact(name, mail, phone string) graphsim.OrgContact {
	return graphsim.OrgContact{ID: graphsim.NewGUID(), DisplayName: name, Mail: mail, CompanyName: "Fabrikam",
		Phones: []graphsim.Phone{{Type: "business", Number: phone}}}
}

// orgReads counts the run's org contact requests: delta rounds (and
// $deltatoken=latest), whole lists, single contacts.
func orgReads(c graphsim.Counters) (delta, list, single int64) {
	return c.ByRoute["GET /contacts/delta"], c.ByRoute["GET /contacts"], c.ByRoute["GET /contacts/{id}"]
}

func businessPhone(c map[string]any) string {
	if ps, _ := c["businessPhones"].([]any); len(ps) > 0 {
		return fmt.Sprint(ps[0])
	}
	return ""
}

// Org contacts are read whole once, then through /contacts/delta: a run
// with no change reads none of them again; a change or a deletion reaches
// every mailbox at the next run, reading only the changed contact.
// contacts/delta does not carry phones and addresses: a change to those
// alone waits for the daily whole read.
func TestOrgContactsReadIncrementally(t *testing.T) {
	ocs := []graphsim.OrgContact{
		orgContact("Ada Partner", "ada@fabrikam.example", "+47 22 00 00 01"),
		orgContact("Bo Partner", "bo@fabrikam.example", "+47 22 00 00 02"),
		orgContact("Cy Partner", "cy@fabrikam.example", "+47 22 00 00 03"),
	}
	e, users := orgEnv(t, ocs)
	mustOK(t, e.sync(RunOptions{}))
	if d, l, _ := orgReads(e.counters()); d != 1 || l != 1 {
		t.Fatalf("first run: %d delta, %d list requests (want a link from now and one list)", d, l)
	}
	st, err := e.st.Tenant(t.Context(), "contoso")
	if err != nil || st.OrgContactsDeltaLink == "" || st.OrgContactsReadAt.IsZero() {
		t.Fatalf("state after the first run: %+v %v", st, err)
	}

	// No change: one delta request, no org contact read.
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if d, l, s := orgReads(e.counters()); d != 1 || l != 0 || s != 0 {
		t.Fatalf("no-change run: %d delta, %d list, %d single requests (%v)", d, l, s, e.counters().ByRoute)
	}
	if res.SourceCount != 6 || e.counters().Writes != 0 {
		t.Fatalf("no-change run: %d sources, %d writes", res.SourceCount, e.counters().Writes)
	}

	// A change (with its phone: the contact is read whole) and a deletion.
	ada := ocs[0]
	ada.JobTitle, ada.Phones = "Partner Manager", []graphsim.Phone{{Type: "business", Number: "+47 22 00 00 11"}}
	if err := e.srv.PutOrgContact(e.tenant.ID, ada); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.DeleteOrgContact(e.tenant.ID, ocs[1].ID); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	res = e.sync(RunOptions{})
	mustOK(t, res)
	if d, l, s := orgReads(e.counters()); d != 1 || l != 0 || s != 1 {
		t.Fatalf("change run: %d delta, %d list, %d single requests", d, l, s)
	}
	if res.Contacts.Updated != 3 || res.Contacts.Deleted != 3 {
		t.Fatalf("change run: %+v", res.Contacts)
	}
	for _, u := range users {
		cs := e.contacts(u.ID)
		if c := cs[ada.ID]; c["jobTitle"] != "Partner Manager" || businessPhone(c) != "+47 22 00 00 11" {
			t.Errorf("mailbox %s: changed org contact %v", u.UserPrincipalName, c)
		}
		if _, ok := cs[ocs[1].ID]; ok || len(cs) != 4 {
			t.Errorf("mailbox %s: deleted org contact kept (%d contacts)", u.UserPrincipalName, len(cs))
		}
	}

	// A phone alone: no delta round reports it...
	cy := ocs[2]
	cy.Phones = []graphsim.Phone{{Type: "business", Number: "+47 22 00 00 33"}}
	if err := e.srv.PutOrgContact(e.tenant.ID, cy); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	if got := businessPhone(e.contacts(users[0].ID)[cy.ID]); got != "+47 22 00 00 03" || e.counters().Writes != 0 {
		t.Fatalf("phone %s written without a whole read (%d writes)", got, e.counters().Writes)
	}
	// ... the whole read a day after the last one brings it.
	if err := e.st.SetOrgContactsReadAt(t.Context(), "contoso", time.Now().Add(-orgContactsRefresh-time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCounters()
	res = e.sync(RunOptions{})
	mustOK(t, res)
	if d, l, _ := orgReads(e.counters()); d != 1 || l != 1 || res.Contacts.Updated != 3 {
		t.Fatalf("daily run: %d delta, %d list requests, %+v", d, l, res.Contacts)
	}
	for _, u := range users {
		if got := businessPhone(e.contacts(u.ID)[cy.ID]); got != "+47 22 00 00 33" {
			t.Errorf("mailbox %s: phone %q after the whole read", u.UserPrincipalName, got)
		}
	}
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	if _, l, _ := orgReads(e.counters()); l != 0 {
		t.Errorf("the run after the whole read read the list again")
	}
}

// More changes than a whole read takes pages: one whole read instead of a
// request per contact. A contact gone between the round and its read:
// a whole read too.
func TestOrgContactsManyChangesReadWhole(t *testing.T) {
	ocs := []graphsim.OrgContact{
		orgContact("Ada Partner", "ada@fabrikam.example", "+47 22 00 00 01"),
		orgContact("Bo Partner", "bo@fabrikam.example", "+47 22 00 00 02"),
	}
	e, users := orgEnv(t, ocs)
	mustOK(t, e.sync(RunOptions{}))
	for i := range ocs {
		ocs[i].Department = "Sales"
		if err := e.srv.PutOrgContact(e.tenant.ID, ocs[i]); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.ResetCounters()
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if d, l, s := orgReads(e.counters()); d != 1 || l != 1 || s != 0 || res.Contacts.Updated != 6 {
		t.Fatalf("two changes of two contacts: %d delta, %d list, %d single requests; %+v", d, l, s, res.Contacts)
	}
	if c := e.contacts(users[0].ID)[ocs[1].ID]; c["department"] != "Sales" {
		t.Errorf("contact %v", c)
	}
}

// A link Graph refuses (410, then 400 syncStateNotFound) is replaced by a
// whole read that loses nothing; a read that fails changes nothing, in the
// mailboxes or in the state.
func TestOrgContactsRefusedAndFailedReads(t *testing.T) {
	// 1,000 org contacts without mail (not sources: requireEmail) make the
	// whole read two pages, so that a nextLink can fail it.
	ocs := []graphsim.OrgContact{
		orgContact("Ada Partner", "ada@fabrikam.example", "+47 22 00 00 01"),
		orgContact("Bo Partner", "bo@fabrikam.example", "+47 22 00 00 02"),
	}
	for i := range 1000 {
		ocs = append(ocs, graphsim.OrgContact{ID: graphsim.NewGUID(), DisplayName: fmt.Sprint("Room ", i)})
	}
	e, users := orgEnv(t, ocs)
	mustOK(t, e.sync(RunOptions{}))
	persons := func() (n int) {
		for p, err := range e.st.Persons(t.Context(), "contoso") {
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind == store.KindOrgContact {
				n++
			}
		}
		return n
	}
	check := func(what string) {
		t.Helper()
		if n := persons(); n != len(ocs) {
			t.Errorf("%s: %d org contacts stored, want %d", what, n, len(ocs))
		}
		for _, u := range users {
			if cs := e.contacts(u.ID); len(cs) != 4 || cs[ocs[0].ID] == nil || cs[ocs[1].ID] == nil {
				t.Errorf("%s: mailbox %s has %d contacts", what, u.UserPrincipalName, len(cs))
			}
		}
	}
	check("first run")

	for i, refuse := range []func(string) error{e.srv.ExpireDeltaTokens, e.srv.StaleDeltaTokens} {
		if err := refuse(e.tenant.ID); err != nil {
			t.Fatal(err)
		}
		e.srv.ResetCounters()
		res := e.sync(RunOptions{})
		mustOK(t, res)
		if _, l, _ := orgReads(e.counters()); l != 2 || e.counters().Writes != 0 {
			t.Fatalf("refusal %d: %d list pages, %d writes", i, l, e.counters().Writes)
		}
		check(fmt.Sprint("refusal ", i))
	}

	// A whole read that fails (its nextLink repeats itself) and a delta
	// round that fails (a link Graph calls invalid): the run fails, and
	// nothing changes.
	if err := e.srv.ExpireDeltaTokens(e.tenant.ID); err != nil {
		t.Fatal(err)
	}
	f := e.srv.Faults()
	f.RepeatNextLink = true
	e.srv.SetFaults(f)
	link := func() string {
		st, err := e.st.Tenant(t.Context(), "contoso")
		if err != nil {
			t.Fatal(err)
		}
		return st.OrgContactsDeltaLink
	}
	before := link()
	if res := e.sync(RunOptions{}); res.Status != StatusFailed || res.Failure == nil || res.Failure.Class != FailSource {
		t.Fatalf("failing whole read: %+v", res)
	}
	if link() != before {
		t.Error("a failed whole read stored a delta link")
	}
	check("failed whole read")
	f.RepeatNextLink = false
	e.srv.SetFaults(f)
	mustOK(t, e.sync(RunOptions{}))
	if err := e.st.SetOrgContactsDeltaLink(t.Context(), "contoso", e.srv.GraphURL()+"/contacts/delta?$deltatoken=bm9wZQ"); err != nil {
		t.Fatal(err)
	}
	if res := e.sync(RunOptions{}); res.Status != StatusFailed {
		t.Fatalf("invalid link: %+v", res)
	}
	check("failed delta round")
}

// Switched off, org contacts leave with their link; switched on again,
// they are read whole.
func TestOrgContactsSwitchedOffAndOn(t *testing.T) {
	ocs := []graphsim.OrgContact{orgContact("Ada Partner", "ada@fabrikam.example", "+47 22 00 00 01")}
	e, users := orgEnv(t, ocs)
	mustOK(t, e.sync(RunOptions{}))
	e.settings = nil
	e.writeSettings()
	mustOK(t, e.sync(RunOptions{}))
	st, err := e.st.Tenant(t.Context(), "contoso")
	if err != nil || st.OrgContactsDeltaLink != "" || !st.OrgContactsReadAt.IsZero() {
		t.Fatalf("switched off: %+v %v", st, err)
	}
	if _, ok := e.contacts(users[0].ID)[ocs[0].ID]; ok {
		t.Fatal("org contact kept after orgContacts was switched off")
	}
	ada := ocs[0]
	ada.Phones = []graphsim.Phone{{Type: "business", Number: "+47 22 00 00 11"}}
	if err := e.srv.PutOrgContact(e.tenant.ID, ada); err != nil {
		t.Fatal(err)
	}
	e.settings = map[string]any{"orgContacts": true}
	e.writeSettings()
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	if _, l, _ := orgReads(e.counters()); l != 1 {
		t.Errorf("switched on again: %d list requests, want a whole read", l)
	}
	if got := businessPhone(e.contacts(users[0].ID)[ada.ID]); got != "+47 22 00 00 11" {
		t.Errorf("phone %q", got)
	}
}
