package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/billing"
)

const billingOK = `"billing": {"currency": "eur", "freeUsersPerTenant": 10, "tiers": [{"upTo": 500, "monthly": "0.29", "annual": 0.25}, {"monthly": "0.21"}], "annualFloor": "0.18"}`

func TestBillingLoads(t *testing.T) {
	c, err := Parse("settings.json", "/etc/galmirror/settings.json", []byte(withTop(billingOK)))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Billing.PriceList()
	if p.Currency != "EUR" || p.FreeUsers != 10 || p.Measure != billing.Peak || p.AnnualFloor != billing.MustDecimal("0.18") {
		t.Fatalf("price list %+v", p)
	}
	// A JSON number is read from its text: 0.25 is exactly 2500.
	if p.Tiers[0].Annual != 2500 || p.Tiers[1].Annual != p.Tiers[1].Monthly || p.Tiers[1].UpTo != 0 {
		t.Errorf("tiers %+v", p.Tiers)
	}
	if err := p.Check(); err != nil {
		t.Error(err)
	}
	if e := c.BillingEntries(); len(e) != 1 || e[0].Plan != billing.Monthly || e[0].TenantID != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("entries %+v", e)
	}
	ex, err := Load("../../docs/settings.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Billing == nil || ex.Billing.Stripe == nil || ex.Billing.Stripe.Endpoint != DefaultStripeEndpoint || ex.BillingEntries()[0].Plan != billing.Annual {
		t.Errorf("example's billing %+v", ex.Billing)
	}
}

func TestBillingProblems(t *testing.T) {
	tiers := `"tiers": [{"monthly": "0.29"}]`
	stripe := func(s string) string {
		return withTop(`"billing": {"currency": "EUR", ` + tiers + `, "stripe": {` + s + `}}`)
	}
	second := `, {"name": "contoso-sales", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
		"certificate": {"file": "c.pfx", "passwordEnv": "P"}, "folder": "Sales", "billing": {"plan": "annual"}}]`
	for _, c := range []struct {
		name string
		doc  string
		want []wantProblem
	}{
		{"no currency", withTop(`"billing": {` + tiers + `}`), []wantProblem{{"billing.currency", "required"}}},
		{"bad currency", withTop(`"billing": {"currency": "euro", ` + tiers + `}`), []wantProblem{{"billing.currency", "not a currency code"}}},
		{"no tiers", withTop(`"billing": {"currency": "EUR"}`), []wantProblem{{"billing.tiers", "at least one price tier"}}},
		{"a float price", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": 0.12345}]}`),
			[]wantProblem{{"billing.tiers[0].monthly", "more than 4 decimal places"}}},
		{"a negative price", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "-1"}]}`),
			[]wantProblem{{"billing.tiers[0].monthly", "not a decimal number"}}},
		{"an exponent", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": 29e-2}]}`),
			[]wantProblem{{"billing.tiers[0].monthly", "not a decimal number"}}},
		{"a price as an object", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": {}}]}`),
			[]wantProblem{{"billing.tiers[0].monthly", "expected a price"}}},
		{"no monthly price", withTop(`"billing": {"currency": "EUR", "tiers": [{"annual": "0.2"}]}`),
			[]wantProblem{{"billing.tiers[0].monthly", "required"}}},
		{"upTo on the last tier", withTop(`"billing": {"currency": "EUR", "tiers": [{"upTo": 10, "monthly": "1"}]}`),
			[]wantProblem{{"billing.tiers[0].upTo", "no upper bound"}}},
		{"no upTo before the last", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "1"}, {"monthly": "0.5"}]}`),
			[]wantProblem{{"billing.tiers[0].upTo", "required in every tier but the last"}}},
		{"descending upTo", withTop(`"billing": {"currency": "EUR", "tiers": [{"upTo": 100, "monthly": "1"}, {"upTo": 50, "monthly": "1"}, {"monthly": "1"}]}`),
			[]wantProblem{{"billing.tiers[1].upTo", "must be above 100"}}},
		{"unknown measure", withTop(`"billing": {"currency": "EUR", "measure": "max", ` + tiers + `}`), []wantProblem{{"billing.measure", "use peak, average"}}},
		{"unknown plan", withTenant(`"billing": {"plan": "weekly"}`), []wantProblem{{"tenants[0].billing.plan", "use monthly, annual"}}},
		{"no stripe key", stripe(`"billingDay": 3`), []wantProblem{{"billing.stripe", "set secretKeyEnv"}}},
		{"both stripe keys", stripe(`"secretKeyEnv": "K", "secretKeyProtected": "` + testBlob + `"`), []wantProblem{{"billing.stripe.secretKeyProtected", "not both"}}},
		{"stripe over http", stripe(`"secretKeyEnv": "K", "endpoint": "http://127.0.0.1:12111"`), []wantProblem{{"billing.stripe.endpoint", "https URL"}}},
		{"billing day 31", stripe(`"secretKeyEnv": "K", "billingDay": 31`), []wantProblem{{"billing.stripe.billingDay", "between 1 and 28"}}},
		{"bad product", stripe(`"secretKeyEnv": "K", "product": "galmirror"`), []wantProblem{{"billing.stripe.product", "prod_"}}},
		{"two entries of one customer disagree", strings.Replace(minimal, "}]\n}", "}"+second+"\n}", 1),
			[]wantProblem{{"tenants[1].billing", "same Entra tenant"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("settings.json", "/etc/galmirror/settings.json", []byte(c.doc))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse: %v, want problems %v", err, c.want)
			}
			for _, w := range c.want {
				found := false
				for _, p := range ve.Problems {
					if p.Path == w.path && strings.Contains(p.Message, w.msg) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem %q at %s in:\n%v", w.msg, w.path, err)
				}
			}
		})
	}
}

// A Stripe key put where its variable's name or protected blob belongs is
// reported by the setting's path, never repeated.
func TestStripeKeyNeverEchoed(t *testing.T) {
	const key = "sk_live_51HxYzABCdefGHIjkl"
	for _, c := range []struct{ name, stripe, path string }{
		{"secretKeyEnv", `"secretKeyEnv": "` + key + `"`, "billing.stripe.secretKeyEnv"},
		{"secretKeyProtected", `"secretKeyProtected": "` + key + `"`, "billing.stripe.secretKeyProtected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "0.29"}], "stripe": {` + c.stripe + `}}`)
			_, err := Parse("settings.json", "/etc/galmirror/settings.json", []byte(doc))
			if err == nil || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("Parse: %v, want a problem at %s", err, c.path)
			}
			if strings.Contains(err.Error(), "51HxYz") {
				t.Errorf("the problem repeats the key:\n%v", err)
			}
		})
	}
}
