package svcbackend

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/syncer"
)

// gatedChecker counts checks and holds each until released (or its
// context ends, which it records).
type gatedChecker struct {
	n         atomic.Int32
	started   chan struct{}
	release   chan struct{}
	cancelled atomic.Int32
}

func newGatedChecker() *gatedChecker {
	return &gatedChecker{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gatedChecker) Check(ctx context.Context, t *config.Tenant) *syncer.CheckReport {
	g.n.Add(1)
	g.started <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		g.cancelled.Add(1)
		return &syncer.CheckReport{Tenant: t.Name, Items: []syncer.CheckItem{{Name: "token", Detail: ctx.Err().Error()}}}
	}
	return &syncer.CheckReport{Tenant: t.Name, OK: true, Items: []syncer.CheckItem{{Name: "check", OK: true, Detail: "fine"}}}
}

// waiters is how many callers wait for the tenant's check in progress.
func (b *Backend) waiters(tenant string) int {
	b.checkMu.Lock()
	defer b.checkMu.Unlock()
	if f := b.checks[tenant]; f != nil {
		return f.waiters
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Parallel CheckTenant calls share one check; a call within the reuse
// window runs none; after it, or after a reload, a call runs a new one.
func TestCheckIsSharedAndReused(t *testing.T) {
	f := start(t, tenantJSON("contoso"), tenantJSON("fabrikam"))
	gc := newGatedChecker()
	b, err := New(Options{Service: f.svc, Store: f.st, Checker: gc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const callers = 8
	var wg sync.WaitGroup
	results := make([]admin.CheckResult, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = b.Check(ctx, "contoso") })
	}
	<-gc.started
	waitFor(t, "every caller to join the check", func() bool { return b.waiters("contoso") == callers })
	close(gc.release)
	wg.Wait()
	if n := gc.n.Load(); n != 1 {
		t.Fatalf("%d parallel calls ran %d checks, want 1", callers, n)
	}
	for i := range callers {
		if errs[i] != nil || results[i].Status != admin.CheckOK || results[i].CheckedAt.IsZero() || !results[i].CheckedAt.Equal(results[0].CheckedAt) {
			t.Errorf("caller %d: %+v, %v", i, results[i], errs[i])
		}
	}

	// Within the window: the same answer, no check.
	again, err := b.Check(ctx, "contoso")
	if err != nil || gc.n.Load() != 1 || !again.CheckedAt.Equal(results[0].CheckedAt) {
		t.Errorf("a call within the reuse window: %+v, %v; %d checks", again, err, gc.n.Load())
	}
	// Another tenant is checked on its own.
	if _, err := b.Check(ctx, "fabrikam"); err != nil || gc.n.Load() != 2 {
		t.Errorf("other tenant: %v; %d checks", err, gc.n.Load())
	}

	// Past the window: a new check.
	b.checkMu.Lock()
	b.checks["contoso"].at = time.Now().Add(-checkReuse - time.Second)
	b.checkMu.Unlock()
	if res, err := b.Check(ctx, "contoso"); err != nil || gc.n.Load() != 3 || !res.CheckedAt.After(results[0].CheckedAt) {
		t.Errorf("after the window: %+v, %v; %d checks", res, err, gc.n.Load())
	}

	// After a reload (a new configuration): a new check.
	old := f.svc.Config()
	if err := os.WriteFile(old.Path, []byte(`{"dataDir": "state", "tenants": [`+tenantJSON("contoso")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f.svc.Reload()
	waitFor(t, "the reload", func() bool { return f.svc.Config() != old })
	if _, err := b.Check(ctx, "contoso"); err != nil || gc.n.Load() != 4 {
		t.Errorf("after a reload: %v; %d checks", err, gc.n.Load())
	}
}

// A caller that goes away stops waiting at once; the check stops when no
// caller waits for it, and is not reused: the next caller starts afresh.
func TestCheckHonoursCancellation(t *testing.T) {
	f := start(t, tenantJSON("contoso"))
	gc := newGatedChecker()
	b, err := New(Options{Service: f.svc, Store: f.st, Checker: gc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := b.Check(ctx, "contoso")
		done <- err
	}()
	<-gc.started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled caller still waits")
	}
	waitFor(t, "the check to stop", func() bool { return gc.cancelled.Load() == 1 })

	close(gc.release)
	res, err := b.Check(t.Context(), "contoso")
	if err != nil || res.Status != admin.CheckOK || gc.n.Load() != 2 {
		t.Errorf("after a cancelled check: %+v, %v; %d checks", res, err, gc.n.Load())
	}
	// A context already done runs nothing.
	if _, err := b.Check(ctx, "contoso"); !errors.Is(err, context.Canceled) || gc.n.Load() != 2 {
		t.Errorf("done context: %v; %d checks", err, gc.n.Load())
	}
}
