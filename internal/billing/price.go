// Package billing turns the usage ledger into what each customer owes: the
// users of a month (the peak or average of the daily synced target
// mailboxes), the free allowance, the price tier the MSP's aggregate volume
// reaches, and amounts in exact decimal money (Decimal: no floats; each
// line rounded once to the currency's minor unit, halves away from zero;
// totals are sums of rounded lines).
//
// The package does no I/O: the store keeps the ledger, package config
// reads the price list, and billing/stripesync talks to Stripe.
package billing

import (
	"errors"
	"fmt"
	"strconv"
)

// Plan is how a customer pays: monthly, or an annual commitment at the
// (lower) annual price.
type Plan string

// Plans.
const (
	Monthly Plan = "monthly"
	Annual  Plan = "annual"
)

// Measure is how a month's daily counts become the month's users.
type Measure string

// Measures.
const (
	// Peak: the highest daily count of the month.
	Peak Measure = "peak"
	// Average: the mean of the month's daily counts (days not yet known
	// count 0), rounded to whole users, halves up.
	Average Measure = "average"
)

// Tier is one price step. Tiers are chosen by the aggregate billable users
// of all customers: the first tier whose UpTo is at least that number, or
// the last tier (UpTo 0: no upper bound). Every customer then pays that
// tier's price for each of its billable users (volume pricing).
type Tier struct {
	// UpTo is the highest aggregate billable user count of the tier; 0
	// in the last tier.
	UpTo int
	// Monthly is the price per billable user per month on a monthly plan.
	Monthly Decimal
	// Annual is the price per billable user per month on an annual plan
	// (billed yearly at twelve times this).
	Annual Decimal
}

// PriceList is the MSP's pricing.
type PriceList struct {
	Currency Currency
	// FreeUsers is each customer's free allowance per month.
	FreeUsers int
	Tiers     []Tier
	// AnnualFloor is the lowest price per user per month an annual plan
	// reaches: a tier's annual price below it is raised to it.
	AnnualFloor Decimal
	Measure     Measure
}

// Check reports the first thing wrong with p (config reports each with its
// JSON path; this guards hand-made price lists).
func (p PriceList) Check() error {
	if _, err := ParseCurrency(string(p.Currency)); err != nil {
		return err
	}
	if p.FreeUsers < 0 {
		return errors.New("billing: negative free users")
	}
	if len(p.Tiers) == 0 {
		return errors.New("billing: no price tiers")
	}
	prev := 0
	for i, t := range p.Tiers {
		last := i == len(p.Tiers)-1
		switch {
		case last && t.UpTo != 0:
			return fmt.Errorf("billing: the last tier must have no upper bound")
		case !last && t.UpTo <= prev:
			return fmt.Errorf("billing: tier %d's upper bound must be above %d", i+1, prev)
		case t.Monthly < 0 || t.Annual < 0 || t.Monthly > MaxPrice || t.Annual > MaxPrice:
			return fmt.Errorf("billing: tier %d's price is out of range", i+1)
		}
		prev = t.UpTo
	}
	if p.Measure != Peak && p.Measure != Average {
		return fmt.Errorf("billing: unknown measure %q", p.Measure)
	}
	return nil
}

// TierFor returns the index of the tier aggregate billable users fall in.
func (p PriceList) TierFor(aggregate int) int {
	for i, t := range p.Tiers {
		if t.UpTo == 0 || aggregate <= t.UpTo {
			return i
		}
	}
	return len(p.Tiers) - 1
}

// TierRange describes tier i's range of aggregate billable users, such as
// "0-500", "501-2000" or "5001 and more".
func (p PriceList) TierRange(i int) string {
	from := 0
	if i > 0 {
		from = p.Tiers[i-1].UpTo + 1
	}
	if p.Tiers[i].UpTo == 0 {
		return strconv.Itoa(from) + " and more"
	}
	return strconv.Itoa(from) + "-" + strconv.Itoa(p.Tiers[i].UpTo)
}

// UnitPrice is the price per billable user per month in tier i on plan.
func (p PriceList) UnitPrice(i int, plan Plan) Decimal {
	t := p.Tiers[i]
	if plan == Annual {
		return max(t.Annual, p.AnnualFloor)
	}
	return t.Monthly
}

// Customer is one customer to price: its users of the month and its plan.
type Customer struct {
	Name  string
	Users int
	Plan  Plan
}

// Line is one customer's charge for a month.
type Line struct {
	Customer
	// Free is the part of Users the allowance covers, Billable the rest.
	Free, Billable int
	// Unit is the price per billable user per month (the tier's, for the
	// customer's plan); Amount is Billable × Unit rounded to the minor
	// unit.
	Unit   Decimal
	Amount Decimal
}

// Quote is a month's charges for a set of customers.
type Quote struct {
	Currency Currency
	Lines    []Line
	// Users, Free and Billable are sums over the lines; Billable is the
	// aggregate that chose the tier.
	Users, Free, Billable int
	// Tier is the index of the tier in PriceList.Tiers.
	Tier int
	// Total is the sum of the lines' amounts, per month.
	Total Decimal
}

// Quote prices customers for one month: each customer's free allowance is
// taken off its users, the sum of what is left chooses the tier, and each
// line is its billable users times the tier's unit price for its plan,
// rounded to the currency's minor unit (halves away from zero).
func (p PriceList) Quote(customers []Customer) (Quote, error) {
	if err := p.Check(); err != nil {
		return Quote{}, err
	}
	q := Quote{Currency: p.Currency, Lines: make([]Line, len(customers))}
	for i, c := range customers {
		if c.Users < 0 {
			return Quote{}, fmt.Errorf("billing: customer %q has a negative user count", c.Name)
		}
		l := Line{Customer: c, Free: min(c.Users, p.FreeUsers)}
		l.Billable = c.Users - l.Free
		q.Lines[i] = l
		q.Users += c.Users
		q.Free += l.Free
		q.Billable += l.Billable
	}
	q.Tier = p.TierFor(q.Billable)
	places := p.Currency.Exponent()
	for i := range q.Lines {
		l := &q.Lines[i]
		if l.Plan != Annual {
			l.Plan = Monthly
		}
		l.Unit = p.UnitPrice(q.Tier, l.Plan)
		amount, err := l.Unit.times(l.Billable)
		if err != nil {
			return Quote{}, err
		}
		l.Amount = amount.Round(places)
		if q.Total, err = q.Total.plus(l.Amount); err != nil {
			return Quote{}, err
		}
	}
	return q, nil
}
