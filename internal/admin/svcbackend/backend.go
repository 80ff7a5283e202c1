// Package svcbackend implements admin.Backend on top of the running service
// (internal/service), its state database (internal/store) and the sync
// engine's check (internal/syncer), and builds the admin server's options
// from settings.json.
//
// It is a package of its own so that internal/admin (the API, its
// authentication and its client, which the CLI and a future fleet console
// import) does not depend on the service, the engine or SQLite.
package svcbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/report"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

// Service is what the backend uses of the running service; *service.Service
// implements it.
type Service interface {
	Config() *config.Config
	Tenants() []service.TenantStatus
	SyncNow(ctx context.Context, tenant string) (int64, error)
	Pause(ctx context.Context, tenant, by string) error
	Resume(ctx context.Context, tenant, by string) error
	Subscribe(buffer int) *events.Subscription
	Emit(ctx context.Context, e events.Event)
}

var _ Service = (*service.Service)(nil)

// Store is what the backend reads from the state database; *store.Store
// implements it.
type Store interface {
	Tenant(ctx context.Context, name string) (store.TenantState, error)
	ListRuns(ctx context.Context, tenant string, pageSize int, pageToken string) ([]store.Run, string, error)
	GetRun(ctx context.Context, runID int64) (store.Run, []store.RunMailbox, error)
	EventsSince(ctx context.Context, after int64, limit int) ([]store.Event, error)
	LastEventSeq(ctx context.Context) (int64, error)
	Mailboxes(ctx context.Context, tenant string) ([]store.Mailbox, error)
}

var _ Store = (*store.Store)(nil)

// Checker runs `galmirror check` for a tenant; *syncer.Engine implements it.
type Checker interface {
	Check(ctx context.Context, t *config.Tenant) *syncer.CheckReport
}

var _ Checker = (*syncer.Engine)(nil)

// Options configure a Backend. Service and Store are required.
type Options struct {
	Service Service
	Store   Store
	// Checker answers CheckTenant; nil makes it Unavailable.
	Checker Checker
	// Version is reported by GetServiceInfo.
	Version string
	// StartedAt is when the service started (default: New's time).
	StartedAt time.Time
	// Log receives what the backend cannot report to the caller.
	Log *slog.Logger
}

// Tuning of the event stream and the check.
const (
	// subscriptionBuffer is how many live events a watcher may fall behind
	// before it reads the rest back from the store.
	subscriptionBuffer = 256
	// replayPage is how many stored events are read per query.
	replayPage = 1000
	// checkTimeout bounds a check (a token request, a directory read and
	// a read of every target mailbox, each with a few retries).
	checkTimeout = 90 * time.Second
	// checkReuse is how long a finished check answers CheckTenant again.
	// A check costs a token, a full directory read and a request per
	// target mailbox; viewers may call it freely, so callers within a
	// minute share one: long enough to absorb a dashboard polling every
	// few seconds or many people asking at once, short enough that a fix
	// made in Entra ID shows a minute later. A reload of the settings
	// ends the reuse at once.
	checkReuse = 60 * time.Second
	// requesters is how many SyncNow principals are remembered for
	// Run.RequestedBy (the store does not keep them).
	requesters = 1000
)

// Backend is admin.Backend over the service, the store and the engine.
type Backend struct {
	svc     Service
	st      Store
	checker Checker
	version string
	started time.Time
	host    string
	log     *slog.Logger

	mu        sync.Mutex
	requested map[int64]string // run id -> principal that asked for it
	reqOrder  []int64

	checkMu    sync.Mutex
	checks     map[string]*checkFlight // by tenant: running or recent
	checkReuse time.Duration

	console atomic.Pointer[func() admin.ConsoleConnection]
}

// SetConsole makes ServiceInfo report the push connection's state, as f
// returns it (push mode).
func (b *Backend) SetConsole(f func() admin.ConsoleConnection) { b.console.Store(&f) }

