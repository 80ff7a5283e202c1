package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/report"
	"github.com/galmirror/galmirror/internal/store"
)

// run is one tenant run.
type run struct {
	e   *Engine
	t   *config.Tenant
	ro  RunOptions
	log *slog.Logger
	st  *store.Store

	client *graph.Client
	// mail sends the run's mailbox requests ($batch).
	mail   *graph.Mailboxes
	mapper directory.Mapper
	// mask is what the content hash covers (the overwrite fields); write
	// is every field galmirror writes, fill the fillBlank ones of them.
	mask, write, fill plan.FieldMask

	// The source, after this run's directory read.
	persons map[string]directory.Person
	// prev holds the previous version of persons changed by this run's
	// delta round, so updates can send only changed fields.
	prev           map[string]directory.Person
	added          map[string]bool // persons new this run
	sourceComplete bool
	desired        []plan.Desired
	prevHash       map[string]string // source id → hash of the previous desired content
	prevFields     map[string]*plan.Fields
	targets        []target
	// digest identifies this run's desired contacts and field mask: a
	// mailbox whose stored digest matches and whose contacts delta shows
	// no change needs no planning.
	digest string
	// lastDigest is the previous run's; narrow says this run's directory
	// changes since it are known exactly: changedSources, the sources
	// whose desired contact differs (sinceLast).
	lastDigest string
	narrow     bool
	// prevDigest is the digest of the previous run's desired contacts as
	// this run works them out (sinceLast); ph the run's photos (nil: off).
	prevDigest     string
	ph             *photoRun
	changedSources []string

	// mark is the managed folders' PropFolder value (this entry's), stamp
	// this installation's PropInstall value.
	mark  string
	stamp stamp
	// noDelta: this cloud offers no contacts delta (China, or a custom
	// cloud that refused it this run): folders are read whole. noPurge:
	// no permanentDelete (outside the global cloud): deletes go to the
	// mailbox's Deleted Items.
	noDelta, noPurge atomic.Bool
	// saves stores the mailboxes that had nothing to write, together.
	saves *saver

	mu     sync.Mutex // guards res, mbs and denied during the mailbox phase
	res    *Result
	mbs    []store.RunMailbox
	denied int // target mailboxes that answered 403 ErrorAccessDenied
	absent int // target mailboxes without an Exchange Online mailbox
	// stopped counts the mailboxes the run was stopped in (Ctrl-C),
	// finished the target mailboxes that finished.
	stopped, finished int

	// Other tenants' people (fromtenants.go): own is this run's read of
	// its own directory, shared with consumers; replay a consumer's read
	// whose users delta round this run replays instead of Graph's;
	// recording the read whose round this run records (a consumer's read
	// of another tenant); foreign the source tenants read, keep the
	// prefixes of those that could not be, foreignGraph the Graph requests
	// of the reads this run made of other tenants.
	own, replay, recording *dirRead
	foreign                []foreignSource
	keep                   []string
	foreignGraph           GraphCounts
}

// deltaOffered reports whether contacts delta is read this run.
func (r *run) deltaOffered() bool { return !r.noDelta.Load() }

// target is a mailbox to sync.
type target struct {
	ID  string
	UPN string
}

func newRun(e *Engine, t *config.Tenant, ro RunOptions) *run {
	r := &run{
		e: e, t: t, ro: ro,
		log:  e.opts.Logger.With("tenant", t.Name),
		st:   e.opts.Store,
		mark: folderMark(t.TenantID, t.Name),
		res:  &Result{Run: report.Run{Tenant: t.Name, Trigger: ro.Trigger}, DryRun: ro.DryRun, Errors: []ItemError{}, Skipped: []SkippedMailbox{}},
	}
	r.res.FolderMode, r.res.Folder = string(config.FolderModeFolder), t.Folder
	if t.InDefaultFolder() {
		r.res.FolderMode, r.res.Folder = string(config.FolderModeDefault), t.FolderCategory
	}
	// Contacts delta and permanentDelete exist where Graph's pages say:
	// not in China; permanentDelete in the global cloud only. A custom
	// cloud learns it from Graph's answers (graph.Unsupported).
	switch t.Cloud {
	case config.CloudChina:
		r.noDelta.Store(true)
		r.noPurge.Store(true)
	case config.CloudUSGov, config.CloudUSGovDoD:
		r.noPurge.Store(true)
	}
	return r
}

