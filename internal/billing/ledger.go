package billing

import (
	"fmt"
	"sort"
	"time"
)

// Month is a calendar month in UTC, the billing period.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth reads "YYYY-MM".
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return Month{}, fmt.Errorf("%q is not a month: use YYYY-MM, such as 2026-11", s)
	}
	return Month{t.Year(), t.Month()}, nil
}

// MonthOf returns the UTC month t falls in.
func MonthOf(t time.Time) Month {
	t = t.UTC()
	return Month{t.Year(), t.Month()}
}

// String is "YYYY-MM".
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Start is the month's first day at 00:00 UTC.
func (m Month) Start() time.Time { return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, time.UTC) }

// End is the next month's first day at 00:00 UTC.
func (m Month) End() time.Time { return m.Start().AddDate(0, 1, 0) }

// Prev is the month before.
func (m Month) Prev() Month { return MonthOf(m.Start().AddDate(0, 0, -1)) }

// Day truncates t to its UTC day.
func Day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// DayString is a day as the ledger writes it, "YYYY-MM-DD".
func DayString(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// LedgerRow is one settings entry's usage on one UTC day, as the store
// keeps it: the most target mailboxes a successful run of that day synced,
// and the sources it mirrored then.
type LedgerRow struct {
	Tenant    string
	TenantID  string
	Day       time.Time // 00:00 UTC
	Mailboxes int
	Sources   int
}

// DayCount is one day of a customer's month.
type DayCount struct {
	Day       string `json:"day"`
	Mailboxes int    `json:"mailboxes"`
	Sources   int    `json:"sources"`
	// Carried: no successful run that day; the counts are the last
	// known ones.
	Carried bool `json:"carried,omitempty"`
	// Unknown: no successful run that day or before (the customer was
	// not synced yet); the counts are 0.
	Unknown bool `json:"unknown,omitempty"`
}

// fill lays one entry's rows (sorted by day; a row before from may seed
// the carry) over the days from..through (00:00 UTC, inclusive). Days
// without a row carry the last known counts; after the entry's last row
// they carry only while carry is true (the entry is still configured).
func fill(rows []LedgerRow, from, through time.Time, carry bool) []DayCount {
	var out []DayCount
	var last *LedgerRow
	i := 0
	lastRow := time.Time{}
	if len(rows) > 0 {
		lastRow = rows[len(rows)-1].Day
	}
	for d := from; !d.After(through); d = d.AddDate(0, 0, 1) {
		for i < len(rows) && !rows[i].Day.After(d) {
			last = &rows[i]
			i++
		}
		dc := DayCount{Day: DayString(d)}
		switch {
		case last == nil:
			dc.Unknown = true
		case last.Day.Equal(d):
			dc.Mailboxes, dc.Sources = last.Mailboxes, last.Sources
		case carry || d.Before(lastRow):
			dc.Mailboxes, dc.Sources, dc.Carried = last.Mailboxes, last.Sources, true
		default:
			dc.Unknown = true
		}
		out = append(out, dc)
	}
	return out
}

// measure turns a month's days into its users.
func measure(days []DayCount, m Measure) int {
	if len(days) == 0 {
		return 0
	}
	if m == Average {
		sum := 0
		for _, d := range days {
			sum += d.Mailboxes
		}
		// Halves up, in integers: round(sum/n) = floor((2·sum + n) / 2n).
		return (2*sum + len(days)) / (2 * len(days))
	}
	peak := 0
	for _, d := range days {
		peak = max(peak, d.Mailboxes)
	}
	return peak
}

// merge combines the days of several entries of one customer: each day
// counts the larger entry (galmirror counts mailboxes per entry; a person
// two entries serve is one user, so entries are not added up).
func merge(a, b []DayCount) []DayCount {
	out := make([]DayCount, len(a))
	for i := range a {
		x, y := a[i], b[i]
		if y.Unknown || !x.Unknown && x.Mailboxes >= y.Mailboxes {
			out[i] = x
		} else {
			out[i] = y
		}
		out[i].Sources = max(x.Sources, y.Sources)
		out[i].Carried = out[i].Carried && (x.Carried || x.Unknown) && (y.Carried || y.Unknown)
	}
	return out
}

// sortRows orders ledger rows by tenant, then day.
func sortRows(rows []LedgerRow) {
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Tenant != rows[j].Tenant {
			return rows[i].Tenant < rows[j].Tenant
		}
		return rows[i].Day.Before(rows[j].Day)
	})
}
