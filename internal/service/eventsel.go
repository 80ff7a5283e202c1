package service

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// Heavy throttling: a run is reported as throttled heavily (event 203) when
// it gave up because of throttling, waited at least heavyThrottleWait on
// Retry-After in total, or got at least heavyThrottleCount 429/503 answers
// making up at least a tenth of its requests.
const (
	heavyThrottleCount = 20
	heavyThrottleWait  = 10 * time.Minute
)

func throttledHeavily(res Result) bool {
	n := res.Counts.Throttled429 + res.Counts.Throttled503
	return (res.Failure != nil && res.Failure.Class == store.FailThrottled) ||
		res.ThrottleWait >= heavyThrottleWait ||
		(n >= heavyThrottleCount && n*10 >= res.Counts.GraphRequests)
}

// runEvents chooses the events for a finished run: exactly one of 200, 201
// or 202, plus one per condition that occurred. The caller emits them
// through a Scope, so a condition is never reported twice for one run.
func runEvents(tenant string, t *runTicket, res Result, ran time.Duration, next time.Time) []events.Event {
	run := strconv.FormatInt(t.id, 10)
	ev := func(id events.ID, detail string, fields ...events.Field) events.Event {
		return events.Event{ID: id, Tenant: tenant, RunID: run, Detail: detail, Fields: fields}
	}
	c := res.Counts
	counts := []events.Field{
		events.F("trigger", string(t.trigger)),
		events.F("duration", ran.Round(time.Second).String()),
		events.FInt("mailboxes", int64(c.MailboxesSynced)),
		events.FInt("skipped", int64(c.MailboxesSkipped)),
		events.FInt("created", int64(c.Created)),
		events.FInt("updated", int64(c.Updated)),
		events.FInt("deleted", int64(c.Deleted)),
		events.FInt("unchanged", int64(c.Unchanged)),
	}
	var out []events.Event
	switch res.Status {
	case store.RunOK:
		out = append(out, ev(events.RunSucceeded, "", counts...))
	case store.RunPartial:
		fields := append([]events.Field{events.FInt("failed", int64(c.MailboxesFailed))}, counts...)
		detail := ""
		for _, m := range res.Mailboxes {
			if m.Status == store.MailboxFailed || m.Status == store.MailboxForeignFolder {
				detail = strings.TrimSpace(m.UPN + " " + m.ErrorCode + " " + m.ErrorMessage)
				break
			}
		}
		for _, e := range res.Events {
			if e.ID == events.SourceTenantKept && detail == "" {
				detail = "a source tenant's directory could not be read, its people were kept as they are (event 720): " + e.Detail
			}
		}
		out = append(out, ev(events.RunPartial, detail, fields...))
	case store.RunFailed:
		f := res.Failure
		if f.Class == store.FailUnavailable {
			// An outage of Microsoft or the network: reported once for
			// every tenant it hits (outages), not per run.
			break
		}
		fields := []events.Field{events.F("class", string(f.Class)), events.F("trigger", string(t.trigger))}
		if !next.IsZero() {
			fields = append(fields, events.F("next_attempt", next.UTC().Format(time.RFC3339)))
		}
		out = append(out, ev(events.RunFailed, f.Message, fields...))
		if e, ok := failureEvent(f); ok {
			out = append(out, ev(e.ID, e.Detail, e.Fields...))
		}
	}
	if throttledHeavily(res) {
		out = append(out, ev(events.RunThrottled, "",
			events.FInt("throttled", int64(c.Throttled429+c.Throttled503)),
			events.FInt("requests", int64(c.GraphRequests)),
			events.F("waited", res.ThrottleWait.Round(time.Second).String())))
	}
	if c.HeldBack > 0 {
		n := 0
		for _, m := range res.Mailboxes {
			if m.Counts.HeldBack > 0 {
				n++
			}
		}
		out = append(out, ev(events.MassDeleteHeld, "", events.FInt("held", int64(c.HeldBack)), events.FInt("mailboxes", int64(n))))
	}
	return out
}

