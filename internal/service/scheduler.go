package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// State is the part of the store the service uses. *store.Store implements
// it; it is declared here, by its consumer, to keep the service's needs
// visible.
type State interface {
	Tenant(ctx context.Context, name string) (store.TenantState, error)
	// Tenants and LastRun serve the health endpoint (BuildReport).
	Tenants(ctx context.Context) ([]store.TenantState, error)
	LastRun(ctx context.Context, tenant string) (store.Run, error)
	SetPaused(ctx context.Context, tenant string, paused bool, by string, at time.Time) error
	SetNextRun(ctx context.Context, tenant string, next time.Time) error
	// FailureStreak tells whether a tenant's failures so far were all an
	// outage (no event raised for them), after a restart.
	FailureStreak(ctx context.Context, tenant string) (store.Streak, error)
	// BeginRun is the one way a run starts, here and in `galmirror sync`:
	// the run lock first, then the tenant (see store.Store.BeginRun).
	BeginRun(ctx context.Context, spec store.RunSpec) (*store.ActiveRun, error)
	AppendEvent(ctx context.Context, e store.Event) (int64, error)
	EventsSince(ctx context.Context, after int64, limit int) ([]store.Event, error)
	LastEventSeq(ctx context.Context) (int64, error)
}

var _ State = (*store.Store)(nil)

// Errors returned by SyncNow, Pause and Resume; test with errors.Is.
var (
	// ErrUnknownTenant: no tenant of that name in the current configuration.
	ErrUnknownTenant = errors.New("service: no such tenant")
	// ErrAlreadyRunning: the tenant has a run queued or in progress (see
	// *AlreadyRunningError for its id).
	ErrAlreadyRunning = errors.New("service: tenant run already in progress")
	// ErrPaused: SyncNow on a paused tenant; resume it first.
	ErrPaused = errors.New("service: tenant is paused")
	// ErrNotRunning: the service is not running (not started or stopped).
	ErrNotRunning = errors.New("service: not running")
)

// AlreadyRunningError says which run is in the way. It wraps
// ErrAlreadyRunning.
type AlreadyRunningError struct {
	Tenant string
	// RunID is the run in progress.
	RunID int64
	// Owner is the process running it when it is not this service
	// (`galmirror sync` beside the service), as host:pid.
	Owner string
}

func (e *AlreadyRunningError) Error() string {
	if e.Owner != "" {
		return fmt.Sprintf("tenant %s has run %d in progress in %s", e.Tenant, e.RunID, e.Owner)
	}
	return fmt.Sprintf("tenant %s has run %d in progress", e.Tenant, e.RunID)
}

// Unwrap makes errors.Is(err, ErrAlreadyRunning) true.
func (e *AlreadyRunningError) Unwrap() error { return ErrAlreadyRunning }

// Timing tunes the scheduler. The zero value of a field means its default.
type Timing struct {
	// StartupSpread bounds the random delay of the start-up runs so that
	// many tenants do not start in the same second (default 30s, never more
	// than the tenant's jitter).
	StartupSpread time.Duration
	// BackoffBase is the delay after the first whole-run failure; it
	// doubles with each further failure (default 5m) ...
	BackoffBase time.Duration
	// BackoffMax ... up to BackoffMax (default 6h).
	BackoffMax time.Duration
	// BusyRetry is the delay when another process runs the tenant
	// (default 5m).
	BusyRetry time.Duration
	// TouchEvery renews a run's heartbeat in the store (default
	// store.DefaultHeartbeat). The final write of a run, which happens
	// even during shutdown, is bounded by the store.
	TouchEvery time.Duration
	// OutageGather is how long an outage (runs failing because Microsoft
	// is unreachable) gathers the tenants it hits before its one event
	// names them (default 2m); an outage shorter than this raises none.
	OutageGather time.Duration
}

func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.StartupSpread, 30*time.Second)
	def(&t.BackoffBase, 5*time.Minute)
	def(&t.BackoffMax, 6*time.Hour)
	def(&t.BusyRetry, 5*time.Minute)
	def(&t.TouchEvery, store.DefaultHeartbeat)
	def(&t.OutageGather, 2*time.Minute)
	return t
}

