//go:build linux

package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/billing"
	"github.com/galmirror/galmirror/internal/billing/stripetest"
	"github.com/galmirror/galmirror/internal/store"
)

// stripeKeyVar holds the Stripe key in the binary's environment; the key
// must appear in no output.
const (
	stripeKeyVar  = "GALMIRROR_TEST_STRIPE_KEY"
	testStripeKey = "sk_test_51BinarySecretNeverPrinted"
)

// billingFixture is an MSP with two customers in graphsim and Stripe (as
// stripe-mock behind the recording proxy), run through the built binary.
type billingFixture struct {
	*customer
	mock     *stripetest.Mock
	settings string
	dataDir  string
	ids      map[string]string // tenant name → Entra tenant id
}

// newBillingFixture: contoso (14 users, monthly, billed as "Contoso Ltd")
// and fabrikam (3 users, annual), the example's price list, Stripe through
// the system store's trust.
func newBillingFixture(t *testing.T) *billingFixture {
	t.Helper()
	f := &billingFixture{customer: newCustomer(t), mock: stripetest.Start(t), ids: map[string]string{}}
	f.cas = append(f.cas, f.mock.CertPEM...)
	srv, tn, cred := simTenant(t, 14)
	srv2, tn2, cred2 := simTenant(t, 3)
	contoso := f.tenant("contoso", srv, tn, cred)
	contoso["billing"] = map[string]any{"customer": "Contoso Ltd"}
	fabrikam := f.tenant("fabrikam", srv2, tn2, cred2)
	fabrikam["billing"] = map[string]any{"plan": "annual"}
	f.ids["contoso"], f.ids["fabrikam"] = tn.ID, tn2.ID
	f.settings = filepath.Join(f.dir, "settings.json")
	f.dataDir = filepath.Join(f.dir, "state")
	writeJSON(t, f.settings, map[string]any{"dataDir": "state", "tenants": []any{contoso, fabrikam},
		"billing": map[string]any{
			"currency": "EUR", "freeUsersPerTenant": 10, "annualFloor": "0.18",
			"tiers": []any{
				map[string]any{"upTo": 500, "monthly": "0.29", "annual": "0.25"},
				map[string]any{"upTo": 2000, "monthly": "0.26", "annual": "0.22"},
				map[string]any{"upTo": 5000, "monthly": "0.23", "annual": "0.20"},
				map[string]any{"monthly": "0.21", "annual": "0.18"},
			},
			"stripe": map[string]any{"secretKeyEnv": stripeKeyVar, "endpoint": f.mock.URL},
		}})
	return f
}

// galmirror runs the binary with the Stripe key in its environment (or
// without, keyless) and fails on a key or a panic in its output.
func (f *billingFixture) galmirror(keyless bool, args ...string) (int, string, string) {
	f.t.Helper()
	env := f.env()
	if !keyless {
		env = append(env, stripeKeyVar+"="+testStripeKey)
	}
	code, stdout, stderr := f.runEnv(env, append(args, "--config", f.settings)...)
	if strings.Contains(stdout+stderr, "BinarySecret") || strings.Contains(stderr, "panic") {
		f.t.Errorf("galmirror %v printed the key or panicked:\n%s\n%s", args, stdout, stderr)
	}
	return code, stdout, stderr
}

// TestBillingThroughTheBinary: a real sync fills today's ledger; usage
// prices the month in progress (text, JSON, CSV); price quotes a book of
// customers; stripe refuses a month in progress and a missing key before
// any call, prints a dry run without writing, survives being killed while
// Stripe acts, and never bills twice; usage then shows the Stripe links.
func TestBillingThroughTheBinary(t *testing.T) {
	f := newBillingFixture(t)
	code, stdout, stderr := f.galmirror(true, "sync")
	if code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, stdout, stderr)
	}
	f.usageThisMonth(t)
	f.priceQuote(t)
	last := f.seedLastMonth(t)
	f.stripeRefusals(t, last)
	f.stripeDryRun(t, last)
	f.stripeKilledThenRerun(t, last)
	f.usageShowsLinks(t, last)
}

