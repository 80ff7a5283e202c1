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
	reenable := fs.Bool("reenable", false, "undo a purge: let the service and sync run the tenant again")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror purge --config FILE --tenant NAME --yes [--json]")
		fmt.Fprintln(stderr, "       galmirror purge --config FILE --tenant NAME --reenable")
		fmt.Fprintln(stderr, "Deletes only contacts carrying galmirror's mark, and a managed folder only when nothing else is in it.")
		fmt.Fprintln(stderr, "The tenant is marked purged: neither the service nor sync runs it again until --reenable.")
		fmt.Fprintln(stderr, "exit codes: 0 purged (or re-enabled), 3 some mailboxes not cleaned (run it again), 1 failed, 2 usage")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *cfgPath == "" || *tenant == "" || fs.NArg() > 0 || *yes && *reenable {
		fs.Usage()
		return exitUsage
	}
	if !*yes && !*reenable {
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
	eng := syncer.New(syncer.Options{Store: st, Logger: newLogger(stderr, false)})
	if *reenable {
		if err := eng.Reenable(ctx, *tenant); err != nil {
			fmt.Fprintf(stderr, "galmirror purge: re-enable %s: %v\n", *tenant, err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "%s: re-enabled: the service syncs it again at its next scheduled run (or run galmirror sync --tenant %s)\n", *tenant, *tenant)
		return exitOK
	}
	res := eng.Purge(ctx, tenants[0])
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else {
		printPurge(stdout, res)
	}
	switch res.Status {
	case syncer.StatusOK:
		return exitOK
	case syncer.StatusPartial:
		return exitPartial
	}
	return exitFailed
}

func printPurge(w io.Writer, res *syncer.PurgeResult) {
	fmt.Fprintf(w, "%s: %s: %d mailboxes cleaned, %d contacts deleted, %d folders deleted, %d folders kept (they hold contacts galmirror did not create)\n",
		res.Tenant, res.Status, res.Mailboxes, res.ContactsDeleted, res.FoldersDeleted, res.FoldersKept)
	if res.Failure != nil {
		fmt.Fprintf(w, "  failed: %s [%s]\n", res.Failure.Message, res.Failure.Code)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "  error: %s: %s [%s]\n", e.Mailbox, e.Message, e.Code)
	}
	if res.Purged {
		fmt.Fprintf(w, "  the tenant is marked purged: the service skips it (and says so) until galmirror purge --tenant %s --reenable\n", res.Tenant)
		if res.Status != syncer.StatusOK {
			fmt.Fprintln(w, "  run the purge again to remove what is left")
		}
	}
}
