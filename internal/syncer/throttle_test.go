package syncer

import (
	"fmt"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

func manyUsers(n int) []graphsim.User {
	var users []graphsim.User
	for i := range n {
		users = append(users, user("Person", fmt.Sprintf("N%03d", i)))
	}
	return users
}

// Graph's own limits, latency and a storm of 503s: every write lands, no
// request breaks a Retry-After, and no mailbox sees more than four
// requests at once.
func TestThrottlingAndUnavailabilityStorm(t *testing.T) {
	users := manyUsers(30)
	e := newEnv(t, users, func(o *graphsim.Options) {
		th := graphsim.GraphThrottle()
		th.ConcurrencyRetryAfter = 50 * time.Millisecond
		o.Throttle = &th
		o.Faults = graphsim.Faults{Rate503: 0.15, Rate504: 0.03, RetryAfter503: 30 * time.Millisecond,
			Latency: 2 * time.Millisecond, Jitter: 3 * time.Millisecond, ShuffleBatch: true}
	})
	e.opts.MailboxWorkers = 16
	e.opts.Pacer.RetryBudget = time.Minute
	// A 503 leaves a create ambiguous: each costs a look-up by its mark
	// and an attempt, and a whole batch's 503 costs every item of the
	// batch one. At 15% per request and per item, eight attempts run out
	// about once in ten such runs.
	e.opts.ItemAttempts = 16
	// Reads (a folder, a contacts delta page, a look-up by mark) fail an
	// attempt about one time in three here (a 503 or 504 on the batch or
	// on the item): eight attempts ran out in about one run in fifteen.
	e.opts.Pacer.MaxAttempts = 16
	res := e.sync(RunOptions{})
	mustOK(t, res)
	c := e.counters()
	if c.RetryAfterViolations != 0 {
		t.Fatalf("%d Retry-After violations: %v", c.RetryAfterViolations, c.ViolationsByScope)
	}
	if c.Unavailable == 0 {
		t.Fatal("the storm injected no 503: the test proves nothing")
	}
	for mb, peak := range c.PeakConcurrency {
		if peak > 4 {
			t.Errorf("mailbox %s saw %d concurrent requests", mb, peak)
		}
	}
	for _, u := range users {
		if n := len(e.contacts(u.ID)); n != len(users)-1 {
			t.Errorf("mailbox %s has %d contacts, want %d", u.UserPrincipalName, n, len(users)-1)
		}
	}
	t.Logf("requests %d, batch items %d, 429 %d, 503 %d, 504 %d", c.Requests, c.BatchItems, c.Throttled, c.Unavailable, c.GatewayTimeouts)
}

func TestPagingWithSmallPages(t *testing.T) {
	users := manyUsers(25)
	e := newEnv(t, users, func(o *graphsim.Options) { o.UsersDeltaPageSize = 3 })
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.SourceCount != 25 || res.Contacts.Created != 25*24 {
		t.Fatalf("sources %d contacts %+v", res.SourceCount, res.Contacts)
	}
	if n := e.counters().ByRoute["GET /users/delta"]; n < 9 {
		t.Errorf("users/delta pages %d, want at least 9", n)
	}
	// A second run pages through nothing new and writes nothing.
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	if w := e.counters().Writes; w != 0 {
		t.Errorf("second run wrote %d", w)
	}
}

func TestNestedGroupScopes(t *testing.T) {
	users := manyUsers(6)
	e := newEnv(t, users)
	inner := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Sales EMEA", Members: []string{users[2].ID, users[3].ID}}
	outer := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Sales", Members: []string{users[1].ID, inner.ID}}
	excluded := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Hidden", Members: []string{users[3].ID}}
	targets := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Phones", Members: []string{users[0].ID, inner.ID}}
	for _, g := range []graphsim.Group{inner, outer, excluded, targets} {
		if err := e.srv.PutGroup(e.tenant.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	e.settings = map[string]any{
		"source": map[string]any{"includeGroups": []string{outer.ID}, "excludeGroups": []string{excluded.ID}},
		"target": map[string]any{"groups": []string{targets.ID}},
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	// Sources: users 1, 2 (3 is excluded). Targets: users 0, 2, 3.
	if res.SourceCount != 2 || res.Mailboxes.Synced != 3 {
		t.Fatalf("sources %d mailboxes %+v", res.SourceCount, res.Mailboxes)
	}
	cs := e.contacts(users[0].ID)
	if _, ok := cs[users[2].ID]; !ok || len(cs) != 2 {
		t.Errorf("user 0 contacts %v", keys(cs))
	}
	if cs := e.contacts(users[2].ID); len(cs) != 1 {
		t.Errorf("user 2 (a source itself) has %d contacts, want 1", len(cs))
	}
	if e.folder(users[4].ID) != nil {
		t.Error("a mailbox outside the target groups got a folder")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
