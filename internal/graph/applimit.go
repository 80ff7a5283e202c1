package graph

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Graph's global limit is 130,000 requests per 10 s per app across all
// tenants, every $batch item counting as a request
// (https://learn.microsoft.com/graph/throttling-limits). galmirror uses one
// single-tenant app per customer, so a Client (one tenant's app) keeps
// under it on its own: DefaultAppRate items a second with a burst of
// DefaultAppBurst send at most 121,000 in any 10 s.
const (
	DefaultAppRate  = 12000
	DefaultAppBurst = 1000
)

// appLimiter paces a Client's requests and $batch items under the global
// limit (a virtual-scheduling token bucket), and holds all of them back
// while a 429 for the Application scope is in force.
type appLimiter struct {
	mu       sync.Mutex
	interval time.Duration // time per request at the rate
	burst    time.Duration // burst × interval
	tat      time.Time     // when the bucket is full again
	gate     time.Time     // an Application-scope Retry-After
	waited   time.Duration
}

func newAppLimiter(rate, burst int) *appLimiter {
	if rate <= 0 {
		rate = DefaultAppRate
	}
	if burst <= 0 {
		burst = DefaultAppBurst
	}
	iv := time.Second / time.Duration(rate)
	return &appLimiter{interval: iv, burst: time.Duration(burst) * iv}
}

// wait reserves n requests and sleeps until they may go out.
func (l *appLimiter) wait(ctx context.Context, n int) error {
	now := time.Now()
	l.mu.Lock()
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	at := tat.Add(time.Duration(n)*l.interval - l.burst)
	l.tat = tat.Add(time.Duration(n) * l.interval)
	if at.Before(l.gate) {
		at = l.gate
	}
	d := at.Sub(now)
	if d > 0 {
		l.waited += d
	}
	l.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// block holds every request back until until.
func (l *appLimiter) block(until time.Time) {
	l.mu.Lock()
	if until.After(l.gate) {
		l.gate = until
	}
	l.mu.Unlock()
}

func (l *appLimiter) stats() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waited
}

// appScoped reports whether a throttled answer names the Application
// scope (x-ms-throttle-scope Application/{Limit}/{appId}): the app as a
// whole is over a limit, not one mailbox or tenant.
func appScoped(h http.Header) bool {
	s := h.Get("x-ms-throttle-scope")
	return len(s) >= 12 && strings.EqualFold(s[:12], "Application/")
}
