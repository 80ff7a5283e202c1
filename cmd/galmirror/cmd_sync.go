package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

func init() {
	register(&command{
		name:    "sync",
		summary: "run one sync of every tenant (or one) in a settings file, then exit",
		run:     runSync,
	})
}

func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	args, stopProfile := takeProfileFlags(args, stderr) // galmirror bench --profile
	defer stopProfile()
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "settings file (settings.json)")
	tenant := fs.String("tenant", "", "sync only this tenant (by name)")
	dryRun := fs.Bool("dry-run", false, "compute and print the plan; write nothing")
	asJSON := fs.Bool("json", false, "print one JSON object per tenant run per line")
	allowMass := fs.Bool("allow-mass-delete", false, "carry out deletes the mass-delete guard would hold back")
	takeOver := fs.Bool("take-over", false, "maintain managed folders another galmirror installation stamped (this server replaces that one)")
	verbose := fs.Bool("v", false, "log debug detail to stderr")
	noEvents := fs.Bool("no-events", false, "emit no events (by default a sync emits the service's events: Windows Event Log, a log line, the state database)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror sync --config FILE [--tenant NAME] [--dry-run] [--json] [--allow-mass-delete] [--take-over] [--no-events]")
		fmt.Fprintln(stderr, "exit codes: 0 all synced (or a tenant skipped: another process syncs it), 3 mailbox or item failures or held-back deletes,")
		fmt.Fprintln(stderr, "1 a tenant failed as a whole, 2 usage or configuration error, 130 interrupted (Ctrl-C): the next run continues")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, tenants, code := loadTenants(*cfgPath, *tenant, stderr)
	if code != exitOK {
		return code
	}
	var line *statusLine
	var progress *syncer.Progress
	logw := stderr
	if !*asJSON && isTerminal(stderr) {
		line, progress = &statusLine{w: stderr}, &syncer.Progress{}
		logw = line
	}
	logger := newLogger(logw, *verbose)

	st, err := store.Open(ctx, cfg.DataDir, store.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: open the state database in %s: %v\n", cfg.DataDir, err)
		return exitFailed
	}
	defer st.Close()

	eng := syncer.New(syncer.Options{Store: st, Logger: logger})
	var rr runReporter
	if !*noEvents && !*dryRun {
		bus, closeEvents := cliEvents(logger, st)
		defer closeEvents()
		rr.rep = service.NewReporter(ctx, bus, st, cfg.Health.OutageAfter.Std())
		defer rr.rep.Flush(context.WithoutCancel(ctx))
	}
	var progressDone <-chan struct{}
	stop := make(chan struct{})
	if progress != nil {
		progressDone = showProgress(progress, line, len(tenants), stop)
	}
	results := runTenants(ctx, rr, eng, cfg, tenants, syncer.RunOptions{
		DryRun: *dryRun, AllowMassDelete: *allowMass, TakeOver: *takeOver, Trigger: string(store.TriggerCLI), PlanItems: *asJSON,
		Progress: progress,
	}, func(res *syncer.Result) {
		switch {
		case *asJSON:
			b, _ := json.Marshal(res)
			fmt.Fprintln(stdout, string(b))
		case res.Status == syncer.StatusInterrupted:
			// One line for them all, below.
		case line != nil:
			line.mu.Lock()
			if line.text != "" {
				fmt.Fprint(stderr, "\r\033[K")
			}
			printResult(stdout, res)
			if line.text != "" {
				fmt.Fprint(stderr, line.text)
			}
			line.mu.Unlock()
		default:
			printResult(stdout, res)
		}
	})
	close(stop)
	if progressDone != nil {
		<-progressDone
	}
	if interrupted(results) {
		fmt.Fprintln(stderr, interruptedLine(results))
		return exitInterrupted
	}
	return worstExit(results)
}

// interrupted reports whether a run was stopped (Ctrl-C).
func interrupted(results []*syncer.Result) bool {
	for _, r := range results {
		if r.Status == syncer.StatusInterrupted {
			return true
		}
	}
	return false
}

// interruptedLine is the one line a stopped sync ends with: "interrupted
// after 312 of 1000 mailboxes; the next run continues".
func interruptedLine(results []*syncer.Result) string {
	done, total, tenants := 0, 0, 0
	for _, r := range results {
		switch r.Status {
		case syncer.StatusInterrupted:
			tenants++
			done += r.Mailboxes.Synced + r.Mailboxes.Failed + r.Mailboxes.Skipped
			total += max(r.Targets, r.Mailboxes.Synced+r.Mailboxes.Failed+r.Mailboxes.Skipped)
		case syncer.StatusOK, syncer.StatusPartial:
			n := r.Mailboxes.Synced + r.Mailboxes.Failed + r.Mailboxes.Skipped
			done, total = done+n, total+n
		}
	}
	s := fmt.Sprintf("interrupted after %d of %d mailboxes", done, total)
	if len(results) > 1 {
		s += fmt.Sprintf(" (%d of %d tenants stopped)", tenants, len(results))
	}
	return s + "; the next run continues"
}

