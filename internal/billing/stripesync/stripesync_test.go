package stripesync

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/billing"
	"github.com/galmirror/galmirror/internal/billing/stripetest"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// testKey is a Stripe test key; stripe-mock takes any. No output, event or
// error may hold it.
const testKey = "sk_test_51GalmirrorSecretDoNotPrint"

const (
	contosoID  = "aaaaaaaa-0000-4000-8000-000000000001"
	fabrikamID = "bbbbbbbb-0000-4000-8000-000000000002"
	northID    = "cccccccc-0000-4000-8000-000000000003"
)

func prices() billing.PriceList {
	return billing.PriceList{Currency: "EUR", FreeUsers: 10, Measure: billing.Peak, AnnualFloor: billing.MustDecimal("0.18"),
		Tiers: []billing.Tier{
			{UpTo: 500, Monthly: billing.MustDecimal("0.29"), Annual: billing.MustDecimal("0.25")},
			{Monthly: billing.MustDecimal("0.21"), Annual: billing.MustDecimal("0.18")},
		}}
}

func entries() []billing.Entry {
	return []billing.Entry{
		{Tenant: "contoso", TenantID: contosoID, Customer: "Contoso Ltd", Plan: billing.Monthly},
		{Tenant: "fabrikam", TenantID: fabrikamID, Plan: billing.Monthly},
		{Tenant: "northwind", TenantID: northID, Plan: billing.Annual},
	}
}

