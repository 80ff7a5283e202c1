// Package pacer keeps galmirror within Microsoft Graph's throttling limits:
// a per-scope limit on requests in flight (Outlook allows 4 per app and
// mailbox), per-scope Retry-After gates that no request may pass before
// their deadline, jittered exponential back-off, and a bounded retry budget
// so a throttling storm ends in a typed error instead of an endless wait.
//
// A scope is an opaque string key: one per mailbox, plus one for a tenant's
// directory calls. The graph package derives scopes; the pacer only counts.
//
// Every blocking call takes a context and returns promptly when it is
// cancelled. Time comes from the time package, so tests run the pacer
// inside a testing/synctest bubble instead of injecting a clock.
//
// Create one Pacer per tenant run: retry budgets are per scope and run.
package pacer

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used when a Config field is zero.
const (
	DefaultMaxInFlight = 4
	DefaultBackoffBase = 2 * time.Second
	DefaultBackoffCap  = 120 * time.Second
	DefaultMaxAttempts = 8
	DefaultRetryBudget = 10 * time.Minute
)

// Config tunes a Pacer. The zero value gives Graph's Outlook limits and
// galmirror's retry policy.
type Config struct {
	// MaxInFlight is the number of units that may be held at once in one
	// scope (a unit is a request, an independent $batch item, or a
	// dependsOn chain). Default 4.
	MaxInFlight int
	// BackoffBase and BackoffCap bound the exponential back-off used when a
	// response names no Retry-After: attempt n waits a uniformly random
	// duration in [0, min(cap, base·2^(n-1))) ("full jitter").
	// Defaults 2 s and 120 s.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// MaxAttempts bounds the attempts of one request, the first included.
	// Default 8.
	MaxAttempts int
	// RetryBudget caps the total time one scope may spend waiting for
	// retries during the Pacer's life (Retry-After gate time plus back-off
	// sleeps). Once spent, retries in that scope fail with
	// ErrBudgetExhausted. Default 10 minutes; negative means no budget.
	RetryBudget time.Duration
	// Rand returns a uniformly distributed float64 in [0, 1) for jitter;
	// nil uses math/rand/v2. Tests may fix it.
	Rand func() float64
	// UploadBytes per UploadWindow is the upload budget of a scope
	// (Upload); defaults DefaultUploadBytes per DefaultUploadWindow.
	UploadBytes  int64
	UploadWindow time.Duration
}

// ErrTooManyAttempts and ErrBudgetExhausted are the reasons in a
// *GiveUpError.
var (
	ErrTooManyAttempts = errors.New("too many attempts")
	ErrBudgetExhausted = errors.New("retry budget exhausted")
)

// GiveUpError reports that a request will not be retried again. It wraps
// ErrTooManyAttempts or ErrBudgetExhausted.
type GiveUpError struct {
	Scope    string
	Attempts int           // attempts made, the first included
	Spent    time.Duration // retry wait charged to Scope so far
	Reason   error
}

func (e *GiveUpError) Error() string {
	return fmt.Sprintf("pacer: scope %s: giving up after %d attempts (%s waited): %v",
		e.Scope, e.Attempts, e.Spent.Round(time.Millisecond), e.Reason)
}

// Unwrap returns the reason.
func (e *GiveUpError) Unwrap() error { return e.Reason }

// Stats are cumulative counters of a Pacer.
type Stats struct {
	Waits     int64         // waits that actually paused (gate or back-off)
	Waited    time.Duration // total time paused in those waits
	Throttled int64         // Block calls: throttled responses seen
	GiveUps   int64         // retries refused (attempts or budget)
}

// Pacer is safe for concurrent use.
type Pacer struct {
	cfg Config

	mu     sync.Mutex
	scopes map[string]*scope

	waits     atomic.Int64
	waited    atomic.Int64 // nanoseconds
	throttled atomic.Int64
	giveUps   atomic.Int64
}

type scope struct {
	inUse   int
	waiters list.List // of *waiter, FIFO
	gate    time.Time // no request may start before this instant
	spent   time.Duration
	uploads []upload // the upload budget's window (Upload)
}

type waiter struct {
	n     int
	ready chan struct{} // closed when the units are granted
}

