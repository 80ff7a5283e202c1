package admin

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// failureLimiter limits failed authentication attempts per source (see
// limiterKey): each source may fail burst times, and earns one more try
// every refill. A source out of tries is refused without its credentials
// being checked until it has earned one back; the authenticator checks a
// client certificate before asking, so a valid certificate is never
// refused here. Successful requests are never limited.
//
// At most max sources are tracked. When the table is full, recovered
// sources are dropped, then the least-failing of those not locked out
// (most tries left, then longest idle), a tenth of the table at a time; a
// locked-out source is never dropped. If every tracked source is locked
// out, new sources share one overflow bucket, so that a flood of addresses
// gains no tries by being many.
type failureLimiter struct {
	burst  float64
	refill time.Duration
	max    int

	mu       sync.Mutex
	buckets  map[string]*bucket
	overflow *bucket   // nil until the table fills with locked-out sources
	pruned   time.Time // the last prune that found the table full
}

// overflowSource names the overflow bucket in audit records.
const overflowSource = "other addresses"

// limiterSources is how many sources the limiter tracks (about 100 bytes
// each).
const limiterSources = 10000

type bucket struct {
	tokens float64
	last   time.Time
	locked bool // out of tries: reported once per lock-out
}

func newFailureLimiter(burst int, refill time.Duration) *failureLimiter {
	return &failureLimiter{burst: float64(burst), refill: refill, max: limiterSources, buckets: map[string]*bucket{}}
}

// limiterKey is the source a failure is charged to: an IPv4 address, or
// the /64 of an IPv6 address (one site's network: anyone holding one
// address there usually holds them all). Other remote addresses (a pipe
// name) are their own key.
func limiterKey(src string) string {
	a, err := netip.ParseAddr(src)
	if err != nil {
		return truncate(src, maxSourceLen)
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// refresh adds the tries b earned since it was last seen.
func (l *failureLimiter) refresh(b *bucket, now time.Time) {
	if now.After(b.last) {
		b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.refill))
		b.last = now
	}
	if b.tokens >= 1 {
		b.locked = false
	}
}

// lookup returns src's bucket, refreshed; nil if src is not tracked or has
// fully recovered (then it is forgotten).
func (l *failureLimiter) lookup(src string, now time.Time) *bucket {
	b := l.buckets[src]
	if b == nil {
		return nil
	}
	l.refresh(b, now)
	if b.tokens >= l.burst {
		delete(l.buckets, src)
		return nil
	}
	return b
}

// untracked returns the overflow bucket if a source not in the table
// would be charged to it (the table is full of locked-out sources), else
// nil.
func (l *failureLimiter) untracked(now time.Time) *bucket {
	if len(l.buckets) < l.max {
		return nil
	}
	l.prune(now)
	if len(l.buckets) < l.max {
		return nil
	}
	if l.overflow == nil {
		l.overflow = &bucket{tokens: l.burst, last: now}
	}
	l.refresh(l.overflow, now)
	return l.overflow
}

// blocked returns how long src (a limiterKey) must wait before its
// credentials are checked again (0: not blocked).
func (l *failureLimiter) blocked(src string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.lookup(src, now)
	if b == nil {
		b = l.untracked(now)
	}
	if b == nil || b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.refill))
}

// fail records a failed attempt from src (a limiterKey). It returns the
// source charged (src, or overflowSource) and whether the attempt used up
// its last try (the moment to report a lock-out).
func (l *failureLimiter) fail(src string, now time.Time) (charged string, lockedOut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	charged = src
	b := l.lookup(src, now)
	if b == nil {
		if b = l.untracked(now); b != nil {
			charged = overflowSource
		} else {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[src] = b
		}
	}
	b.tokens--
	if b.tokens < 1 && !b.locked {
		b.locked = true
		return charged, true
	}
	return charged, false
}

// prune makes room in a full table: it drops recovered sources, then the
// least-failing tenth of those not locked out. A full table of locked-out
// sources is pruned at most once a second (each prune reads the table).
func (l *failureLimiter) prune(now time.Time) {
	if now.Sub(l.pruned) < time.Second && now.After(l.pruned) {
		return
	}
	type entry struct {
		src string
		b   *bucket
	}
	var open []entry
	for src := range l.buckets {
		if b := l.lookup(src, now); b != nil && b.tokens >= 1 {
			open = append(open, entry{src, b})
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	n := min(len(open), len(l.buckets)-l.max*9/10)
	slices.SortFunc(open, func(x, y entry) int {
		if c := cmp.Compare(y.b.tokens, x.b.tokens); c != 0 {
			return c
		}
		return x.b.last.Compare(y.b.last)
	})
	for _, e := range open[:n] {
		delete(l.buckets, e.src)
	}
	if len(l.buckets) >= l.max {
		l.pruned = now
	}
}

// size returns how many sources are tracked.
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