// report prices a month where contoso, fabrikam and northwind had these
// peaks of synced mailboxes.
func report(t *testing.T, m billing.Month, contoso, fabrikam, north int) *billing.Report {
	t.Helper()
	day := m.Start()
	r, err := billing.BuildReport(billing.ReportInput{Prices: prices(), Month: m, Now: m.End().Add(30 * time.Hour), Entries: entries(),
		Ledger: []billing.LedgerRow{
			{Tenant: "contoso", TenantID: contosoID, Day: day, Mailboxes: contoso},
			{Tenant: "fabrikam", TenantID: fabrikamID, Day: day, Mailboxes: fabrikam},
			{Tenant: "northwind", TenantID: northID, Day: day, Mailboxes: north},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixture is a state database, stripe-mock behind the recording proxy, and
// what runs printed and emitted.
type fixture struct {
	t    *testing.T
	mock *stripetest.Mock
	st   *store.Store
	inst string
	mu   sync.Mutex
	out  bytes.Buffer
	evs  []events.Event
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, mock: stripetest.Start(t)}
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if f.inst, err = st.Installation(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) options(dryRun bool) Options {
	return Options{Key: testKey, Endpoint: f.mock.URL, HTTPClient: f.mock.Client, Store: f.st, Installation: f.inst,
		BillingDay: 3, DryRun: dryRun, Out: &f.out, Emit: func(_ context.Context, e events.Event) {
			f.mu.Lock()
			f.evs = append(f.evs, e)
			f.mu.Unlock()
		}}
}

func (f *fixture) run(ctx context.Context, rep *billing.Report, dryRun bool) (Result, error) {
	f.t.Helper()
	f.out.Reset()
	return Run(ctx, f.options(dryRun), prices(), rep)
}

// events returns the emitted events with id, and forgets every event.
func (f *fixture) take(id events.ID) []events.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []events.Event
	for _, e := range f.evs {
		if e.ID == id {
			out = append(out, e)
		}
	}
	return out
}

// noSecret fails when the key shows anywhere the tests can see.
func (f *fixture) noSecret() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Contains(f.out.String(), "GalmirrorSecret") {
		f.t.Errorf("the output holds the key:\n%s", f.out.String())
	}
	for _, e := range f.evs {
		if strings.Contains(e.Text(), "GalmirrorSecret") {
			f.t.Errorf("event %s holds the key: %s", e.ID, e.Text())
		}
	}
}

func subscriptionOf(tenantID string) func(stripetest.Request) bool {
	return func(r stripetest.Request) bool {
		return r.Method == "POST" && r.Path == "/v1/subscriptions" && r.Form.Get("metadata[galmirror_tenant_id]") == tenantID
	}
}

// TestRunAgainstStripeMock: a dry run prints every change and writes
// nothing; the real run makes one product, a price per plan and unit price,
// and per customer one customer and one subscription with the month's
// billable users, each write with an idempotency key, each change an event;
// a rerun writes nothing; the next month sets each item's quantity.
func TestRunAgainstStripeMock(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	nov := report(t, billing.Month{Year: 2026, Month: time.November}, 42, 7, 130)

	res, err := f.run(ctx, nov, true)
	if err != nil || res.Changed != 3 {
		t.Fatalf("dry run: %+v, %v\n%s", res, err, f.out.String())
	}
	for _, want := range []string{
		`Contoso Ltd: would create the Stripe product "galmirror users"`,
		"Contoso Ltd: would create the Stripe price galmirror-monthly-eur-0.29: EUR 0.29 per user per month",
		`Contoso Ltd: would create the Stripe customer "Contoso Ltd"`,
		"Contoso Ltd: would create a monthly subscription for (new): 32 billable users of 2026-11 at EUR 0.29 per user per month",
		"fabrikam: would create a monthly subscription for (new): 0 billable users",
		"northwind: would create the Stripe price galmirror-annual-eur-0.25: EUR 3.00 per user per year (unit amount 300 in minor units)",
		"northwind: would create an annual subscription for (new): 120 billable users",
	} {
		if !strings.Contains(f.out.String(), want) {
			t.Errorf("the dry run does not say %q:\n%s", want, f.out.String())
		}
	}
	if w := f.mock.Writes(""); len(w) != 0 {
		t.Fatalf("the dry run wrote %d times: %+v", len(w), w)
	}
	if links, _ := f.st.StripeCustomers(ctx); len(links) != 0 {
		t.Fatalf("the dry run linked %+v", links)
	}

	res, err = f.run(ctx, nov, false)
	if err != nil || res.Changed != 3 || res.Failed != 0 {
		t.Fatalf("run: %+v, %v\n%s", res, err, f.out.String())
	}
	checkFirstRun(t, f)

	// A rerun of the month finds it set: no request at all.
	before := len(f.mock.Requests())
	res, err = f.run(ctx, nov, false)
	if err != nil || res.Unchanged != 3 || res.Changed != 0 {
		t.Fatalf("rerun: %+v, %v\n%s", res, err, f.out.String())
	}
	if n := len(f.mock.Requests()); n != before {
		t.Errorf("the rerun sent %d requests", n-before)
	}
	if !strings.Contains(f.out.String(), "Contoso Ltd: 2026-11 already set on sub_gm") {
		t.Errorf("rerun output:\n%s", f.out.String())
	}

	// December: contoso grows, fabrikam crosses its free users.
	dec := report(t, billing.Month{Year: 2026, Month: time.December}, 50, 12, 130)
	res, err = f.run(ctx, dec, false)
	if err != nil || res.Changed != 3 {
		t.Fatalf("December: %+v, %v\n%s", res, err, f.out.String())
	}
	checkQuantities(t, f)
	f.noSecret()
}

func checkFirstRun(t *testing.T, f *fixture) {
	t.Helper()
	writes := f.mock.Writes("")
	if len(writes) != 1+2+3+3 {
		t.Errorf("%d writes, want 9 (a product, 2 prices, 3 customers, 3 subscriptions): %+v", len(writes), writes)
	}
	for _, w := range writes {
		if !strings.HasPrefix(w.IdempotencyKey, "galmirror-"+f.inst[:16]+"-") {
			t.Errorf("%s %s: idempotency key %q", w.Method, w.Path, w.IdempotencyKey)
		}
		if w.Status != 200 {
			t.Errorf("%s %s: status %d", w.Method, w.Path, w.Status)
		}
	}
	ps := f.mock.Writes("/v1/prices")
	if len(ps) != 2 || ps[0].Form.Get("unit_amount") != "29" || ps[0].Form.Get("recurring[interval]") != "month" ||
		ps[1].Form.Get("unit_amount") != "300" || ps[1].Form.Get("recurring[interval]") != "year" || ps[0].Form.Get("currency") != "eur" {
		t.Errorf("prices: %+v", ps)
	}
	links, err := f.st.StripeCustomers(t.Context())
	if err != nil || len(links) != 3 {
		t.Fatalf("links %+v, %v", links, err)
	}
	monthly, _ := f.st.StripePrice(t.Context(), "galmirror-monthly-eur-0.29")
	annual, _ := f.st.StripePrice(t.Context(), "galmirror-annual-eur-0.25")
	if monthly == "" || annual == "" || monthly == annual {
		t.Errorf("prices kept: %q, %q", monthly, annual)
	}
	seen := map[string]bool{}
	for _, c := range []struct {
		id, quantity, price string
	}{{contosoID, "32", monthly}, {fabrikamID, "0", monthly}, {northID, "120", annual}} {
		subs := f.mock.Writes("/v1/subscriptions")
		var got []stripetest.Request
		for _, s := range subs {
			if subscriptionOf(c.id)(s) {
				got = append(got, s)
			}
		}
		if len(got) != 1 || got[0].Form.Get("items[0][quantity]") != c.quantity || got[0].Form.Get("items[0][price]") != c.price ||
			got[0].Form.Get("billing_cycle_anchor_config[day_of_month]") != "3" || got[0].Form.Get("proration_behavior") != "none" {
			t.Errorf("subscription of %s: %+v", c.id, got)
		}
		l := links[c.id]
		if l.Customer == "" || l.Subscription == "" || l.Item == "" || seen[l.Customer] || seen[l.Subscription] {
			t.Errorf("link of %s: %+v", c.id, l)
		}
		seen[l.Customer], seen[l.Subscription] = true, true
	}
	if n := len(f.take(events.StripeProductCreated)); n != 1 {
		t.Errorf("%d product events", n)
	}
	if n := len(f.take(events.StripePriceCreated)); n != 2 {
		t.Errorf("%d price events", n)
	}
	if n := len(f.take(events.StripeCustomerLinked)); n != 3 {
		t.Errorf("%d customer events", n)
	}
	subs := f.take(events.StripeSubscriptionCreated)
	if len(subs) != 3 || subs[0].Field("quantity") != "32" || subs[0].Field("period") != "2026-11" || subs[0].Tenant != "contoso" {
		t.Errorf("subscription events %+v", subs)
	}
}

func checkQuantities(t *testing.T, f *fixture) {
	t.Helper()
	links, _ := f.st.StripeCustomers(t.Context())
	items := f.mock.Writes("/v1/subscription_items/")
	if len(items) != 3 {
		t.Fatalf("%d item updates, want 3: %+v", len(items), items)
	}
	for i, c := range []struct{ id, quantity, proration string }{{contosoID, "40", "none"}, {fabrikamID, "2", "none"}, {northID, "120", "create_prorations"}} {
		w := items[i]
		if w.Path != "/v1/subscription_items/"+links[c.id].Item || w.Form.Get("quantity") != c.quantity ||
			w.Form.Get("proration_behavior") != c.proration || w.Form.Get("metadata[galmirror_period]") != "2026-12" || w.IdempotencyKey == "" {
			t.Errorf("update %d: %s %v (key %q), want quantity %s of %s", i, w.Path, w.Form, w.IdempotencyKey, c.quantity, links[c.id].Item)
		}
	}
	evs := f.take(events.StripeQuantitySet)
	if len(evs) != 3 || evs[0].Field("quantity") != "40" || evs[0].Field("unit_price") != "0.29" || evs[0].Field("period") != "2026-12" {
		t.Errorf("quantity events %+v", evs)
	}
}

// TestRetriesNeverBillTwice: an answer lost after Stripe acted, retried by
// stripe-go, and runs interrupted while Stripe acted, then run again, each
// reach Stripe once: the same idempotency key comes back and is answered
// from the first result.
func TestRetriesNeverBillTwice(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	nov := report(t, billing.Month{Year: 2026, Month: time.November}, 42, 7, 130)

	// contoso's subscription: the answer is lost; stripe-go retries.
	f.mock.Inject(stripetest.DropAnswer, subscriptionOf(contosoID))
	// fabrikam's subscription: the answer never comes and the run is
	// stopped (a shutdown, a killed process).
	f.mock.Inject(stripetest.HoldAnswer, subscriptionOf(fabrikamID))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := f.run(runCtx, nov, false); done <- err }()
	f.mock.WaitFor(t, time.Minute, func(r stripetest.Request) bool { return subscriptionOf(fabrikamID)(r) && r.Status == 0 })
	stop()
	if err := <-done; err == nil {
		t.Fatal("the stopped run reported no error")
	}
	links, _ := f.st.StripeCustomers(ctx)
	if l := links[fabrikamID]; l.Customer == "" || l.Subscription != "" {
		t.Fatalf("after the stop fabrikam's link is %+v, want its customer and no subscription", l)
	}
	if l := links[contosoID]; l.Subscription == "" {
		t.Fatalf("contoso's retried subscription was not recorded: %+v", l)
	}

	// The run again: fabrikam's subscription is answered from the first
	// result; northwind's is made.
	res, err := f.run(ctx, nov, false)
	if err != nil || res.Failed != 0 || res.Unchanged != 1 || res.Changed != 2 {
		t.Fatalf("second run: %+v, %v\n%s", res, err, f.out.String())
	}
	replays := 0
	for _, r := range f.mock.Requests() {
		if r.Replayed {
			replays++
		}
	}
	if replays != 2 {
		t.Errorf("%d replayed requests, want 2 (contoso's retry, fabrikam's rerun)", replays)
	}
	for _, id := range []string{contosoID, fabrikamID, northID} {
		var n int
		for _, w := range f.mock.Writes("/v1/subscriptions") {
			if subscriptionOf(id)(w) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d subscriptions reached Stripe, want 1", id, n)
		}
	}
	if n := len(f.mock.Writes("/v1/customers")); n != 3 {
		t.Errorf("%d customers reached Stripe, want 3", n)
	}

	// December: northwind's quantity is set, the answer held and the run
	// stopped; the run again sends the same key and is answered from the
	// first result. A third run finds the month set.
	dec := report(t, billing.Month{Year: 2026, Month: time.December}, 42, 7, 150)
	f.mock.Inject(stripetest.HoldAnswer, func(r stripetest.Request) bool {
		return strings.HasPrefix(r.Path, "/v1/subscription_items/") && r.Form.Get("quantity") == "140"
	})
	runCtx, stop = context.WithCancel(ctx)
	go func() { _, err := f.run(runCtx, dec, false); done <- err }()
	held := f.mock.WaitFor(t, time.Minute, func(r stripetest.Request) bool { return r.Form.Get("quantity") == "140" && r.Status == 0 })
	stop()
	<-done
	for range 2 {
		if res, err := f.run(ctx, dec, false); err != nil || res.Failed != 0 {
			t.Fatalf("December again: %+v, %v\n%s", res, err, f.out.String())
		}
	}
	var sets []stripetest.Request
	for _, r := range f.mock.Requests() {
		if r.Path == held.Path {
			sets = append(sets, r)
		}
	}
	if len(sets) != 2 || sets[0].Replayed || !sets[1].Replayed || sets[1].IdempotencyKey != held.IdempotencyKey {
		t.Errorf("northwind's December quantity: %+v, want one write and one replay of it", sets)
	}
	f.noSecret()
}

// TestStripeErrors: a customer Stripe refuses is reported with Stripe's
// code, status and request id (event 465), the others go on, and the
// error counts it; the key never shows, even where Stripe's answer quotes
// it.
func TestStripeErrors(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	nov := report(t, billing.Month{Year: 2026, Month: time.November}, 42, 7, 130)
	// Linked customers; Stripe no longer knows fabrikam's subscription
	// item (deleted by hand).
	for _, id := range []string{contosoID, fabrikamID, northID} {
		if err := f.st.SaveStripeCustomer(ctx, store.StripeCustomer{TenantID: id, Customer: "cus_" + id[:4], Subscription: "sub_" + id[:4], Item: "si_" + id[:4]}); err != nil {
			t.Fatal(err)
		}
	}
	f.mock.InjectError(404, "invalid_request_error", "resource_missing", "No such subscription item: 'si_bbbb'", func(r stripetest.Request) bool {
		return r.Path == "/v1/subscription_items/si_bbbb"
	})
	res, err := f.run(ctx, nov, false)
	if err == nil || res.Failed != 1 || res.Changed != 2 || !strings.Contains(err.Error(), "1 of 3 customers") {
		t.Fatalf("%+v, %v\n%s", res, err, f.out.String())
	}
	fails := f.take(events.StripeFailed)
	if len(fails) != 1 || fails[0].Tenant != "fabrikam" || fails[0].Field("status") != "404" || fails[0].Field("code") != "resource_missing" ||
		!strings.HasPrefix(fails[0].Field("request_id"), "req_gm") || !strings.Contains(fails[0].Detail, "No such subscription item") {
		t.Errorf("failure events %+v", fails)
	}
	if !strings.Contains(f.out.String(), "fabrikam: FAILED:") {
		t.Errorf("output:\n%s", f.out.String())
	}

	// A key stripe-mock refuses, and quotes back in its error.
	o := f.options(false)
	o.Key = "sk_test_GalmirrorSecret quoted"
	f.out.Reset()
	if _, err := Run(ctx, o, prices(), report(t, billing.Month{Year: 2026, Month: time.October}, 1, 1, 1)); err == nil {
		t.Fatal("a refused key was not an error")
	}
	if !strings.Contains(f.out.String(), "[redacted key]") {
		t.Errorf("the refusal is not reported:\n%s", f.out.String())
	}
	f.noSecret()
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, key, want string }{
		{"Invalid API Key provided: sk_test_****abcd", "", "Invalid API Key provided: [redacted key]"},
		{"auth was 'Bearer my key'", "my key", "auth was 'Bearer [redacted key]'"},
		{"rk_live_123 and pk_test_x", "", "[redacted key] and [redacted key]"},
	} {
		if got := Redact(c.in, c.key); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestFoundAgainAfterTheStateIsLost: with an empty state database (a new
// server, a lost disk) the customers, subscriptions and prices galmirror
// made before are found in Stripe (by metadata and lookup key; stripe-mock
// keeps nothing, so the test gives Stripe's answers) and only the month's
// quantities are written: nothing is created twice.
func TestFoundAgainAfterTheStateIsLost(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, p := range []struct{ key, interval string }{{"galmirror-monthly-eur-0.29", "month"}, {"galmirror-annual-eur-0.25", "year"}} {
		price := map[string]any{"id": "price_" + p.interval, "object": "price", "lookup_key": p.key, "currency": "eur", "active": true,
			"recurring": map[string]any{"interval": p.interval}}
		f.mock.InjectAnswer(200, map[string]any{"object": "list", "url": "/v1/prices", "has_more": false, "data": []any{price}},
			func(r stripetest.Request) bool {
				return r.Path == "/v1/prices" && r.Form.Get("lookup_keys[0]") == p.key
			})
	}
	for _, id := range []string{contosoID, fabrikamID, northID} {
		meta := map[string]any{MetaTenantID: id}
		cus := map[string]any{"id": "cus_" + id[:4], "object": "customer", "metadata": meta}
		f.mock.InjectAnswer(200, map[string]any{"object": "search_result", "url": "/v1/customers/search", "has_more": false, "data": []any{cus}},
			func(r stripetest.Request) bool {
				return r.Path == "/v1/customers/search" && r.Form.Get("query") == "metadata['"+MetaTenantID+"']:'"+id+"'"
			})
		sub := map[string]any{"id": "sub_" + id[:4], "object": "subscription", "metadata": meta,
			"items": map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_" + id[:4], "object": "subscription_item"}}}}
		f.mock.InjectAnswer(200, map[string]any{"object": "list", "url": "/v1/subscriptions", "has_more": false, "data": []any{sub}},
			func(r stripetest.Request) bool {
				return r.Path == "/v1/subscriptions" && r.Form.Get("customer") == "cus_"+id[:4]
			})
	}
	res, err := f.run(ctx, report(t, billing.Month{Year: 2026, Month: time.November}, 42, 7, 130), false)
	if err != nil || res.Changed != 3 {
		t.Fatalf("%+v, %v\n%s", res, err, f.out.String())
	}
	writes := f.mock.Writes("")
	if len(writes) != 3 {
		t.Fatalf("%d writes, want the 3 quantities only: %+v", len(writes), writes)
	}
	for i, c := range []struct{ id, quantity, price string }{{contosoID, "32", "price_month"}, {fabrikamID, "0", "price_month"}, {northID, "120", "price_year"}} {
		w := writes[i]
		if w.Path != "/v1/subscription_items/si_"+c.id[:4] || w.Form.Get("quantity") != c.quantity || w.Form.Get("price") != c.price {
			t.Errorf("write %d: %s %v", i, w.Path, w.Form)
		}
	}
	links, _ := f.st.StripeCustomers(ctx)
	if l := links[northID]; l.Customer != "cus_cccc" || l.Subscription != "sub_cccc" || l.Item != "si_cccc" {
		t.Errorf("northwind's link %+v", l)
	}
	found := f.take(events.StripeCustomerLinked)
	if len(found) != 3 || found[0].Field("how") != "found" {
		t.Errorf("customer events %+v", found)
	}
	if !strings.Contains(f.out.String(), "Contoso Ltd: link to the subscription sub_aaaa (found by its galmirror_tenant_id)") {
		t.Errorf("output:\n%s", f.out.String())
	}
}
