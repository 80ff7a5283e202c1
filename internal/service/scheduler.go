package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sort"
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
	EnsureTenant(ctx context.Context, name, tenantID string) (reset bool, err error)
	Tenant(ctx context.Context, name string) (store.TenantState, error)
	SetPaused(ctx context.Context, tenant string, paused bool, by string, at time.Time) error
	SetNextRun(ctx context.Context, tenant string, next time.Time) error
	SetCertExpiry(ctx context.Context, tenant string, notAfter time.Time) error
	StartRun(ctx context.Context, tenant string, trigger store.Trigger, started time.Time, owner string) (int64, error)
	TouchRun(ctx context.Context, runID int64, now time.Time) error
	FinishRun(ctx context.Context, runID int64, res store.RunResult) error
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
	// TouchEvery renews a run's heartbeat in the store (default 1m; the store
	// wants at least one per minute).
	TouchEvery time.Duration
	// FinishTimeout bounds the final store write of a run, which happens
	// even during shutdown (default 15s).
	FinishTimeout time.Duration
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
	def(&t.TouchEvery, time.Minute)
	def(&t.FinishTimeout, 15*time.Second)
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
}

type runTicket struct {
	id      int64
	trigger store.Trigger
	started time.Time
}

func (l *tenantLoop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func newScheduler(r Runner, st State, bus *events.Bus, log *slog.Logger, m *metrics, timing Timing, owner string) *scheduler {
	return &scheduler{
		runner: r, state: st, bus: bus, log: log, metrics: m, certs: newCertGate(),
		timing: timing.withDefaults(), owner: owner, lim: newLimiter(1),
		loops: map[string]*tenantLoop{}, stopping: map[string]*tenantLoop{},
	}
}

// applied summarises a configuration change.
type applied struct{ added, removed, changed []string }

// apply brings the set of tenant loops in line with cfg. Runs of unchanged
// tenants are not touched; a changed tenant's run in progress finishes with
// the configuration it started with; a removed tenant's run is cancelled.
// ctx is the service's lifetime: new loops live until it ends.
func (s *scheduler) apply(ctx context.Context, cfg *config.Config) applied {
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
	spread := min(s.timing.StartupSpread, cfg.Schedule.Jitter.Std())
	l.mu.Lock()
	s.setNext(ctx, l, time.Now().Add(jitter(spread)))
	l.mu.Unlock()
	s.checkCert(ctx, l)

	first := true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
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
		t := l.pending
		if t != nil {
			l.pending, l.active = nil, t
			l.mu.Unlock()
		} else {
			wait := time.Until(l.next)
			if wait > 0 {
				l.mu.Unlock()
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
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
			t = &runTicket{trigger: trigger, started: time.Now()}
			l.active = t
			l.mu.Unlock()
			id, err := s.startRun(ctx, l, t)
			if err != nil {
				l.mu.Lock()
				l.active = nil
				if ctx.Err() == nil {
					s.setNext(ctx, l, time.Now().Add(s.timing.BusyRetry))
				}
				l.mu.Unlock()
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("tenant run not started", "tenant", l.name, "err", err)
				continue
			}
			l.mu.Lock()
			t.id = id
			l.mu.Unlock()
		}
		first = false
		s.execute(ctx, l, t)
		if ctx.Err() != nil {
			return
		}
	}
}

// startRun records a run's start; the store refuses (BusyError) when
// another process runs the tenant.
func (s *scheduler) startRun(ctx context.Context, l *tenantLoop, t *runTicket) (int64, error) {
	l.mu.Lock()
	tenantID := l.cfg.TenantID
	l.mu.Unlock()
	if _, err := s.state.EnsureTenant(ctx, l.name, tenantID); err != nil {
		return 0, fmt.Errorf("record tenant %s: %w", l.name, err)
	}
	return s.state.StartRun(ctx, l.name, t.trigger, t.started, s.owner)
}

// execute runs one tenant run whose start is recorded: wait for a slot,
// run, record the outcome (even when ctx is cancelled), reschedule and emit
// events.
func (s *scheduler) execute(ctx context.Context, l *tenantLoop, t *runTicket) {
	touchCtx, stopTouch := context.WithCancel(ctx)
	touched := make(chan struct{})
	go func() {
		defer close(touched)
		tick := time.NewTicker(s.timing.TouchEvery)
		defer tick.Stop()
		for {
			select {
			case <-touchCtx.Done():
				return
			case now := <-tick.C:
				if err := s.state.TouchRun(touchCtx, t.id, now); err != nil && touchCtx.Err() == nil {
					s.log.Warn("renew run lease", "tenant", l.name, "run", t.id, "err", err)
				}
			}
		}
	}()

	var (
		res     Result
		err     error
		ran     time.Duration
		slotErr = s.lim.acquire(ctx)
	)
	if slotErr == nil {
		l.mu.Lock()
		cfg := l.cfg
		l.mu.Unlock()
		s.metrics.running(l.name, 1)
		began := time.Now()
		res, err = s.runner.RunTenant(ctx, cfg, RunInfo{ID: t.id, Trigger: t.trigger})
		ran = time.Since(began)
		s.metrics.running(l.name, -1)
		s.lim.release()
	} else {
		err = slotErr
	}
	stopTouch()
	<-touched
	finished := time.Now()

	interrupted := err != nil && ctx.Err() != nil
	res = normalise(res, err, interrupted)
	rr := store.RunResult{Status: res.Status, Finished: finished, Counts: res.Counts, Mailboxes: res.Mailboxes}
	if res.Failure != nil {
		rr.Error = string(res.Failure.Class) + ": " + res.Failure.Message
	}
	if interrupted {
		rr.Error = "interrupted: " + context.Cause(ctx).Error()
	}
	// The history write must survive shutdown, but not hang it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timing.FinishTimeout)
	if ferr := s.state.FinishRun(fctx, t.id, rr); ferr != nil {
		s.log.Error("record run outcome", "tenant", l.name, "run", t.id, "err", ferr)
	}
	if !res.Certificate.NotAfter.IsZero() {
		if cerr := s.state.SetCertExpiry(fctx, l.name, res.Certificate.NotAfter); cerr != nil {
			s.log.Warn("record certificate expiry", "tenant", l.name, "err", cerr)
		}
	}
	cancel()

	l.mu.Lock()
	l.active = nil
	if !res.Certificate.NotAfter.IsZero() {
		l.cert = res.Certificate
	}
	if interrupted {
		l.mu.Unlock()
		s.log.Info("tenant run interrupted", "tenant", l.name, "run", t.id)
		return
	}
	l.lastFinish = finished
	if res.Status == store.RunFailed {
		l.failures++
		d := s.timing.backoff(l.failures)
		s.setNext(ctx, l, finished.Add(d+jitter(d/10)))
	} else {
		l.failures = 0
		s.setNext(ctx, l, s.scheduleNext(l.cfg, finished))
	}
	failures, next := l.failures, l.next
	l.mu.Unlock()

	s.metrics.observe(l.name, res, ran, failures)
	scope := s.bus.Scope()
	for _, e := range runEvents(l.name, t, res, ran, next) {
		scope.Emit(ctx, e)
	}
	s.checkCert(ctx, l)
}

// normalise makes a Runner's answer consistent: an error means failed, a
// failure always has a class.
func normalise(res Result, err error, interrupted bool) Result {
	switch {
	case interrupted:
		res.Status = store.RunInterrupted
		res.Failure = nil
	case err != nil:
		res.Status = store.RunFailed
		if res.Failure == nil {
			res.Failure = &Failure{Class: FailInternal, Message: err.Error()}
		}
	case res.Status == store.RunFailed:
		if res.Failure == nil {
			res.Failure = &Failure{Class: FailInternal, Message: "run failed"}
		}
	case res.Status != store.RunPartial:
		res.Status = store.RunOK
		res.Failure = nil
	}
	if res.Failure != nil && res.Failure.Class == "" {
		res.Failure.Class = FailInternal
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
	if l.paused {
		return 0, fmt.Errorf("%w: %s", ErrPaused, name)
	}
	if t := l.pending; t != nil {
		return 0, &AlreadyRunningError{Tenant: name, RunID: t.id}
	}
	if t := l.active; t != nil {
		return 0, &AlreadyRunningError{Tenant: name, RunID: t.id}
	}
	t := &runTicket{trigger: store.TriggerManual, started: time.Now()}
	if _, err := s.state.EnsureTenant(ctx, name, l.cfg.TenantID); err != nil {
		return 0, fmt.Errorf("record tenant %s: %w", name, err)
	}
	id, err := s.state.StartRun(ctx, name, t.trigger, t.started, s.owner)
	if err != nil {
		var busy *store.BusyError
		if errors.As(err, &busy) {
			return 0, &AlreadyRunningError{Tenant: name, RunID: busy.RunID, Owner: busy.Owner}
		}
		return 0, fmt.Errorf("start run of %s: %w", name, err)
	}
	t.id = id
	l.pending = t
	l.poke()
	return id, nil
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
