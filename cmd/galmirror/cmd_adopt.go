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
		name:    "adopt-folder",
		summary: "take over a contact folder another product created (switching to galmirror), per tenant",
		run:     runAdopt,
	})
}

func runAdopt(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("adopt-folder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "settings file (settings.json)")
	tenant := fs.String("tenant", "", "the tenant (required)")
	folder := fs.String("folder", "", "the display name of the folder to take over, under each mailbox's Contacts folder (required)")
	match := fs.String("match", syncer.MatchEmail, "attribute contacts to sources by email or by name")
	dryRun := fs.Bool("dry-run", false, "report what would be taken over and what left alone; write nothing")
	yes := fs.Bool("yes", false, "confirm: mark the folders and contacts as galmirror's, then sync the tenant")
	removeUnmatched := fs.Bool("remove-unmatched", false, "delete the contacts no current source claims (under the mass-delete guard)")
	allowMass := fs.Bool("allow-mass-delete", false, "with --remove-unmatched: lift the mass-delete guard")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror adopt-folder --config FILE --tenant NAME --folder NAME [--match email|name] (--dry-run | --yes)")
		fmt.Fprintln(stderr, "                              [--remove-unmatched [--allow-mass-delete]] [--json]")
		fmt.Fprintln(stderr, "Takes over, in every target mailbox of the tenant, the folder another product made: marks it as this")
		fmt.Fprintln(stderr, "settings entry's, marks each contact it can attribute to one current source, leaves the others alone")
		fmt.Fprintln(stderr, "(reported), then syncs. Never automatic: run it with --dry-run first.")
		fmt.Fprintln(stderr, "exit codes: 0 done, 3 some mailboxes not taken over or unmatched contacts held back, 1 failed, 2 usage")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	switch {
	case *cfgPath == "" || *tenant == "" || *folder == "" || fs.NArg() > 0:
		fs.Usage()
		return exitUsage
	case *match != syncer.MatchEmail && *match != syncer.MatchName:
		fmt.Fprintf(stderr, "galmirror adopt-folder: --match %q: use email or name\n", *match)
		return exitUsage
	case *dryRun == *yes:
		fmt.Fprintln(stderr, "galmirror adopt-folder: give --dry-run (see what would be taken over) or --yes (take it over)")
		return exitUsage
	case *allowMass && !*removeUnmatched:
		fmt.Fprintln(stderr, "galmirror adopt-folder: --allow-mass-delete goes with --remove-unmatched")
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
	res := eng.AdoptFolder(ctx, tenants[0], syncer.AdoptOptions{Folder: *folder, Match: *match, DryRun: *dryRun,
		RemoveUnmatched: *removeUnmatched, AllowMassDelete: *allowMass})
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else {
		printAdopt(stdout, res)
	}
	switch {
	case res.Status == syncer.StatusFailed:
		return exitFailed
	case res.Sync != nil && res.Sync.ExitCode() != exitOK:
		return res.Sync.ExitCode()
	case res.Status == syncer.StatusPartial:
		return exitPartial
	}
	return exitOK
}

func printAdopt(w io.Writer, res *syncer.AdoptResult) {
	verb := "took over"
	if res.DryRun {
		verb = "would take over"
	}
	mb, c := res.Mailboxes, res.Contacts
	fmt.Fprintf(w, "%s: %s: %s folder %q in %d mailboxes (%d without it, %d galmirror's already, %d not taken over, %d skipped, %d failed)\n",
		res.Tenant, res.Status, verb, res.Folder, mb.Adopted, mb.WithoutFolder, mb.Already, mb.Refused, mb.Skipped, mb.Failed)
	if res.Failure != nil {
		fmt.Fprintf(w, "  failed: %s [%s]\n", res.Failure.Message, res.Failure.Code)
		return
	}
	fmt.Fprintf(w, "  contacts: %d matched by %s (%d of them second contacts of one source), %d marked already, %d unmatched left alone",
		c.Matched, res.Match, c.Duplicates, c.Marked, c.Unmatched)
	if c.Removed > 0 {
		fmt.Fprintf(w, ", %d unmatched removed", c.Removed)
	}
	if c.Held > 0 {
		fmt.Fprintf(w, ", %d unmatched HELD BACK by the mass-delete guard (--allow-mass-delete removes them)", c.Held)
	}
	fmt.Fprintln(w)
	for i, u := range res.Unmatched {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more unmatched (--json lists up to 500)\n", len(res.Unmatched)-20)
			break
		}
		what := "left alone"
		if u.Removed {
			what = "removed"
		}
		fmt.Fprintf(w, "  unmatched, %s: %s: %q <%s>: %s\n", what, u.Mailbox, u.Name, u.Email, u.Reason)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "  %s: %s: %s [%s]\n", map[bool]string{true: "not taken over", false: "error"}[e.Code == "NotAdopted"], e.Mailbox, e.Message, e.Code)
	}
	if res.DryRun {
		fmt.Fprintln(w, "  dry run: nothing written; run it again with --yes to take the folders over and sync")
		return
	}
	if res.Sync != nil {
		fmt.Fprintln(w, "then the sync:")
		printResult(w, res.Sync)
	}
}
