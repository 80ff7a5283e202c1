package webauth

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Limits of the refusal digest (docs/events.md, Not flooding: event 761).
const (
	// RefusalWindow is how often the held-back refusals of a source are
	// summed up in one event.
	RefusalWindow = 10 * time.Minute
	// refusalSources is how many sources the digest tracks; refusals of
	// others are summed up together.
	refusalSources = 256
)

// refusalDigest keeps refused sign-ins, which anybody who reaches the
// console can cause, from flooding the event log: per source (an IPv4
// address, an IPv6 /64) the first refusal is passed at once; further ones
// are counted and summed up in one event per source at most once per
// window. A source without refusals for a window starts over.
type refusalDigest struct {
	window time.Duration
	emit   func(AuthEvent)
	now    func() time.Time

	mu     sync.Mutex
	keys   map[string]*refusalEntry
	other  refusalEntry
	timer  *time.Timer // armed while refusals are held back
	closed bool
}

type refusalEntry struct {
	last time.Time // the last refusal
	n    int       // held back since the last summary
	held AuthEvent // the last of them
}

func newRefusalDigest(window time.Duration, emit func(AuthEvent), now func() time.Time) *refusalDigest {
	return &refusalDigest{window: window, emit: emit, now: now, keys: map[string]*refusalEntry{}}
}

// sourceKey is the address a refusal counts against: the IP of an IPv4
// peer, the /64 of an IPv6 one.
func sourceKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// record passes ev on at once or holds it back.
func (d *refusalDigest) record(ev AuthEvent) {
	key := sourceKey(ev.Source)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.emit(ev)
		return
	}
	now := d.now()
	e := d.keys[key]
	if e != nil && e.n == 0 && now.Sub(e.last) >= d.window {
		delete(d.keys, key) // quiet for a window: start over
		e = nil
	}
	if e == nil {
		if len(d.keys) >= refusalSources {
			d.forgetQuiet(now)
		}
		if len(d.keys) < refusalSources {
			d.keys[key] = &refusalEntry{last: now}
			d.mu.Unlock()
			d.emit(ev)
			return
		}
		e = &d.other
	}
	e.last = now
	e.n++
	e.held = ev
	if d.timer == nil {
		d.timer = time.AfterFunc(d.window, d.flush)
	}
	d.mu.Unlock()
}

func (d *refusalDigest) forgetQuiet(now time.Time) {
	for k, e := range d.keys {
		if e.n == 0 && now.Sub(e.last) >= d.window {
			delete(d.keys, k)
		}
	}
}

// flush sums up every source's held-back refusals, one event per source.
func (d *refusalDigest) flush() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	var out []AuthEvent
	sum := func(key string, e *refusalEntry) {
		if e.n == 0 {
			return
		}
		ev := e.held
		ev.Count = e.n
		from := "from " + key
		if key == "" {
			from = "from other sources"
			ev.Source = ""
		}
		ev.Reason = fmt.Sprintf("%d more refused sign-ins %s in the last %s; the last: %s", e.n, from, d.window, e.held.Reason)
		out = append(out, ev)
		e.n, e.held = 0, AuthEvent{}
	}
	keys := make([]string, 0, len(d.keys))
	for k := range d.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		sum(k, d.keys[k])
	}
	sum("", &d.other)
	d.forgetQuiet(d.now())
	d.mu.Unlock()
	for _, ev := range out {
		d.emit(ev)
	}
}

// close records what is held back and stops the timer; later refusals
// pass at once.
func (d *refusalDigest) close() {
	d.flush()
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}
