package store

import (
	"errors"
	"testing"
	"time"
)

func TestUsageLedger(t *testing.T) {
	clock := time.Date(2026, 10, 30, 23, 0, 0, 0, time.UTC)
	s, dir := openTest(t, Options{Now: func() time.Time { return clock }})
	ctx := t.Context()
	record := func(tenant string, mailboxes, sources int) {
		t.Helper()
		if err := s.RecordUsage(ctx, Usage{Tenant: tenant, TenantID: "tid-" + tenant, Mailboxes: mailboxes, Sources: sources}); err != nil {
			t.Fatal(err)
		}
	}
	record("contoso", 10, 12) // 30 October
	clock = clock.Add(26 * time.Hour)
	record("contoso", 40, 45) // 1 November, 01:00
	clock = clock.Add(time.Hour)
	record("contoso", 38, 47) // a smaller run the same day keeps the day's peak
	record("fabrikam", 7, 9)
	clock = clock.Add(4 * 24 * time.Hour)
	record("contoso", 42, 44) // 5 November
	clock = time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC)
	record("contoso", 99, 99) // December: outside the month

	rows, err := s.UsageLedger(ctx, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		tenant, day          string
		mailboxes, sour, run int
	}
	var got []row
	for _, r := range rows {
		got = append(got, row{r.Tenant, r.Day.Format(time.DateOnly), r.Mailboxes, r.Sources, r.Runs})
		if r.TenantID != "tid-"+r.Tenant {
			t.Errorf("tenant id %q", r.TenantID)
		}
	}
	want := []row{
		{"contoso", "2026-10-30", 10, 12, 1}, // the row November's first day carries
		{"contoso", "2026-11-01", 40, 47, 2},
		{"contoso", "2026-11-05", 42, 44, 1},
		{"fabrikam", "2026-11-01", 7, 9, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// A reader beside the service sees the same.
	ro, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if rows, err := ro.UsageLedger(ctx, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)); err != nil || len(rows) != 3 {
		t.Errorf("December: %+v, %v (want December's row and both entries' last November rows)", rows, err)
	}
	if err := ro.RecordUsage(ctx, Usage{Tenant: "x"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only RecordUsage: %v", err)
	}
	if err := s.RecordUsage(ctx, Usage{Tenant: "x", Mailboxes: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative count: %v", err)
	}
}

func TestStripeLinks(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	if p, err := s.StripeProduct(ctx); err != nil || p != "" {
		t.Fatalf("product %q, %v", p, err)
	}
	if err := s.SaveStripeProduct(ctx, "prod_1"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.StripeProduct(ctx); p != "prod_1" {
		t.Errorf("product %q", p)
	}
	if _, err := s.StripePrice(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing price: %v", err)
	}
	s.SaveStripePrice(ctx, "k", "price_1")
	if id, _ := s.StripePrice(ctx, "k"); id != "price_1" {
		t.Errorf("price %q", id)
	}
	if err := s.SaveStripeCustomer(ctx, StripeCustomer{TenantID: "t1", Customer: "cus_1"}); err != nil {
		t.Fatal(err)
	}
	s.SaveStripeCustomer(ctx, StripeCustomer{TenantID: "t1", Customer: "cus_1", Subscription: "sub_1", Item: "si_1"})
	cs, err := s.StripeCustomers(ctx)
	if err != nil || len(cs) != 1 || cs["t1"].Item != "si_1" {
		t.Errorf("customers %+v, %v", cs, err)
	}
	if _, err := s.GetStripePeriod(ctx, "t1", "2026-11"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing period: %v", err)
	}
	s.SaveStripePeriod(ctx, StripePeriod{TenantID: "t1", Period: "2026-11", Quantity: 32, Price: "price_1", IdempotencyKey: "key"})
	if p, err := s.GetStripePeriod(ctx, "t1", "2026-11"); err != nil || p.Quantity != 32 || p.IdempotencyKey != "key" || p.Applied.IsZero() {
		t.Errorf("period %+v, %v", p, err)
	}
}

// A run's usage is booked by Finish with its history: ok and partial runs
// add it, failed and interrupted runs do not.
func TestFinishRecordsUsage(t *testing.T) {
	clock := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return clock }})
	ctx := t.Context()
	for _, c := range []struct {
		status    RunStatus
		failure   *Failure
		mailboxes int
	}{
		{RunOK, nil, 40},
		{RunPartial, nil, 44},
		{RunFailed, &Failure{Class: FailAuth, Message: "AADSTS700027"}, 99},
		{RunFailed, &Failure{Class: FailCanceled, Message: "stopped"}, 98},
		{RunInterrupted, nil, 97},
	} {
		a := begin(t, s, "contoso", TriggerSchedule, clock, "h:1")
		u := &Usage{Tenant: "contoso", TenantID: "tid-contoso", Mailboxes: c.mailboxes, Sources: c.mailboxes + 1}
		if err := a.Finish(ctx, RunResult{Status: c.status, Failure: c.failure, Usage: u}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.UsageLedger(ctx, clock, clock)
	if err != nil || len(rows) != 1 {
		t.Fatalf("ledger %+v, %v", rows, err)
	}
	if r := rows[0]; r.Mailboxes != 44 || r.Sources != 45 || r.Runs != 2 || r.TenantID != "tid-contoso" {
		t.Errorf("the day's row %+v: want the two finished runs, peak 44", r)
	}
}
