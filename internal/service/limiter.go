package service

import (
	"context"
	"sync"
)

// limiter caps how many tenant runs execute at once. Waiters are served in
// arrival order, waiting honours the context, and the cap can change on a
// configuration reload without disturbing runs that hold a slot.
type limiter struct {
	mu      sync.Mutex
	limit   int
	inUse   int
	waiters []chan struct{} // FIFO; a closed channel means "slot granted"
}

func newLimiter(n int) *limiter {
	if n < 1 {
		n = 1
	}
	return &limiter{limit: n}
}

// acquire waits for a slot. On a nil error the caller must call release.
func (l *limiter) acquire(ctx context.Context) error {
	l.mu.Lock()
	if l.inUse < l.limit && len(l.waiters) == 0 {
		l.inUse++
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-ch:
			// Granted while we gave up: hand the slot on.
			l.inUse--
			l.grantLocked()
		default:
			for i, w := range l.waiters {
				if w == ch {
					l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
					break
				}
			}
		}
		return ctx.Err()
	}
}

func (l *limiter) release() {
	l.mu.Lock()
	l.inUse--
	l.grantLocked()
	l.mu.Unlock()
}

// setLimit changes the cap; a lower cap takes effect as runs finish.
func (l *limiter) setLimit(n int) {
	if n < 1 {
		n = 1
	}
	l.mu.Lock()
	l.limit = n
	l.grantLocked()
	l.mu.Unlock()
}

func (l *limiter) grantLocked() {
	for l.inUse < l.limit && len(l.waiters) > 0 {
		close(l.waiters[0])
		l.waiters = l.waiters[1:]
		l.inUse++
	}
}

// running reports the slots in use (for metrics).
func (l *limiter) running() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inUse
}