// New returns a Pacer; zero fields of cfg take the defaults.
func New(cfg Config) *Pacer {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffCap <= 0 {
		cfg.BackoffCap = DefaultBackoffCap
	}
	if cfg.BackoffCap < cfg.BackoffBase {
		cfg.BackoffCap = cfg.BackoffBase
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryBudget == 0 {
		cfg.RetryBudget = DefaultRetryBudget
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Pacer{cfg: cfg, scopes: make(map[string]*scope)}
}

// Config returns the effective configuration (defaults filled in).
func (p *Pacer) Config() Config { return p.cfg }

// scopeLocked returns the state of name, creating it. p.mu must be held.
func (p *Pacer) scopeLocked(name string) *scope {
	s := p.scopes[name]
	if s == nil {
		s = &scope{}
		p.scopes[name] = s
	}
	return s
}

// Acquire takes n units in scope, waiting in FIFO order behind earlier
// callers, and then waits until the scope's Retry-After gate has passed, so
// that a request started right after Acquire returns never arrives before a
// deadline the server named. The returned release gives the units back; it
// is safe to call more than once. On error (ctx done, or n out of range) no
// units are held.
func (p *Pacer) Acquire(ctx context.Context, scopeName string, n int) (release func(), err error) {
	if n < 1 || n > p.cfg.MaxInFlight {
		return nil, fmt.Errorf("pacer: acquire %d units in scope %s: want 1..%d", n, scopeName, p.cfg.MaxInFlight)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	s := p.scopeLocked(scopeName)
	if s.waiters.Len() == 0 && s.inUse+n <= p.cfg.MaxInFlight {
		s.inUse += n
		p.mu.Unlock()
	} else {
		w := &waiter{n: n, ready: make(chan struct{})}
		elem := s.waiters.PushBack(w)
		p.mu.Unlock()
		select {
		case <-w.ready:
		case <-ctx.Done():
			p.mu.Lock()
			select {
			case <-w.ready:
				// Granted while we were giving up: hand the units back.
				s.inUse -= n
			default:
				s.waiters.Remove(elem)
			}
			// Either way the queue head may now fit.
			p.grantLocked(s)
			p.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			p.mu.Lock()
			s.inUse -= n
			p.grantLocked(s)
			p.mu.Unlock()
		})
	}
	// Holding the units while waiting for the gate costs nothing: nobody
	// may start a request in this scope before it passes anyway.
	if err := p.Wait(ctx, scopeName); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// grantLocked hands units to waiters at the head of the queue while they
// fit. Strict FIFO: a large request at the head is not overtaken.
func (p *Pacer) grantLocked(s *scope) {
	for {
		front := s.waiters.Front()
		if front == nil {
			return
		}
		w := front.Value.(*waiter)
		if s.inUse+w.n > p.cfg.MaxInFlight {
			return
		}
		s.inUse += w.n
		s.waiters.Remove(front)
		close(w.ready)
	}
}

// InFlight returns the units currently held in scope.
func (p *Pacer) InFlight(scopeName string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.scopes[scopeName]; s != nil {
		return s.inUse
	}
	return 0
}

// Block closes scope's gate until the given instant: Wait, Acquire and
// Retry.Wait will not return before it. A gate only ever moves later; an
// earlier deadline than the current one is ignored. The time by which the
// gate moves is charged to the scope's retry budget, and each call counts
// as one throttled response in Stats.
func (p *Pacer) Block(scopeName string, until time.Time) {
	p.throttled.Add(1)
	p.block(scopeName, until)
}

func (p *Pacer) block(scopeName string, until time.Time) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.scopeLocked(scopeName)
	from := s.gate
	if from.Before(now) {
		from = now
	}
	if until.After(from) {
		s.spent += until.Sub(from)
		s.gate = until
	}
}

// Ready reports whether scope's gate has passed, and its deadline (the zero
// time if the scope was never blocked).
func (p *Pacer) Ready(scopeName string) (bool, time.Time) {
	p.mu.Lock()
	var gate time.Time
	if s := p.scopes[scopeName]; s != nil {
		gate = s.gate
	}
	p.mu.Unlock()
	return !time.Now().Before(gate), gate
}

// Wait returns once scope's gate has passed, or ctx's error. It never
// returns nil early: after every timer it re-reads the clock and the gate
// (which may have moved later meanwhile).
func (p *Pacer) Wait(ctx context.Context, scopeName string) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var start time.Time
	for {
		ok, gate := p.Ready(scopeName)
		if ok {
			if !start.IsZero() {
				p.noteWait(time.Since(start))
			}
			return nil
		}
		if start.IsZero() {
			start = time.Now()
		}
		d := time.Until(gate)
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			p.noteWait(time.Since(start))
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// sleep pauses for d or until ctx is done.
func (p *Pacer) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		p.noteWait(time.Since(start))
		return ctx.Err()
	case <-t.C:
		// Timers never fire early in Go, but be explicit about the
		// contract: finish the remaining time if the clock disagrees.
		for rest := d - time.Since(start); rest > 0; rest = d - time.Since(start) {
			t.Reset(rest)
			select {
			case <-ctx.Done():
				p.noteWait(time.Since(start))
				return ctx.Err()
			case <-t.C:
			}
		}
		p.noteWait(time.Since(start))
		return nil
	}
}

func (p *Pacer) noteWait(d time.Duration) {
	p.waits.Add(1)
	p.waited.Add(int64(d))
}

// Backoff returns the full-jitter back-off before retry number attempt
// (1 for the first retry): uniform in [0, min(cap, base·2^(attempt-1))).
func (p *Pacer) Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	ceiling := p.cfg.BackoffCap
	if attempt <= 62 {
		if e := p.cfg.BackoffBase << (attempt - 1); e > 0 && e>>(attempt-1) == p.cfg.BackoffBase && e < ceiling {
			ceiling = e
		}
	}
	return time.Duration(p.cfg.Rand() * float64(ceiling))
}