// usageThisMonth: contoso synced 14 mailboxes (4 billable at 0.29),
// fabrikam 3 (none billable): the month in progress.
func (f *billingFixture) usageThisMonth(t *testing.T) {
	code, stdout, stderr := f.galmirror(true, "usage", "--json")
	if code != exitOK {
		t.Fatalf("usage: exit %d\n%s", code, stderr)
	}
	var rep billing.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("usage --json: %v\n%s", err, stdout)
	}
	if !rep.InProgress || rep.Period != billing.MonthOf(time.Now()).String() || len(rep.Customers) != 2 || rep.Total != "1.16" || rep.Tier != 1 {
		t.Fatalf("report %+v", rep)
	}
	c, fab := rep.Customers[0], rep.Customers[1]
	if c.Customer != "Contoso Ltd" || c.Users != 14 || c.Billable != 4 || c.UnitPrice != "0.29" || c.Amount != "1.16" || c.Plan != billing.Monthly {
		t.Errorf("contoso %+v", c)
	}
	if fab.Customer != "fabrikam" || fab.Users != 3 || fab.Billable != 0 || fab.UnitPrice != "0.25" || fab.Amount != "0.00" || fab.Plan != billing.Annual {
		t.Errorf("fabrikam %+v", fab)
	}
	today := c.Days[len(c.Days)-1]
	if today.Mailboxes != 14 || today.Sources != 14 || today.Carried {
		t.Errorf("contoso today %+v", today)
	}
	_, stdout, _ = f.galmirror(true, "usage", "--csv")
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != 3 || strings.Join(recs[1], ",") != "Contoso Ltd,"+rep.Period+",galmirror users (monthly),4,0.29,1.16,EUR" {
		t.Errorf("usage --csv: %v\n%s", err, stdout)
	}
	_, stdout, _ = f.galmirror(true, "usage")
	if !strings.Contains(stdout, "in progress") || !strings.Contains(stdout, "4 billable users in all: tier 1 (0-500); amounts in EUR per month") {
		t.Errorf("usage:\n%s", stdout)
	}
}

