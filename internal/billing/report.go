package billing

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Entry is a settings entry (a tenant of settings.json) as billing sees it.
type Entry struct {
	// Tenant is the entry's name, TenantID its Entra tenant id. Entries
	// of one Entra tenant are one customer.
	Tenant   string
	TenantID string
	// Customer is the name the customer is billed under (default: the
	// entry's name).
	Customer string
	Plan     Plan
}

// StripeLink is a customer's Stripe customer and subscription, as the
// store keeps them.
type StripeLink struct {
	Customer     string `json:"customer"`
	Subscription string `json:"subscription,omitempty"`
	Item         string `json:"item,omitempty"`
}

// ReportInput is what a month's report is made of.
type ReportInput struct {
	Prices PriceList
	Month  Month
	// Now is the current time: a month in progress is counted up to its
	// day; a month after it is refused.
	Now time.Time
	// Entries are the configured entries, in settings order.
	Entries []Entry
	// Ledger holds every entry's rows of the month and, per entry, its
	// last row before the month (which a month's first days carry).
	// Rows of entries no longer configured are billed too, without carry
	// past their last row, up to the month after it.
	Ledger []LedgerRow
	// Links are the Stripe links by Entra tenant id.
	Links map[string]StripeLink
}

// CustomerUsage is one customer's line of the report.
type CustomerUsage struct {
	Customer string   `json:"customer"`
	TenantID string   `json:"tenantId"`
	Tenants  []string `json:"tenants"`
	Plan     Plan     `json:"plan"`
	Users    int      `json:"users"`
	Free     int      `json:"free"`
	Billable int      `json:"billable"`
	// UnitPrice and Amount are decimal strings in the report's currency
	// (exact: never floats).
	UnitPrice string      `json:"unitPrice"`
	Amount    string      `json:"amount"`
	Stripe    *StripeLink `json:"stripe,omitempty"`
	Days      []DayCount  `json:"days"`
	unit      Decimal
	amount    Decimal
}

// Report is a month's usage and charges.
type Report struct {
	Period string `json:"period"`
	// From and Through are the days counted (Through is today for the
	// month in progress).
	From       string  `json:"from"`
	Through    string  `json:"through"`
	Days       int     `json:"days"`
	InProgress bool    `json:"inProgress"`
	Measure    Measure `json:"measure"`
	Currency   string  `json:"currency"`
	// Tier is 1-based; TierRange its range of aggregate billable users.
	Tier      int             `json:"tier"`
	TierRange string          `json:"tierRange"`
	Customers []CustomerUsage `json:"customers"`
	Users     int             `json:"users"`
	Free      int             `json:"free"`
	Billable  int             `json:"billable"`
	Total     string          `json:"total"`
	total     Decimal
}

// ErrFutureMonth: a report of a month that has not begun.
var ErrFutureMonth = errors.New("billing: the month has not begun")

// BuildReport computes a month's report: each entry's days from the ledger
// (carried where a day had no successful run), merged per Entra tenant,
// measured (peak or average), then priced together (Quote).
func BuildReport(in ReportInput) (*Report, error) {
	from := in.Month.Start()
	through := in.Month.End().AddDate(0, 0, -1)
	today := Day(in.Now)
	switch {
	case today.Before(from):
		return nil, fmt.Errorf("%w: %s starts on %s", ErrFutureMonth, in.Month, DayString(from))
	case !today.After(through):
		through = today
	}
	r := &Report{
		Period: in.Month.String(), From: DayString(from), Through: DayString(through),
		Days: int(through.Sub(from).Hours()/24) + 1, InProgress: !in.Now.Before(from) && in.Now.Before(in.Month.End()),
		Measure: in.Prices.Measure, Currency: string(in.Prices.Currency),
	}
	byEntry := map[string][]LedgerRow{}
	for _, row := range in.Ledger {
		if row.Day.After(through) {
			continue // a clock set back; not part of the days counted
		}
		byEntry[row.Tenant] = append(byEntry[row.Tenant], row)
	}
	entries := append([]Entry(nil), in.Entries...)
	configured := map[string]bool{}
	for _, e := range entries {
		configured[e.Tenant] = true
	}
	// An entry no longer configured is billed for the days it was synced,
	// and once more in the month after (0 users, which sets its Stripe
	// quantity to 0); later months leave it out.
	var gone []Entry
	for name, rows := range byEntry {
		sortRows(rows)
		last := rows[len(rows)-1]
		if !configured[name] && !last.Day.Before(in.Month.Prev().Start()) {
			gone = append(gone, Entry{Tenant: name, TenantID: last.TenantID})
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Tenant < gone[j].Tenant })
	entries = append(entries, gone...)

	index := map[string]int{} // customer key → index in r.Customers
	for _, e := range entries {
		rows := byEntry[e.Tenant]
		sortRows(rows)
		days := fill(rows, from, through, configured[e.Tenant])
		key := e.TenantID
		if key == "" {
			key = "name:" + e.Tenant
		}
		i, ok := index[key]
		if !ok {
			name := e.Customer
			if name == "" {
				name = e.Tenant
			}
			plan := e.Plan
			if plan != Annual {
				plan = Monthly
			}
			index[key] = len(r.Customers)
			r.Customers = append(r.Customers, CustomerUsage{Customer: name, TenantID: e.TenantID, Plan: plan, Days: days})
			i = len(r.Customers) - 1
			if l, ok := in.Links[e.TenantID]; ok && e.TenantID != "" {
				r.Customers[i].Stripe = &l
			}
		} else {
			r.Customers[i].Days = merge(r.Customers[i].Days, days)
		}
		r.Customers[i].Tenants = append(r.Customers[i].Tenants, e.Tenant)
	}
	customers := make([]Customer, len(r.Customers))
	for i := range r.Customers {
		c := &r.Customers[i]
		c.Users = measure(c.Days, in.Prices.Measure)
		customers[i] = Customer{Name: c.Customer, Users: c.Users, Plan: c.Plan}
	}
	q, err := in.Prices.Quote(customers)
	if err != nil {
		return nil, err
	}
	places := in.Prices.Currency.Exponent()
	for i, l := range q.Lines {
		c := &r.Customers[i]
		c.Free, c.Billable, c.unit, c.amount = l.Free, l.Billable, l.Unit, l.Amount
		c.UnitPrice, c.Amount = l.Unit.Format(places), l.Amount.Format(places)
	}
	r.Users, r.Free, r.Billable = q.Users, q.Free, q.Billable
	r.Tier, r.TierRange = q.Tier+1, in.Prices.TierRange(q.Tier)
	r.total, r.Total = q.Total, q.Total.Format(places)
	return r, nil
}

// Unit returns the customer's unit price as a Decimal.
func (c *CustomerUsage) Unit() Decimal { return c.unit }

// AmountDecimal returns the customer's amount as a Decimal.
func (c *CustomerUsage) AmountDecimal() Decimal { return c.amount }