// loadTenants loads the settings and selects the tenants to run; a bad file,
// an unknown tenant, or a selected tenant whose PFX password this process
// cannot have (the variable passwordEnv names is not set, the
// passwordProtected blob does not decrypt) is a usage error reported
// before any Graph call. (The service instead reports such a tenant's runs
// as failed and keeps running the others.)
func loadTenants(path, only string, stderr io.Writer) (*config.Config, []*config.Tenant, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: %v\n", err)
		return nil, nil, exitUsage
	}
	var tenants []*config.Tenant
	code := exitOK
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if only != "" && t.Name != only {
			continue
		}
		tenants = append(tenants, t)
		if _, err := syncer.CertificatePassword(t.Certificate); err != nil {
			var pe *syncer.PasswordError
			if errors.As(err, &pe) && pe.Setting == "passwordEnv" {
				fmt.Fprintf(stderr, "galmirror: %s: tenants[%d].certificate.passwordEnv: the environment variable %s, which holds the PFX password of tenant %s, is not set\n",
					cfg.Path, i, pe.Variable, t.Name)
			} else {
				fmt.Fprintf(stderr, "galmirror: %s: tenants[%d].certificate: tenant %s: %v\n", cfg.Path, i, t.Name, err)
			}
			code = exitUsage
		}
	}
	if code != exitOK {
		return nil, nil, code
	}
	if only != "" && len(tenants) == 0 {
		var names []string
		for _, t := range cfg.Tenants {
			names = append(names, t.Name)
		}
		fmt.Fprintf(stderr, "galmirror: %s: no tenant named %q (tenants: %s)\n", cfg.Path, only, strings.Join(names, ", "))
		return nil, nil, exitUsage
	}
	if len(tenants) == 0 {
		fmt.Fprintf(stderr, "galmirror: %s: no tenants configured\n", cfg.Path)
		return nil, nil, exitUsage
	}
	return cfg, tenants, exitOK
}