// skipped is a run that did not start, and is no failure: the tenant is
// being synced by another run, or was purged.
type skipped struct{ code, reason string }

func (s *skipped) Error() string { return s.reason }

// failure ends the run as a whole.
type failure struct{ f *Failure }

func (f *failure) Error() string { return string(f.f.Class) + ": " + f.f.Message }

func fail(class store.FailureClass, code, msg string) error {
	return &failure{&Failure{Class: class, Code: code, Message: msg}}
}

// execute runs the tenant. Unless the caller (the service) began the run
// (RunOptions.RunID) or it is a dry run, it begins the run in the store
// first, the way the service does: the run lock, then the tenant, then the
// heartbeat until finish records the result.
func (r *run) execute(ctx context.Context) *Result {
	start := time.Now()
	r.res.Started = start.UTC().Truncate(time.Second)
	var active *store.ActiveRun
	if r.ro.RunID != 0 {
		r.res.RunID = r.ro.RunID
	} else if r.ro.DryRun {
		if ts, err := r.st.Tenant(ctx, r.t.Name); err == nil && !ts.PurgedAt.IsZero() {
			p := &store.PurgedError{Tenant: r.t.Name, At: ts.PurgedAt, By: ts.PurgedBy}
			return r.finish(ctx, nil, start, &skipped{"purged", p.Error()})
		}
	} else {
		var err error
		if active, err = r.begin(ctx, start); err != nil {
			return r.finish(ctx, nil, start, err)
		}
		r.res.RunID = active.ID
	}
	return r.finish(ctx, active, start, r.sync(ctx))
}

// begin begins the run in the store; a tenant another process (the
// service) is running is refused.
func (r *run) begin(ctx context.Context, start time.Time) (*store.ActiveRun, error) {
	trig := store.Trigger(r.ro.Trigger)
	if trig == "" {
		trig = store.TriggerCLI
	}
	active, err := r.st.BeginRun(ctx, store.RunSpec{
		Tenant: r.t.Name, TenantID: r.t.TenantID, Trigger: trig, Started: start, Owner: owner(),
		OnHeartbeatError: func(err error) { r.log.Warn("renew run heartbeat", "error", err) },
	})
	var busy *store.BusyError
	var purged *store.PurgedError
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &busy):
		// Not a failure: the tenant is being synced (by the service, most
		// likely), and that run reports its outcome.
		return nil, &skipped{"busy", fmt.Sprintf("tenant %s is being synced by run %d in %s: this run did not start", r.t.Name, busy.RunID, busy.Owner)}
	case errors.As(err, &purged):
		return nil, &skipped{"purged", purged.Error()}
	case err != nil:
		return nil, fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
	}
	if active.Reset {
		r.log.Warn("the tenant id changed: the tenant's directory and mailbox state were discarded", "tenant_id", r.t.TenantID)
	}
	return active, nil
}