// backoff returns the delay after the n-th consecutive whole-run failure
// (n ≥ 1), before jitter.
func (t Timing) backoff(n int) time.Duration {
	d := t.BackoffBase
	for i := 1; i < n && d < t.BackoffMax; i++ {
		d *= 2
	}
	return min(d, t.BackoffMax)
}

// scheduler owns one goroutine per tenant (a tenantLoop). Loops share only
// the limiter, so a slow or failing tenant never delays another beyond the
// concurrency cap.
type scheduler struct {
	runner  Runner
	state   State
	bus     *events.Bus
	log     *slog.Logger
	metrics *metrics
	certs   *certGate
	timing  Timing
	owner   string
	lim     *limiter
	outages *outages

	mu       sync.Mutex
	loops    map[string]*tenantLoop
	stopping map[string]*tenantLoop // removed, still finishing a run
	wg       sync.WaitGroup
}

// tenantLoop schedules and runs one tenant.
type tenantLoop struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // capacity 1: something under mu changed

	mu           sync.Mutex
	cfg          config.Tenant
	schedChanged bool
	paused       bool
	next         time.Time
	failures     int
	lastFinish   time.Time
	pending      *runTicket // started by SyncNow, waiting for the loop
	active       *runTicket // being run (or queued for a slot)
	cert         Certificate
	stopped      bool // the loop has ended or is ending: SyncNow queues nothing
	// alerted: the current streak of failures raised a failure event
	// (202), so its end raises the recovery event (480); a streak of
	// outages alone (class unavailable) raised none and ends quietly.
	alerted bool
	// failingSince is when the current streak of failures began.
	failingSince time.Time
	lastClass    store.FailureClass
	// purged: BeginRun refused the tenant as purged, and event 484 said
	// so; the loop tries again at every scheduled run (a re-enabled tenant
	// then runs).
	purged bool
}

type runTicket struct {
	id      int64
	trigger store.Trigger
	started time.Time
	run     *store.ActiveRun // begun in the store; finished by execute
}

func (l *tenantLoop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func newScheduler(r Runner, st State, bus *events.Bus, log *slog.Logger, m *metrics, timing Timing, owner string, outageAfter func() time.Duration) *scheduler {
	timing = timing.withDefaults()
	s := &scheduler{
		runner: r, state: st, bus: bus, log: log, metrics: m, certs: newCertGate(),
		timing: timing, owner: owner, lim: newLimiter(1),
		loops: map[string]*tenantLoop{}, stopping: map[string]*tenantLoop{},
	}
	s.outages = newOutages(bus, timing.OutageGather, outageAfter, s.runnable)
	return s
}

// runnable returns the tenants that run: configured and not paused.
func (s *scheduler) runnable() []string {
	s.mu.Lock()
	loops := make([]*tenantLoop, 0, len(s.loops))
	for _, l := range s.loops {
		loops = append(loops, l)
	}
	s.mu.Unlock()
	var out []string
	for _, l := range loops {
		l.mu.Lock()
		if !l.paused && !l.stopped {
			out = append(out, l.name)
		}
		l.mu.Unlock()
	}
	return out
}

// applied summarises a configuration change.
type applied struct{ added, removed, changed []string }

// apply brings the set of tenant loops in line with cfg. Runs of unchanged
// tenants are not touched; a changed tenant's run in progress finishes with
// the configuration it started with; a removed tenant's run is cancelled.
// ctx is the service's lifetime: new loops live until it ends.
func (s *scheduler) apply(ctx context.Context, cfg *config.Config) applied {
	a := s.applyLoops(ctx, cfg)
	// Outside s.mu: the outage tracker asks the scheduler for its loops.
	for _, name := range a.removed {
		s.outages.forget(ctx, name)
	}
	return a
}

func (s *scheduler) applyLoops(ctx context.Context, cfg *config.Config) applied {
	s.lim.setLimit(cfg.MaxConcurrentTenants)
	var a applied
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, t := range cfg.Tenants {
		want[t.Name] = true
		if l, ok := s.loops[t.Name]; ok {
			l.mu.Lock()
			if !sameTenant(l.cfg, t) {
				if publicSchedule(l.cfg.Schedule) != publicSchedule(t.Schedule) {
					l.schedChanged = true
				}
				l.cfg = t
				a.changed = append(a.changed, t.Name)
			}
			l.mu.Unlock()
			l.poke()
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		l := &tenantLoop{name: t.Name, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1), cfg: t}
		prev := s.stopping[t.Name]
		s.loops[t.Name] = l
		a.added = append(a.added, t.Name)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runLoop(lctx, l, prev)
		}()
	}
	for name, l := range s.loops {
		if want[name] {
			continue
		}
		l.cancel()
		delete(s.loops, name)
		s.stopping[name] = l
		a.removed = append(a.removed, name)
		s.metrics.forget(name)
	}
	sort.Strings(a.removed)
	return a
}

