package admin

import (
	"sync"
	"time"
)

// failureLimiter limits failed authentication attempts per source address:
// each address may fail burst times, and earns one more try every refill.
// An address out of tries is refused without its credentials being checked
// until it has earned one back. Successful requests are never limited.
type failureLimiter struct {
	burst  float64
	refill time.Duration
	max    int // addresses tracked; beyond it the oldest-idle are dropped

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	locked bool // out of tries: reported once per lock-out
}

func newFailureLimiter(burst int, refill time.Duration) *failureLimiter {
	return &failureLimiter{burst: float64(burst), refill: refill, max: 10000, buckets: map[string]*bucket{}}
}

func (l *failureLimiter) bucket(src string, now time.Time) *bucket {
	b := l.buckets[src]
	if b == nil {
		return nil
	}
	b.tokens += float64(now.Sub(b.last)) / float64(l.refill)
	b.last = now
	if b.tokens >= l.burst {
		delete(l.buckets, src) // fully recovered: forget it
		return nil
	}
	if b.tokens >= 1 {
		b.locked = false
	}
	return b
}

// blocked returns how long src must wait before its credentials are checked
// again (0: not blocked).
func (l *failureLimiter) blocked(src string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(src, now)
	if b == nil || b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.refill))
}

// fail records a failed attempt from src and reports whether it used up the
// address's last try (the moment to record one audit event).
func (l *failureLimiter) fail(src string, now time.Time) (lockedOut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(src, now)
	if b == nil {
		if len(l.buckets) >= l.max {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[src] = b
	}
	b.tokens--
	if b.tokens < 1 && !b.locked {
		b.locked = true
		return true
	}
	return false
}

// prune drops recovered addresses, and if the table is still full, all of
// them: forgetting failures is safer than growing without bound under a
// spoofed-address flood (TCP makes spoofing hard anyway).
func (l *failureLimiter) prune(now time.Time) {
	for src := range l.buckets {
		l.bucket(src, now)
	}
	if len(l.buckets) >= l.max {
		clear(l.buckets)
	}
}
