package syncer

import (
	"context"
	"testing"
	"time"
)

func TestBudgetServesInOrderAndHonoursCancel(t *testing.T) {
	b := newBudget(10)
	ctx := t.Context()
	r1, err := b.acquire(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	// 8 does not fit; a later 2 would, but waits its turn behind it.
	got := make(chan int, 2)
	go func() {
		r, err := b.acquire(ctx, 8)
		if err == nil {
			got <- 8
			r()
		}
	}()
	for {
		b.mu.Lock()
		n := len(b.waiters)
		b.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	go func() {
		r, err := b.acquire(ctx, 2)
		if err == nil {
			got <- 2
			r()
		}
	}()
	select {
	case n := <-got:
		t.Fatalf("%d granted while 6 of 10 are held and 8 waits first", n)
	case <-time.After(50 * time.Millisecond):
	}
	r1() // now both fit: 8 first, then 2
	if a, b := <-got, <-got; a+b != 10 {
		t.Fatalf("granted %d and %d, want 8 and 2", a, b)
	}
	// More than the whole budget is capped to it; a cancelled wait leaves
	// nothing reserved.
	r, err := b.acquire(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(cctx, 1); err == nil {
		t.Fatal("acquired beyond the budget")
	}
	r()
	if b.free != 10 || len(b.waiters) != 0 {
		t.Fatalf("free %d, waiters %d", b.free, len(b.waiters))
	}
}