// checkFlight is one check of a tenant, shared by every CheckTenant that
// arrives while it runs and, once finished, for checkReuse.
type checkFlight struct {
	cfg     *config.Config // the configuration it checks
	cancel  context.CancelFunc
	waiters int           // callers waiting; 0 while running cancels it
	done    chan struct{} // closed when res and at are set
	res     admin.CheckResult
	err     error
	at      time.Time // when it finished
	reuse   bool      // finished within its time limit: may answer later calls
}

var _ admin.Backend = (*Backend)(nil)

// New returns the backend.
func New(o Options) (*Backend, error) {
	if o.Service == nil || o.Store == nil {
		return nil, errors.New("svcbackend: Service and Store are required")
	}
	if o.StartedAt.IsZero() {
		o.StartedAt = time.Now()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return &Backend{svc: o.Service, st: o.Store, checker: o.Checker, version: o.Version, started: o.StartedAt,
		host: host, log: o.Log, requested: map[int64]string{}, checks: map[string]*checkFlight{}, checkReuse: checkReuse}, nil
}

// ServiceInfo implements admin.Backend.
func (b *Backend) ServiceInfo(ctx context.Context) (admin.ServiceInfo, error) {
	cfg := b.svc.Config()
	info := admin.ServiceInfo{Version: b.version, Host: b.host, ConfigPath: cfg.Path, StartedAt: b.started, Tenants: len(cfg.Tenants)}
	if f := b.console.Load(); f != nil {
		c := (*f)()
		info.Console = &c
	}
	return info, nil
}

// Paths names the file system paths of the configuration the service
// runs with now, for admin.Options.Paths: the API hides them from callers
// over the network.
func (b *Backend) Paths() []admin.NamedPath {
	return ConfigPaths(b.svc.Config())
}

// ConfigPaths lists the paths cfg names, with what each is.
func ConfigPaths(cfg *config.Config) []admin.NamedPath {
	if cfg == nil {
		return nil
	}
	var out []admin.NamedPath
	add := func(path, name string) {
		if path != "" {
			out = append(out, admin.NamedPath{Path: path, Name: name})
		}
	}
	add(cfg.Path, "settings file")
	add(cfg.DataDir, "data directory")
	add(cfg.Admin.Certificate.File, "admin certificate file")
	add(cfg.Admin.ClientCertificates.CAFile, "client CA file")
	if k := cfg.Admin.Kerberos; k != nil {
		add(k.Keytab, "keytab")
	}
	for _, t := range cfg.Tenants {
		add(t.Certificate.File, "certificate file")
		add(t.Endpoints.CAFile, "CA file")
	}
	return out
}

// Tenants implements admin.Backend: every configured tenant, by name.
func (b *Backend) Tenants(ctx context.Context) ([]admin.Tenant, error) {
	cfg := b.svc.Config()
	live := b.live()
	names := make([]string, 0, len(cfg.Tenants))
	for _, t := range cfg.Tenants {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	out := make([]admin.Tenant, 0, len(names))
	for _, n := range names {
		t, _ := cfg.Tenant(n)
		at, err := b.tenant(ctx, t, live)
		if err != nil {
			return nil, err
		}
		out = append(out, at)
	}
	return out, nil
}

// Tenant implements admin.Backend.
func (b *Backend) Tenant(ctx context.Context, name string) (admin.Tenant, error) {
	t, ok := b.svc.Config().Tenant(name)
	if !ok {
		return admin.Tenant{}, unknownTenant(name)
	}
	return b.tenant(ctx, t, b.live())
}

func unknownTenant(name string) error {
	return fmt.Errorf("tenant %q is not in this service's configuration: %w", name, admin.ErrNotFound)
}

func (b *Backend) live() map[string]service.TenantStatus {
	m := map[string]service.TenantStatus{}
	for _, s := range b.svc.Tenants() {
		m[s.Name] = s
	}
	return m
}

// tenant combines the configuration, the scheduler's live view and the
// stored state of one tenant.
func (b *Backend) tenant(ctx context.Context, t *config.Tenant, live map[string]service.TenantStatus) (admin.Tenant, error) {
	st, err := b.st.Tenant(ctx, t.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return admin.Tenant{}, err
	}
	out := admin.Tenant{
		Name: t.Name, TenantID: t.TenantID, Paused: st.Paused, PausedBy: st.PausedBy,
		LastSuccess: st.LastSuccess, NextRun: st.NextRun, ConsecutiveFailures: st.ConsecutiveFailures,
		CertNotAfter: st.CertExpiry,
	}
	ls, scheduled := live[t.Name]
	if scheduled {
		out.Paused, out.NextRun, out.ConsecutiveFailures, out.CurrentRunID = ls.Paused, ls.NextRun, ls.ConsecutiveFailures, ls.RunID
		if !ls.CertNotAfter.IsZero() {
			out.CertNotAfter = ls.CertNotAfter
		}
	}
	switch {
	case !scheduled:
		// Not (yet) under the scheduler: the service is starting,
		// stopping, or applying a reload.
		out.State = admin.StateUnknown
	case out.CurrentRunID != 0:
		out.State = admin.StateRunning
	case out.Paused:
		out.State = admin.StatePaused
	case out.ConsecutiveFailures > 0:
		out.State = admin.StateBackingOff
	default:
		out.State = admin.StateIdle
	}
	if out.State == admin.StatePaused || out.State == admin.StateRunning {
		out.NextRun = time.Time{} // the proto: unset while paused or running
	}

	// The last finished run: the newest may still be running.
	runs, _, err := b.st.ListRuns(ctx, t.Name, 5, "")
	if err != nil {
		return admin.Tenant{}, err
	}
	for i := range runs {
		if runs[i].Status != store.RunRunning {
			r := b.run(&runs[i])
			out.LastRun = &r
			out.CertError = certError(&runs[i])
			break
		}
	}

	mbs, err := b.st.Mailboxes(ctx, t.Name)
	if err != nil {
		return admin.Tenant{}, err
	}
	out.TargetMailboxes = len(mbs)
	return out, nil
}

// certError is why the last run could not use the tenant's certificate, if
// that is why it failed: the message of a failure of class
// store.FailCertMissing or store.FailCertificate (Run.Error is
// "<class>: <message>"), whether the service or `galmirror sync` ran it.
func certError(r *store.Run) string {
	if r.Status != store.RunFailed {
		return ""
	}
	switch r.FailureClass {
	case store.FailCertMissing, store.FailCertificate:
		_, msg, _ := strings.Cut(r.Error, ": ")
		return msg
	}
	return ""
}

// Runs implements admin.Backend. A tenant removed from the configuration
// keeps its history, so a tenant the store knows is accepted too.
func (b *Backend) Runs(ctx context.Context, tenant string, pageSize int, pageToken string) ([]admin.Run, string, error) {
	if _, ok := b.svc.Config().Tenant(tenant); !ok {
		if _, err := b.st.Tenant(ctx, tenant); errors.Is(err, store.ErrNotFound) {
			return nil, "", unknownTenant(tenant)
		} else if err != nil {
			return nil, "", err
		}
	}
	runs, next, err := b.st.ListRuns(ctx, tenant, pageSize, pageToken)
	switch {
	case errors.Is(err, store.ErrInvalidPageToken):
		return nil, "", fmt.Errorf("page_token: not a token this server issued for tenant %q: %w", tenant, admin.ErrInvalidArgument)
	case err != nil:
		return nil, "", err
	}
	out := make([]admin.Run, 0, len(runs))
	for i := range runs {
		out = append(out, b.run(&runs[i]))
	}
	return out, next, nil
}

// Run implements admin.Backend.
func (b *Backend) Run(ctx context.Context, id int64) (admin.Run, []admin.MailboxOutcome, error) {
	r, mbs, err := b.st.GetRun(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return admin.Run{}, nil, fmt.Errorf("run %d: no such run (old runs are trimmed): %w", id, admin.ErrNotFound)
	case err != nil:
		return admin.Run{}, nil, err
	}
	out := make([]admin.MailboxOutcome, 0, len(mbs))
	for _, m := range mbs {
		out = append(out, mailboxOutcome(m))
	}
	slices.SortFunc(out, func(a, b admin.MailboxOutcome) int { return strings.Compare(a.Mailbox, b.Mailbox) })
	return b.run(&r), out, nil
}

func (b *Backend) run(r *store.Run) admin.Run {
	v := report.FromHistory(*r)
	out := admin.Run{
		ID: r.ID, Tenant: r.Tenant, Trigger: string(r.Trigger), Started: r.Started, Finished: r.Finished,
		Outcome: outcome(r.Status), Counts: counts(r.Counts), Error: r.Error, Status: v.Status,
	}
	if v.Failure != nil {
		out.FailureClass, out.FailureMessage = string(v.Failure.Class), v.Failure.Message
	}
	b.mu.Lock()
	out.RequestedBy = b.requested[r.ID]
	b.mu.Unlock()
	return out
}

func outcome(s store.RunStatus) admin.Outcome {
	switch s {
	case store.RunRunning:
		return admin.OutcomeRunning
	case store.RunOK:
		return admin.OutcomeSucceeded
	case store.RunPartial:
		return admin.OutcomePartial
	case store.RunFailed:
		return admin.OutcomeFailed
	case store.RunInterrupted:
		return admin.OutcomeCancelled
	}
	return admin.OutcomeUnknown
}

func counts(c store.Counts) admin.Counts {
	return admin.Counts{
		Mailboxes:       c.MailboxesSynced + c.MailboxesSkipped + c.MailboxesFailed,
		MailboxesFailed: c.MailboxesFailed,
		Created:         c.Created, Updated: c.Updated, Deleted: c.Deleted, Unchanged: c.Unchanged,
		DeletesHeld: c.HeldBack, MailboxesSynced: c.MailboxesSynced, MailboxesSkipped: c.MailboxesSkipped,
		GraphRequests: c.GraphRequests, BatchItems: c.BatchItems, Throttled: c.Throttled429, Unavailable: c.Throttled503,
	}
}

// mailboxOutcome maps a stored mailbox outcome to the API's three
// statuses, keeping the specific reason in Error.
func mailboxOutcome(m store.RunMailbox) admin.MailboxOutcome {
	out := admin.MailboxOutcome{Mailbox: m.UPN, Counts: counts(m.Counts)}
	if out.Mailbox == "" {
		out.Mailbox = m.UserID
	}
	out.Counts.Mailboxes, out.Counts.MailboxesFailed = 1, 0
	var why string
	switch m.Status {
	case store.MailboxOK:
		out.Status = "succeeded"
	case store.MailboxNoMailbox:
		out.Status, why = "skipped", "no Exchange Online mailbox"
	case store.MailboxOutOfScope:
		out.Status, why = "skipped", "outside the app's Exchange RBAC scope or application access policy"
	case store.MailboxForeignFolder:
		out.Status, why = "failed", "a folder of the managed folder's name exists that galmirror did not create"
		out.Counts.MailboxesFailed = 1
	case store.MailboxRemoved:
		out.Status, why = "removed", "no longer a target: its managed contacts were removed"
		out.Counts.Mailboxes = 0
	case store.MailboxRemovalHeld:
		out.Status, why = "removal-held", "no longer a target: the mass-delete guard held its removal back"
		out.Counts.Mailboxes = 0
	default:
		out.Status = "failed"
		out.Counts.MailboxesFailed = 1
	}
	parts := []string{}
	if why != "" {
		parts = append(parts, why)
	}
	if m.ErrorCode != "" || m.ErrorMessage != "" {
		parts = append(parts, strings.TrimPrefix(m.ErrorCode+": "+m.ErrorMessage, ": "))
	}
	if m.RequestID != "" && len(parts) > 0 {
		parts = append(parts, "request-id "+m.RequestID)
	}
	out.Error = strings.Join(parts, "; ")
	return out
}

// Events implements admin.Backend: the stored events after the cursor, then
// live ones. It subscribes before reading the store, so nothing falls
// between the two; an event in both is passed once (by Seq). When the
// subscription drops events (a slow watcher) or skips a Seq (an event
// written by another process, such as `galmirror sync`), the missing ones
// are read back from the store: the stream is gap-free while the store
// keeps them.
func (b *Backend) Events(ctx context.Context, after int64) iter.Seq2[admin.Event, error] {
	return func(yield func(admin.Event, error) bool) {
		sub := b.svc.Subscribe(subscriptionBuffer)
		defer sub.Close()
		newest, err := b.st.LastEventSeq(ctx)
		if err != nil {
			yield(admin.Event{}, err)
			return
		}
		// after < 0: live events only. A cursor beyond the newest event
		// (from a state database since replaced) would hide every new
		// event as already seen: resume at the newest instead.
		last := after
		if after < 0 || after > newest {
			last = newest
		}
		// replay yields the stored events after last; false: stop.
		replay := func() bool {
			for {
				evs, err := b.st.EventsSince(ctx, last, replayPage)
				if err != nil {
					if ctx.Err() == nil {
						yield(admin.Event{}, err)
					}
					return false
				}
				for _, e := range evs {
					last = e.Seq
					if !yield(storedEvent(e), nil) {
						return false
					}
				}
				if len(evs) < replayPage {
					return true
				}
			}
		}
		// Events the subscription drops while the replay is being read
		// are noticed at the first live event.
		var dropped int64
		if !replay() {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-sub.C():
				if !ok {
					yield(admin.Event{}, fmt.Errorf("event stream closed: %w", admin.ErrUnavailable))
					return
				}
				if d := sub.Dropped(); d != dropped || e.Seq > last+1 {
					// Events are missing between last and e: the store
					// has them (e was recorded before it was sent).
					dropped = d
					if !replay() {
						return
					}
				}
				if e.Seq != 0 && e.Seq <= last {
					continue // already sent from the store
				}
				if e.Seq != 0 {
					last = e.Seq
				}
				if !yield(liveEvent(e), nil) {
					return
				}
			}
		}
	}
}

// storedEvent and liveEvent render an event identically whether it comes
// from the store or the bus (service.StoreRecorder wrote the stored form).
func storedEvent(e store.Event) admin.Event {
	out := admin.Event{Seq: e.Seq, Time: e.Time, ID: e.ID, Level: level(e.Level), Tenant: e.Tenant, Message: e.Message}
	if len(e.Fields) > 0 {
		var raw map[string]any
		if err := json.Unmarshal(e.Fields, &raw); err == nil {
			out.Attrs = make(map[string]string, len(raw))
			for k, v := range raw {
				if s, ok := v.(string); ok {
					out.Attrs[k] = s
				} else {
					out.Attrs[k] = fmt.Sprint(v)
				}
			}
		}
	}
	out.RunID, _ = strconv.ParseInt(out.Attrs["run_id"], 10, 64)
	return out
}

func liveEvent(e events.Event) admin.Event {
	attrs := map[string]string{}
	for _, f := range e.Fields {
		attrs[f.Key] = f.Value
	}
	if e.RunID != "" {
		attrs["run_id"] = e.RunID
	}
	if e.Detail != "" {
		attrs["detail"] = e.Detail
	}
	attrs["event"] = e.ID.Name()
	out := admin.Event{Seq: e.Seq, Time: e.Time.UTC().Truncate(time.Millisecond), ID: int(e.ID), Level: level(e.Level().Slog().String()),
		Tenant: e.Tenant, Message: e.Text(), Attrs: attrs}
	out.RunID, _ = strconv.ParseInt(e.RunID, 10, 64)
	return out
}

func level(s string) admin.Level {
	switch strings.ToUpper(s) {
	case "DEBUG", "INFO":
		return admin.LevelInfo
	case "WARN", "WARNING":
		return admin.LevelWarning
	case "ERROR":
		return admin.LevelError
	}
	return admin.LevelUnknown
}

// SyncNow implements admin.Backend.
func (b *Backend) SyncNow(ctx context.Context, tenant, principal string) (int64, error) {
	id, err := b.svc.SyncNow(ctx, tenant)
	if err != nil {
		return 0, mapServiceError(tenant, err)
	}
	b.mu.Lock()
	b.requested[id] = principal
	b.reqOrder = append(b.reqOrder, id)
	if len(b.reqOrder) > requesters {
		delete(b.requested, b.reqOrder[0])
		b.reqOrder = b.reqOrder[1:]
	}
	b.mu.Unlock()
	return id, nil
}

// SetPaused implements admin.Backend.
func (b *Backend) SetPaused(ctx context.Context, tenant string, paused bool, principal string) error {
	var err error
	if paused {
		err = b.svc.Pause(ctx, tenant, principal)
	} else {
		err = b.svc.Resume(ctx, tenant, principal)
	}
	if err != nil {
		return mapServiceError(tenant, err)
	}
	return nil
}

// mapServiceError classifies the service's errors for the API; their text
// names only the tenant and the run.
func mapServiceError(tenant string, err error) error {
	var busy *service.AlreadyRunningError
	switch {
	case errors.As(err, &busy):
		return &admin.BusyError{RunID: busy.RunID, Owner: busy.Owner}
	case errors.Is(err, service.ErrUnknownTenant):
		return unknownTenant(tenant)
	case errors.Is(err, service.ErrPaused):
		return fmt.Errorf("tenant %q: %w; resume it first", tenant, admin.ErrPaused)
	case errors.Is(err, store.ErrPurged):
		return fmt.Errorf("tenant %q was purged; `galmirror purge --tenant %s --reenable` first: %w", tenant, tenant, admin.ErrPaused)
	case errors.Is(err, service.ErrNotRunning):
		return fmt.Errorf("the service is starting or stopping: %w", admin.ErrUnavailable)
	}
	return err
}

// Check implements admin.Backend with the engine's check of the tenant as
// configured now, bounded: one check runs at a time per tenant, callers
// arriving meanwhile wait for it and share its result, and a finished
// check answers later calls for checkReuse (with the time it ran), unless
// the configuration has been reloaded since. A caller that goes away stops
// waiting at once; the check itself is cancelled when nobody waits for it
// any more, and a cancelled or timed-out check is not reused.
func (b *Backend) Check(ctx context.Context, tenant string) (admin.CheckResult, error) {
	cfg := b.svc.Config()
	t, ok := cfg.Tenant(tenant)
	if !ok {
		return admin.CheckResult{}, unknownTenant(tenant)
	}
	if b.checker == nil {
		return admin.CheckResult{}, fmt.Errorf("this service cannot run checks: %w", admin.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return admin.CheckResult{}, err
	}
	b.checkMu.Lock()
	f := b.checks[tenant]
	switch {
	case f != nil && f.running():
		// Join the check in progress, even one of the configuration
		// before a reload: it ends soon, and then the next call checks
		// the new one.
	case f != nil && f.reuse && f.cfg == cfg && time.Since(f.at) < b.checkReuse:
		b.checkMu.Unlock()
		return f.res, nil
	default:
		f = b.startCheck(ctx, cfg, t)
		b.checks[tenant] = f
	}
	f.waiters++
	b.checkMu.Unlock()

	select {
	case <-f.done:
		b.checkMu.Lock()
		f.waiters--
		b.checkMu.Unlock()
		return f.res, f.err
	case <-ctx.Done():
		b.checkMu.Lock()
		f.waiters--
		if f.waiters == 0 && f.running() {
			// Nobody waits for it: stop it, and let the next caller
			// start afresh rather than join a cancelled check.
			f.cancel()
			if b.checks[tenant] == f {
				delete(b.checks, tenant)
			}
		}
		b.checkMu.Unlock()
		return admin.CheckResult{}, ctx.Err()
	}
}

// running reports whether the check has not finished.
func (f *checkFlight) running() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// startCheck starts a check of t in the background, detached from the
// caller's context (others may share it) and bounded by checkTimeout.
func (b *Backend) startCheck(ctx context.Context, cfg *config.Config, t *config.Tenant) *checkFlight {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	f := &checkFlight{cfg: cfg, cancel: cancel, done: make(chan struct{})}
	tc := *t
	go func() {
		defer cancel()
		var rep *syncer.CheckReport
		func() {
			defer func() {
				if r := recover(); r != nil {
					b.log.Error("admin: the check panicked", "tenant", tc.Name, "panic", fmt.Sprint(r))
					rep = nil
				}
			}()
			rep = b.checker.Check(cctx, &tc)
		}()
		now := time.Now()
		b.checkMu.Lock()
		defer b.checkMu.Unlock()
		switch {
		case rep == nil:
			f.err = fmt.Errorf("the check of tenant %q failed inside the service", tc.Name)
		case errors.Is(cctx.Err(), context.Canceled):
			// Nobody waits for it any more.
			f.err = context.Canceled
		default:
			f.res = checkResult(rep, now)
			f.res.CheckedAt = now
			f.reuse = cctx.Err() == nil
		}
		f.at = now
		close(f.done)
	}()
	return f
}

// checkResult maps the engine's report. A certificate that works but
// expires within 14 days fails `galmirror check`; the API calls it a
// warning, since syncs still run.
func checkResult(rep *syncer.CheckReport, now time.Time) admin.CheckResult {
	res := admin.CheckResult{Status: admin.CheckOK}
	for _, it := range rep.Items {
		c := admin.Check{Name: it.Name, Status: admin.CheckOK, Detail: it.Detail}
		if !it.OK {
			c.Status = admin.CheckFailed
			if it.Name == "certificate" && rep.CertificateExpires.After(now) {
				c.Status = admin.CheckWarning
			}
		}
		if c.Status > res.Status {
			res.Status = c.Status
		}
		res.Checks = append(res.Checks, c)
	}
	return res
}

// Audit implements admin.Backend: one catalog event (600, 601 or 602) per
// record, through the service's sinks (store, Event Log or journal,
// watchers).
func (b *Backend) Audit(ctx context.Context, a admin.AuditRecord) {
	var id events.ID
	switch a.Kind {
	case admin.AuditAction:
		id = events.AdminAction
	case admin.AuditDenied:
		id = events.AdminDenied
	case admin.AuditAuthFailed:
		id = events.AdminAuthFailed
	default:
		b.log.Error("admin audit record of unknown kind", "kind", string(a.Kind), "method", a.Method)
		return
	}
	e := events.Event{ID: id, Time: a.Time, Tenant: a.Tenant, Detail: a.Detail}
	add := func(k, v string) {
		if v != "" {
			e.Fields = append(e.Fields, events.F(k, v))
		}
	}
	add("principal", a.Principal)
	add("on_behalf_of", a.OnBehalfOf)
	add("role", a.Role)
	add("method", a.Method)
	add("source", a.Source)
	add("result", a.Result)
	if a.Count > 0 {
		add("count", strconv.Itoa(a.Count))
	}
	b.svc.Emit(ctx, e)
}
