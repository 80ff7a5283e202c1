package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

func init() {
	register(&command{
		name:    "purge",
		summary: "remove every contact and folder galmirror created in a tenant (offboarding)",
		run:     runPurge,
	})
}

func runPurge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "settings file (settings.json)")
	tenant := fs.String("tenant", "", "the tenant to purge (required)")
	yes := fs.Bool("yes", false, "confirm: delete galmirror's contacts and folders in every mailbox of the tenant")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror purge --config FILE --tenant NAME --yes [--json]")
		fmt.Fprintln(stderr, "Deletes only contacts carrying galmirror's mark, and a managed folder only when nothing else is in it.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *cfgPath == "" || *tenant == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if !*yes {
		fmt.Fprintln(stderr, "galmirror purge: refusing without --yes: this deletes galmirror's contacts and folders in every mailbox of the tenant")
		return exitUsage
	}
	cfg, tenants, code := loadTenants(*cfgPath, *tenant, stderr)
	if code != exitOK {
		return code
	}
	st, err := store.Open(ctx, cfg.DataDir, store.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: open the state database in %s: %v\n", cfg.DataDir, err)
		return exitFailed
	}
	defer st.Close()
	res := syncer.New(syncer.Options{Store: st, Logger: newLogger(stderr, false)}).Purge(ctx, tenants[0])
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "%s: %s: %d mailboxes cleaned, %d contacts deleted, %d folders deleted, %d folders kept (they hold contacts galmirror did not create)\n",
			res.Tenant, res.Status, res.Mailboxes, res.ContactsDeleted, res.FoldersDeleted, res.FoldersKept)
		if res.Failure != nil {
			fmt.Fprintf(stdout, "  failed: %s [%s]\n", res.Failure.Message, res.Failure.Code)
		}
		for _, e := range res.Errors {
			fmt.Fprintf(stdout, "  error: %s: %s [%s]\n", e.Mailbox, e.Message, e.Code)
		}
	}
	switch res.Status {
	case syncer.StatusOK:
		return exitOK
	case syncer.StatusPartial:
		return exitPartial
	}
	return exitFailed
}