// sync does the work of the run; its error is a whole-run failure.
func (r *run) sync(ctx context.Context) error {
	if err := r.connect(ctx); err != nil {
		return err
	}
	defer r.startMailboxes(ctx)()

	doneOwn, err := r.beginOwnRead(ctx)
	defer doneOwn()
	if err != nil {
		return err
	}
	if err := r.readSource(ctx); err != nil {
		return err
	}
	sc, err := r.scope(ctx)
	if err != nil {
		return err
	}
	r.publish(directory.NewSelector(r.t, sc))
	if err := r.readForeign(ctx); err != nil {
		return err
	}
	r.selectPeople(sc)
	r.readPhotos(ctx)
	if p := r.ro.Progress; p != nil {
		p.targets.Add(int64(len(r.targets)))
	}
	if !r.ro.DryRun {
		// Mailboxes brought in line from here on store this digest: the
		// next run plans them from what changed since (sinceLast).
		if err := r.st.SetDesiredDigest(ctx, r.t.Name, r.digest); err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
	}
	if err := r.syncMailboxes(ctx); err != nil {
		return err
	}
	if err := r.allDenied(); err != nil {
		return err
	}
	return r.removeUntargeted(ctx)
}

// allDenied fails the run when every target mailbox refused the app
// (403 ErrorAccessDenied), those without an Exchange mailbox aside:
// mailbox access is then missing altogether, not narrowed to a scope.
func (r *run) allDenied() error {
	if r.denied == 0 || r.denied+r.absent < len(r.targets) {
		return nil
	}
	msg := fmt.Sprintf("no target mailbox accepted the app %s: %d refused it with 403 ErrorAccessDenied, %d have no Exchange Online mailbox; ",
		r.t.ClientID, r.denied, r.absent)
	if r.res.MailboxAccess == entra.MailboxAccessRBAC {
		msg += "the token has no Contacts.ReadWrite role, and Exchange RBAC for Applications grants the app none of them " +
			"(New-ManagementRoleAssignment -App ... -Role \"Application Contacts.ReadWrite\" with a scope that holds them), or grant Contacts.ReadWrite in Entra"
	} else {
		msg += "an Exchange application access policy excludes them all (Test-ApplicationAccessPolicy)"
	}
	return &failure{&Failure{Class: FailConsent, Code: "ErrorAccessDenied", Message: msg, MissingRoles: []string{entra.RoleContactsReadWrite}}}
}

// startMailboxes starts the run's mailbox dispatcher, which sends with ctx
// (a cancelled run aborts its batches in flight); stop it after every
// caller has returned.
func (r *run) startMailboxes(ctx context.Context) (stop func()) {
	r.mail, stop = r.client.StartMailboxes(ctx, graph.MailboxOptions{
		// The batch slots are shared with the engine's other runs.
		Linger: r.e.opts.Linger, Slots: r.e.limits().batches, WriteAttempts: r.e.opts.ItemAttempts,
	})
	return stop
}

// finish completes the result, logs it and records the run when this run
// began it (active; nil otherwise).
func (r *run) finish(ctx context.Context, active *store.ActiveRun, start time.Time, err error) *Result {
	res := r.res
	res.Duration = time.Since(start)
	res.Finished = start.Add(res.Duration).UTC().Truncate(time.Second)
	res.Seconds = res.Duration.Round(time.Millisecond).Seconds()
	if r.client != nil {
		s := r.client.Stats()
		res.Graph = GraphCounts{Requests: s.Requests, BatchItems: s.BatchItems, Throttled: s.Status429, Unavailable: s.Status503, Retries: s.Retries}
		fg := r.foreignGraph
		res.Graph.Requests, res.Graph.BatchItems, res.Graph.Throttled = res.Graph.Requests+fg.Requests, res.Graph.BatchItems+fg.BatchItems, res.Graph.Throttled+fg.Throttled
		res.Graph.Unavailable, res.Graph.Retries = res.Graph.Unavailable+fg.Unavailable, res.Graph.Retries+fg.Retries
		res.ThrottleWait = s.Waited
	}
	res.MailboxOutcomes = r.mbs
	res.Photos = r.photoCounts()
	res.Status, res.Failure = r.outcome(ctx, err)
	r.logResult(res)
	if active != nil {
		// The history must survive a cancelled run: Finish writes even
		// when ctx is done.
		rr := store.RunResult{
			Status:     store.RunStatus(res.Status),
			Finished:   time.Now(),
			Counts:     res.StoreCounts(),
			Mailboxes:  r.mbs,
			Failure:    res.Failure,
			CertExpiry: res.CertificateExpires,
			// What the run served goes to the usage ledger
			// (docs/billing.md) when it finished ok or partial.
			Usage: &store.Usage{Tenant: r.t.Name, TenantID: r.t.TenantID, Mailboxes: res.Mailboxes.Synced, Sources: res.SourceCount},
		}
		if err := active.Finish(ctx, rr); err != nil {
			r.log.Error("record run history", "run", active.ID, "error", err)
		}
	}
	return res
}

