package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Usage is what a successful tenant run adds to the usage ledger.
type Usage struct {
	// Tenant is the settings entry's name, TenantID its Entra tenant id.
	Tenant   string
	TenantID string
	// Mailboxes is the number of target mailboxes the run synced,
	// Sources the directory entries it mirrored.
	Mailboxes int
	Sources   int
}

// UsageDay is one row of the ledger: a settings entry's usage on one UTC
// day.
type UsageDay struct {
	Tenant   string
	TenantID string
	// Day is 00:00 UTC of the day.
	Day time.Time
	// Mailboxes is the most target mailboxes a successful run synced that
	// day; Sources the most sources one mirrored.
	Mailboxes int
	Sources   int
	// Runs counts the day's successful runs; LastRun is when the last
	// one was recorded.
	Runs    int
	LastRun time.Time
}

const dayLayout = time.DateOnly

// RecordUsage adds a successful run to the ledger, on the UTC day of the
// store's clock (Options.Now): the day's row keeps the highest counts of
// the day's runs. Runs record their usage through ActiveRun.Finish
// (RunResult.Usage); this is for a run recorded otherwise. The caller
// records only runs that finished (ok or partial) and were not dry runs.
func (s *Store) RecordUsage(ctx context.Context, u Usage) error {
	err := s.write(ctx, func(tx *sql.Tx) error { return s.recordUsage(ctx, tx, u.Tenant, u) })
	if err != nil {
		return fmt.Errorf("store: record usage of %q: %w", u.Tenant, err)
	}
	return nil
}

// recordUsage is RecordUsage's write, for the entry tenant.
func (s *Store) recordUsage(ctx context.Context, tx *sql.Tx, tenant string, u Usage) error {
	if tenant == "" || u.Mailboxes < 0 || u.Sources < 0 {
		return fmt.Errorf("%w: usage %+v", ErrInvalidArgument, u)
	}
	now := s.now().UTC()
	_, err := tx.ExecContext(ctx, `INSERT INTO usage_days (tenant, day, tenant_id, mailboxes, sources, runs, last_run)
		VALUES (?, ?, ?, ?, ?, 1, ?)
		ON CONFLICT (tenant, day) DO UPDATE SET tenant_id = excluded.tenant_id,
			mailboxes = max(mailboxes, excluded.mailboxes), sources = max(sources, excluded.sources),
			runs = runs + 1, last_run = excluded.last_run`,
		tenant, now.Format(dayLayout), u.TenantID, u.Mailboxes, u.Sources, now.UnixMilli())
	return err
}

// UsageLedger returns the ledger's rows of the days from..through (UTC,
// inclusive) and, for each entry, its last row before from (the row those
// days carry until the entry's next successful run), ordered by entry and
// day.
func (s *Store) UsageLedger(ctx context.Context, from, through time.Time) ([]UsageDay, error) {
	f, t := from.UTC().Format(dayLayout), through.UTC().Format(dayLayout)
	rows, err := s.r.QueryContext(ctx, `SELECT tenant, tenant_id, day, mailboxes, sources, runs, last_run FROM usage_days
		WHERE day BETWEEN ?1 AND ?2
		   OR day = (SELECT max(day) FROM usage_days AS b WHERE b.tenant = usage_days.tenant AND b.day < ?1)
		ORDER BY tenant, day`, f, t)
	if err != nil {
		return nil, fmt.Errorf("store: usage ledger: %w", err)
	}
	defer rows.Close()
	var out []UsageDay
	for rows.Next() {
		var u UsageDay
		var day string
		var last int64
		if err := rows.Scan(&u.Tenant, &u.TenantID, &day, &u.Mailboxes, &u.Sources, &u.Runs, &last); err != nil {
			return nil, fmt.Errorf("store: usage ledger: %w", err)
		}
		if u.Day, err = time.Parse(dayLayout, day); err != nil {
			return nil, fmt.Errorf("store: usage ledger: day %q of %q: %w", day, u.Tenant, err)
		}
		u.LastRun = time.UnixMilli(last).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: usage ledger: %w", err)
	}
	return out, nil
}

