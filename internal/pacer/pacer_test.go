package pacer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestWaitNeverEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{})
		deadline := time.Now().Add(1500*time.Millisecond + 7*time.Microsecond)
		p.Block("mb", deadline)
		if ok, gate := p.Ready("mb"); ok || !gate.Equal(deadline) {
			t.Fatalf("Ready = %v, %v; want false, %v", ok, gate, deadline)
		}
		if err := p.Wait(t.Context(), "mb"); err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(deadline) {
			t.Fatalf("Wait returned %v before the deadline", deadline.Sub(now))
		}
		if ok, _ := p.Ready("mb"); !ok {
			t.Fatal("gate still closed after Wait")
		}
		// Other scopes are not affected.
		start := time.Now()
		p.Block("mb", time.Now().Add(time.Hour))
		if err := p.Wait(t.Context(), "other"); err != nil || time.Since(start) != 0 {
			t.Fatalf("Wait(other) = %v after %v; want immediate", err, time.Since(start))
		}
	})
}

func TestGateOnlyMovesLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{})
		start := time.Now()
		p.Block("mb", start.Add(3*time.Second))
		p.Block("mb", start.Add(time.Second)) // earlier: ignored
		done := make(chan time.Time)
		go func() {
			_ = p.Wait(context.Background(), "mb")
			done <- time.Now()
		}()
		time.Sleep(2 * time.Second)
		p.Block("mb", start.Add(5*time.Second)) // extended while waiting
		if got := (<-done).Sub(start); got < 5*time.Second {
			t.Fatalf("Wait ended after %v; want >= 5s", got)
		}
		if spent := p.Spent("mb"); spent != 5*time.Second {
			t.Fatalf("Spent = %v; want 5s (gate extensions only)", spent)
		}
	})
}

func TestAcquireRespectsGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{})
		deadline := time.Now().Add(800 * time.Millisecond)
		p.Block("mb", deadline)
		rel, err := p.Acquire(t.Context(), "mb", 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rel()
		if time.Now().Before(deadline) {
			t.Fatal("Acquire returned before the gate passed")
		}
	})
}

func TestAcquireLimitsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{MaxInFlight: 4})
		var mu sync.Mutex
		cur, peak := 0, 0
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				rel, err := p.Acquire(context.Background(), "mb", 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				cur++
				peak = max(peak, cur)
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
				mu.Lock()
				cur--
				mu.Unlock()
				rel()
				rel() // idempotent
			})
		}
		wg.Wait()
		if peak != 4 {
			t.Fatalf("peak in flight = %d; want 4", peak)
		}
		if n := p.InFlight("mb"); n != 0 {
			t.Fatalf("InFlight after all released = %d", n)
		}
		if _, err := p.Acquire(t.Context(), "mb", 5); err == nil {
			t.Fatal("Acquire of 5 units with MaxInFlight 4 succeeded")
		}
		if _, err := p.Acquire(t.Context(), "mb", 0); err == nil {
			t.Fatal("Acquire of 0 units succeeded")
		}
	})
}

func TestAcquireFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{MaxInFlight: 4})
		hold, err := p.Acquire(t.Context(), "mb", 4)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		// Waiter 0 wants all 4 units; waiters 1..5 want one each and queue
		// behind it. Strict FIFO: none of them overtakes waiter 0.
		want := []int{4, 1, 1, 1, 1, 1}
		for i, n := range want {
			wg.Go(func() {
				rel, err := p.Acquire(context.Background(), "mb", n)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
				rel()
			})
			synctest.Wait() // queued in this order
		}
		hold()
		wg.Wait()
		if order[0] != 0 {
			t.Fatalf("order = %v; the 4-unit waiter at the head was overtaken", order)
		}
	})
	// With one unit, grants are observably in arrival order.
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{MaxInFlight: 1})
		hold, _ := p.Acquire(t.Context(), "mb", 1)
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				rel, err := p.Acquire(context.Background(), "mb", 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				rel()
			})
			synctest.Wait()
		}
		hold()
		wg.Wait()
		for i := range order {
			if order[i] != i {
				t.Fatalf("order = %v; want FIFO", order)
			}
		}
	})
}

func TestAcquireCancelWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{MaxInFlight: 1})
		hold, _ := p.Acquire(t.Context(), "mb", 1)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() {
			_, err := p.Acquire(ctx, "mb", 1)
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
		// The cancelled waiter must not keep or leak a unit.
		hold()
		rel, err := p.Acquire(t.Context(), "mb", 1)
		if err != nil {
			t.Fatal(err)
		}
		rel()
		if n := p.InFlight("mb"); n != 0 {
			t.Fatalf("InFlight = %d; want 0", n)
		}
	})
}

func TestCancelDuringGateWaitIsPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{MaxInFlight: 1})
		p.Block("mb", time.Now().Add(time.Minute))
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := p.Acquire(ctx, "mb", 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("returned after %v; want 50ms", d)
		}
		if n := p.InFlight("mb"); n != 0 {
			t.Fatalf("unit leaked: InFlight = %d", n)
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999999} {
		p := New(Config{BackoffBase: 10 * time.Millisecond, BackoffCap: 500 * time.Millisecond, Rand: func() float64 { return r }})
		for attempt := -1; attempt < 200; attempt++ {
			ceil := 500 * time.Millisecond
			if attempt <= 6 {
				ceil = min(ceil, 10*time.Millisecond<<max(attempt-1, 0))
			}
			d := p.Backoff(attempt)
			if d < 0 || d >= ceil {
				t.Fatalf("rand %v attempt %d: backoff %v outside [0, %v)", r, attempt, d, ceil)
			}
			if r == 0.5 && d != ceil/2 {
				t.Fatalf("rand 0.5 attempt %d: backoff %v; want %v", attempt, d, ceil/2)
			}
		}
	}
	p := New(Config{})
	if c := p.Config(); c.BackoffBase != 2*time.Second || c.BackoffCap != 120*time.Second || c.MaxAttempts != 8 || c.MaxInFlight != 4 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestRetryMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffCap: 4 * time.Millisecond, RetryBudget: -1})
		r := p.Retry("mb")
		for i := 0; i < 2; i++ {
			if err := r.Wait(t.Context(), 0); err != nil {
				t.Fatalf("wait %d: %v", i, err)
			}
		}
		err := r.Wait(t.Context(), 0)
		var gu *GiveUpError
		if !errors.As(err, &gu) || !errors.Is(err, ErrTooManyAttempts) || gu.Attempts != 3 {
			t.Fatalf("err = %v; want GiveUpError(ErrTooManyAttempts) after 3 attempts", err)
		}
		if p.Stats().GiveUps != 1 {
			t.Fatalf("GiveUps = %d", p.Stats().GiveUps)
		}
	})
}

func TestRetryAfterBlocksScopeAndBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{RetryBudget: 2500 * time.Millisecond})
		r := p.Retry("mb")
		start := time.Now()
		// Another request in the same scope must wait for the gate too.
		other := make(chan time.Time)
		go func() {
			synctest.Wait()
			rel, err := p.Acquire(context.Background(), "mb", 1)
			if err == nil {
				rel()
			}
			other <- time.Now()
		}()
		if err := r.Wait(t.Context(), time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Second {
			t.Fatalf("retry after %v; want >= 1s", d)
		}
		if d := (<-other).Sub(start); d < time.Second {
			t.Fatalf("other request started after %v; want >= 1s", d)
		}
		if err := r.Wait(t.Context(), time.Second); err != nil {
			t.Fatal(err)
		}
		// Third throttle: 3 s spent > 2.5 s budget.
		before := time.Now()
		err := r.Wait(t.Context(), time.Second)
		if !errors.Is(err, ErrBudgetExhausted) {
			t.Fatalf("err = %v; want ErrBudgetExhausted", err)
		}
		if time.Since(before) != 0 {
			t.Fatal("a refused retry waited")
		}
		// The gate is closed nonetheless: the server's deadline stands.
		if ok, _ := p.Ready("mb"); ok {
			t.Fatal("gate open after a refused throttled retry")
		}
		if !p.Exhausted("mb") || p.Exhausted("other") {
			t.Fatal("Exhausted wrong")
		}
		st := p.Stats()
		if st.Throttled != 3 || st.Waits < 2 || st.Waited < 2*time.Second {
			t.Fatalf("stats = %+v", st)
		}
	})
}

func TestRetryBackoffCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{BackoffBase: time.Minute, BackoffCap: time.Minute, Rand: func() float64 { return 0.9 }})
		r := p.Retry("a", "b")
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		if err := r.Wait(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("cancelled after %v; want 1s", d)
		}
		// Back-off does not close the gates (only Retry-After does)...
		if ok, _ := p.Ready("a"); !ok {
			t.Fatal("back-off closed the gate")
		}
		// ...but is charged to every scope's budget.
		if p.Spent("a") != 54*time.Second || p.Spent("b") != 54*time.Second {
			t.Fatalf("spent a=%v b=%v; want 54s each", p.Spent("a"), p.Spent("b"))
		}
		if err := p.Retry("a").Wait(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on a done context = %v", err)
		}
	})
}

func TestRetryMultiScopeGates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{})
		start := time.Now()
		p.Block("b", start.Add(3*time.Second))
		r := p.Retry("a", "b")
		if err := r.Wait(t.Context(), time.Second); err != nil {
			t.Fatal(err)
		}
		// Waits for both: a's new 1 s gate and b's older 3 s gate.
		if d := time.Since(start); d < 3*time.Second {
			t.Fatalf("returned after %v; want >= 3s", d)
		}
	})
}

func TestRetryThrottledClosesGateOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{})
		r := p.Retry("mb")
		start := time.Now()
		r.Throttled(time.Second)
		if ok, gate := p.Ready("mb"); ok || !gate.Equal(start.Add(time.Second)) {
			t.Fatalf("gate %v ok %v", gate, ok)
		}
		time.Sleep(100 * time.Millisecond)
		// Wait does not close the gate again (no later deadline, no double count).
		if err := r.Wait(t.Context(), time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("waited until %v; want 1s", d)
		}
		if st := p.Stats(); st.Throttled != 1 {
			t.Fatalf("throttled %d; want 1", st.Throttled)
		}
		r.Throttled(0) // no Retry-After: nothing happens
		if p.Stats().Throttled != 1 {
			t.Fatal("Throttled(0) counted")
		}
	})
}
