package billing

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

// example is the illustrative price list of docs/settings.example.json.
func example() PriceList {
	return PriceList{
		Currency: "EUR", FreeUsers: 10, Measure: Peak, AnnualFloor: MustDecimal("0.18"),
		Tiers: []Tier{
			{UpTo: 500, Monthly: MustDecimal("0.29"), Annual: MustDecimal("0.25")},
			{UpTo: 2000, Monthly: MustDecimal("0.26"), Annual: MustDecimal("0.22")},
			{UpTo: 5000, Monthly: MustDecimal("0.23"), Annual: MustDecimal("0.20")},
			{Monthly: MustDecimal("0.21"), Annual: MustDecimal("0.18")},
		},
	}
}

func TestParseDecimal(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Decimal
		err  string
	}{
		{"0.29", 2900, ""}, {"12", 120000, ""}, {"0.1850", 1850, ""}, {"007.5", 75000, ""}, {"0", 0, ""},
		{"", 0, "empty"}, {"-0.29", 0, "not a decimal"}, {"0,29", 0, "not a decimal"}, {"1e3", 0, "not a decimal"},
		{".5", 0, "not a decimal"}, {"5.", 0, "not a decimal"}, {"0.12345", 0, "more than 4 decimal places"},
		{"1.2.3", 0, "not a decimal"}, {"1234567890", 0, "too large"}, {" 1", 0, "not a decimal"},
	} {
		got, err := ParseDecimal(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseDecimal(%q) = %v, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseDecimal(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestRoundAndFormat(t *testing.T) {
	for _, c := range []struct {
		d      string
		places int
		want   string
	}{
		{"0.555", 2, "0.56"}, {"0.185", 2, "0.19"}, {"0.1849", 2, "0.18"}, {"0.125", 2, "0.13"}, {"0.124", 2, "0.12"},
		{"7", 2, "7.00"}, {"86.5", 0, "87"}, {"86.4999", 0, "86"}, {"1.2345", 3, "1.235"}, {"1.2345", 4, "1.2345"},
	} {
		if got := MustDecimal(c.d).Round(c.places).Format(c.places); got != c.want {
			t.Errorf("%s rounded to %d places = %s, want %s", c.d, c.places, got, c.want)
		}
	}
	if got := MustDecimal("0.185").Format(2); got != "0.185" {
		t.Errorf("Format(2) of 0.185 = %s", got)
	}
	if got := MustDecimal("12.34").Minor(2); got != 1234 {
		t.Errorf("Minor = %d", got)
	}
	if got := Decimal(-5000).Round(0).Format(0); got != "-1" {
		t.Errorf("-0.5 rounded = %s, want -1 (halves away from zero)", got)
	}
}

// TestQuote checks the calculator against amounts computed by hand.
func TestQuote(t *testing.T) {
	cases := []struct {
		name     string
		p        PriceList
		users    []int
		plan     Plan
		tier     int
		units    []string
		amounts  []string
		billable int
		total    string
	}{
		{"three small customers, monthly", example(), []int{15, 40, 200}, Monthly, 0,
			[]string{"0.29", "0.29", "0.29"}, []string{"1.45", "8.70", "55.10"}, 225, "65.25"},
		{"the same, annual", example(), []int{15, 40, 200}, Annual, 0,
			[]string{"0.25", "0.25", "0.25"}, []string{"1.25", "7.50", "47.50"}, 225, "56.25"},
		{"within the free allowance", example(), []int{8, 10, 11}, Monthly, 0,
			[]string{"0.29", "0.29", "0.29"}, []string{"0.00", "0.00", "0.29"}, 1, "0.29"},
		{"exactly the first tier's bound", example(), []int{510}, Monthly, 0,
			[]string{"0.29"}, []string{"145.00"}, 500, "145.00"},
		{"one above it: every user at the second tier", example(), []int{511}, Monthly, 1,
			[]string{"0.26"}, []string{"130.26"}, 501, "130.26"},
		{"the last tier, annual at the floor", example(), []int{3000, 2500}, Annual, 3,
			[]string{"0.18", "0.18"}, []string{"538.20", "448.20"}, 5480, "986.40"},
		{"no customers", example(), nil, Monthly, 0, nil, nil, 0, "0.00"},
	}
	floor := example()
	floor.Tiers[0].Annual = MustDecimal("0.15")
	cases = append(cases, struct {
		name     string
		p        PriceList
		users    []int
		plan     Plan
		tier     int
		units    []string
		amounts  []string
		billable int
		total    string
	}{"an annual price below the floor is raised to it", floor, []int{20}, Annual, 0, []string{"0.18"}, []string{"1.80"}, 10, "1.80"})
	odd := example()
	odd.Tiers[0].Monthly = MustDecimal("0.185")
	cases = append(cases, struct {
		name     string
		p        PriceList
		users    []int
		plan     Plan
		tier     int
		units    []string
		amounts  []string
		billable int
		total    string
	}{"each line rounds once, halves up; the total adds rounded lines", odd, []int{13, 11, 12}, Monthly, 0,
		[]string{"0.185", "0.185", "0.185"}, []string{"0.56", "0.19", "0.37"}, 6, "1.12"})
	yen := example()
	yen.Currency = "JPY"
	for i := range yen.Tiers {
		yen.Tiers[i].Monthly = MustDecimal("29.5")
	}
	cases = append(cases, struct {
		name     string
		p        PriceList
		users    []int
		plan     Plan
		tier     int
		units    []string
		amounts  []string
		billable int
		total    string
	}{"a zero-decimal currency rounds to whole yen", yen, []int{13, 11}, Monthly, 0, []string{"29.5", "29.5"}, []string{"89", "30"}, 4, "119"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cs []Customer
			for i, u := range c.users {
				cs = append(cs, Customer{Name: itoa(i + 1), Users: u, Plan: c.plan})
			}
			q, err := c.p.Quote(cs)
			if err != nil {
				t.Fatal(err)
			}
			places := c.p.Currency.Exponent()
			if q.Tier != c.tier || q.Billable != c.billable || q.Total.Format(places) != c.total {
				t.Errorf("tier %d, billable %d, total %s; want tier %d, billable %d, total %s",
					q.Tier, q.Billable, q.Total.Format(places), c.tier, c.billable, c.total)
			}
			for i, l := range q.Lines {
				if l.Unit.Format(places) != c.units[i] || l.Amount.Format(places) != c.amounts[i] {
					t.Errorf("line %d: unit %s amount %s; want %s and %s", i+1, l.Unit.Format(places), l.Amount.Format(places), c.units[i], c.amounts[i])
				}
			}
		})
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// ledger is November 2026 of a small MSP:
//   - contoso: 40 on the 1st, 42 on the 2nd, no run on the 3rd and 4th,
//     38 from the 5th, then no run for the rest of the month (still
//     configured: carried);
//   - fabrikam: removed from the settings; one run on the 10th (25);
//   - northwind and northwind-sales, two entries of one Entra tenant: 100
//     and 30 on the 1st;
//   - tailspin: last run on 28 October (12), none in November;
//   - litware: removed from the settings; last run on 30 September
//     (not billed in November: only in the month after its last run).
func ledger() []LedgerRow {
	const a, b, c, d = "aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-0000-0000-0000-000000000000",
		"cccccccc-0000-0000-0000-000000000000", "dddddddd-0000-0000-0000-000000000000"
	return []LedgerRow{
		{"contoso", a, day("2026-11-01"), 40, 45},
		{"contoso", a, day("2026-11-02"), 42, 46},
		{"contoso", a, day("2026-11-05"), 38, 44},
		{"fabrikam", b, day("2026-11-10"), 25, 30},
		{"northwind", c, day("2026-11-01"), 100, 120},
		{"northwind-sales", c, day("2026-11-01"), 30, 120},
		{"tailspin", d, day("2026-10-28"), 12, 14},
		{"litware", "ffffffff-0000-0000-0000-000000000000", day("2026-09-30"), 50, 50},
	}
}

func entries() []Entry {
	return []Entry{
		{Tenant: "contoso", TenantID: "aaaaaaaa-0000-0000-0000-000000000000", Customer: "Contoso Ltd", Plan: Monthly},
		{Tenant: "northwind", TenantID: "cccccccc-0000-0000-0000-000000000000", Plan: Annual},
		{Tenant: "northwind-sales", TenantID: "cccccccc-0000-0000-0000-000000000000", Plan: Annual},
		{Tenant: "tailspin", TenantID: "dddddddd-0000-0000-0000-000000000000"},
	}
}

// TestReport checks a month's usage and charges against figures worked out
// by hand (see ledger).
func TestReport(t *testing.T) {
	type want struct {
		customer        string
		users, billable int
		unit, amount    string
	}
	for _, c := range []struct {
		name    string
		measure Measure
		now     time.Time
		through string
		want    []want
		total   string
	}{
		// Peak: contoso 42, northwind 100 (the larger entry), tailspin
		// 12 carried from October, fabrikam 25. Billable 32+90+2+15 =
		// 139: tier 1.
		{"peak of a closed month", Peak, day("2026-12-03"), "2026-11-30", []want{
			{"Contoso Ltd", 42, 32, "0.29", "9.28"},
			{"northwind", 100, 90, "0.25", "22.50"},
			{"tailspin", 12, 2, "0.29", "0.58"},
			{"fabrikam", 25, 15, "0.29", "4.35"},
		}, "36.71"},
		// Average over 30 days: contoso (40 + 3×42 + 26×38) / 30 =
		// 1154/30 = 38.47 → 38; northwind 100 on the 1st, carried after
		// → 100; tailspin 12; fabrikam 25 on one day, not carried (no
		// longer configured) → 25/30 = 0.83 → 1.
		{"average of a closed month", Average, day("2026-12-03"), "2026-11-30", []want{
			{"Contoso Ltd", 38, 28, "0.29", "8.12"},
			{"northwind", 100, 90, "0.25", "22.50"},
			{"tailspin", 12, 2, "0.29", "0.58"},
			{"fabrikam", 1, 0, "0.29", "0.00"},
		}, "31.20"},
		// Up to the 4th: contoso (40+42+42+42)/4 = 41.5 → 42 (halves up).
		{"average of the month in progress", Average, day("2026-11-04").Add(15 * time.Hour), "2026-11-04", []want{
			{"Contoso Ltd", 42, 32, "0.29", "9.28"},
			{"northwind", 100, 90, "0.25", "22.50"},
			{"tailspin", 12, 2, "0.29", "0.58"},
		}, "32.36"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := example()
			p.Measure = c.measure
			r, err := BuildReport(ReportInput{Prices: p, Month: Month{2026, time.November}, Now: c.now, Entries: entries(), Ledger: ledger(),
				Links: map[string]StripeLink{"aaaaaaaa-0000-0000-0000-000000000000": {Customer: "cus_A", Subscription: "sub_A"}}})
			if err != nil {
				t.Fatal(err)
			}
			if r.Through != c.through || r.Total != c.total || len(r.Customers) != len(c.want) {
				t.Fatalf("through %s, total %s, %d customers; want %s, %s, %d", r.Through, r.Total, len(r.Customers), c.through, c.total, len(c.want))
			}
			for i, w := range c.want {
				got := r.Customers[i]
				if got.Customer != w.customer || got.Users != w.users || got.Billable != w.billable || got.UnitPrice != w.unit || got.Amount != w.amount {
					t.Errorf("customer %d: %s users %d billable %d unit %s amount %s; want %+v",
						i, got.Customer, got.Users, got.Billable, got.UnitPrice, got.Amount, w)
				}
			}
			if s := r.Customers[0].Stripe; s == nil || s.Customer != "cus_A" {
				t.Errorf("contoso's Stripe link: %+v", s)
			}
		})
	}
}

// TestReportDays checks which days are carried or unknown.
func TestReportDays(t *testing.T) {
	r, err := BuildReport(ReportInput{Prices: example(), Month: Month{2026, time.November}, Now: day("2026-12-01"), Entries: entries(), Ledger: ledger()})
	if err != nil {
		t.Fatal(err)
	}
	contoso := r.Customers[0].Days
	if len(contoso) != 30 {
		t.Fatalf("%d days", len(contoso))
	}
	for i, w := range []DayCount{
		{Day: "2026-11-01", Mailboxes: 40, Sources: 45},
		{Day: "2026-11-02", Mailboxes: 42, Sources: 46},
		{Day: "2026-11-03", Mailboxes: 42, Sources: 46, Carried: true},
		{Day: "2026-11-04", Mailboxes: 42, Sources: 46, Carried: true},
		{Day: "2026-11-05", Mailboxes: 38, Sources: 44},
		{Day: "2026-11-06", Mailboxes: 38, Sources: 44, Carried: true},
	} {
		if contoso[i] != w {
			t.Errorf("contoso day %d: %+v, want %+v", i+1, contoso[i], w)
		}
	}
	fab := r.Customers[3]
	if fab.Customer != "fabrikam" || !fab.Days[8].Unknown || fab.Days[9].Mailboxes != 25 || !fab.Days[10].Unknown {
		t.Errorf("fabrikam (no longer configured): %+v", fab.Days[8:11])
	}
	north := r.Customers[1]
	if strings.Join(north.Tenants, ",") != "northwind,northwind-sales" || north.Days[0].Mailboxes != 100 || north.Days[0].Carried || !north.Days[1].Carried {
		t.Errorf("northwind: %v %+v", north.Tenants, north.Days[:2])
	}
	if !r.Customers[2].Days[0].Carried || r.Customers[2].Days[0].Mailboxes != 12 {
		t.Errorf("tailspin carried from October: %+v", r.Customers[2].Days[0])
	}
	oct, err := BuildReport(ReportInput{Prices: example(), Month: Month{2026, time.October}, Now: day("2026-12-01"), Entries: entries(), Ledger: ledger()})
	if err != nil {
		t.Fatal(err)
	}
	if l := oct.Customers[len(oct.Customers)-1]; l.Customer != "litware" || l.Users != 0 || !l.Days[0].Unknown {
		t.Errorf("litware, removed after September, in October: %+v", l)
	}
	if _, err := BuildReport(ReportInput{Prices: example(), Month: Month{2027, time.January}, Now: day("2026-12-31")}); err == nil {
		t.Error("a month that has not begun was reported")
	}
}

func TestWriteCSV(t *testing.T) {
	r, err := BuildReport(ReportInput{Prices: example(), Month: Month{2026, time.November}, Now: day("2026-12-01"),
		Entries: append(entries(), Entry{Tenant: "evil", TenantID: "eeeeeeee-0000-0000-0000-000000000000", Customer: "=HYPERLINK(\"x\")"}), Ledger: ledger()})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "customer,period,item,quantity,unit_price,amount,currency" {
		t.Errorf("header %v", recs[0])
	}
	if got := strings.Join(recs[1], ","); got != "Contoso Ltd,2026-11,galmirror users (monthly),32,0.29,9.28,EUR" {
		t.Errorf("first line %s", got)
	}
	if got := recs[len(recs)-2][0]; got != "'=HYPERLINK(\"x\")" {
		t.Errorf("a formula-like customer name is not defused: %q", got)
	}
}

// FuzzParseDecimal: any text either fails or reads a value that prints
// back to an equal value; nothing panics.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0.29", "12", "0.1850", "", "-1", "1e3", "999999999.9999", "0.", ".5", "00.0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("%q read as negative %d", s, d)
		}
		back, err := ParseDecimal(d.String())
		if err != nil || back != d {
			t.Fatalf("%q → %d → %q → %d, %v", s, d, d.String(), back, err)
		}
		if _, err := ParseMonth(s); err == nil && len(s) != 7 {
			t.Fatalf("month %q accepted", s)
		}
	})
}

func TestParseUserCounts(t *testing.T) {
	got, err := ParseUserCounts(" 15, 40,200 ")
	if err != nil || len(got) != 3 || got[0] != 15 || got[2] != 200 {
		t.Fatalf("%v, %v", got, err)
	}
	for _, bad := range []string{"", "15,,40", "15;40", "-3", "1e3", "+4", "99999999", "x"} {
		if _, err := ParseUserCounts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseUserCounts("15,abc"); err == nil || !strings.Contains(err.Error(), `item 2 ("abc")`) {
		t.Errorf("error does not name the item: %v", err)
	}
}

// FuzzParseUserCounts: no input panics; what is accepted is in range.
func FuzzParseUserCounts(f *testing.F) {
	for _, s := range []string{"15,40,200", "", " 1 ", ",", "-1", "9999999999999999999999", "0,0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := ParseUserCounts(s)
		if err != nil {
			return
		}
		for _, n := range ns {
			if n < 0 || n > 10_000_000 {
				t.Fatalf("%q gave %d", s, n)
			}
		}
		if _, err := example().Quote(make([]Customer, len(ns))); err != nil {
			t.Fatal(err)
		}
	})
}
