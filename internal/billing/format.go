package billing

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// table writes rows as aligned columns; right holds the columns aligned
// right (numbers).
func table(w io.Writer, rows [][]string, right map[int]bool) {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// planPhrase describes a plan's unit price.
func planPhrase(plan Plan) string {
	if plan == Annual {
		return "per billable user per month on the annual plan (billed yearly)"
	}
	return "per billable user per month on the monthly plan"
}

// WriteQuote prints the calculator's result (galmirror price): the tier
// the customers reach together, then one line per customer and the total.
func WriteQuote(w io.Writer, p PriceList, q Quote, plan Plan) {
	places := q.Currency.Exponent()
	fmt.Fprintf(w, "%d customers: %d users, %d free, %d billable\n", len(q.Lines), q.Users, q.Free, q.Billable)
	fmt.Fprintf(w, "tier %d of %d (%s billable users in all): %s %s %s\n", q.Tier+1, len(p.Tiers), p.TierRange(q.Tier),
		q.Currency, p.UnitPrice(q.Tier, plan).Format(places), planPhrase(plan))
	fmt.Fprintln(w)
	rows := [][]string{{"customer", "users", "free", "billable", "unit price", "amount"}}
	for _, l := range q.Lines {
		rows = append(rows, []string{l.Name, itoa(l.Users), itoa(l.Free), itoa(l.Billable), l.Unit.Format(places), l.Amount.Format(places)})
	}
	rows = append(rows, []string{"total", itoa(q.Users), itoa(q.Free), itoa(q.Billable), "", q.Total.Format(places)})
	table(w, rows, map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true})
	fmt.Fprintln(w)
	if plan == Annual {
		year, _ := q.Total.times(12)
		fmt.Fprintf(w, "%s %s per month, %s %s per year\n", q.Currency, q.Total.Format(places), q.Currency, year.Format(places))
		return
	}
	fmt.Fprintf(w, "%s %s per month\n", q.Currency, q.Total.Format(places))
}

// WriteReport prints a month's report for a person (galmirror usage).
func WriteReport(w io.Writer, r *Report) {
	what := "peak"
	if r.Measure == Average {
		what = "average"
	}
	status := ""
	if r.InProgress {
		status = ", in progress"
	}
	fmt.Fprintf(w, "usage %s: %s to %s (%d days%s); users are the %s of the daily synced target mailboxes\n",
		r.Period, r.From, r.Through, r.Days, status, what)
	fmt.Fprintln(w)
	rows := [][]string{{"customer", "plan", "users", "free", "billable", "unit price", "amount", "stripe"}}
	carried := 0
	for _, c := range r.Customers {
		stripe := "-"
		if c.Stripe != nil {
			stripe = c.Stripe.Customer
			if c.Stripe.Subscription != "" {
				stripe += " " + c.Stripe.Subscription
			}
		}
		rows = append(rows, []string{c.Customer, string(c.Plan), itoa(c.Users), itoa(c.Free), itoa(c.Billable), c.UnitPrice, c.Amount, stripe})
		for _, d := range c.Days {
			if d.Carried {
				carried++
				break
			}
		}
	}
	rows = append(rows, []string{"total", "", itoa(r.Users), itoa(r.Free), itoa(r.Billable), "", r.Total, ""})
	table(w, rows, map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true})
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d billable users in all: tier %d (%s); amounts in %s per month\n", r.Billable, r.Tier, r.TierRange, r.Currency)
	if carried > 0 {
		fmt.Fprintf(w, "%d customers had days without a successful run: those days count the last known figures (--json lists them as carried)\n", carried)
	}
}

// CSVHeader is the first line of the CSV export, in the column order PSA
// imports (ConnectWise, Autotask, HaloPSA) map: one line per customer.
var CSVHeader = []string{"customer", "period", "item", "quantity", "unit_price", "amount", "currency"}

// WriteCSV writes the report as CSV: a header, then per customer its
// billable users as the quantity, the unit price and the amount (decimal
// point, no thousands separator), the period as YYYY-MM.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, c := range r.Customers {
		item := "galmirror users (" + string(c.Plan) + ")"
		if err := cw.Write([]string{csvText(c.Customer), r.Period, item, itoa(c.Billable), c.UnitPrice, c.Amount, r.Currency}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvText keeps a spreadsheet from reading a customer name as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ParseUserCounts reads the calculator's list of customers' users, such as
// "15,40,200" (spaces allowed): whole numbers from 0 to 10,000,000, at
// most 10,000 of them. An error names the item that is wrong.
func ParseUserCounts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("no user counts: list each customer's users, such as 15,40,200")
	}
	parts := strings.Split(s, ",")
	if len(parts) > 10000 {
		return nil, fmt.Errorf("%d customers: at most 10000", len(parts))
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 10_000_000 || strings.HasPrefix(p, "+") {
			return nil, fmt.Errorf("item %d (%q) is not a number of users from 0 to 10000000", i+1, p)
		}
		out[i] = n
	}
	return out, nil
}

// QuoteJSON is the calculator's result as JSON (galmirror price --json):
// money as decimal strings.
type QuoteJSON struct {
	Currency  string          `json:"currency"`
	Plan      Plan            `json:"plan"`
	Tier      int             `json:"tier"`
	TierRange string          `json:"tierRange"`
	UnitPrice string          `json:"unitPrice"`
	Users     int             `json:"users"`
	Free      int             `json:"free"`
	Billable  int             `json:"billable"`
	Total     string          `json:"totalPerMonth"`
	TotalYear string          `json:"totalPerYear,omitempty"`
	Customers []QuoteLineJSON `json:"customers"`
}

// QuoteLineJSON is one customer of QuoteJSON.
type QuoteLineJSON struct {
	Customer  string `json:"customer"`
	Users     int    `json:"users"`
	Free      int    `json:"free"`
	Billable  int    `json:"billable"`
	UnitPrice string `json:"unitPrice"`
	Amount    string `json:"amount"`
}

// JSON renders q for plan.
func (q Quote) JSON(p PriceList, plan Plan) QuoteJSON {
	places := q.Currency.Exponent()
	out := QuoteJSON{Currency: string(q.Currency), Plan: plan, Tier: q.Tier + 1, TierRange: p.TierRange(q.Tier),
		UnitPrice: p.UnitPrice(q.Tier, plan).Format(places), Users: q.Users, Free: q.Free, Billable: q.Billable,
		Total: q.Total.Format(places), Customers: []QuoteLineJSON{}}
	if plan == Annual {
		year, _ := q.Total.times(12)
		out.TotalYear = year.Format(places)
	}
	for _, l := range q.Lines {
		out.Customers = append(out.Customers, QuoteLineJSON{Customer: l.Name, Users: l.Users, Free: l.Free, Billable: l.Billable,
			UnitPrice: l.Unit.Format(places), Amount: l.Amount.Format(places)})
	}
	return out
}