// StripeCustomer links a customer (an Entra tenant) to its Stripe customer,
// subscription and subscription item.
type StripeCustomer struct {
	TenantID     string
	Customer     string
	Subscription string
	Item         string
	Updated      time.Time
}

// StripeCustomers returns every link by Entra tenant id.
func (s *Store) StripeCustomers(ctx context.Context) (map[string]StripeCustomer, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant_id, customer, subscription, item, updated FROM stripe_customers`)
	if err != nil {
		return nil, fmt.Errorf("store: stripe customers: %w", err)
	}
	defer rows.Close()
	out := map[string]StripeCustomer{}
	for rows.Next() {
		var c StripeCustomer
		var updated int64
		if err := rows.Scan(&c.TenantID, &c.Customer, &c.Subscription, &c.Item, &updated); err != nil {
			return nil, fmt.Errorf("store: stripe customers: %w", err)
		}
		c.Updated = time.UnixMilli(updated).UTC()
		out[c.TenantID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: stripe customers: %w", err)
	}
	return out, nil
}

// SaveStripeCustomer records (or replaces) a customer's link.
func (s *Store) SaveStripeCustomer(ctx context.Context, c StripeCustomer) error {
	if c.TenantID == "" || c.Customer == "" {
		return fmt.Errorf("%w: stripe customer %+v", ErrInvalidArgument, c)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO stripe_customers (tenant_id, customer, subscription, item, updated)
			VALUES (?, ?, ?, ?, ?)`, c.TenantID, c.Customer, c.Subscription, c.Item, s.now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save stripe customer: %w", err)
	}
	return nil
}

// StripePeriod is what galmirror set on a customer's subscription for a
// month.
type StripePeriod struct {
	TenantID string
	// Period is YYYY-MM.
	Period         string
	Quantity       int
	Price          string
	IdempotencyKey string
	Applied        time.Time
}

// GetStripePeriod returns what was set for the customer and month, or
// ErrNotFound.
func (s *Store) GetStripePeriod(ctx context.Context, tenantID, period string) (StripePeriod, error) {
	p := StripePeriod{TenantID: tenantID, Period: period}
	var applied int64
	err := s.r.QueryRowContext(ctx, `SELECT quantity, price, idempotency_key, applied FROM stripe_periods WHERE tenant_id = ? AND period = ?`,
		tenantID, period).Scan(&p.Quantity, &p.Price, &p.IdempotencyKey, &applied)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("stripe period %s of %s: %w", period, tenantID, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("store: stripe period: %w", err)
	}
	p.Applied = time.UnixMilli(applied).UTC()
	return p, nil
}

// SaveStripePeriod records what was set for a customer and month.
func (s *Store) SaveStripePeriod(ctx context.Context, p StripePeriod) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO stripe_periods (tenant_id, period, quantity, price, idempotency_key, applied)
			VALUES (?, ?, ?, ?, ?, ?)`, p.TenantID, p.Period, p.Quantity, p.Price, p.IdempotencyKey, s.now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save stripe period: %w", err)
	}
	return nil
}

// StripePrice returns the Stripe price id kept under lookupKey, or
// ErrNotFound.
func (s *Store) StripePrice(ctx context.Context, lookupKey string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT price FROM stripe_prices WHERE lookup_key = ?`, lookupKey).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("stripe price %s: %w", lookupKey, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: stripe price: %w", err)
	}
	return id, nil
}

// SaveStripePrice keeps a Stripe price id under lookupKey.
func (s *Store) SaveStripePrice(ctx context.Context, lookupKey, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO stripe_prices (lookup_key, price) VALUES (?, ?)`, lookupKey, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save stripe price: %w", err)
	}
	return nil
}

const stripeProductKey = "stripe_product"

// StripeProduct returns the Stripe product galmirror made, or "".
func (s *Store) StripeProduct(ctx context.Context) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, stripeProductKey).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: stripe product: %w", err)
	}
	return id, nil
}

// SaveStripeProduct keeps the Stripe product galmirror made.
func (s *Store) SaveStripeProduct(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, stripeProductKey, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save stripe product: %w", err)
	}
	return nil
}