// publicSchedule drops the parsed forms (cron spec, *time.Location), which
// compare by identity or carry caches, keeping what the file says.
func publicSchedule(s config.Schedule) config.Schedule {
	return config.Schedule{Every: s.Every, Jitter: s.Jitter, Cron: s.Cron, TimeZone: s.TimeZone}
}

// sameTenant reports whether two tenant configurations say the same.
func sameTenant(a, b config.Tenant) bool {
	a.Schedule, b.Schedule = publicSchedule(a.Schedule), publicSchedule(b.Schedule)
	return reflect.DeepEqual(a, b)
}

// stopAll cancels every loop (and so every run) and waits until they have
// ended or ctx is done; it returns the tenants still running then.
func (s *scheduler) stopAll(ctx context.Context) []string {
	s.mu.Lock()
	all := make([]*tenantLoop, 0, len(s.loops)+len(s.stopping))
	for _, l := range s.loops {
		all = append(all, l)
	}
	for _, l := range s.stopping {
		all = append(all, l)
	}
	s.mu.Unlock()
	for _, l := range all {
		l.cancel()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	var stuck []string
	for _, l := range all {
		select {
		case <-l.done:
		default:
			stuck = append(stuck, l.name)
		}
	}
	sort.Strings(stuck)
	return stuck
}

func (s *scheduler) loop(name string) *tenantLoop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loops[name]
}

// jitter returns a random duration in [0, d].
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// scheduleNext is the next regular run after t.
func (s *scheduler) scheduleNext(t config.Tenant, after time.Time) time.Time {
	next := t.Schedule.Next(after)
	if next.IsZero() || !next.After(after) {
		// A cron expression that never matches passes validation only by
		// mistake; fall back to daily rather than spinning.
		s.log.Error("schedule has no next run; retrying in 24h", "tenant", t.Name)
		next = after.Add(24 * time.Hour)
	}
	return next.Add(jitter(t.Schedule.Jitter.Std()))
}

func (s *scheduler) setNext(ctx context.Context, l *tenantLoop, next time.Time) {
	l.next = next
	s.metrics.setNext(l.name, next)
	if err := s.state.SetNextRun(ctx, l.name, next); err != nil && ctx.Err() == nil {
		s.log.Warn("record next run", "tenant", l.name, "err", err)
	}
}

// runLoop is a tenant's goroutine: wait for the next run (or a SyncNow, a
// configuration change, pause or resume), run, reschedule, until ctx ends.
func (s *scheduler) runLoop(ctx context.Context, l *tenantLoop, prev *tenantLoop) {
	defer func() {
		s.endLoop(ctx, l)
		s.mu.Lock()
		if s.stopping[l.name] == l {
			delete(s.stopping, l.name)
		}
		s.mu.Unlock()
		close(l.done)
	}()
	if prev != nil {
		// The tenant was removed and added back while its old run was
		// still finishing: never overlap it.
		select {
		case <-prev.done:
		case <-ctx.Done():
			return
		}
	}
	s.initLoop(ctx, l)
	first := true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		t, ok := s.nextRun(ctx, l, first, timer)
		if !ok {
			return
		}
		first = false
		s.execute(ctx, l, t)
		if ctx.Err() != nil {
			return
		}
	}
}

