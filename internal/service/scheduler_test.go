package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

func TestStartupRunThenEveryWithJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(nil)
		t0 := time.Now()
		h := startService(t, r, Options{}, tenantJSON("a", `{"every": "1h", "jitter": "5m"}`))
		time.Sleep(10*time.Hour + time.Minute)
		synctest.Wait()
		h.stop(t)
		calls := r.callsOf("a")
		if len(calls) < 9 || len(calls) > 11 {
			t.Fatalf("%d runs in 10h, want about 10", len(calls))
		}
		if d := calls[0].start.Sub(t0); d > 30*time.Second || calls[0].run.Trigger != store.TriggerStartup {
			t.Errorf("start-up run after %v (trigger %s), want within 30s", d, calls[0].run.Trigger)
		}
		spread := map[time.Duration]bool{}
		for i := 1; i < len(calls); i++ {
			gap := calls[i].start.Sub(calls[i-1].end)
			if gap < time.Hour || gap > time.Hour+5*time.Minute {
				t.Errorf("gap %d = %v, want within [1h, 1h5m]", i, gap)
			}
			if calls[i].run.Trigger != store.TriggerSchedule {
				t.Errorf("run %d trigger %s", i, calls[i].run.Trigger)
			}
			spread[gap] = true
		}
		if len(spread) < 3 {
			t.Errorf("gaps %v: jitter does not vary", spread)
		}
		st, _ := h.state.Tenant(context.Background(), "a")
		if !st.NextRun.After(calls[len(calls)-1].end) {
			t.Errorf("next run %v not recorded after the last run", st.NextRun)
		}
	})
}

func TestCronScheduleInTimeZone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(nil)
		h := startService(t, r, Options{}, tenantJSON("a", `{"cron": "30 2 * * *", "timeZone": "Asia/Tokyo", "jitter": "0s"}`))
		time.Sleep(72 * time.Hour)
		synctest.Wait()
		h.stop(t)
		calls := r.callsOf("a")
		if len(calls) != 4 { // start-up + three days
			t.Fatalf("%d runs in 3 days, want 4", len(calls))
		}
		tokyo, _ := time.LoadLocation("Asia/Tokyo")
		for _, c := range calls[1:] {
			if lt := c.start.In(tokyo); lt.Hour() != 2 || lt.Minute() != 30 || lt.Second() != 0 {
				t.Errorf("cron run at %v Tokyo time, want 02:30:00", lt)
			}
		}
	})
}

func TestBackoffThenBackToSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(func(_ context.Context, _ config.Tenant, n int) (Result, error) {
			if n < 5 {
				return Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailAuth, Code: "AADSTS700027", Message: "bad signature"}},
					errors.New("token: AADSTS700027")
			}
			return okResult(), nil
		})
		h := startService(t, r, Options{Timing: Timing{BackoffBase: 5 * time.Minute, BackoffMax: 30 * time.Minute}},
			tenantJSON("a", `{"every": "2h", "jitter": "0s"}`))
		time.Sleep(8 * time.Hour)
		synctest.Wait()
		h.stop(t)
		calls := r.callsOf("a")
		if len(calls) < 7 {
			t.Fatalf("%d runs", len(calls))
		}
		// Failures 1..5 back off 5m, 10m, 20m, 30m (cap), 30m; +≤10% jitter.
		want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 2 * time.Hour}
		for i, w := range want {
			gap := calls[i+1].start.Sub(calls[i].end)
			if gap < w || gap > w+w/10 {
				t.Errorf("gap after run %d = %v, want %v (+≤10%%)", i, gap, w)
			}
		}
		st, _ := h.state.Tenant(context.Background(), "a")
		if st.ConsecutiveFailures != 0 || st.LastSuccess.IsZero() {
			t.Errorf("state after success: %+v", st)
		}
		got := ids(h.drain(), "a")
		// One 202 and one 300 per failed run, never more.
		if n202, n300 := count(got, events.RunFailed), count(got, events.AuthFailed); n202 != 5 || n300 != 5 {
			t.Errorf("events %v: %d×202, %d×300, want 5 each", got, n202, n300)
		}
	})
}

