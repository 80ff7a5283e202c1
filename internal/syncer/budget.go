package syncer

import (
	"context"
	"sync"
)

// budget is a weighted semaphore served in arrival order: mailboxes that
// write reserve memory in proportion to their contacts, so that a tenant of
// 10,000 people runs fewer mailboxes at once than one of 1,000, within the
// same memory.
type budget struct {
	mu      sync.Mutex
	free    int
	size    int
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int
	ready chan struct{}
}

func newBudget(size int) *budget { return &budget{free: size, size: size} }

// acquire reserves n (at most the whole budget), or returns ctx's error.
func (b *budget) acquire(ctx context.Context, n int) (release func(), err error) {
	n = min(max(n, 1), b.size)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return func() { b.release(n) }, nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return func() { b.release(n) }, nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.free += n
			b.grantLocked()
		default:
			for i, x := range b.waiters {
				if x == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
			b.grantLocked() // the head may fit now
		}
		return nil, ctx.Err()
	}
}

func (b *budget) release(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	b.grantLocked()
}

// grantLocked serves waiters in order while the first one fits.
func (b *budget) grantLocked() {
	for len(b.waiters) > 0 && b.waiters[0].n <= b.free {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.free -= w.n
		close(w.ready)
	}
}
