package config

import (
	"fmt"
	"strings"

	"github.com/galmirror/galmirror/internal/billing"
	"github.com/galmirror/galmirror/internal/dpapi"
)

// Defaults of the billing section.
const (
	DefaultBillingMeasure = billing.Peak
	DefaultBillingPlan    = billing.Monthly
	DefaultStripeEndpoint = "https://api.stripe.com"
	DefaultStripeDay      = 3
)

// Billing is the MSP's price list (see docs/billing.md). It has no effect
// on syncing; `usage`, `price` and `stripe` need it.
type Billing struct {
	// Currency is an ISO 4217 code, normalised to upper case.
	Currency string `json:"currency"`
	// FreeUsersPerTenant is each customer's free allowance per month.
	FreeUsersPerTenant int `json:"freeUsersPerTenant"`
	// Measure is how a month's daily counts become its users: "peak"
	// (default) or "average".
	Measure billing.Measure `json:"measure"`
	// Plan is the plan of customers whose entry sets none: "monthly"
	// (default) or "annual".
	Plan billing.Plan `json:"plan"`
	// Tiers by aggregate billable users of all customers, ascending; the
	// last has no upTo.
	Tiers []PriceTier `json:"tiers"`
	// AnnualFloor is the lowest price per user per month an annual plan
	// reaches (default 0: none).
	AnnualFloor billing.Decimal `json:"annualFloor"`
	// Stripe, when present, lets `galmirror stripe` keep one Stripe
	// subscription per customer.
	Stripe *Stripe `json:"stripe,omitempty"`
}

// PriceTier is one step of the price list.
type PriceTier struct {
	// UpTo is the tier's highest aggregate billable user count; required
	// in every tier but the last, where it must be absent.
	UpTo int `json:"upTo,omitempty"`
	// Monthly is the price per billable user per month on the monthly
	// plan. Required.
	Monthly billing.Decimal `json:"monthly"`
	// Annual is the price per billable user per month on the annual plan
	// (default: Monthly).
	Annual billing.Decimal `json:"annual"`
}

// Stripe configures the Stripe subscriptions.
type Stripe struct {
	// SecretKeyEnv names the environment variable holding the Stripe
	// secret key (sk_live_..., or a restricted rk_live_... key). Config
	// never reads it and never prints a value.
	SecretKeyEnv string `json:"secretKeyEnv,omitempty"`
	// SecretKeyProtected is the key protected with DPAPI in machine scope
	// (Windows), as `galmirror secret protect` prints it. Exactly one of
	// SecretKeyEnv and SecretKeyProtected is set.
	SecretKeyProtected string `json:"secretKeyProtected,omitempty"`
	// Endpoint is the Stripe API's https URL (default
	// https://api.stripe.com), for a proxy.
	Endpoint string `json:"endpoint"`
	// BillingDay is the day of the month (1-28, default 3) new
	// subscriptions renew on: after galmirror has set the month just
	// closed.
	BillingDay int `json:"billingDay"`
	// Product is an existing Stripe product (prod_...) to price; empty:
	// galmirror creates one.
	Product string `json:"product,omitempty"`
}

func (b *Billing) setDefaults() {
	b.Measure = DefaultBillingMeasure
	b.Plan = DefaultBillingPlan
}

func (s *Stripe) setDefaults() {
	s.Endpoint = DefaultStripeEndpoint
	s.BillingDay = DefaultStripeDay
}

// TenantBilling is a tenant entry's billing settings.
type TenantBilling struct {
	// Plan is "monthly" or "annual"; empty: billing.plan.
	Plan billing.Plan `json:"plan,omitempty"`
	// Customer is the name the customer is billed under (in the CSV, and
	// the Stripe customer's name); empty: the entry's name.
	Customer string `json:"customer,omitempty"`
}

// PriceList returns the section as billing's price list.
func (b *Billing) PriceList() billing.PriceList {
	p := billing.PriceList{Currency: billing.Currency(b.Currency), FreeUsers: b.FreeUsersPerTenant,
		AnnualFloor: b.AnnualFloor, Measure: b.Measure}
	for _, t := range b.Tiers {
		p.Tiers = append(p.Tiers, billing.Tier{UpTo: t.UpTo, Monthly: t.Monthly, Annual: t.Annual})
	}
	return p
}

// BillingEntries returns the tenants as billing sees them, in file order.
func (c *Config) BillingEntries() []billing.Entry {
	def := billing.Monthly
	if c.Billing != nil {
		def = c.Billing.Plan
	}
	out := make([]billing.Entry, len(c.Tenants))
	for i, t := range c.Tenants {
		plan := t.Billing.Plan
		if plan == "" {
			plan = def
		}
		out[i] = billing.Entry{Tenant: t.Name, TenantID: t.TenantID, Customer: t.Billing.Customer, Plan: plan}
	}
	return out
}