func count(ids []events.ID, id events.ID) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// A tenant whose run hangs never delays the others, no tenant overlaps
// itself, and the concurrency cap holds.
func TestNoOverlapCapAndIsolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(func(ctx context.Context, tc config.Tenant, n int) (Result, error) {
			d := 20 * time.Minute
			if tc.Name == "slow" {
				d = 3 * time.Hour // longer than its schedule
			}
			select {
			case <-time.After(d):
				return okResult(), nil
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		})
		sched := `{"every": "1h", "jitter": "1m"}`
		h := startService(t, r, Options{}, tenantJSON("slow", sched), tenantJSON("b", sched), tenantJSON("c", sched))
		time.Sleep(10 * time.Hour)
		synctest.Wait()
		h.stop(t)
		if len(r.overlap) > 0 {
			t.Errorf("overlapping runs of %v", r.overlap)
		}
		if r.maxActive != 2 {
			t.Errorf("max concurrent runs %d, want the cap 2", r.maxActive)
		}
		slow, b, c := r.callsOf("slow"), r.callsOf("b"), r.callsOf("c")
		if len(slow) < 3 || len(slow) > 4 {
			t.Errorf("slow tenant ran %d times", len(slow))
		}
		// b and c share one slot while slow holds the other: each runs
		// 20 minutes, then waits its hour.
		for _, calls := range [][]call{b, c} {
			if len(calls) < 7 {
				t.Errorf("tenant %s ran %d times in 10h: delayed by the slow tenant", calls[0].tenant, len(calls))
			}
		}
	})
}

func TestSyncNowPauseResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		r := newFakeRunner(func(ctx context.Context, _ config.Tenant, n int) (Result, error) {
			if n == 1 {
				select {
				case <-release:
				case <-ctx.Done():
					return Result{}, ctx.Err()
				}
			}
			return okResult(), nil
		})
		h := startService(t, r, Options{}, tenantJSON("a", `{"every": "1h", "jitter": "0s"}`), tenantJSON("b", ""))
		ctx := context.Background()
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(r.callsOf("a")) != 1 {
			t.Fatalf("start-up run missing")
		}
		id, err := h.svc.SyncNow(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		calls := r.callsOf("a")
		if len(calls) != 2 || calls[1].run.ID != id || calls[1].run.Trigger != store.TriggerManual {
			t.Fatalf("SyncNow run not started: %+v", calls)
		}
		_, err = h.svc.SyncNow(ctx, "a")
		var busy *AlreadyRunningError
		if !errors.As(err, &busy) || busy.RunID != id || !errors.Is(err, ErrAlreadyRunning) {
			t.Errorf("second SyncNow: %v, want AlreadyRunningError for run %d", err, id)
		}
		if sts := h.svc.Tenants(); sts[0].RunID != id {
			t.Errorf("status while running: %+v", sts[0])
		}
		close(release)
		synctest.Wait()

		// Another process (`galmirror sync`) runs b: typed error with owner.
		other, err := store.Open(ctx, h.state.dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		otherRun, err := other.BeginRun(ctx, store.RunSpec{Tenant: "b", Trigger: store.TriggerManual, Owner: "host:42"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.SyncNow(ctx, "b"); !errors.As(err, &busy) || busy.Owner != "host:42" || busy.RunID != otherRun.ID {
			t.Errorf("SyncNow while another process runs b: %v", err)
		}
		_ = otherRun.Finish(ctx, store.RunResult{Status: store.RunOK})
		other.Close()
		if _, err := h.svc.SyncNow(ctx, "nope"); !errors.Is(err, ErrUnknownTenant) {
			t.Errorf("unknown tenant: %v", err)
		}

		if err := h.svc.Pause(ctx, "a", "alice@EXAMPLE.COM"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.SyncNow(ctx, "a"); !errors.Is(err, ErrPaused) {
			t.Errorf("SyncNow on paused tenant: %v", err)
		}
		before := len(r.callsOf("a"))
		time.Sleep(5 * time.Hour)
		synctest.Wait()
		if n := len(r.callsOf("a")); n != before {
			t.Errorf("paused tenant ran %d times", n-before)
		}
		st, _ := h.state.Tenant(ctx, "a")
		if !st.Paused || st.PausedBy != "alice@EXAMPLE.COM" {
			t.Errorf("pause not persisted: %+v", st)
		}
		if err := h.svc.Resume(ctx, "a", "alice@EXAMPLE.COM"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(61 * time.Minute)
		synctest.Wait()
		if n := len(r.callsOf("a")); n != before+1 {
			t.Errorf("resumed tenant ran %d times in an hour, want 1", n-before)
		}
		h.stop(t)
		if _, err := h.svc.SyncNow(ctx, "a"); !errors.Is(err, ErrNotRunning) {
			t.Errorf("SyncNow after stop: %v", err)
		}
	})
}

// A paused tenant stays paused across a restart (read from the store).
func TestPauseSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(nil)
		h := startService(t, r, Options{}, tenantJSON("a", ""))
		time.Sleep(time.Minute)
		synctest.Wait()
		h.stop(t)
		_ = h.state.SetPaused(context.Background(), "a", true, "bob", time.Now())
		svc, err := New(Options{Config: h.svc.Config(), Runner: r, State: h.state, PollInterval: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx) }()
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		if n := len(r.callsOf("a")); n != 1 {
			t.Errorf("paused tenant ran after restart (%d runs)", n)
		}
		if !svc.Tenants()[0].Paused {
			t.Error("status does not show paused")
		}
		cancel()
		<-done
	})
}

func TestReloadMidRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(func(ctx context.Context, tc config.Tenant, n int) (Result, error) {
			select {
			case <-time.After(30 * time.Minute):
				return okResult(), nil
			case <-ctx.Done():
				return Result{}, fmt.Errorf("run stopped: %w", ctx.Err())
			}
		})
		h := startServiceCap(t, r, Options{}, 3,
			tenantJSON("keep", `{"every": "1h", "jitter": "0s"}`),
			tenantJSON("change", `{"every": "1h", "jitter": "0s"}`),
			tenantJSON("gone", `{"every": "1h", "jitter": "0s"}`))
		time.Sleep(5 * time.Minute) // all three are mid-run
		synctest.Wait()
		writeConfig(t, dirOf(h.path), 3,
			tenantJSON("keep", `{"every": "1h", "jitter": "0s"}`),
			tenantJSON("change", `{"every": "3h", "jitter": "0s"}`),
			tenantJSON("new", `{"every": "1h", "jitter": "0s"}`))
		h.svc.Reload()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.callsOf("gone"); len(got) == 1 && !got[0].ctxDone {
			t.Errorf("removed tenant's run not cancelled")
		}
		for _, run := range h.state.runsOf(t, "gone") {
			if run.Status != store.RunInterrupted {
				t.Errorf("removed tenant's run recorded as %s, want interrupted", run.Status)
			}
		}
		time.Sleep(4 * time.Hour)
		synctest.Wait()
		h.stop(t)
		keep, change, added := r.callsOf("keep"), r.callsOf("change"), r.callsOf("new")
		if keep[0].ctxDone || keep[0].end.Sub(keep[0].start) != 30*time.Minute {
			t.Errorf("unchanged tenant's run disturbed: %+v", keep[0])
		}
		// Runs take 30m, then wait 1h: starts at 0, 1h30, 3h00 (4h05 elapsed).
		if len(keep) != 3 {
			t.Errorf("unchanged tenant ran %d times, want 3", len(keep))
		}
		if change[0].ctxDone || change[0].cfg.Schedule.Every.Std() != time.Hour {
			t.Errorf("changed tenant's run in flight should finish with its old configuration")
		}
		if len(change) != 2 || change[1].start.Sub(change[0].end) != 3*time.Hour || change[1].cfg.Schedule.Every.Std() != 3*time.Hour {
			t.Errorf("changed tenant: %d runs; want the new 3h schedule", len(change))
		}
		if len(added) != 3 {
			t.Errorf("added tenant ran %d times, want 3", len(added))
		}
		evs := h.drain()
		var reloaded events.Event
		for _, e := range evs {
			if e.ID == events.ConfigReloaded {
				reloaded = e
			}
		}
		if reloaded.Field("added") != "new" || reloaded.Field("removed") != "gone" || reloaded.Field("changed") != "change" {
			t.Errorf("config_reloaded event: %+v", reloaded)
		}
	})
}

func dirOf(path string) string { return path[:len(path)-len("/settings.json")] }

