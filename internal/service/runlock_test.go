package service

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// A tenant whose tenant id changed in the settings is reset (its state
// discarded) by the service's next run, but never under a run of the
// tenant that another process (`galmirror sync`) holds: the service's
// scheduled run and SyncNow are refused like any overlapping run, the
// other run's state survives, and the reset happens when the service gets
// the run lock.
func TestTenantIDChangeWaitsForTheRunLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := newTestState(t)
		other, err := store.Open(ctx, st.dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		otherRun, err := other.BeginRun(ctx, store.RunSpec{Tenant: "a", TenantID: "old-tenant-id", Trigger: store.TriggerManual, Owner: "host:42"})
		if err != nil {
			t.Fatal(err)
		}
		if err := other.ApplyPersonDelta(ctx, "a", store.KindUser, []store.Person{{SourceID: "u1", Enabled: true}}, nil, "users-delta"); err != nil {
			t.Fatal(err)
		}
		if err := other.SaveMailbox(ctx, "a", store.Mailbox{UserID: "m1", Status: store.MailboxOK},
			store.ContactChanges{Upserts: []store.ContactRef{{SourceID: "u1", ContactID: "c1"}}}); err != nil {
			t.Fatal(err)
		}

		r := newFakeRunner(nil)
		h := startServiceOn(t, st, r, Options{Timing: Timing{BusyRetry: 5 * time.Minute}}, 2,
			tenantJSON("a", `{"every": "1h", "jitter": "1m"}`))
		time.Sleep(2 * time.Minute) // past the start-up run
		synctest.Wait()
		var busy *AlreadyRunningError
		if _, err := h.svc.SyncNow(ctx, "a"); !errors.As(err, &busy) || busy.Owner != "host:42" || busy.RunID != otherRun.ID {
			t.Errorf("SyncNow while another process runs a: %v", err)
		}
		if n := len(r.callsOf("a")); n != 0 {
			t.Errorf("the service ran a %d times under another process's run", n)
		}
		intact := func(when string) {
			t.Helper()
			ts, err := other.Tenant(ctx, "a")
			n, _ := other.PersonCount(ctx, "a")
			mbs, _ := other.Mailboxes(ctx, "a")
			if err != nil || ts.TenantID != "old-tenant-id" || ts.UsersDeltaLink != "users-delta" || n != 1 || len(mbs) != 1 {
				t.Fatalf("%s: the running sync's state was touched: %+v persons=%d mailboxes=%d err=%v", when, ts, n, len(mbs), err)
			}
		}
		intact("after the service's start-up run and SyncNow")

		// The other run goes on with its state, then ends.
		if err := other.SetOrgContactsDeltaLink(ctx, "a", "contacts-delta"); err != nil {
			t.Fatal(err)
		}
		intact("at the end of the other run")
		if err := otherRun.Finish(ctx, store.RunResult{Status: store.RunOK}); err != nil {
			t.Fatal(err)
		}

		// The service retries after BusyRetry, now with the lock: the
		// state of the old tenant id is discarded then, and only then.
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		h.stop(t)
		if n := len(r.callsOf("a")); n != 1 {
			t.Fatalf("the service ran a %d times after the other run ended, want 1", n)
		}
		ts, _ := st.Tenant(ctx, "a")
		n, _ := st.PersonCount(ctx, "a")
		if ts.TenantID == "old-tenant-id" || ts.UsersDeltaLink != "" || ts.OrgContactsDeltaLink != "" || n != 0 {
			t.Errorf("the service's own run did not reset the tenant: %+v persons=%d", ts, n)
		}
	})
}

// A run SyncNow began that its loop never runs (the loop ends first: here
// a shutdown while the loop waits for the tenant's previous loop, removed
// and still finishing) is finished with the loop, as interrupted: its run
// lock and heartbeat do not outlive the loop, and SyncNow queues nothing
// for an ended loop.
func TestPendingRunEndsWithItsLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newTestState(t)
		cfg := loadConfig(t, writeConfig(t, t.TempDir(), 1, tenantJSON("a", "")))
		s := newScheduler(newFakeRunner(nil), st, events.NewBus(discardLogger()), discardLogger(), newMetrics("t"), Timing{}, "me", func() time.Duration { return time.Hour })
		ctx, cancel := context.WithCancel(context.Background())
		l := &tenantLoop{name: "a", cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1), cfg: cfg.Tenants[0]}
		s.loops["a"] = l
		prev := &tenantLoop{name: "a", done: make(chan struct{})} // never done here
		go s.runLoop(ctx, l, prev)
		id, err := s.syncNow(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		<-l.done
		r, _, err := st.GetRun(context.Background(), id)
		if err != nil || r.Status != store.RunInterrupted || r.FailureClass != store.FailCanceled {
			t.Fatalf("pending run after its loop ended: %+v %v", r, err)
		}
		if _, err := s.syncNow(context.Background(), "a"); !errors.Is(err, ErrNotRunning) {
			t.Errorf("SyncNow on an ended loop: %v", err)
		}
		run, err := st.BeginRun(context.Background(), store.RunSpec{Tenant: "a", Trigger: store.TriggerManual})
		if err != nil {
			t.Fatalf("the pending run's lock outlived its loop: %v", err)
		}
		run.Finish(context.Background(), store.RunResult{Status: store.RunOK})
	})
}