// priceQuote: 15, 40 and 200 users are 5 + 30 + 190 = 225 billable, tier 1.
func (f *billingFixture) priceQuote(t *testing.T) {
	code, stdout, stderr := f.galmirror(true, "price", "--users", "15,40,200")
	if code != exitOK || !strings.Contains(stdout, "tier 1 of 4 (0-500 billable users in all): EUR 0.29 per billable user per month") ||
		!strings.Contains(stdout, "EUR 65.25 per month") {
		t.Errorf("price: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = f.galmirror(true, "price", "--users", "15,40,200", "--annual")
	if code != exitOK || !strings.Contains(stdout, "EUR 56.25 per month, EUR 675.00 per year") {
		t.Errorf("price --annual: exit %d\n%s", code, stdout)
	}
	code, _, stderr = f.galmirror(true, "price", "--users", "15,x")
	if code != exitUsage || !strings.Contains(stderr, `--users: item 2 ("x")`) {
		t.Errorf("price --users 15,x: exit %d: %s", code, stderr)
	}
}

// seedLastMonth adds last month's ledger, as runs of that month would have
// (the binary cannot be sent back in time; TestUsageLedgerFromRuns fills a
// ledger from runs over days of a controlled clock): contoso peaked at 42
// mailboxes, fabrikam at 25.
func (f *billingFixture) seedLastMonth(t *testing.T) billing.Month {
	last := billing.MonthOf(time.Now()).Prev()
	day := last.Start().Add(9 * time.Hour)
	st, err := store.Open(t.Context(), f.dataDir, store.Options{Now: func() time.Time { return day }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, u := range []store.Usage{
		{Tenant: "contoso", TenantID: f.ids["contoso"], Mailboxes: 40, Sources: 41},
		{Tenant: "fabrikam", TenantID: f.ids["fabrikam"], Mailboxes: 25, Sources: 25},
	} {
		if err := st.RecordUsage(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	day = day.AddDate(0, 0, 1)
	if err := st.RecordUsage(t.Context(), store.Usage{Tenant: "contoso", TenantID: f.ids["contoso"], Mailboxes: 42, Sources: 43}); err != nil {
		t.Fatal(err)
	}
	return last
}

// stripeRefusals: the month in progress, and a key that is not set, are
// usage errors before any Stripe request.
func (f *billingFixture) stripeRefusals(t *testing.T, last billing.Month) {
	code, _, stderr := f.galmirror(false, "stripe", "--month", billing.MonthOf(time.Now()).String())
	if code != exitUsage || !strings.Contains(stderr, "the month is not over") {
		t.Errorf("stripe this month: exit %d: %s", code, stderr)
	}
	code, _, stderr = f.galmirror(true, "stripe")
	if code != exitUsage || !strings.Contains(stderr, "billing.stripe.secretKeyEnv: the environment variable "+stripeKeyVar+", which holds the Stripe secret key, is not set") {
		t.Errorf("stripe without the key: exit %d: %s", code, stderr)
	}
	if r := f.mock.Requests(); len(r) != 0 {
		t.Errorf("requests before the refusals ended: %+v", r)
	}
}

// stripeDryRun: every change printed, none made.
func (f *billingFixture) stripeDryRun(t *testing.T, last billing.Month) {
	code, stdout, stderr := f.galmirror(false, "stripe", "--dry-run")
	if code != exitOK {
		t.Fatalf("stripe --dry-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"Stripe " + last.String() + ": 2 customers, 47 billable users, EUR 13.03 (dry run: nothing is changed)",
		`Contoso Ltd: would create the Stripe customer "Contoso Ltd"`,
		"Contoso Ltd: would create a monthly subscription for (new): 32 billable users of " + last.String() + " at EUR 0.29 per user per month",
		"fabrikam: would create the Stripe price galmirror-annual-eur-0.25: EUR 3.00 per user per year",
		"fabrikam: would create an annual subscription for (new): 15 billable users",
		"customers: 2 to change, 0 already set, 0 failed",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, stdout)
		}
	}
	if w := f.mock.Writes(""); len(w) != 0 {
		t.Errorf("the dry run wrote: %+v", w)
	}
}

// stripeKilledThenRerun: the process is killed while Stripe creates
// fabrikam's subscription; the next run sends the same idempotency key and
// gets the first result; the one after finds the month set.
func (f *billingFixture) stripeKilledThenRerun(t *testing.T, last billing.Month) {
	fabSub := func(r stripetest.Request) bool {
		return r.Path == "/v1/subscriptions" && r.Form.Get("metadata[galmirror_tenant_id]") == f.ids["fabrikam"]
	}
	f.mock.Inject(stripetest.HoldAnswer, fabSub)
	cmd := f.command("stripe", "--config", f.settings)
	cmd.Env = append(cmd.Env, stripeKeyVar+"="+testStripeKey)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.mock.WaitFor(t, time.Minute, fabSub)
	cmd.Process.Kill()
	cmd.Wait()

	code, stdout, stderr := f.galmirror(false, "stripe")
	if code != exitOK || !strings.Contains(stdout, "customers: 1 changed, 1 already set, 0 failed") {
		t.Fatalf("stripe after the kill: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, id := range []string{"event_id=461", "tenant=fabrikam", "quantity=15", "period=" + last.String()} {
		if !strings.Contains(stderr, id) {
			t.Errorf("stderr lacks %s:\n%s", id, stderr)
		}
	}
	var subs, replays int
	for _, r := range f.mock.Requests() {
		if fabSub(r) {
			subs++
			if r.Replayed {
				replays++
			}
		}
	}
	if subs != 2 || replays != 1 || len(f.mock.Writes("/v1/subscriptions")) != 2 {
		t.Errorf("fabrikam's subscription: %d requests, %d replayed; %d subscriptions reached Stripe (want 2, 1, 2)",
			subs, replays, len(f.mock.Writes("/v1/subscriptions")))
	}
	before := len(f.mock.Requests())
	code, stdout, _ = f.galmirror(false, "stripe")
	if code != exitOK || !strings.Contains(stdout, "customers: 0 changed, 2 already set") || len(f.mock.Requests()) != before {
		t.Errorf("a third run: exit %d, %d requests\n%s", code, len(f.mock.Requests())-before, stdout)
	}
}

// usageShowsLinks: last month's report names each customer's Stripe
// customer and subscription.
func (f *billingFixture) usageShowsLinks(t *testing.T, last billing.Month) {
	_, stdout, _ := f.galmirror(true, "usage", "--month", last.String(), "--json")
	var rep billing.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Customers {
		if c.Stripe == nil || !strings.HasPrefix(c.Stripe.Customer, "cus_gm") || !strings.HasPrefix(c.Stripe.Subscription, "sub_gm") {
			t.Errorf("%s: Stripe link %+v", c.Customer, c.Stripe)
		}
	}
	if rep.InProgress || rep.Total != "13.03" {
		t.Errorf("last month: %+v", rep)
	}
}

// The CLI's billing errors: no billing section, a bad month, both output
// formats.
func TestBillingCommandErrors(t *testing.T) {
	dir := t.TempDir()
	srv, tn, cred := simTenant(t, 1)
	settings := filepath.Join(dir, "settings.json")
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{tenantSettings(t, dir, "contoso", srv, tn, cred)}})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"usage", "--config", settings}, "billing: not set"},
		{[]string{"price", "--config", settings, "--users", "1"}, "billing: not set"},
		{[]string{"stripe", "--config", settings}, "billing: not set"},
		{[]string{"usage", "--config", settings, "--month", "2026-13"}, `--month: "2026-13" is not a month`},
		{[]string{"usage", "--config", settings, "--json", "--csv"}, "usage: galmirror usage"},
		{[]string{"stripe", "--config", settings, "--month", "26-1"}, `--month: "26-1" is not a month`},
	} {
		code, _, stderr := runCmd(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	raw, _ := os.ReadFile(settings)
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	doc["billing"] = map[string]any{"currency": "EUR", "tiers": []any{map[string]any{"monthly": "0.29"}}}
	writeJSON(t, settings, doc)
	if code, _, stderr := runCmd(t, "stripe", "--config", settings); code != exitUsage || !strings.Contains(stderr, "billing.stripe: not set") {
		t.Errorf("stripe without billing.stripe: exit %d: %s", code, stderr)
	}
	next := billing.MonthOf(time.Now()).Start().AddDate(0, 1, 0).Format("2006-01")
	if code, _, stderr := runCmd(t, "usage", "--config", settings, "--month", next); code != exitUsage || !strings.Contains(stderr, "has not begun") {
		t.Errorf("usage of next month: exit %d: %s", code, stderr)
	}
}
