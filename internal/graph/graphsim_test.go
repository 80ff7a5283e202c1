package graph

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/pacer"
)

// The marks of docs/architecture.md.
const (
	propFolder   = "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.folder"
	propSourceID = "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.sourceId"
	propHash     = "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.hash"
)

type simEnv struct {
	srv    *graphsim.Server
	tenant graphsim.Tenant
	app    graphsim.App
	c      *Client
}

func guid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func newSim(t *testing.T, mutate func(*graphsim.Options), pcfg pacer.Config) *simEnv {
	t.Helper()
	app, _, err := graphsim.NewApp("galmirror", graphsim.AllRoles...)
	if err != nil {
		t.Fatal(err)
	}
	tn := graphsim.Tenant{ID: guid(999), Name: "Contoso", Domain: "contoso.onmicrosoft.com", Apps: []graphsim.App{app}}
	names := []string{"Zoë Adams", "Émile Brûlé", "李 小龙", "Olga Ivanova", "Sam O'Neil"}
	for i, n := range names {
		tn.Users = append(tn.Users, graphsim.User{ID: guid(i + 1), DisplayName: n, GivenName: n,
			UserPrincipalName: fmt.Sprintf("u%d@contoso.onmicrosoft.com", i+1), Mail: fmt.Sprintf("u%d@contoso.com", i+1),
			JobTitle: "Engineer", BusinessPhones: []string{"+1 425 555 0100"}})
	}
	tn.Groups = []graphsim.Group{
		{ID: guid(101), DisplayName: "All", SecurityEnabled: true, Members: []string{guid(1), guid(102)}},
		{ID: guid(102), DisplayName: "Nested", SecurityEnabled: true, Members: []string{guid(2), guid(3)}},
	}
	tn.OrgContacts = []graphsim.OrgContact{{ID: guid(201), DisplayName: "Partner", Mail: "p@partner.example"}}
	o := graphsim.Options{Tenants: []graphsim.Tenant{tn}}
	nt := graphsim.NoThrottle()
	o.Throttle = &nt
	if mutate != nil {
		mutate(&o)
	}
	srv, err := graphsim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tok, err := srv.AccessToken(tn.ID, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	hc := NewHTTPClient(&tls.Config{RootCAs: srv.CertPool()})
	t.Cleanup(hc.CloseIdleConnections)
	if pcfg.BackoffBase == 0 {
		pcfg.BackoffBase, pcfg.BackoffCap = time.Millisecond, 20*time.Millisecond
	}
	c, err := New(Options{BaseURL: srv.GraphURL(), Tokens: StaticToken(tok), HTTP: hc, Pacer: pacer.New(pcfg)})
	if err != nil {
		t.Fatal(err)
	}
	return &simEnv{srv: srv, tenant: tn, app: app, c: c}
}

func TestGraphsimDirectory(t *testing.T) {
	e := newSim(t, func(o *graphsim.Options) { o.UsersDeltaPageSize = 2 }, pacer.Config{})
	ctx := t.Context()
	var users []User
	pages := 0
	link, err := e.c.UsersDelta(ctx, "", nil, func(p *Page[User]) error {
		pages++
		users = append(users, p.Value...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 5 || pages < 3 || link == "" {
		t.Fatalf("%d users in %d pages, link %q", len(users), pages, link)
	}
	if u := users[0]; u.DisplayName != "Zoë Adams" || u.Mail != "u1@contoso.com" || u.AccountEnabled == nil || !*u.AccountEnabled || len(u.BusinessPhones) != 1 {
		t.Fatalf("user %+v", u)
	}

	// Changes since the deltaLink.
	if err := e.srv.PatchUser(e.tenant.ID, guid(2), map[string]any{"jobTitle": nil}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.DeleteUser(e.tenant.ID, guid(3), false); err != nil {
		t.Fatal(err)
	}
	var changed []User
	link2, err := e.c.UsersDelta(ctx, link, nil, func(p *Page[User]) error {
		changed = append(changed, p.Value...)
		return nil
	})
	if err != nil || link2 == "" {
		t.Fatal(err)
	}
	byID := map[string]User{}
	for _, u := range changed {
		byID[u.ID] = u
	}
	if u, ok := byID[guid(2)]; !ok || u.JobTitle != "" || u.Removed != nil {
		t.Errorf("changed user %+v (ok %v)", u, ok)
	}
	if u, ok := byID[guid(3)]; !ok || u.Removed == nil {
		t.Errorf("deleted user %+v (ok %v)", u, ok)
	}

	// Expired tokens: a typed resync.
	if err := e.srv.ExpireDeltaTokens(e.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UsersDelta(ctx, link2, nil, func(*Page[User]) error { return nil }); !errors.Is(err, ErrResyncRequired) {
		t.Fatalf("expired delta: %v", err)
	}

	// Nested group membership.
	var ids []string
	if err := e.c.GroupTransitiveUsers(ctx, guid(101), nil, func(us []User) error {
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{guid(1), guid(2)}) { // guid(3) was deleted
		t.Errorf("transitive users %v", ids)
	}
	var kinds []string
	if err := e.c.GroupMembers(ctx, guid(101), nil, func(os []DirectoryObject) error {
		for _, o := range os {
			kinds = append(kinds, o.ODataType)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{TypeGroup, TypeUser}) {
		t.Errorf("member types %v", kinds)
	}
	var ocs []OrgContact
	if err := e.c.OrgContacts(ctx, nil, func(p []OrgContact) error { ocs = append(ocs, p...); return nil }); err != nil || len(ocs) != 1 || ocs[0].Mail != "p@partner.example" {
		t.Errorf("org contacts %+v, %v", ocs, err)
	}

	// Consent revoked: the directory says so, typed.
	if err := e.srv.SetRoles(e.tenant.ID, e.app.ClientID, nil); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.srv.AccessToken(e.tenant.ID, e.app.ClientID)
	c2, _ := New(Options{BaseURL: e.srv.GraphURL(), Tokens: StaticToken(tok),
		HTTP: NewHTTPClient(&tls.Config{RootCAs: e.srv.CertPool()})})
	if _, err := c2.UsersDelta(ctx, "", nil, func(*Page[User]) error { return nil }); Classify(err) != DirectoryDenied {
		t.Errorf("no roles: %v (%v)", err, Classify(err))
	}
}

func TestGraphsimMailbox(t *testing.T) {
	e := newSim(t, nil, pacer.Config{})
	ctx := t.Context()
	ms, stop := e.c.StartMailboxes(ctx, MailboxOptions{Linger: time.Millisecond})
	defer stop()
	m := ms.Mailbox(guid(1))
	f := mailboxFolderSteps(t, e, m)
	mailboxWriteSteps(t, e, m, f)
	mailboxReadSteps(t, e, m, f)
	if err := m.RemoveFolder(ctx, f.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveFolder(ctx, f.ID, true); Classify(err) != NotFound {
		t.Fatalf("removed twice: %v", err)
	}

	// Mailbox states classify as skips, not failures.
	if err := e.srv.SetMailboxState(e.tenant.ID, guid(4), graphsim.MailboxNone); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetMailboxState(e.tenant.ID, guid(5), graphsim.MailboxOutOfScope); err != nil {
		t.Fatal(err)
	}
	if err := ms.Mailbox(guid(4)).Probe(ctx); Classify(err) != MailboxUnavailable {
		t.Errorf("no mailbox: %v", err)
	}
	if err := ms.Mailbox(guid(5)).Probe(ctx); Classify(err) != OutOfScope {
		t.Errorf("out of scope: %v", err)
	}
	if st := e.c.Stats(); st.Batch == 0 || st.GET+st.POST+st.PATCH+st.DELETE != 0 {
		t.Errorf("mailbox calls went around $batch: %+v", st)
	}
}

// mailboxFolderSteps finds, creates, reads and marks the managed folder.
func mailboxFolderSteps(t *testing.T, e *simEnv, m Mailbox) *ContactFolder {
	ctx := t.Context()
	mark := &SingleValueExtendedProperty{ID: propFolder, Value: e.tenant.ID}

	fs, err := m.Folders(ctx, FolderQuery{Mark: mark, Props: []string{propFolder}})
	if err != nil || len(fs) != 0 {
		t.Fatalf("folders %+v, %v", fs, err)
	}
	f, err := m.CreateFolder(ctx, &NewContactFolder{DisplayName: "Company Directory",
		SingleValueExtendedProperties: ExtendedProperties{*mark}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateFolder(ctx, &NewContactFolder{DisplayName: "Company Directory"}); Classify(err) != Conflict {
		t.Fatalf("duplicate folder: %v", err)
	}
	for _, q := range []FolderQuery{{Mark: mark, Props: []string{propFolder}}, {Name: "Company Directory", Props: []string{propFolder}}} {
		fs, err = m.Folders(ctx, q)
		if err != nil || len(fs) != 1 || fs[0].ID != f.ID {
			t.Fatalf("folders %+v, %v", fs, err)
		}
		if v, ok := fs[0].SingleValueExtendedProperties.Get(propFolder); !ok || v != e.tenant.ID {
			t.Fatalf("folder mark %+v", fs[0])
		}
	}
	if got, err := m.Folder(ctx, f.ID, propFolder); err != nil || got.ParentFolderID == "" || got.SingleValueExtendedProperties == nil {
		t.Fatalf("folder %+v, %v", got, err)
	}
	if err := m.SetFolderProps(ctx, f.ID, ExtendedProperties{{ID: propHash, Value: "stamp"}}); err != nil {
		t.Fatal(err)
	}
	if has, err := m.HasChildFolder(ctx, f.ID); err != nil || has {
		t.Fatalf("child folders: %v %v", has, err)
	}

	return f
}

// mailboxWriteSteps: creates chained, an update with and without a stale
// If-Match, a purge and a delete; outcomes per write, in whatever order
// Graph answers.
func mailboxWriteSteps(t *testing.T, e *simEnv, m Mailbox, f *ContactFolder) {
	ctx := t.Context()
	e.srv.SetFaults(graphsim.Faults{ShuffleBatch: true})
	body := func(p *ContactPatch) func() *ContactPatch {
		return func() *ContactPatch { return p }
	}
	var ws []Write
	for i := range 24 { // a chain of 20 and four singles
		ws = append(ws, Write{Kind: CreateContact, FolderID: f.ID, Body: body(&ContactPatch{
			DisplayName: Set(fmt.Sprint("Batch ", i)), GivenName: Set("Batch"),
			SingleValueExtendedProperties: ExtendedProperties{{ID: propSourceID, Value: fmt.Sprint("s", i)}, {ID: propHash, Value: "h1"}}})})
	}
	results := make([]WriteResult, len(ws))
	m.Write(ctx, ws, func(i int, r WriteResult) { results[i] = r })
	for i, r := range results {
		if r.Err != nil || r.Status != 201 || r.Stamp.ID == "" || r.Stamp.ChangeKey == "" {
			t.Fatalf("create %d: %+v", i, r)
		}
	}
	first := results[0].Stamp
	q := ContactQuery{ExpandProps: []string{propSourceID, propHash}}
	got, err := m.Contact(ctx, f.ID, first.ID, q)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.SingleValueExtendedProperties.Get(propSourceID); v != "s0" || got.DisplayName != "Batch 0" {
		t.Fatalf("contact %+v", got)
	}
	stale := `W/"` + first.ChangeKey + `"`
	ws = []Write{
		{Kind: UpdateContact, FolderID: f.ID, ContactID: first.ID, IfMatch: got.ETag, Body: body(&ContactPatch{
			DisplayName: Set("Batch 0"), GivenName: Set(""), BusinessAddress: Null[PhysicalAddress]()})},
	}
	m.Write(ctx, ws, func(i int, r WriteResult) { results[i] = r })
	if results[0].Err != nil || results[0].Stamp.ChangeKey == first.ChangeKey {
		t.Fatalf("update: %+v", results[0])
	}
	ws[0].IfMatch = stale
	m.Write(ctx, ws, func(i int, r WriteResult) { results[i] = r })
	if Classify(results[0].Err) != PreconditionFailed {
		t.Fatalf("stale If-Match: %+v", results[0])
	}
	ws = []Write{{Kind: PurgeContact, FolderID: f.ID, ContactID: first.ID}, {Kind: DeleteContact, FolderID: f.ID, ContactID: results[1].Stamp.ID}}
	m.Write(ctx, ws, func(i int, r WriteResult) { results[i] = r })
	if results[0].Err != nil || results[0].Status != 204 || results[1].Err != nil {
		t.Fatalf("purge, delete: %+v", results[:2])
	}
	if _, err := m.Contact(ctx, f.ID, first.ID, q); Classify(err) != NotFound {
		t.Fatalf("purged contact: %v", err)
	}

}

// mailboxReadSteps: listing and delta (pages of 2: Prefer goes with every
// page) see the 22 contacts left; an owner deletion shows up as @removed in
// the next round.
func mailboxReadSteps(t *testing.T, e *simEnv, m Mailbox, f *ContactFolder) {
	ctx := t.Context()
	n := 0
	if err := m.Contacts(ctx, f.ID, ContactQuery{Select: []string{"displayName"}, ExpandProps: []string{propSourceID}, Top: 5},
		func(cs []Contact) error { n += len(cs); return nil }); err != nil || n != 22 {
		t.Fatalf("listed %d, %v", n, err)
	}
	var ids []string
	pages := 0
	link, err := m.ContactsDelta(ctx, f.ID, "", ContactQuery{PageSize: 2}, func(cs []Contact) error {
		pages++
		for _, ct := range cs {
			ids = append(ids, ct.ID)
		}
		return nil
	})
	if err != nil || len(ids) != 22 || pages != 11 {
		t.Fatalf("delta: %v, %d contacts in %d pages", err, len(ids), pages)
	}
	if err := e.srv.OwnerDeleteContact(e.tenant.ID, guid(1), ids[0]); err != nil {
		t.Fatal(err)
	}
	var removed []string
	if _, err := m.ContactsDelta(ctx, f.ID, link, ContactQuery{PageSize: 2}, func(cs []Contact) error {
		for _, ct := range cs {
			if ct.Removed != nil {
				removed = append(removed, ct.ID)
			}
		}
		return nil
	}); err != nil || !slices.Equal(removed, ids[:1]) {
		t.Fatalf("delta round 2: %v, removed %v", err, removed)
	}
	stamps := 0
	if _, err := m.ContactsDeltaStamps(ctx, f.ID, ContactQuery{PageSize: 200}, func(st ContactStamp, raw []byte) error {
		if st.ID == "" || st.ChangeKey == "" || len(raw) == 0 {
			t.Errorf("stamp %+v", st)
		}
		stamps++
		return nil
	}); err != nil || stamps != 21 {
		t.Fatalf("stamps: %d, %v", stamps, err)
	}

}

// Graph's limits, a tight per-mailbox quota and a storm of 503s: every
// request ends well, none breaks a Retry-After as graphsim counts it, and
// no mailbox sees more than four at once. One unit per mailbox: graphsim
// counts as a violation any request arriving after the throttled one
// arrived, including requests already in flight when the 429 was decided,
// which no client can avoid with several requests in flight (see
// TestGraphsimFourInFlightHonoursGates).
func TestGraphsimThrottlingZeroViolations(t *testing.T) {
	e := newSim(t, func(o *graphsim.Options) {
		th := graphsim.GraphThrottle()
		th.ConcurrencyRetryAfter = 20 * time.Millisecond
		th.MailboxRequests, th.MailboxWindow = 40, 200*time.Millisecond
		o.Throttle = &th
		o.Faults = graphsim.Faults{Rate503: 0.1, RetryAfter503: 30 * time.Millisecond}
		o.Seed = 7
	}, pacer.Config{MaxAttempts: 30, RetryBudget: time.Minute, MaxInFlight: 1})
	ctx := t.Context()
	ms, stop := e.c.StartMailboxes(ctx, MailboxOptions{Linger: time.Millisecond})
	defer stop()
	var folders []string
	for i := 1; i <= 3; i++ {
		f, err := ms.Mailbox(guid(i)).CreateFolder(ctx, &NewContactFolder{DisplayName: "D"})
		if err != nil {
			t.Fatal(err)
		}
		folders = append(folders, f.ID)
	}
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			for i := range 8 {
				k := (w + i) % 3
				m := ms.Mailbox(guid(k + 1))
				if i%4 == 0 {
					// Four creates: a chain's worth of writes would take
					// one unit; four singles take four, one at a time here.
					var ws []Write
					for range 4 {
						ws = append(ws, Write{Kind: CreateContact, FolderID: folders[k], Body: func() *ContactPatch { return &ContactPatch{DisplayName: Set("x")} }})
					}
					m.Write(ctx, ws, func(_ int, r WriteResult) {
						// A 503 leaves a create ambiguous: it is not sent
						// again but reported.
						var me *MaybeError
						if r.Err != nil && !errors.As(r.Err, &me) {
							t.Error(r.Err)
						}
					})
					continue
				}
				if _, err := m.Folders(ctx, FolderQuery{Name: "D"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	cs := e.srv.Counters()
	if cs.RetryAfterViolations != 0 {
		t.Errorf("%d Retry-After violations: %v", cs.RetryAfterViolations, cs.ViolationsByScope)
	}
	for mb, peak := range cs.PeakConcurrency {
		if peak > 4 {
			t.Errorf("mailbox %s saw %d requests at once", mb, peak)
		}
	}
	if cs.Throttled+cs.Unavailable == 0 {
		t.Error("nothing was throttled: the test proves nothing")
	}
	st := e.c.Stats()
	t.Logf("graphsim: requests %d, 429 %d, 503 %d; client: %+v; pacer %+v", cs.Requests, cs.Throttled, cs.Unavailable, st, e.c.Pacer().Stats())
}

// With four requests in flight per mailbox, the client still never starts
// a request inside a Retry-After it has received (audited at the
// transport). graphsim's own count is logged: it includes requests that
// were already on the wire when graphsim throttled another one.
func TestGraphsimFourInFlightHonoursGates(t *testing.T) {
	e := newSim(t, func(o *graphsim.Options) {
		th := graphsim.GraphThrottle()
		th.ConcurrencyRetryAfter = 20 * time.Millisecond
		th.MailboxRequests, th.MailboxWindow = 40, 200*time.Millisecond
		o.Throttle = &th
		o.Faults = graphsim.Faults{Rate503: 0.1, RetryAfter503: 30 * time.Millisecond}
		o.Seed = 7
	}, pacer.Config{MaxAttempts: 30, RetryBudget: time.Minute})
	audit := &gateAudit{next: e.c.hc.Transport, deadlines: map[string][]window{}}
	e.c.hc = &http.Client{Transport: audit}
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			for i := range 8 {
				mb := guid((w+i)%3 + 1)
				req := &Request{URL: "/users/" + mb + "/contactFolders?$filter=displayName%20eq%20'D'", Scope: MailboxScope(mb)}
				if _, err := e.c.Do(t.Context(), req); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(audit.violations) != 0 {
		t.Errorf("%d Retry-After violations:\n%s", len(audit.violations), strings.Join(audit.violations, "\n"))
	}
	cs := e.srv.Counters()
	for mb, peak := range cs.PeakConcurrency {
		if peak > 4 {
			t.Errorf("mailbox %s saw %d requests at once", mb, peak)
		}
	}
	if cs.Throttled+cs.Unavailable == 0 {
		t.Error("nothing was throttled: the test proves nothing")
	}
	t.Logf("graphsim: 429 %d, 503 %d, violations as graphsim counts them %d (in-flight overlap)",
		cs.Throttled, cs.Unavailable, cs.RetryAfterViolations)
}

// /contacts/delta through the typed calls: a first round, a change and a
// deletion, a link from now, one contact read whole, a refused link.
func TestGraphsimOrgContactsDelta(t *testing.T) {
	e := newSim(t, nil, pacer.Config{})
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.srv.PutOrgContact(e.tenant.ID, graphsim.OrgContact{ID: guid(202), DisplayName: "Other", Mail: "o@partner.example",
		Phones: []graphsim.Phone{{Type: "business", Number: "+47 22 00 00 00"}}}))
	var got []OrgContact
	link, err := e.c.OrgContactsDelta(ctx, "", nil, func(p *Page[OrgContact]) error { got = append(got, p.Value...); return nil })
	must(err)
	if len(got) != 2 || got[1].Mail != "o@partner.example" || got[1].Phones != nil {
		t.Fatalf("first round %+v (phones are not in a delta round)", got)
	}
	must(e.srv.PutOrgContact(e.tenant.ID, graphsim.OrgContact{ID: guid(202), DisplayName: "Other", Mail: "o@partner.example", JobTitle: "CFO"}))
	must(e.srv.DeleteOrgContact(e.tenant.ID, guid(201)))
	got = nil
	link2, err := e.c.OrgContactsDelta(ctx, link, nil, func(p *Page[OrgContact]) error { got = append(got, p.Value...); return nil })
	must(err)
	if len(got) != 2 || got[0].Removed == nil || got[0].ID != guid(201) || got[1].JobTitle != "CFO" || link2 == link {
		t.Fatalf("changes %+v", got)
	}
	latest, err := e.c.OrgContactsDeltaLatest(ctx, nil)
	must(err)
	got = nil
	if _, err := e.c.OrgContactsDelta(ctx, latest, nil, func(p *Page[OrgContact]) error { got = append(got, p.Value...); return nil }); err != nil || len(got) != 0 {
		t.Fatalf("from latest: %+v %v", got, err)
	}
	oc, err := e.c.OrgContact(ctx, guid(202), nil)
	must(err)
	if oc.JobTitle != "CFO" || len(oc.Phones) != 0 {
		t.Errorf("read whole %+v", oc)
	}
	if _, err := e.c.OrgContact(ctx, guid(201), nil); Classify(err) != NotFound {
		t.Errorf("deleted contact: %v (%v)", err, Classify(err))
	}
	must(e.srv.ExpireDeltaTokens(e.tenant.ID))
	if _, err := e.c.OrgContactsDelta(ctx, link2, nil, func(*Page[OrgContact]) error { return nil }); !errors.Is(err, ErrResyncRequired) {
		t.Errorf("expired link: %v", err)
	}
}
