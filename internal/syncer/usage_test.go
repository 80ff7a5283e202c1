package syncer

import (
	"context"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/billing"
	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/store"
)

// TestUsageLedgerFromRuns fills the usage ledger from real runs against
// graphsim over several days of a clock the test moves, and prices the
// month: the ledger holds each day's synced target mailboxes, carries a day
// without a successful run, and ignores dry runs and failed runs.
func TestUsageLedgerFromRuns(t *testing.T) {
	users := []graphsim.User{user("Ada", "Lovelace"), user("Alan", "Turing"), user("Grace", "Hopper"), user("Edsger", "Dijkstra"), user("Barbara", "Liskov")}
	e := newEnv(t, users)
	e.writeSettings()
	clock := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	st, err := store.Open(context.Background(), e.cfg.DataDir, store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	day := func(d int) { clock = time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC) }

	// 1 November: five mailboxes, one without Exchange Online (skipped,
	// not served).
	if err := e.srv.SetMailboxState(e.tenant.ID, users[4].ID, graphsim.MailboxNone); err != nil {
		t.Fatal(err)
	}
	mustOK(t, e.sync(RunOptions{}))
	// 2 November: two people join; a dry run first writes nothing.
	day(2)
	for _, u := range []graphsim.User{user("Ken", "Thompson"), user("Dennis", "Ritchie")} {
		if err := e.srv.PutUser(e.tenant.ID, u); err != nil {
			t.Fatal(err)
		}
	}
	if res := e.sync(RunOptions{DryRun: true}); res.Status != StatusOK {
		t.Fatalf("dry run %s", res.Status)
	}
	rows, _ := st.UsageLedger(t.Context(), clock, clock)
	if len(rows) != 1 || rows[0].Day.Day() != 1 {
		t.Fatalf("after the dry run of 2 November the ledger has %+v, want 1 November only", rows)
	}
	mustOK(t, e.sync(RunOptions{}))
	mustOK(t, e.sync(RunOptions{})) // a second run the same day
	// 3 November: no run. 4 November: a run that fails as a whole (the
	// app lost its roles) records nothing.
	day(4)
	if err := e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, nil); err != nil {
		t.Fatal(err)
	}
	if res := e.sync(RunOptions{}); res.Status != StatusFailed {
		t.Fatalf("run without roles: %s", res.Status)
	}
	// 5 November: roles back, one leaver.
	day(5)
	if err := e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, graphsim.AllRoles); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PatchUser(e.tenant.ID, users[0].ID, map[string]any{"accountEnabled": false}); err != nil {
		t.Fatal(err)
	}
	if res := e.sync(RunOptions{}); res.Status == StatusFailed {
		t.Fatalf("run of 5 November failed: %+v", res.Failure)
	}

	rows, err = st.UsageLedger(t.Context(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ day, mailboxes, sources, runs int }
	want := []row{{1, 4, 5, 1}, {2, 6, 7, 2}, {5, 5, 6, 1}}
	if len(rows) != len(want) {
		t.Fatalf("ledger %+v, want days %+v", rows, want)
	}
	for i, w := range want {
		r := rows[i]
		if got := (row{r.Day.Day(), r.Mailboxes, r.Sources, r.Runs}); got != w || r.Tenant != "contoso" || r.TenantID != e.tenant.ID {
			t.Errorf("ledger row %d: %+v (%s %s), want %+v", i, got, r.Tenant, r.TenantID, w)
		}
	}

	priceNovember(t, e, rows)
}

// priceNovember prices the month as `galmirror usage` does: peak 6 (the
// 2nd), 3 and 4 November carried at 6; average (4 + 6 + 6 + 6 + 26×5) / 30
// = 5.07 → 5.
func priceNovember(t *testing.T, e *env, rows []store.UsageDay) {
	t.Helper()
	var ledger []billing.LedgerRow
	for _, r := range rows {
		ledger = append(ledger, billing.LedgerRow{Tenant: r.Tenant, TenantID: r.TenantID, Day: r.Day, Mailboxes: r.Mailboxes, Sources: r.Sources})
	}
	prices := billing.PriceList{Currency: "EUR", FreeUsers: 2, Measure: billing.Peak,
		Tiers: []billing.Tier{{Monthly: billing.MustDecimal("0.29"), Annual: billing.MustDecimal("0.25")}}}
	for _, c := range []struct {
		m               billing.Measure
		users, billable int
		amount          string
	}{{billing.Peak, 6, 4, "1.16"}, {billing.Average, 5, 3, "0.87"}} {
		prices.Measure = c.m
		r, err := billing.BuildReport(billing.ReportInput{Prices: prices, Month: billing.Month{Year: 2026, Month: time.November},
			Now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), Entries: e.cfg.BillingEntries(), Ledger: ledger})
		if err != nil {
			t.Fatal(err)
		}
		cu := r.Customers[0]
		if cu.Users != c.users || cu.Billable != c.billable || cu.Amount != c.amount {
			t.Errorf("%s: users %d billable %d amount %s; want %d, %d, %s", c.m, cu.Users, cu.Billable, cu.Amount, c.users, c.billable, c.amount)
		}
		if d := cu.Days[2]; !d.Carried || d.Mailboxes != 6 {
			t.Errorf("3 November: %+v, want 6 carried", d)
		}
	}
}