// outcome is the run's status and, when it failed, why.
func (r *run) outcome(ctx context.Context, err error) (string, *Failure) {
	res := r.res
	switch {
	case err != nil:
		var f *failure
		var sk *skipped
		switch {
		case errors.As(err, &sk):
			res.Reason, res.ReasonCode = sk.reason, sk.code
			return StatusSkipped, nil
		case errors.As(err, &f):
			return StatusFailed, f.f
		case ctx.Err() != nil:
			return r.stoppedStatus(ctx)
		default:
			return StatusFailed, &Failure{Class: FailInternal, Message: err.Error()}
		}
	case ctx.Err() != nil:
		return r.stoppedStatus(ctx)
	case res.Mailboxes.Failed > 0 || res.Contacts.HeldDeletes > 0 || res.Contacts.Failed > 0 || res.Mailboxes.HeldRemovals > 0 || len(r.keep) > 0:
		return StatusPartial, nil
	}
	return StatusOK, nil
}

// logResult logs the run's outcome.
func (r *run) logResult(res *Result) {
	if res.Status == StatusInterrupted {
		// Whoever stopped the run says so (sync's one line, the
		// service's log).
		r.log.Debug("tenant run interrupted", "reason", res.Failure.Message)
		return
	}
	if res.Status == StatusSkipped {
		r.log.Info("tenant run skipped", "why", res.ReasonCode, "reason", res.Reason)
		return
	}
	attrs := []any{
		"status", res.Status, "seconds", res.Seconds,
		"mailboxes_synced", res.Mailboxes.Synced, "mailboxes_skipped", res.Mailboxes.Skipped, "mailboxes_failed", res.Mailboxes.Failed,
		"created", res.Contacts.Created, "updated", res.Contacts.Updated, "deleted", res.Contacts.Deleted,
		"unchanged", res.Contacts.Unchanged, "held_deletes", res.Contacts.HeldDeletes,
		"requests", res.Graph.Requests, "batch_items", res.Graph.BatchItems, "throttled", res.Graph.Throttled,
	}
	if res.DryRun {
		attrs = append(attrs, "dry_run", true)
	}
	if res.Failure != nil {
		attrs = append(attrs, "failure", res.Failure.Class, "code", res.Failure.Code, "error", res.Failure.Message)
		r.log.Error("tenant run failed", attrs...)
	} else {
		r.log.Info("tenant run finished", attrs...)
	}
}

// stoppedStatus explains a run whose context ended: its time limit (a
// failure), or a stop (Ctrl-C, shutdown: interrupted, neither failure nor
// success; the next run continues).
func (r *run) stoppedStatus(ctx context.Context) (string, *Failure) {
	if context.Cause(ctx) == errRunTimeout {
		return StatusFailed, &Failure{Class: FailTimeout, Message: fmt.Sprintf("the run did not finish within its time limit (%s)", r.e.opts.RunTimeout)}
	}
	r.mu.Lock()
	done := r.finished
	r.mu.Unlock()
	r.res.Targets = len(r.targets)
	return StatusInterrupted, &Failure{Class: FailCanceled,
		Message: fmt.Sprintf("interrupted after %d of %d mailboxes; the next run continues", done, len(r.targets))}
}

func owner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}