func TestBadReloadKeepsLastGood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(nil)
		h := startService(t, r, Options{PollInterval: 5 * time.Second}, tenantJSON("a", `{"every": "1h", "jitter": "0s"}`))
		time.Sleep(time.Minute)
		if err := writeFile(h.path, `{"dataDir": "state", "tenants": [{"name": "a", "tenantid": "x"}]}`); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // many polls: reported once
		synctest.Wait()
		h.svc.Reload() // an explicit reload reports again
		time.Sleep(time.Second)
		synctest.Wait()
		evs := h.drain()
		if n := count(ids(evs, "*"), events.ConfigInvalid); n != 2 {
			t.Errorf("%d config_invalid events, want 2 (one from polling, one from the explicit reload)", n)
		}
		for _, e := range evs {
			if e.ID == events.ConfigInvalid && !strings.Contains(e.Field("error"), "tenants[0].tenantid") {
				t.Errorf("config_invalid does not name the bad key: %q", e.Field("error"))
			}
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if n := len(r.callsOf("a")); n != 3 {
			t.Errorf("tenant ran %d times on the last good configuration, want 3", n)
		}
		// A good file is picked up by polling.
		writeConfig(t, dirOf(h.path), 2, tenantJSON("a", `{"every": "1h", "jitter": "0s"}`), tenantJSON("b", `{"every": "1h", "jitter": "0s"}`))
		time.Sleep(time.Minute)
		synctest.Wait()
		h.stop(t)
		if len(r.callsOf("b")) != 1 {
			t.Errorf("tenant added by a polled change did not run")
		}
		if got := ids(h.drain(), "*"); !slices.Contains(got, events.ConfigReloaded) {
			t.Errorf("no config_reloaded event: %v", got)
		}
	})
}

// Shutdown cancels runs, records them as interrupted, and never waits
// longer than StopTimeout even for a run that ignores cancellation.
func TestShutdownBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stubborn := make(chan struct{})
		r := newFakeRunner(func(ctx context.Context, tc config.Tenant, n int) (Result, error) {
			if tc.Name == "stubborn" {
				<-stubborn // ignores ctx
				return okResult(), nil
			}
			<-ctx.Done()
			return Result{}, ctx.Err()
		})
		h := startService(t, r, Options{StopTimeout: 20 * time.Second}, tenantJSON("polite", ""), tenantJSON("stubborn", ""))
		time.Sleep(time.Minute)
		synctest.Wait()
		t0 := time.Now()
		h.cancel()
		<-h.done
		if d := time.Since(t0); d != 20*time.Second {
			t.Errorf("shutdown took %v, want the 20s bound", d)
		}
		runs := h.state.runsOf(t, "polite")
		if len(runs) != 1 || runs[0].Status != store.RunInterrupted {
			t.Errorf("polite tenant's run: %+v, want interrupted", runs)
		}
		got := ids(h.drain(), "*")
		if !slices.Contains(got, events.ServiceStopTimeout) || got[len(got)-1] != events.ServiceStopped {
			t.Errorf("events %v: want 102 then 101 last", got)
		}
		if slices.Contains(got, events.RunFailed) {
			t.Errorf("an interrupted run must not be reported as failed: %v", got)
		}
		close(stubborn) // let the abandoned goroutine end inside the bubble
		synctest.Wait()
	})
}

func TestCleanShutdownIsPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(func(ctx context.Context, _ config.Tenant, _ int) (Result, error) {
			<-ctx.Done()
			return Result{}, ctx.Err()
		})
		h := startService(t, r, Options{}, tenantJSON("a", ""), tenantJSON("b", ""), tenantJSON("c", ""))
		time.Sleep(time.Minute)
		synctest.Wait()
		t0 := time.Now()
		h.stop(t)
		if d := time.Since(t0); d != 0 {
			t.Errorf("shutdown took %v of fake time, want immediate", d)
		}
		// c was queued for a slot: its run record is closed too.
		for _, n := range []string{"a", "b", "c"} {
			for _, run := range h.state.runsOf(t, n) {
				if run.Status != store.RunInterrupted {
					t.Errorf("%s: run %d left %s", n, run.ID, run.Status)
				}
			}
		}
	})
}
