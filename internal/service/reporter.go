package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// ReporterState is what a Reporter reads: *store.Store.
type ReporterState interface {
	FailureStreak(ctx context.Context, tenant string) (store.Streak, error)
	EventsSince(ctx context.Context, after int64, limit int) ([]store.Event, error)
	LastEventSeq(ctx context.Context) (int64, error)
}

// Reporter emits the events of runs the service does not make (`galmirror
// sync` from an RMM's schedule): the events the service emits for its own
// runs (200, 201, 202 and their condition events, 480, 500, 203), and the
// certificate's expiry at most once a day. Outages are reported once per
// invocation for all its tenants, and once per outage across invocations:
// 481 when a tenant's runs begin to fail for it, 482 when they have failed
// for it longer than health.outageAfter, 483 when they stop; what came
// before is read from the state database, as the service reads it after a
// restart.
type Reporter struct {
	bus         *events.Bus
	st          ReporterState
	outageAfter time.Duration
	certs       *certGate

	mu              sync.Mutex
	began, longFail map[string]*outage // by service
	ended           []string
}

// NewReporter returns a Reporter emitting through bus (whose recorder is
// the store's, so the service's admin API shows the events too).
func NewReporter(ctx context.Context, bus *events.Bus, st ReporterState, outageAfter time.Duration) *Reporter {
	r := &Reporter{bus: bus, st: st, outageAfter: outageAfter, certs: newCertGate(),
		began: map[string]*outage{}, longFail: map[string]*outage{}}
	seedCerts(ctx, st, r.certs, nil)
	return r
}

// Before reads the tenant's failures before its run.
func (r *Reporter) Before(ctx context.Context, tenant string) store.Streak {
	st, _ := r.st.FailureStreak(ctx, tenant)
	return st
}

// After emits the events of the tenant's finished run runID. prev is what
// Before returned.
func (r *Reporter) After(ctx context.Context, tenant string, runID int64, trigger store.Trigger, prev store.Streak, res Result, ran time.Duration) {
	if res.Status == store.RunInterrupted {
		return
	}
	now := time.Now()
	t := &runTicket{id: runID, trigger: trigger, started: now.Add(-ran)}
	scope := r.bus.Scope()
	for _, e := range runEvents(tenant, t, res, ran, time.Time{}) {
		scope.Emit(ctx, e)
	}
	for _, e := range res.Events { // the run's own conditions (photos 700, source tenants 720)
		e.Tenant, e.RunID = tenant, strconv.FormatInt(runID, 10)
		scope.Emit(ctx, e)
	}
	was := streak{failures: prev.Runs, alerted: prev.Runs > 0 && !prev.Unavailable, since: prev.Since, class: prev.Last}
	if e, ok := recoveredEvent(tenant, t, res, was, now); ok {
		scope.Emit(ctx, e)
	}
	if e, ok := r.certs.due(tenant, res.Certificate, now); ok {
		scope.Emit(ctx, e)
	}
	r.noteOutage(tenant, prev, res, t.started, now)
}

// noteOutage gathers the tenant into the invocation's outage events.
func (r *Reporter) noteOutage(tenant string, prev store.Streak, res Result, started, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	outageBefore := prev.Runs > 0 && prev.Unavailable
	if res.Status != store.RunFailed || res.Failure.Class != store.FailUnavailable {
		if outageBefore {
			r.ended = append(r.ended, tenant)
		}
		return
	}
	svc := res.Failure.Service
	add := func(m map[string]*outage, since time.Time) {
		out := m[svc]
		if out == nil {
			out = &outage{service: svc, since: since, failing: map[string]bool{}, hit: map[string]bool{}, firstErr: res.Failure.Message}
			m[svc] = out
		}
		out.failing[tenant], out.hit[tenant] = true, true
		if since.Before(out.since) {
			out.since = since
		}
	}
	switch {
	case !outageBefore:
		add(r.began, started)
	case now.Sub(prev.Since) >= r.outageAfter && prev.LastFinished.Sub(prev.Since) < r.outageAfter:
		// The outage outlasted outageAfter since the tenant's previous
		// run.
		add(r.longFail, prev.Since)
	}
}

// Flush emits the outage events gathered from the invocation's runs.
func (r *Reporter) Flush(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	o := &outages{}
	for _, svc := range sortedKeys(r.began) {
		out := r.began[svc]
		r.bus.Emit(ctx, o.event(events.MicrosoftUnreachable, out, now,
			fmt.Sprintf("%s unreachable for %s", serviceName(svc), plural(len(out.failing), "tenant"))))
	}
	for _, svc := range sortedKeys(r.longFail) {
		out := r.longFail[svc]
		r.bus.Emit(ctx, o.event(events.MicrosoftUnreachableLong, out, now,
			fmt.Sprintf("%s unreachable for %s for more than %s", serviceName(svc), plural(len(out.failing), "tenant"), r.outageAfter)))
	}
	if len(r.ended) > 0 {
		slices.Sort(r.ended)
		r.bus.Emit(ctx, events.Event{ID: events.MicrosoftReachable,
			Detail: fmt.Sprintf("Microsoft reachable again (%s affected)", plural(len(r.ended), "tenant")),
			Fields: []events.Field{events.FInt("count", int64(len(r.ended))), events.F("tenants", joinNames(r.ended))}})
	}
	r.began, r.longFail, r.ended = map[string]*outage{}, map[string]*outage{}, nil
}

func sortedKeys(m map[string]*outage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// joinNames lists at most 20 names, then "+N".
func joinNames(names []string) string {
	if len(names) > 20 {
		names = append(slices.Clip(names[:20]), "+"+strconv.Itoa(len(names)-20))
	}
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ","
		}
		s += n
	}
	return s
}

// seedCerts reads the last day's certificate events from the store into g,
// so that an expiry warning is given once a day, not once per process.
func seedCerts(ctx context.Context, st interface {
	EventsSince(ctx context.Context, after int64, limit int) ([]store.Event, error)
	LastEventSeq(ctx context.Context) (int64, error)
}, g *certGate, warn func(error)) {
	last, err := st.LastEventSeq(ctx)
	if err != nil || last == 0 {
		return
	}
	evs, err := st.EventsSince(ctx, max(0, last-5000), 5000)
	if err != nil {
		if warn != nil {
			warn(err)
		}
		return
	}
	cutoff := time.Now().Add(-24 * time.Hour)
	for _, e := range evs {
		switch id := events.ID(e.ID); id {
		case events.CertExpires30, events.CertExpires14, events.CertExpires7, events.CertExpired, events.CertRenewalFailed, events.CertRenewalBlocked:
			if e.Time.After(cutoff) {
				g.seed(e.Tenant, id, e.Time)
			}
		}
	}
}
