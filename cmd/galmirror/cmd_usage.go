package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/billing"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
)

func init() {
	register(&command{
		name:    "usage",
		summary: "print each customer's users, billable users and amount for a month (--json, --csv for a PSA)",
		run:     runUsage,
	})
	register(&command{
		name:    "price",
		summary: "price a book of customers by their users under the settings' price tiers: price --users 15,40,200",
		run:     runPrice,
	})
}

// loadBilling loads the settings and requires their billing section.
func loadBilling(path string, stderr io.Writer) (*config.Config, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: %v\n", err)
		return nil, exitUsage
	}
	if cfg.Billing == nil {
		fmt.Fprintf(stderr, "galmirror: %s: billing: not set: add a \"billing\" section with your currency and price tiers (docs/billing.md)\n", cfg.Path)
		return nil, exitUsage
	}
	return cfg, exitOK
}

func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file (settings.json)")
	month := fs.String("month", "", "the month, YYYY-MM (default: the current month, UTC)")
	asJSON := fs.Bool("json", false, "print the report as JSON, with each customer's days")
	asCSV := fs.Bool("csv", false, "print one CSV line per customer: customer, period, item, quantity, unit_price, amount, currency")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror usage [--config FILE] [--month YYYY-MM] [--json | --csv]")
		fmt.Fprintln(stderr, "Users are the peak (or average, billing.measure) of each day's synced target mailboxes; see docs/billing.md.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 || *asJSON && *asCSV {
		fs.Usage()
		return exitUsage
	}
	now := time.Now()
	m := billing.MonthOf(now)
	if *month != "" {
		var err error
		if m, err = billing.ParseMonth(*month); err != nil {
			fmt.Fprintf(stderr, "galmirror usage: --month: %v\n", err)
			return exitUsage
		}
	}
	cfg, code := loadBilling(*cfgPath, stderr)
	if code != exitOK {
		return code
	}
	st, err := openStateReadOnly(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror usage: %v\n", err)
		return exitFailed
	}
	if st != nil {
		defer st.Close()
	}
	rep, err := monthReport(ctx, cfg, st, m, now)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror usage: %v\n", err)
		if errors.Is(err, billing.ErrFutureMonth) {
			return exitUsage
		}
		return exitFailed
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	case *asCSV:
		if err := billing.WriteCSV(stdout, rep); err != nil {
			fmt.Fprintf(stderr, "galmirror usage: %v\n", err)
			return exitFailed
		}
	default:
		billing.WriteReport(stdout, rep)
	}
	return exitOK
}

// openStateReadOnly opens the state database for reading beside a running
// service; nil and no error when there is none yet (nothing was synced).
func openStateReadOnly(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	if _, err := os.Stat(filepath.Join(cfg.DataDir, store.FileName)); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	st, err := store.OpenReadOnly(ctx, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("cannot read the state database in %s: %w", cfg.DataDir, err)
	}
	return st, nil
}

// monthReport builds a month's report from the ledger and the Stripe links
// (st nil: an empty ledger).
func monthReport(ctx context.Context, cfg *config.Config, st *store.Store, m billing.Month, now time.Time) (*billing.Report, error) {
	in := billing.ReportInput{Prices: cfg.Billing.PriceList(), Month: m, Now: now, Entries: cfg.BillingEntries()}
	if st != nil {
		rows, err := st.UsageLedger(ctx, m.Start(), m.End().AddDate(0, 0, -1))
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			in.Ledger = append(in.Ledger, billing.LedgerRow{Tenant: r.Tenant, TenantID: r.TenantID, Day: r.Day, Mailboxes: r.Mailboxes, Sources: r.Sources})
		}
		links, err := st.StripeCustomers(ctx)
		if err != nil {
			return nil, err
		}
		in.Links = map[string]billing.StripeLink{}
		for id, l := range links {
			in.Links[id] = billing.StripeLink{Customer: l.Customer, Subscription: l.Subscription, Item: l.Item}
		}
	}
	return billing.BuildReport(in)
}

func runPrice(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("price", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file (settings.json) with the billing section")
	users := fs.String("users", "", "each customer's users, comma-separated: 15,40,200")
	annual := fs.Bool("annual", false, "price every customer on the annual plan")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror price [--config FILE] --users 15,40,200 [--annual] [--json]")
		fmt.Fprintln(stderr, "Prices a book of customers by their users, the way galmirror usage prices a month: each customer's free users off, the sum of the billable users chooses the tier.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	counts, err := billing.ParseUserCounts(*users)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror price: --users: %v\n", err)
		return exitUsage
	}
	cfg, code := loadBilling(*cfgPath, stderr)
	if code != exitOK {
		return code
	}
	plan := billing.Monthly
	if *annual {
		plan = billing.Annual
	}
	customers := make([]billing.Customer, len(counts))
	for i, n := range counts {
		customers[i] = billing.Customer{Name: fmt.Sprint(i + 1), Users: n, Plan: plan}
	}
	prices := cfg.Billing.PriceList()
	q, err := prices.Quote(customers)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror price: %v\n", err)
		return exitFailed
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(q.JSON(prices, plan))
		return exitOK
	}
	billing.WriteQuote(stdout, prices, q, plan)
	return exitOK
}