func (v *validator) billing(b *Billing) {
	const p = "billing"
	if !v.present(p + ".currency") {
		v.addf(p+".currency", "required: the ISO 4217 code of your prices, such as \"EUR\"")
	} else if c, err := billing.ParseCurrency(b.Currency); err != nil {
		v.addf(p+".currency", "%v", err)
	} else {
		b.Currency = string(c)
	}
	if b.FreeUsersPerTenant < 0 {
		v.addf(p+".freeUsersPerTenant", "must not be negative, got %d", b.FreeUsersPerTenant)
	}
	v.oneOf(p+".measure", string(b.Measure), string(billing.Peak), string(billing.Average))
	v.oneOf(p+".plan", string(b.Plan), string(billing.Monthly), string(billing.Annual))
	if b.AnnualFloor > billing.MaxPrice {
		v.addf(p+".annualFloor", "must not exceed %s", billing.MaxPrice)
	}
	if len(b.Tiers) == 0 {
		v.addf(p+".tiers", "required: at least one price tier, such as [{\"monthly\": \"0.29\", \"annual\": \"0.25\"}]")
	}
	prev := 0
	for i := range b.Tiers {
		t := &b.Tiers[i]
		tp := fmt.Sprintf("%s.tiers[%d]", p, i)
		last := i == len(b.Tiers)-1
		switch {
		case last && v.present(tp+".upTo"):
			v.addf(tp+".upTo", "the last tier has no upper bound: leave upTo out (it covers every count above tiers[%d])", i-1)
		case !last && !v.present(tp+".upTo"):
			v.addf(tp+".upTo", "required in every tier but the last: the highest aggregate billable user count of this tier")
		case !last && t.UpTo <= prev:
			v.addf(tp+".upTo", "must be above %d (the tiers ascend), got %d", prev, t.UpTo)
		}
		prev = max(prev, t.UpTo)
		if !v.present(tp + ".monthly") {
			v.addf(tp+".monthly", "required: the price per billable user per month, such as \"0.29\"")
		}
		if !v.present(tp + ".annual") {
			t.Annual = t.Monthly
		}
		for _, k := range []struct {
			key string
			val billing.Decimal
		}{{"monthly", t.Monthly}, {"annual", t.Annual}} {
			if k.val > billing.MaxPrice {
				v.addf(tp+"."+k.key, "must not exceed %s", billing.MaxPrice)
			}
		}
	}
	if b.Stripe != nil {
		v.stripe(p+".stripe", b.Stripe)
	}
}

func (v *validator) stripe(p string, s *Stripe) {
	// Neither secret setting's value is ever repeated in a problem.
	switch {
	case s.SecretKeyEnv != "" && s.SecretKeyProtected != "":
		v.addf(p+".secretKeyProtected", "set either secretKeyEnv or secretKeyProtected, not both")
	case s.SecretKeyEnv == "" && s.SecretKeyProtected == "":
		v.addf(p, "set secretKeyEnv (the environment variable holding the Stripe secret key) or, on Windows, secretKeyProtected (what galmirror secret protect prints); the key itself never goes in this file")
	case s.SecretKeyEnv != "":
		if !envNameRE.MatchString(s.SecretKeyEnv) || looksLikeStripeKey(s.SecretKeyEnv) {
			v.addf(p+".secretKeyEnv", "must name an environment variable (letters, digits and '_'), not hold the key; the value is not repeated here")
		}
	default:
		if _, err := dpapi.Decode(s.SecretKeyProtected); err != nil {
			v.addf(p+".secretKeyProtected", "%v", err)
		}
	}
	s.Endpoint = strings.TrimRight(v.httpsURL(p+".endpoint", s.Endpoint), "/")
	if s.BillingDay < 1 || s.BillingDay > 28 {
		v.addf(p+".billingDay", "must be between 1 and 28 (a day every month has), got %d", s.BillingDay)
	}
	if s.Product != "" && !strings.HasPrefix(s.Product, "prod_") {
		v.addf(p+".product", "invalid product id %q: a Stripe product id starts with prod_", s.Product)
	}
}

// looksLikeStripeKey: a Stripe API key pasted where its variable's name
// belongs (names can be anything, but keys have these prefixes).
func looksLikeStripeKey(s string) bool {
	for _, pre := range []string{"sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "pk_test_"} {
		if strings.HasPrefix(s, pre) {
			return true
		}
	}
	return false
}

// tenantBilling checks entry i's billing settings, and that entries of one
// Entra tenant (one customer) agree; first maps a tenant id to its first
// entry.
func (v *validator) tenantBilling(p string, i int, tenants []Tenant, def billing.Plan, first map[string]int) {
	t := &tenants[i]
	if t.Billing.Plan != "" {
		v.oneOf(p+".billing.plan", string(t.Billing.Plan), string(billing.Monthly), string(billing.Annual))
	}
	if t.Billing.Customer != "" {
		v.text(p+".billing.customer", t.Billing.Customer, 255)
	}
	if t.TenantID == "" {
		return
	}
	j, seen := first[t.TenantID]
	if !seen {
		first[t.TenantID] = i
		return
	}
	plan := func(x *Tenant) billing.Plan {
		if x.Billing.Plan == "" {
			return def
		}
		return x.Billing.Plan
	}
	if o := &tenants[j]; plan(o) != plan(t) || o.Billing.Customer != t.Billing.Customer {
		v.addf(p+".billing", "tenants[%d] is the same Entra tenant (%s), so the same customer: give both the same billing plan and customer", j, t.TenantID)
	}
}
