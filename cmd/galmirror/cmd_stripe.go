package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/billing"
	"github.com/galmirror/galmirror/internal/billing/stripesync"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/dpapi"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
)

func init() {
	register(&command{
		name:    "stripe",
		summary: "set each customer's Stripe subscription to a closed month's billable users (--dry-run prints the changes)",
		run:     runStripe,
	})
}

const stripeUsage = `usage: galmirror stripe [--config FILE] [--month YYYY-MM] [--dry-run]

Brings every customer of a closed month (default: last month, UTC) into
Stripe: one Stripe customer and one subscription per customer tenant, the
subscription's quantity set to the month's billable users at the tier's unit
price (docs/billing.md). Each change is printed before it is made, and
reported as an event (460-465). A month already set is not sent again, and
every write carries an idempotency key: running it twice, or again after an
interruption, never bills twice. Schedule it daily; it does nothing once a
month is set.

The Stripe secret key comes from the environment variable named by
billing.stripe.secretKeyEnv or, on Windows, from billing.stripe.secretKeyProtected;
it is never printed.

exit codes: 0 done, 1 a customer could not be brought into Stripe (event 465), 2 usage or configuration error`

func runStripe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stripe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file (settings.json) with billing.stripe")
	month := fs.String("month", "", "the closed month to set, YYYY-MM (default: last month, UTC)")
	dryRun := fs.Bool("dry-run", false, "print every change and make none")
	fs.Usage = func() {
		fmt.Fprintln(stderr, stripeUsage)
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	now := time.Now()
	m := billing.MonthOf(now).Prev()
	if *month != "" {
		var err error
		if m, err = billing.ParseMonth(*month); err != nil {
			fmt.Fprintf(stderr, "galmirror stripe: --month: %v\n", err)
			return exitUsage
		}
	}
	if m.End().After(now) {
		fmt.Fprintf(stderr, "galmirror stripe: --month %s: the month is not over (it ends %s UTC); Stripe is set from closed months only\n",
			m, m.End().Format(time.DateOnly))
		return exitUsage
	}
	cfg, code := loadBilling(*cfgPath, stderr)
	if code != exitOK {
		return code
	}
	sc := cfg.Billing.Stripe
	if sc == nil {
		fmt.Fprintf(stderr, "galmirror stripe: %s: billing.stripe: not set: add it with secretKeyEnv (docs/billing.md)\n", cfg.Path)
		return exitUsage
	}
	key, err := stripeKey(sc)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror stripe: %s: %v\n", cfg.Path, err)
		return exitUsage
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, store.FileName)); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "galmirror stripe: no state database in %s: nothing has been synced, so there is no usage to bill\n", cfg.DataDir)
		return exitUsage
	}
	st, err := store.Open(ctx, cfg.DataDir, store.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror stripe: open the state database in %s: %v\n", cfg.DataDir, err)
		return exitFailed
	}
	defer st.Close()
	return stripeMonth(ctx, cfg, st, key, m, now, *dryRun, stdout, stderr)
}

// stripeMonth prices month m and brings it into Stripe.
func stripeMonth(ctx context.Context, cfg *config.Config, st *store.Store, key string, m billing.Month, now time.Time, dryRun bool, stdout, stderr io.Writer) int {
	rep, err := monthReport(ctx, cfg, st, m, now)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror stripe: %v\n", err)
		return exitFailed
	}
	inst, err := st.Installation(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror stripe: %v\n", err)
		return exitFailed
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	bus := events.NewBus(logger, events.SlogSink{Logger: logger})
	bus.SetRecorder(service.StoreRecorder(st))
	if el, err := events.OpenEventLog(events.SourceName); err == nil {
		defer el.Close()
		bus.AddSink(el)
	}
	sc := cfg.Billing.Stripe
	mode := ""
	if dryRun {
		mode = " (dry run: nothing is changed)"
	}
	fmt.Fprintf(stdout, "Stripe %s: %d customers, %d billable users, %s %s%s\n", rep.Period, len(rep.Customers), rep.Billable, rep.Currency, rep.Total, mode)
	res, err := stripesync.Run(ctx, stripesync.Options{
		Key: key, Endpoint: sc.Endpoint, Store: st, Installation: inst, BillingDay: sc.BillingDay, Product: sc.Product,
		DryRun: dryRun, Out: stdout, Emit: bus.Emit,
	}, cfg.Billing.PriceList(), rep)
	verb := "changed"
	if dryRun {
		verb = "to change"
	}
	fmt.Fprintf(stdout, "customers: %d %s, %d already set, %d failed, %d without a tenant id\n", res.Changed, verb, res.Unchanged, res.Failed, res.Skipped)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror stripe: %s\n", stripesync.Redact(err.Error(), key))
		return exitFailed
	}
	return exitOK
}

// stripeKey returns the Stripe secret key billing.stripe names: the value
// of the environment variable secretKeyEnv names, or secretKeyProtected
// decrypted with DPAPI on this machine. An error names the setting and the
// variable, never a value.
func stripeKey(s *config.Stripe) (string, error) {
	if s.SecretKeyEnv != "" {
		key, ok := os.LookupEnv(s.SecretKeyEnv)
		if !ok || key == "" {
			return "", fmt.Errorf("billing.stripe.secretKeyEnv: the environment variable %s, which holds the Stripe secret key, is not set", s.SecretKeyEnv)
		}
		return key, nil
	}
	blob, err := dpapi.Decode(s.SecretKeyProtected)
	if err != nil {
		return "", fmt.Errorf("billing.stripe.secretKeyProtected: %v", err)
	}
	key, err := dpapi.Unprotect(blob)
	if err != nil {
		if errors.Is(err, dpapi.ErrUnsupported) {
			err = errors.New("DPAPI-protected secrets are only available on Windows; use secretKeyEnv here")
		}
		return "", fmt.Errorf("billing.stripe.secretKeyProtected does not decrypt on this machine: %v", err)
	}
	return string(key), nil
}