// runTenants runs the tenants independently, at most maxConcurrentTenants
// at once, and reports each result as it finishes.
func runTenants(ctx context.Context, rr runReporter, eng *syncer.Engine, cfg *config.Config, tenants []*config.Tenant, ro syncer.RunOptions, report func(*syncer.Result)) []*syncer.Result {
	limit := cfg.MaxConcurrentTenants
	if limit <= 0 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	var mu sync.Mutex
	var wg sync.WaitGroup
	results := make([]*syncer.Result, len(tenants))
	for i, t := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := rr.run(ctx, eng, t, ro)
			mu.Lock()
			results[i] = res
			report(res)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

func worstExit(results []*syncer.Result) int {
	code := exitOK
	for _, r := range results {
		switch r.ExitCode() {
		case exitFailed:
			code = exitFailed
		case exitPartial:
			if code == exitOK {
				code = exitPartial
			}
		}
	}
	return code
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// printResult prints a tenant run for a person.
func printResult(w io.Writer, r *syncer.Result) {
	mode := ""
	if r.DryRun {
		mode = " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "%s: %s%s\n", r.Tenant, r.Status, mode)
	if r.Status == syncer.StatusSkipped {
		fmt.Fprintf(w, "  %s\n", r.Reason)
		return
	}
	if r.Failure != nil {
		fmt.Fprintf(w, "  failed: %s", r.Failure.Message)
		if r.Failure.Code != "" {
			fmt.Fprintf(w, " [%s]", r.Failure.Code)
		}
		if r.Failure.RequestID != "" {
			fmt.Fprintf(w, " (request-id %s)", r.Failure.RequestID)
		}
		fmt.Fprintln(w)
		if len(r.Failure.MissingRoles) > 0 {
			fmt.Fprintf(w, "  grant admin consent for: %s\n", strings.Join(r.Failure.MissingRoles, ", "))
		}
		return
	}
	verb := [3]string{"created", "updated", "deleted"}
	if r.DryRun {
		verb = [3]string{"to create", "to update", "to delete"}
	}
	fmt.Fprintf(w, "  sources %d (%s); mailboxes: %d synced, %d skipped, %d failed",
		r.SourceCount, r.KindsText(), r.Mailboxes.Synced, r.Mailboxes.Skipped, r.Mailboxes.Failed)
	switch {
	case r.Mailboxes.Removed > 0 && r.DryRun:
		fmt.Fprintf(w, ", %d no longer targets (their managed contacts to remove)", r.Mailboxes.Removed)
	case r.Mailboxes.Removed > 0:
		fmt.Fprintf(w, ", %d no longer targets (their managed contacts removed)", r.Mailboxes.Removed)
	}
	if r.Mailboxes.HeldRemovals > 0 {
		fmt.Fprintf(w, ", %d no longer targets HELD BACK by the mass-delete guard (rerun with --allow-mass-delete to clean them)", r.Mailboxes.HeldRemovals)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  contacts: %d %s, %d %s, %d %s, %d unchanged",
		r.Contacts.Created, verb[0], r.Contacts.Updated, verb[1], r.Contacts.Deleted, verb[2], r.Contacts.Unchanged)
	if r.Contacts.HeldDeletes > 0 {
		fmt.Fprintf(w, ", %d deletes HELD BACK by the mass-delete guard (rerun with --allow-mass-delete to carry them out)", r.Contacts.HeldDeletes)
	}
	fmt.Fprintln(w)
	if p := r.Photos; p != nil {
		if r.DryRun {
			fmt.Fprintf(w, "  photos: %d checked, %d to upload, %d to remove (contact made again without a photo)\n", p.Checked, p.ToUpload, p.ToRemove)
		} else {
			fmt.Fprintf(w, "  photos: %d checked, %d downloaded (%d bytes), %d uploaded (%d bytes), %d removed, %d restored, %d failed\n",
				p.Checked, p.Downloaded, p.DownloadedBytes, p.Uploaded, p.UploadedBytes, p.Removed, p.Restored, p.Failed)
		}
	}
	if r.Contacts.KeptCopies > 0 {
		fmt.Fprintf(w, "  %d copies of managed contacts hold their owner's own data (notes, home phone, ...): left alone\n", r.Contacts.KeptCopies)
	}
	if r.FolderMode == string(config.FolderModeDefault) {
		fmt.Fprintf(w, "  into each mailbox's default Contacts folder, category %q (the owner's contacts there are never touched)\n", r.Folder)
	} else if r.DryRun && r.Folder != "" {
		fmt.Fprintf(w, "  into the folder %q under each mailbox's Contacts folder\n", r.Folder)
	}
	printSourceTenants(w, r.SourceTenants)
	fmt.Fprintf(w, "  graph: %d requests (%d batch items), %d throttled; %.1fs", r.Graph.Requests, r.Graph.BatchItems, r.Graph.Throttled, r.Seconds)
	if r.MailboxAccess != "" {
		fmt.Fprintf(w, "; mailbox access %s", r.MailboxAccess)
	}
	fmt.Fprintln(w)
	for i, s := range r.Skipped {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more skipped\n", len(r.Skipped)-20)
			break
		}
		fmt.Fprintf(w, "  skipped: %s [%s]: %s\n", s.Mailbox, s.Code, s.Reason)
	}
	if r.DryRun {
		printPlan(w, r.Plan)
	}
	for i, e := range r.Errors {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more errors\n", len(r.Errors)-20)
			break
		}
		fmt.Fprintf(w, "  error: %s: %s [%s]", e.Mailbox, e.Message, e.Code)
		if e.RequestID != "" {
			fmt.Fprintf(w, " (request-id %s)", e.RequestID)
		}
		fmt.Fprintln(w)
	}
}

// printPlan prints a dry run's planned operations, mailbox by mailbox.
func printPlan(w io.Writer, plan []syncer.MailboxPlan) {
	for _, p := range plan {
		switch {
		case p.Status == syncer.PlanRemove:
			fmt.Fprintf(w, "  %s: no longer a target: %d managed contacts to delete, and the managed folder when nothing else is in it\n", p.Mailbox, p.Deletes)
			continue
		case p.Status == syncer.PlanRemovalHeld:
			fmt.Fprintf(w, "  %s: no longer a target: removal of %d managed contacts HELD BACK by the mass-delete guard\n", p.Mailbox, p.Held)
			continue
		case p.Creates+p.Updates+p.Deletes+p.Held == 0:
			continue
		}
		fmt.Fprintf(w, "  %s: %d to create, %d to update, %d to delete", p.Mailbox, p.Creates, p.Updates, p.Deletes)
		if p.Held > 0 {
			fmt.Fprintf(w, ", %d held back", p.Held)
		}
		fmt.Fprintln(w)
	}
}

// printSourceTenants says what each tenant of source.fromTenants
// contributed, or why its people were kept as they are.
func printSourceTenants(w io.Writer, sts []syncer.SourceTenant) {
	for _, st := range sts {
		switch st.Status {
		case syncer.SourceKept:
			fmt.Fprintf(w, "  from tenant %s: NOT READ, its people in the mailboxes kept as they are: %s\n", st.Name, st.Error)
		case syncer.SourceShared:
			fmt.Fprintf(w, "  from tenant %s: %d people (its directory as another run read it)\n", st.Name, st.Sources)
		default:
			fmt.Fprintf(w, "  from tenant %s: %d people\n", st.Name, st.Sources)
		}
	}
}