// failureEvent is the condition event of a whole-run failure's class, if it
// has one (tenant and run left to the caller); FailThrottled's is chosen
// with the other throttling (throttledHeavily).
func failureEvent(f *store.Failure) (events.Event, bool) {
	switch f.Class {
	case store.FailAuth:
		aadsts, ok := strings.CutPrefix(f.Code, "AADSTS")
		if !ok {
			aadsts = ""
		}
		detail := f.Message
		if aadsts != "" && !strings.Contains(detail, "AADSTS"+aadsts) {
			detail = "AADSTS" + aadsts + ": " + detail
		}
		return events.Event{ID: events.AuthFailed, Detail: detail, Fields: []events.Field{events.F("aadsts", aadsts)}}, true
	case store.FailConsent:
		return events.Event{ID: events.ConsentMissing, Detail: f.Message,
			Fields: []events.Field{events.F("missing", strings.Join(f.MissingRoles, ","))}}, true
	case store.FailCertMissing:
		return events.Event{ID: events.CertNotFound, Detail: f.Message}, true
	case store.FailCertificate:
		return events.Event{ID: events.CertKeyUnreadable, Detail: f.Message}, true
	}
	return events.Event{}, false
}

// certGate decides which certificate expiry event is due: the most severe
// threshold reached, at most once a day per tenant and threshold (a newly
// reached, more severe threshold is reported at once).
type certGate struct {
	mu   sync.Mutex
	last map[certKey]time.Time
}

type certKey struct {
	tenant string
	id     events.ID
}

func newCertGate() *certGate { return &certGate{last: map[certKey]time.Time{}} }

// certEventFor returns the expiry event ID for a certificate expiring at
// notAfter, seen at now.
func certEventFor(notAfter, now time.Time) (events.ID, bool) {
	left := notAfter.Sub(now)
	day := 24 * time.Hour
	switch {
	case notAfter.IsZero():
		return 0, false
	case left <= 0:
		return events.CertExpired, true
	case left <= 7*day:
		return events.CertExpires7, true
	case left <= 14*day:
		return events.CertExpires14, true
	case left <= 30*day:
		return events.CertExpires30, true
	}
	return 0, false
}

// due returns the event to emit now for the tenant's certificate, if any,
// and records it as emitted.
func (g *certGate) due(tenant string, c Certificate, now time.Time) (events.Event, bool) {
	id, ok := certEventFor(c.NotAfter, now)
	if !ok {
		return events.Event{}, false
	}
	k := certKey{tenant, id}
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, seen := g.last[k]; seen && now.Sub(last) < 24*time.Hour {
		return events.Event{}, false
	}
	g.last[k] = now
	days := int64(c.NotAfter.Sub(now) / (24 * time.Hour))
	fields := []events.Field{events.F("certificate_expires", c.NotAfter.UTC().Format(time.RFC3339)), events.FInt("days", days)}
	if c.Thumbprint != "" {
		fields = append([]events.Field{events.F("thumbprint", c.Thumbprint)}, fields...)
	}
	return events.Event{ID: id, Tenant: tenant, Fields: fields}, true
}

// daily reports whether the tenant's event id may be emitted now: at most
// once a day (certificate renewal failures, 444 and 445), and records it.
func (g *certGate) daily(tenant string, id events.ID, now time.Time) bool {
	k := certKey{tenant, id}
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, seen := g.last[k]; seen && now.Sub(last) < 24*time.Hour {
		return false
	}
	g.last[k] = now
	return true
}

// seed records an expiry event found in the store's history, so that a
// restart does not repeat today's warning.
func (g *certGate) seed(tenant string, id events.ID, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := certKey{tenant, id}
	if at.After(g.last[k]) {
		g.last[k] = at
	}
}

// ConditionEvent is the condition event (300, 301, 310, 311) of a tenant's
// failure outside a run (`galmirror check`), if its class has one.
func ConditionEvent(tenant string, f *store.Failure) (events.Event, bool) {
	if f == nil {
		return events.Event{}, false
	}
	e, ok := failureEvent(f)
	e.Tenant = tenant
	return e, ok
}

// CertificateEvent is the expiry event (320–323) of a certificate expiring
// at notAfter, seen at now, if one is due.
func CertificateEvent(tenant string, c Certificate, now time.Time) (events.Event, bool) {
	return newCertGate().due(tenant, c, now)
}