// initLoop reads the tenant's persisted state (paused, failures,
// certificate) and schedules the start-up run.
func (s *scheduler) initLoop(ctx context.Context, l *tenantLoop) {
	l.mu.Lock()
	cfg := l.cfg
	l.mu.Unlock()
	if st, err := s.state.Tenant(ctx, l.name); err == nil {
		l.mu.Lock()
		l.paused = st.Paused
		l.failures = st.ConsecutiveFailures
		if !st.CertExpiry.IsZero() {
			l.cert.NotAfter = st.CertExpiry
		}
		l.mu.Unlock()
		s.metrics.setPaused(l.name, st.Paused)
		s.metrics.setCert(l.name, st.CertExpiry)
	} else if !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("read tenant state", "tenant", l.name, "err", err)
	}
	if st, err := s.state.FailureStreak(ctx, l.name); err == nil && st.Runs > 0 {
		l.mu.Lock()
		l.alerted, l.failingSince = !st.Unavailable, st.Since
		l.mu.Unlock()
	}
	spread := min(s.timing.StartupSpread, cfg.Schedule.Jitter.Std())
	l.mu.Lock()
	s.setNext(ctx, l, time.Now().Add(jitter(spread)))
	l.mu.Unlock()
	s.checkCert(ctx, l)
}

// endLoop stops SyncNow from queueing runs for the ending loop and finishes
// a run SyncNow began that the loop will not run, so that its lock and
// heartbeat end with the loop.
func (s *scheduler) endLoop(ctx context.Context, l *tenantLoop) {
	l.mu.Lock()
	l.stopped = true
	t := l.pending
	l.pending = nil
	l.mu.Unlock()
	if t == nil {
		return
	}
	why := "the tenant's loop ended"
	if cause := context.Cause(ctx); cause != nil {
		why = cause.Error()
	}
	stopped := &store.Failure{Class: store.FailCanceled, Message: "the run was stopped before it started: " + why}
	if err := t.run.Finish(ctx, store.RunResult{Status: store.RunInterrupted, Failure: stopped}); err != nil {
		s.log.Error("record run outcome", "tenant", l.name, "run", t.id, "err", err)
	}
}

// nextRun waits until the tenant's next run is due (or SyncNow began one)
// and returns it, begun in the store; false when ctx ended.
func (s *scheduler) nextRun(ctx context.Context, l *tenantLoop, first bool, timer *time.Timer) (*runTicket, bool) {
	for {
		l.mu.Lock()
		if l.schedChanged {
			l.schedChanged = false
			if !first && l.failures == 0 {
				anchor := l.lastFinish
				if anchor.IsZero() {
					anchor = time.Now()
				}
				s.setNext(ctx, l, s.scheduleNext(l.cfg, anchor))
			}
		}
		if t := l.pending; t != nil {
			l.pending, l.active = nil, t
			l.mu.Unlock()
			return t, true
		}
		if wait := time.Until(l.next); wait > 0 {
			l.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil, false
			case <-l.wake:
			case <-timer.C:
			}
			continue
		}
		if l.paused {
			s.setNext(ctx, l, s.scheduleNext(l.cfg, time.Now()))
			l.mu.Unlock()
			// A paused tenant still gets its daily certificate warning.
			s.checkCert(ctx, l)
			continue
		}
		trigger := store.TriggerSchedule
		if first {
			trigger = store.TriggerStartup
		}
		t := &runTicket{trigger: trigger, started: time.Now()}
		l.active = t
		tenantID := l.cfg.TenantID
		l.mu.Unlock()
		if s.startRun(ctx, l, t, tenantID) {
			return t, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
	}
}

