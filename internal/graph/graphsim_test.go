package graph

import (
	"crypto/tls"
	"encoding/json"
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
	mb := guid(1)
	c := e.c

	fs, err := c.ContactFolders(ctx, mb, "Company Directory", propFolder)
	if err != nil || len(fs) != 0 {
		t.Fatalf("folders %+v, %v", fs, err)
	}
	f, err := c.CreateContactFolder(ctx, mb, &NewContactFolder{DisplayName: "Company Directory",
		SingleValueExtendedProperties: ExtendedProperties{{ID: propFolder, Value: e.tenant.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContactFolder(ctx, mb, &NewContactFolder{DisplayName: "Company Directory"}); Classify(err) != Conflict {
		t.Fatalf("duplicate folder: %v", err)
	}
	fs, err = c.ContactFolders(ctx, mb, "Company Directory", propFolder)
	if err != nil || len(fs) != 1 || fs[0].ID != f.ID {
		t.Fatalf("folders %+v, %v", fs, err)
	}
	if v, ok := fs[0].SingleValueExtendedProperties.Get(propFolder); !ok || v != e.tenant.ID {
		t.Fatalf("folder mark %+v", fs[0])
	}

	// Create, read with marks, clear fields, conditional update.
	created, err := c.CreateContact(ctx, mb, f.ID, &ContactPatch{
		DisplayName: Set("Émile Brûlé"), GivenName: Set("Émile"), Surname: Set("Brûlé"),
		JobTitle: Set("Chef"), BusinessPhones: Set([]string{"+33 1", "+33 2"}),
		EmailAddresses:  Set([]EmailAddress{{Name: "Émile Brûlé", Address: "u2@contoso.com"}}),
		BusinessAddress: Set(PhysicalAddress{City: "Paris", CountryOrRegion: "France"}),
		SingleValueExtendedProperties: ExtendedProperties{
			{ID: propSourceID, Value: guid(2)}, {ID: propHash, Value: "h1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := ContactQuery{ExpandProps: []string{propSourceID, propHash}}
	got, err := c.Contact(ctx, mb, f.ID, created.ID, q)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.SingleValueExtendedProperties.Get(propSourceID); v != guid(2) || got.DisplayName != "Émile Brûlé" || len(got.BusinessPhones) != 2 {
		t.Fatalf("contact %+v", got)
	}
	upd, err := c.UpdateContact(ctx, mb, f.ID, created.ID, &ContactPatch{
		DisplayName: Set("Émile Brûlé"), JobTitle: Set(""), BusinessPhones: Set([]string{}),
		BusinessAddress:               Set(PhysicalAddress{}),
		SingleValueExtendedProperties: ExtendedProperties{{ID: propHash, Value: "h2"}},
	}, got.ETag)
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.Contact(ctx, mb, f.ID, created.ID, q)
	if err != nil {
		t.Fatal(err)
	}
	if got.JobTitle != "" || len(got.BusinessPhones) != 0 || (got.BusinessAddress != nil && !got.BusinessAddress.IsZero()) || got.GivenName != "Émile" {
		t.Fatalf("after clearing: %+v", got)
	}
	if v, _ := got.SingleValueExtendedProperties.Get(propHash); v != "h2" {
		t.Fatalf("hash mark %q", v)
	}
	if _, err := c.UpdateContact(ctx, mb, f.ID, created.ID, &ContactPatch{DisplayName: Set("x")}, created.ETag); Classify(err) != PreconditionFailed {
		t.Fatalf("stale If-Match (etag %s, now %s): %v", created.ETag, upd.ETag, err)
	}

	// A $batch of creates, an update and a delete, answered in any order.
	e.srv.SetFaults(graphsim.Faults{ShuffleBatch: true})
	items := []BatchItem{}
	for i := range 4 {
		items = append(items, CreateContactItem(fmt.Sprint("c", i), mb, f.ID, &ContactPatch{
			DisplayName: Set(fmt.Sprint("Batch ", i)), GivenName: Set("Batch"),
			SingleValueExtendedProperties: ExtendedProperties{{ID: propSourceID, Value: fmt.Sprint("s", i)}}}))
	}
	res, err := c.Batch(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		var ct Contact
		if r.ID != items[i].ID || r.Status != 201 || r.Decode(&ct) != nil || ct.DisplayName != fmt.Sprint("Batch ", i) {
			t.Fatalf("result %d: %+v %s", i, r, r.Body)
		}
	}
	res, err = c.Batch(ctx, []BatchItem{
		UpdateContactItem("u", mb, f.ID, created.ID, &ContactPatch{DisplayName: Set("Émile B.")}, ""),
		func() BatchItem {
			it := DeleteContactItem("d", mb, f.ID, created.ID)
			it.DependsOn = []string{"u"}
			return it
		}(),
	})
	if err != nil || res[0].Status != 200 || res[1].Status != 204 {
		t.Fatalf("update/delete: %+v %v", res, err)
	}
	if _, err := c.Contact(ctx, mb, f.ID, created.ID, q); Classify(err) != NotFound {
		t.Fatalf("deleted contact: %v", err)
	}

	// Listing and delta see the four batch contacts; an owner deletion
	// shows up as @removed in the next round.
	n := 0
	if err := c.Contacts(ctx, mb, f.ID, ContactQuery{Select: []string{"displayName"}, ExpandProps: []string{propSourceID}, PageSize: 3},
		func(cs []Contact) error { n += len(cs); return nil }); err != nil || n != 4 {
		t.Fatalf("listed %d, %v", n, err)
	}
	var ids []string
	link, err := c.ContactsDelta(ctx, mb, f.ID, "", ContactQuery{PageSize: 2}, func(p *Page[Contact]) error {
		for _, ct := range p.Value {
			ids = append(ids, ct.ID)
		}
		return nil
	})
	if err != nil || len(ids) != 4 {
		t.Fatalf("delta: %v, %d", err, len(ids))
	}
	if err := e.srv.OwnerDeleteContact(e.tenant.ID, mb, ids[0]); err != nil {
		t.Fatal(err)
	}
	var removed []string
	if _, err := c.ContactsDelta(ctx, mb, f.ID, link, ContactQuery{PageSize: 2}, func(p *Page[Contact]) error {
		for _, ct := range p.Value {
			if ct.Removed != nil {
				removed = append(removed, ct.ID)
			}
		}
		return nil
	}); err != nil || !slices.Equal(removed, ids[:1]) {
		t.Fatalf("delta round 2: %v, removed %v", err, removed)
	}

	// A $batch item can page with an absolute nextLink made relative.
	rel, err := c.RelativeURL(e.srv.GraphURL() + ContactsPath(mb, f.ID) + "?$top=1")
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Batch(ctx, []BatchItem{GetItem("g", rel, "", http.Header{"Prefer": {"odata.maxpagesize=1"}})})
	if err != nil || res[0].Status != 200 {
		t.Fatalf("paged GET item: %+v %v", res, err)
	}
	var page Page[Contact]
	if err := json.Unmarshal(res[0].Body, &page); err != nil || len(page.Value) != 1 {
		t.Fatalf("page %s", res[0].Body)
	}

	if err := c.DeleteContactFolder(ctx, mb, f.ID); err != nil {
		t.Fatal(err)
	}

	// Mailbox states classify as skips, not failures.
	if err := e.srv.SetMailboxState(e.tenant.ID, guid(4), graphsim.MailboxNone); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetMailboxState(e.tenant.ID, guid(5), graphsim.MailboxOutOfScope); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContactFolders(ctx, guid(4), "x"); Classify(err) != MailboxUnavailable {
		t.Errorf("no mailbox: %v", err)
	}
	if _, err := c.ContactFolders(ctx, guid(5), "x"); Classify(err) != OutOfScope {
		t.Errorf("out of scope: %v", err)
	}
	st := c.Stats()
	if st.Batch != 3 || st.BatchItems != 7 || st.PATCH != 2 || st.DELETE != 1 {
		t.Errorf("stats %+v", st)
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
	var folders []string
	for i := 1; i <= 3; i++ {
		f, err := e.c.CreateContactFolder(ctx, guid(i), &NewContactFolder{DisplayName: "D"})
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
				mb := guid(k + 1)
				if i%4 == 0 {
					// A batch of 4 creates takes 4 units of its mailbox.
					rel, err := e.c.Pacer().Acquire(ctx, MailboxScope(mb), 1)
					if err != nil {
						t.Error(err)
						return
					}
					var items []BatchItem
					for j := range 4 {
						items = append(items, CreateContactItem(fmt.Sprint(j), mb, folders[k], &ContactPatch{DisplayName: Set("x")}))
					}
					_, err = e.c.Batch(ctx, items)
					rel()
					// An outer 503 leaves a batch of creates ambiguous:
					// Batch returns it instead of sending it again.
					if err != nil && Classify(err) != Retryable {
						t.Error(err)
					}
					continue
				}
				if _, err := e.c.ContactFolders(ctx, mb, "D"); err != nil {
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
				if _, err := e.c.ContactFolders(t.Context(), guid((w+i)%3+1), "D"); err != nil {
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