// Spent returns the retry wait charged to scope so far.
func (p *Pacer) Spent(scopeName string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.scopes[scopeName]; s != nil {
		return s.spent
	}
	return 0
}

// Exhausted reports whether scope has spent its retry budget. Callers that
// re-queue work themselves (for example failed $batch items) check it
// before trying again.
func (p *Pacer) Exhausted(scopeName string) bool {
	return p.cfg.RetryBudget >= 0 && p.Spent(scopeName) >= p.cfg.RetryBudget
}

// charge adds d to scope's spent retry time.
func (p *Pacer) charge(scopeName string, d time.Duration) {
	p.mu.Lock()
	p.scopeLocked(scopeName).spent += d
	p.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (p *Pacer) Stats() Stats {
	return Stats{
		Waits:     p.waits.Load(),
		Waited:    time.Duration(p.waited.Load()),
		Throttled: p.throttled.Load(),
		GiveUps:   p.giveUps.Load(),
	}
}

// Retry tracks the attempts of one request (or one whole $batch) across
// one or more scopes. It is not safe for concurrent use; make one per
// request.
type Retry struct {
	p        *Pacer
	scopes   []string
	max      int // attempts allowed, the first included
	attempts int
	noted    bool // Throttled already closed the gates for the pending Wait
}

// Retry starts tracking a request in the given scopes (a $batch names the
// scope of every item). The first attempt needs no call: call Wait after
// each failed attempt.
func (p *Pacer) Retry(scopes ...string) *Retry {
	return p.RetryUpTo(p.cfg.MaxAttempts, scopes...)
}

// RetryUpTo is Retry with its own bound of attempts (the first included)
// instead of Config.MaxAttempts; max <= 0 means MaxAttempts.
func (p *Pacer) RetryUpTo(max int, scopes ...string) *Retry {
	if max <= 0 {
		max = p.cfg.MaxAttempts
	}
	return &Retry{p: p, scopes: scopes, max: max, attempts: 1}
}

// Attempts returns the attempts made so far, the first included.
func (r *Retry) Attempts() int { return r.attempts }

// Wait is called after a failed, retryable attempt. retryAfter is the
// server's Retry-After (zero when absent). A positive retryAfter closes the
// gate of every scope until now+retryAfter first (unless Throttled already
// did), so that no other request in those scopes starts before the
// deadline, whatever Wait then decides.
// Wait then refuses with a *GiveUpError if the request has used its
// attempts or a scope its retry budget, and otherwise waits (for the gates,
// or a jittered back-off without retryAfter) and returns nil: the caller
// sends the next attempt, after Acquire when it paces itself.
func (r *Retry) Wait(ctx context.Context, retryAfter time.Duration) error {
	p := r.p
	if retryAfter > 0 && !r.noted {
		r.Throttled(retryAfter)
	}
	r.noted = false
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.attempts >= r.max {
		return r.giveUp(ErrTooManyAttempts, r.firstScope())
	}
	var backoff time.Duration
	if retryAfter <= 0 {
		backoff = p.Backoff(r.attempts)
	}
	if p.cfg.RetryBudget >= 0 {
		for _, s := range r.scopes {
			if p.Spent(s)+backoff > p.cfg.RetryBudget {
				return r.giveUp(ErrBudgetExhausted, s)
			}
		}
	}
	r.attempts++
	if backoff > 0 {
		for _, s := range r.scopes {
			p.charge(s, backoff)
		}
		if err := p.sleep(ctx, backoff); err != nil {
			return err
		}
	}
	for _, s := range r.scopes {
		if err := p.Wait(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// Throttled closes the gate of every scope of the Retry until
// now+retryAfter and counts a throttled response, at once; the next Wait
// then does not close them again. Call it as soon as a response names a
// Retry-After and before releasing the pacer unit the request held:
// otherwise a request queued for that unit could start in the gap, before
// the gate closes, and reach the server inside the deadline.
func (r *Retry) Throttled(retryAfter time.Duration) {
	if retryAfter <= 0 {
		return
	}
	r.p.throttled.Add(1)
	until := time.Now().Add(retryAfter)
	for _, s := range r.scopes {
		r.p.block(s, until)
	}
	r.noted = true
}

func (r *Retry) firstScope() string {
	if len(r.scopes) > 0 {
		return r.scopes[0]
	}
	return ""
}

func (r *Retry) giveUp(reason error, scopeName string) error {
	r.p.giveUps.Add(1)
	return &GiveUpError{Scope: scopeName, Attempts: r.attempts, Spent: r.p.Spent(scopeName), Reason: reason}
}