// startRun begins a scheduled run in the store. When another process runs
// the tenant (or the store fails) it reschedules the tenant after
// BusyRetry and reports false.
func (s *scheduler) startRun(ctx context.Context, l *tenantLoop, t *runTicket, tenantID string) bool {
	run, err := s.beginRun(ctx, l.name, tenantID, t)
	var purged *store.PurgedError
	if errors.As(err, &purged) {
		s.skipPurged(ctx, l, purged)
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.purged = false
	if err != nil {
		l.active = nil
		if ctx.Err() == nil {
			s.setNext(ctx, l, time.Now().Add(s.timing.BusyRetry))
			s.log.Warn("tenant run not started", "tenant", l.name, "err", err)
		}
		return false
	}
	t.id, t.run = run.ID, run
	return true
}

// skipPurged reschedules a tenant `galmirror purge` removed, saying so once.
func (s *scheduler) skipPurged(ctx context.Context, l *tenantLoop, p *store.PurgedError) {
	l.mu.Lock()
	l.active = nil
	said := l.purged
	l.purged = true
	s.setNext(ctx, l, s.scheduleNext(l.cfg, time.Now()))
	l.mu.Unlock()
	if said {
		return
	}
	s.log.Warn("tenant skipped: purged", "tenant", l.name, "purged_at", p.At, "by", p.By)
	s.bus.Emit(ctx, events.Event{ID: events.TenantPurged, Tenant: l.name,
		Detail: fmt.Sprintf("purged on %s; not synced until `galmirror purge --tenant %s --reenable`", p.At.UTC().Format("2006-01-02 15:04 MST"), l.name),
		Fields: []events.Field{events.F("purged_at", p.At.UTC().Format(time.RFC3339)), events.F("by", p.By)}})
}

// beginRun begins a run of the tenant in the store, the same way `galmirror
// sync` does: the run lock first, then the tenant, whose state is discarded
// if its tenant id changed; the store refuses (BusyError) when another
// process runs the tenant.
func (s *scheduler) beginRun(ctx context.Context, name, tenantID string, t *runTicket) (*store.ActiveRun, error) {
	run, err := s.state.BeginRun(ctx, store.RunSpec{
		Tenant: name, TenantID: tenantID, Trigger: t.trigger, Started: t.started, Owner: s.owner,
		HeartbeatEvery: s.timing.TouchEvery,
		OnHeartbeatError: func(err error) {
			s.log.Warn("renew run heartbeat", "tenant", name, "err", err)
		},
	})
	if err != nil {
		return nil, err
	}
	if run.Reset {
		s.log.Warn("the tenant id changed: the tenant's directory and mailbox state were discarded", "tenant", name, "tenant_id", tenantID)
	}
	return run, nil
}

// execute runs one tenant run begun in the store: wait for a slot, run,
// record the outcome (even when ctx is cancelled), reschedule and emit
// events.
func (s *scheduler) execute(ctx context.Context, l *tenantLoop, t *runTicket) {
	res, ran, err := s.runTenant(ctx, l, t)
	finished := time.Now()
	var stop error
	if err != nil && ctx.Err() != nil {
		stop = context.Cause(ctx)
	}
	res = normalise(res, err, stop)
	rr := store.RunResult{Status: res.Status, Finished: finished, Counts: res.Counts, Mailboxes: res.Mailboxes,
		Failure: res.Failure, CertExpiry: res.Certificate.NotAfter}
	if ferr := t.run.Finish(ctx, rr); ferr != nil {
		s.log.Error("record run outcome", "tenant", l.name, "run", t.id, "err", ferr)
	}

	l.mu.Lock()
	l.active = nil
	if !res.Certificate.NotAfter.IsZero() {
		l.cert = res.Certificate
	}
	if stop != nil {
		l.mu.Unlock()
		s.log.Info("tenant run interrupted", "tenant", l.name, "run", t.id)
		return
	}
	l.lastFinish = finished
	prev := streakOf(l)
	if res.Status == store.RunFailed {
		if l.failures == 0 {
			l.failingSince = t.started
		}
		l.failures++
		l.lastClass = res.Failure.Class
		l.alerted = l.alerted || res.Failure.Class != store.FailUnavailable
		d := s.timing.backoff(l.failures)
		s.setNext(ctx, l, finished.Add(d+jitter(d/10)))
	} else {
		l.failures, l.alerted, l.failingSince = 0, false, time.Time{}
		s.setNext(ctx, l, s.scheduleNext(l.cfg, finished))
	}
	failures, next := l.failures, l.next
	l.mu.Unlock()

	s.metrics.observe(l.name, res, ran, failures)
	scope := s.bus.Scope()
	for _, e := range runEvents(l.name, t, res, ran, next) {
		scope.Emit(ctx, e)
	}
	for _, e := range res.Events {
		if (e.ID == events.CertRenewalFailed || e.ID == events.CertRenewalBlocked) && !s.certs.daily(l.name, e.ID, finished) {
			continue
		}
		e.Tenant, e.RunID = l.name, strconv.FormatInt(t.id, 10)
		scope.Emit(ctx, e)
	}
	if res.Status == store.RunFailed && res.Failure.Class == store.FailUnavailable {
		s.outages.failed(ctx, l.name, res.Failure, t.started, finished)
	} else {
		s.outages.ok(ctx, l.name, finished)
	}
	if e, ok := recoveredEvent(l.name, t, res, prev, finished); ok {
		scope.Emit(ctx, e)
	}
	s.checkCert(ctx, l)
}

// streak is a tenant's failures before a run.
type streak struct {
	failures int
	alerted  bool
	since    time.Time
	class    store.FailureClass
}

func streakOf(l *tenantLoop) streak {
	return streak{failures: l.failures, alerted: l.alerted, since: l.failingSince, class: l.lastClass}
}

// recoveredEvent is the recovery event (480) of a run that did not fail
// after runs that did and raised a failure event: the RMM's tickets for
// them can close. A streak of outages alone raised none (the outage's own
// events say when it ends).
func recoveredEvent(tenant string, t *runTicket, res Result, prev streak, finished time.Time) (events.Event, bool) {
	if res.Status == store.RunFailed || prev.failures == 0 || !prev.alerted {
		return events.Event{}, false
	}
	detail := fmt.Sprintf("the tenant syncs again after %s", plural(prev.failures, "failed run"))
	fields := []events.Field{events.FInt("failures", int64(prev.failures)), events.F("status", string(res.Status))}
	if prev.class != "" {
		fields = append(fields, events.F("class", string(prev.class)))
	}
	if !prev.since.IsZero() {
		fields = append(fields, events.F("since", prev.since.UTC().Format(time.RFC3339)),
			events.F("duration", finished.Sub(prev.since).Round(time.Second).String()))
	}
	return events.Event{ID: events.RunRecovered, Tenant: tenant, RunID: strconv.FormatInt(t.id, 10), Detail: detail, Fields: fields}, true
}

// runTenant waits for a concurrency slot and runs the tenant with the
// configuration it has now.
func (s *scheduler) runTenant(ctx context.Context, l *tenantLoop, t *runTicket) (res Result, ran time.Duration, err error) {
	if err := s.lim.acquire(ctx); err != nil {
		return Result{}, 0, err
	}
	defer s.lim.release()
	l.mu.Lock()
	cfg := l.cfg
	l.mu.Unlock()
	s.metrics.running(l.name, 1)
	defer s.metrics.running(l.name, -1)
	began := time.Now()
	res, err = s.runner.RunTenant(ctx, cfg, RunInfo{ID: t.id, Trigger: t.trigger})
	return res, time.Since(began), err
}

// normalise makes a Runner's answer consistent: an error means failed, a
// failure always has a class. stop, when not nil, is why the service
// stopped the run (shutdown, the tenant removed): it is then interrupted.
func normalise(res Result, err, stop error) Result {
	switch {
	case stop != nil:
		res.Status = store.RunInterrupted
		res.Failure = &store.Failure{Class: store.FailCanceled, Message: "interrupted: " + stop.Error()}
	case err != nil:
		res.Status = store.RunFailed
		if res.Failure == nil {
			res.Failure = &store.Failure{Class: store.FailInternal, Message: err.Error()}
		}
	case res.Status == store.RunFailed:
		if res.Failure == nil {
			res.Failure = &store.Failure{Class: store.FailInternal, Message: "run failed"}
		}
	case res.Status != store.RunPartial:
		res.Status = store.RunOK
		res.Failure = nil
	}
	if res.Failure != nil && res.Failure.Class == "" {
		res.Failure.Class = store.FailInternal
	}
	return res
}

// checkCert emits the certificate expiry event due for the tenant, at most
// once a day per threshold.
func (s *scheduler) checkCert(ctx context.Context, l *tenantLoop) {
	l.mu.Lock()
	c := l.cert
	l.mu.Unlock()
	if e, ok := s.certs.due(l.name, c, time.Now()); ok {
		s.bus.Emit(ctx, e)
	}
}

// syncNow starts a manual run of the tenant and returns its id.
func (s *scheduler) syncNow(ctx context.Context, name string) (int64, error) {
	l := s.loop(name)
	if l == nil {
		return 0, fmt.Errorf("%w: %s", ErrUnknownTenant, name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.stopped:
		return 0, fmt.Errorf("%w: tenant %s is being stopped", ErrNotRunning, name)
	case l.paused:
		return 0, fmt.Errorf("%w: %s", ErrPaused, name)
	case l.pending != nil:
		return 0, &AlreadyRunningError{Tenant: name, RunID: l.pending.id}
	case l.active != nil:
		return 0, &AlreadyRunningError{Tenant: name, RunID: l.active.id}
	}
	t := &runTicket{trigger: store.TriggerManual, started: time.Now()}
	run, err := s.beginRun(ctx, name, l.cfg.TenantID, t)
	if err != nil {
		var busy *store.BusyError
		if errors.As(err, &busy) {
			return 0, &AlreadyRunningError{Tenant: name, RunID: busy.RunID, Owner: busy.Owner}
		}
		return 0, fmt.Errorf("start run of %s: %w", name, err)
	}
	t.id, t.run = run.ID, run
	l.pending = t
	l.poke()
	return t.id, nil
}

// setPaused pauses or resumes a tenant, persisting it first.
func (s *scheduler) setPaused(ctx context.Context, name string, paused bool, by string) error {
	l := s.loop(name)
	if l == nil {
		return fmt.Errorf("%w: %s", ErrUnknownTenant, name)
	}
	if err := s.state.SetPaused(ctx, name, paused, by, time.Now()); err != nil {
		return fmt.Errorf("record pause of %s: %w", name, err)
	}
	l.mu.Lock()
	l.paused = paused
	l.mu.Unlock()
	s.metrics.setPaused(name, paused)
	l.poke()
	return nil
}

// TenantStatus is the scheduler's live view of one tenant.
type TenantStatus struct {
	Name    string
	Paused  bool
	NextRun time.Time
	// RunID is the run queued or in progress (0 when idle).
	RunID   int64
	Trigger store.Trigger
	// ConsecutiveFailures of whole runs (drives the back-off).
	ConsecutiveFailures int
	CertNotAfter        time.Time
}

func (s *scheduler) statuses() []TenantStatus {
	s.mu.Lock()
	loops := make([]*tenantLoop, 0, len(s.loops))
	for _, l := range s.loops {
		loops = append(loops, l)
	}
	s.mu.Unlock()
	out := make([]TenantStatus, 0, len(loops))
	for _, l := range loops {
		l.mu.Lock()
		st := TenantStatus{Name: l.name, Paused: l.paused, NextRun: l.next, ConsecutiveFailures: l.failures, CertNotAfter: l.cert.NotAfter}
		for _, t := range []*runTicket{l.active, l.pending} {
			if t != nil {
				st.RunID, st.Trigger = t.id, t.trigger
			}
		}
		l.mu.Unlock()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
