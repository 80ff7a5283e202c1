package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// outages reports Microsoft outages once for all the tenants they hit: a
// run that fails because Entra ID or Graph (or the network to it) is
// unreachable (store.FailUnavailable) raises no event of its own. The first
// such failure opens an outage of that service; once every tenant has run
// since (or after gather at the latest), one Warning (481) names every
// tenant it has hit so far; when it has lasted past the
// configured threshold, one Error (482); when the last tenant it hit runs
// without that failure again, one Information (483). An outage that ends
// before it is announced raises nothing at all.
type outages struct {
	bus    *events.Bus
	gather time.Duration
	// after is health.outageAfter of the configuration in force; tenants
	// the tenants that run (configured, not paused).
	after   func() time.Duration
	tenants func() []string

	mu      sync.Mutex
	cur     map[string]*outage // by service (store.ServiceEntra, ServiceGraph)
	stopped bool
}

type outage struct {
	service string
	since   time.Time
	// failing are the tenants whose last run failed so; hit every tenant
	// the outage touched.
	failing, hit map[string]bool
	// ran are the tenants that finished a run since the outage began.
	ran       map[string]bool
	firstErr  string
	announced bool
	escalated bool
	timer     *time.Timer
}

func newOutages(bus *events.Bus, gather time.Duration, after func() time.Duration, tenants func() []string) *outages {
	return &outages{bus: bus, gather: gather, after: after, tenants: tenants, cur: map[string]*outage{}}
}

// serviceName is how an event names the service.
func serviceName(s string) string {
	switch s {
	case store.ServiceEntra:
		return "Entra ID"
	case store.ServiceGraph:
		return "Microsoft Graph"
	}
	return "Microsoft"
}

// failed records that the tenant's run, started at started, failed with f
// (class unavailable) at when. ctx is the service's lifetime (the gathered
// event is emitted with its values).
func (o *outages) failed(ctx context.Context, tenant string, f *store.Failure, started, when time.Time) {
	svc := f.Service
	if svc == "" {
		svc = "network"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	// A tenant is in one outage at a time: the service that fails now.
	for s, out := range o.cur {
		if s != svc && out.failing[tenant] {
			o.clearLocked(ctx, out, tenant, when)
		}
	}
	out := o.cur[svc]
	if out == nil {
		out = &outage{service: svc, since: started, failing: map[string]bool{}, hit: map[string]bool{}, ran: map[string]bool{}, firstErr: f.Message}
		o.cur[svc] = out
		ectx := context.WithoutCancel(ctx)
		out.timer = time.AfterFunc(o.gather, func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.cur[svc] == out && !o.stopped {
				o.announceLocked(ectx, out)
			}
		})
	}
	out.failing[tenant], out.hit[tenant] = true, true
	o.ranLocked(ctx, tenant)
	if !out.escalated && when.Sub(out.since) >= o.after() {
		if !out.announced {
			o.announceLocked(ctx, out)
		}
		out.escalated = true
		o.bus.Emit(ctx, o.event(events.MicrosoftUnreachableLong, out, when,
			fmt.Sprintf("%s unreachable for %s for %s", serviceName(svc), plural(len(out.failing), "tenant"),
				roughly(when.Sub(out.since)))))
	}
}

// ok records that the tenant's run did not fail for an outage: it leaves
// every outage it was in, and an outage left by its last tenant ends.
func (o *outages) ok(ctx context.Context, tenant string, when time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, out := range o.cur {
		if out.failing[tenant] {
			o.clearLocked(ctx, out, tenant, when)
		}
	}
	o.ranLocked(ctx, tenant)
}

// ranLocked notes that the tenant finished a run, and announces the
// outages every tenant has run in since they began: no tenant is left to
// report, so the event can name all it hit.
func (o *outages) ranLocked(ctx context.Context, tenant string) {
	if len(o.cur) == 0 || o.stopped {
		return
	}
	all := o.tenants()
	for _, out := range o.cur {
		out.ran[tenant] = true
		if out.announced {
			continue
		}
		every := true
		for _, t := range all {
			every = every && out.ran[t]
		}
		if every {
			o.announceLocked(ctx, out)
		}
	}
}

// forget drops a tenant removed from the configuration.
func (o *outages) forget(ctx context.Context, tenant string) { o.ok(ctx, tenant, time.Now()) }

func (o *outages) clearLocked(ctx context.Context, out *outage, tenant string, when time.Time) {
	delete(out.failing, tenant)
	if len(out.failing) > 0 {
		return
	}
	out.timer.Stop()
	delete(o.cur, out.service)
	if out.announced && !o.stopped {
		o.bus.Emit(ctx, o.event(events.MicrosoftReachable, out, when,
			fmt.Sprintf("%s reachable again after %s (%s affected)", serviceName(out.service),
				roughly(when.Sub(out.since)), plural(len(out.hit), "tenant"))))
	}
}

func (o *outages) announceLocked(ctx context.Context, out *outage) {
	if out.announced {
		return
	}
	out.announced = true
	o.bus.Emit(ctx, o.event(events.MicrosoftUnreachable, out, time.Now(),
		fmt.Sprintf("%s unreachable for %s", serviceName(out.service), plural(len(out.failing), "tenant"))))
}

// event is one of the outage events; tenants lists at most 20 names.
func (o *outages) event(id events.ID, out *outage, when time.Time, detail string) events.Event {
	set := out.failing
	if id == events.MicrosoftReachable {
		set = out.hit
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	list := names
	if len(list) > 20 {
		list = append(slices.Clip(list[:20]), "+"+strconv.Itoa(len(names)-20))
	}
	return events.Event{ID: id, Detail: detail, Fields: []events.Field{
		events.F("service", out.service),
		events.FInt("count", int64(len(names))),
		events.F("tenants", strings.Join(list, ",")),
		events.F("since", out.since.UTC().Format(time.RFC3339)),
		events.F("duration", when.Sub(out.since).Round(time.Second).String()),
		events.F("error", out.firstErr),
	}}
}

// stop ends the timers; nothing is emitted afterwards.
func (o *outages) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopped = true
	for _, out := range o.cur {
		out.timer.Stop()
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// roughly rounds a duration for people: seconds under a minute, else
// minutes.
func roughly(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}
