package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// begin starts a run of tenant and fails the test if it cannot.
func begin(t *testing.T, s *Store, tenant string, trigger Trigger, started time.Time, owner string) *ActiveRun {
	t.Helper()
	a, err := s.BeginRun(t.Context(), RunSpec{Tenant: tenant, TenantID: "tid-" + tenant, Trigger: trigger, Started: started, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRunLifecycle(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	if _, err := s.BeginRun(ctx, RunSpec{Tenant: "contoso", Trigger: "cron", Started: t0, Owner: "h:1"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad trigger: %v", err)
	}
	run := begin(t, s, "contoso", TriggerSchedule, t0, "h:1")
	id := run.ID
	checkOverlapsRefused(t, s, run)
	// Another tenant is not affected.
	other := begin(t, s, "fabrikam", TriggerManual, t0, "h:1")
	if err := s.touchRun(ctx, id, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	res := RunResult{
		Status:   RunPartial,
		Finished: t0.Add(90 * time.Second),
		Counts:   Counts{MailboxesSynced: 2, MailboxesFailed: 1, Created: 10, Updated: 2, Deleted: 1, Unchanged: 100, HeldBack: 4, GraphRequests: 42, BatchItems: 30, Throttled429: 3, Throttled503: 1},
		Mailboxes: []RunMailbox{
			{UserID: "m2", UPN: "b@x", Status: MailboxFailed, ErrorCode: "ErrorQuotaExceeded", ErrorMessage: "quota", RequestID: "rid-1", Counts: Counts{Created: 1}},
			{UserID: "m1", UPN: "a@x", Status: MailboxOK, Counts: Counts{Created: 9, HeldBack: 4}},
		},
		CertExpiry: t0.Add(40 * 24 * time.Hour),
	}
	// Shutdown: the run's context is cancelled, its history must still
	// be written.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := run.Finish(cctx, res); err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(ctx, res); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("second Finish: %v", err)
	}
	r, mbs, err := s.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := Run{ID: id, Tenant: "contoso", Trigger: TriggerSchedule, Status: RunPartial, Started: t0, Heartbeat: t0.Add(time.Minute),
		Finished: t0.Add(90 * time.Second), Duration: 90 * time.Second, Counts: res.Counts, Owner: "h:1"}
	if r != want {
		t.Fatalf("run\n got %+v\nwant %+v", r, want)
	}
	if len(mbs) != 2 || mbs[0] != res.Mailboxes[1] || mbs[1] != res.Mailboxes[0] {
		t.Fatalf("mailboxes %+v", mbs)
	}
	if err := s.touchRun(ctx, id, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("touch finished run: %v", err)
	}
	ts, _ := s.Tenant(ctx, "contoso")
	if ts.LastSuccess != res.Finished || ts.ConsecutiveFailures != 0 || ts.CertExpiry != res.CertExpiry || ts.TenantID != "tid-contoso" {
		t.Fatalf("tenant after partial run %+v", ts)
	}
	checkFailuresCounted(t, s, t0, res)
	if _, err := s.LastRun(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("last run of unknown tenant: %v", err)
	}
	if _, _, err := s.GetRun(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
	if err := other.Finish(ctx, RunResult{Status: RunRunning}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("finish with status running: %v", err)
	}
	// ... which released fabrikam's lock all the same.
	begin(t, s, "fabrikam", TriggerManual, t0, "h:1")
	if err := s.finishRun(ctx, 9999, RunResult{Status: RunOK}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finish unknown run: %v", err)
	}
}

// checkOverlapsRefused checks that a second run of run's tenant is refused
// while it runs, naming it, in this process and in another (a second Store
// on the same directory stands in for `galmirror sync` beside the
// service).
func checkOverlapsRefused(t *testing.T, s *Store, run *ActiveRun) {
	t.Helper()
	ctx := t.Context()
	_, err := s.BeginRun(ctx, RunSpec{Tenant: run.Tenant, TenantID: "tid-" + run.Tenant, Trigger: TriggerManual, Owner: "h:2"})
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrTenantBusy) || busy.RunID != run.ID || busy.Owner != "h:1" {
		t.Fatalf("overlapping run: %v", err)
	}
	s2, err := Open(ctx, s.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.BeginRun(ctx, RunSpec{Tenant: run.Tenant, Trigger: TriggerManual, Owner: "h:3"}); !errors.Is(err, ErrTenantBusy) {
		t.Fatalf("second store overlapped the run: %v", err)
	}
}

// checkFailuresCounted runs contoso twice more, failing, after the run that
// ended with last: the lock was released, failures are counted and
// classified, and the last success stays.
func checkFailuresCounted(t *testing.T, s *Store, t0 time.Time, last RunResult) {
	t.Helper()
	ctx := t.Context()
	run2 := begin(t, s, "contoso", TriggerManual, t0.Add(time.Hour), "h:1")
	auth := &Failure{Class: FailAuth, Code: "AADSTS700027", Message: "AADSTS700027: bad signature"}
	if err := run2.Finish(ctx, RunResult{Status: RunFailed, Finished: t0.Add(time.Hour + time.Second), Failure: auth}); err != nil {
		t.Fatal(err)
	}
	run3 := begin(t, s, "contoso", TriggerManual, t0.Add(2*time.Hour), "h:1")
	if err := run3.Finish(ctx, RunResult{Status: RunFailed, Finished: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ts, _ := s.Tenant(ctx, "contoso")
	if ts.ConsecutiveFailures != 2 || ts.LastSuccess != last.Finished || ts.CertExpiry != last.CertExpiry {
		t.Fatalf("tenant after failures %+v", ts)
	}
	if r, _, _ := s.GetRun(ctx, run2.ID); r.FailureClass != FailAuth || r.Error != "auth: AADSTS700027: bad signature" {
		t.Fatalf("failed run recorded %q %q", r.FailureClass, r.Error)
	}
	lr, err := s.LastRun(ctx, "contoso")
	if err != nil || lr.ID != run3.ID || lr.Status != RunFailed {
		t.Fatalf("last run %+v %v", lr, err)
	}
}

// A stopped run (class canceled, from `galmirror sync` on Ctrl-C or the
// service's shutdown) is recorded as interrupted: no failure is counted.
func TestCanceledRunIsInterrupted(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	run := begin(t, s, "contoso", TriggerManual, time.Now(), "h:1")
	stopped := &Failure{Class: FailCanceled, Message: "the run was stopped before it finished"}
	if err := run.Finish(ctx, RunResult{Status: RunFailed, Failure: stopped}); err != nil {
		t.Fatal(err)
	}
	r, _, _ := s.GetRun(ctx, run.ID)
	ts, _ := s.Tenant(ctx, "contoso")
	if r.Status != RunInterrupted || r.FailureClass != FailCanceled || ts.ConsecutiveFailures != 0 {
		t.Fatalf("stopped run recorded as %s (%s), %d failures", r.Status, r.FailureClass, ts.ConsecutiveFailures)
	}
}

// BeginRun ensures the tenant only once it holds the run lock: a run that
// names another tenant id than the state's while another process runs the
// tenant is refused and changes nothing, so it cannot wipe the state under
// that run; once it gets the lock it discards the old tenant's state.
func TestBeginRunResetsTenantOnlyUnderTheLock(t *testing.T) {
	s, dir := openTest(t, Options{})
	ctx := t.Context()
	spec := RunSpec{Tenant: "contoso", TenantID: "t1", Trigger: TriggerManual, Owner: "sync:1"}
	first, err := s.BeginRun(ctx, spec)
	if err != nil || first.Reset {
		t.Fatalf("first run: reset=%v %v", first != nil && first.Reset, err)
	}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, []Person{{SourceID: "u1", Enabled: true}}, nil, "dl"); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: "m1", Status: MailboxOK}, ContactChanges{Upserts: []ContactRef{{SourceID: "u1", ContactID: "c1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused(ctx, "contoso", true, "x", time.Now()); err != nil {
		t.Fatal(err)
	}
	svc, err := Open(ctx, dir, Options{}) // the service beside `galmirror sync`
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	changed := spec
	changed.TenantID, changed.Owner = "t2", "service:2"
	if _, err := svc.BeginRun(ctx, changed); !errors.Is(err, ErrTenantBusy) {
		t.Fatalf("run with a changed tenant id during another's run: %v", err)
	}
	state := func() (TenantState, int, int, int) {
		ts, _ := s.Tenant(ctx, "contoso")
		n, _ := s.PersonCount(ctx, "contoso")
		mbs, _ := s.Mailboxes(ctx, "contoso")
		var contacts int
		s.r.QueryRow("SELECT count(*) FROM contacts").Scan(&contacts)
		return ts, n, len(mbs), contacts
	}
	if ts, n, mbs, contacts := state(); ts.TenantID != "t1" || ts.UsersDeltaLink != "dl" || n != 1 || mbs != 1 || contacts != 1 {
		t.Fatalf("the running run's state was touched: %+v persons=%d mailboxes=%d contacts=%d", ts, n, mbs, contacts)
	}
	if err := first.Finish(ctx, RunResult{Status: RunOK}); err != nil {
		t.Fatal(err)
	}
	same, err := svc.BeginRun(ctx, spec)
	if err != nil || same.Reset {
		t.Fatalf("same tenant id: reset=%v %v", same != nil && same.Reset, err)
	}
	same.Finish(ctx, RunResult{Status: RunOK})
	second, err := svc.BeginRun(ctx, changed)
	if err != nil || !second.Reset {
		t.Fatalf("changed tenant id: reset=%v %v", second != nil && second.Reset, err)
	}
	defer second.Finish(ctx, RunResult{Status: RunOK})
	if ts, n, mbs, contacts := state(); ts.TenantID != "t2" || ts.UsersDeltaLink != "" || !ts.Paused || n != 0 || mbs != 0 || contacts != 0 {
		t.Fatalf("after reset: %+v persons=%d mailboxes=%d contacts=%d", ts, n, mbs, contacts)
	}
}

// The heartbeat is renewed while the run lasts, by a goroutine that Finish
// (or Close, for a run never finished) ends: synctest fails the test if
// one is left behind.
func TestRunHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := openTest(t, Options{})
		ctx := t.Context()
		var beatErrs atomic.Int32
		spec := RunSpec{Tenant: "contoso", Trigger: TriggerSchedule, Owner: "h:1", HeartbeatEvery: time.Minute,
			OnHeartbeatError: func(error) { beatErrs.Add(1) }}
		run, err := s.BeginRun(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		r, _, _ := s.GetRun(ctx, run.ID)
		if !r.Heartbeat.Equal(t0.Add(3 * time.Minute).Truncate(time.Millisecond)) {
			t.Errorf("heartbeat %v after 3m, want %v", r.Heartbeat, t0.Add(3*time.Minute))
		}
		if err := run.Finish(ctx, RunResult{Status: RunOK}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		if r2, _, _ := s.GetRun(ctx, run.ID); r2.Heartbeat != r.Heartbeat || beatErrs.Load() != 0 {
			t.Errorf("heartbeat went on after Finish: %v (errors %d)", r2.Heartbeat, beatErrs.Load())
		}
		// A run never finished: Close ends its heartbeat.
		spec.Tenant = "fabrikam"
		if _, err := s.BeginRun(ctx, spec); err != nil {
			t.Fatal(err)
		}
		time.Sleep(90 * time.Second)
		s.Close()
		if _, err := s.BeginRun(ctx, spec); err == nil {
			t.Error("a closed store began a run")
		}
	})
}

func TestListRunsPaging(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var contoso []int64
	for i := range 7 {
		for _, tenant := range []string{"contoso", "fabrikam"} {
			run := begin(t, s, tenant, TriggerSchedule, t0.Add(time.Duration(i)*time.Hour), "h")
			id := run.ID
			if err := run.Finish(ctx, RunResult{Status: RunOK, Finished: t0.Add(time.Duration(i)*time.Hour + time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if tenant == "contoso" {
				contoso = append([]int64{id}, contoso...)
			}
		}
	}
	var got []int64
	tok := ""
	pages := 0
	for {
		runs, next, err := s.ListRuns(ctx, "contoso", 3, tok)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range runs {
			if r.Tenant != "contoso" {
				t.Fatalf("run of %s in contoso's list", r.Tenant)
			}
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		tok = next
	}
	if fmt.Sprint(got) != fmt.Sprint(contoso) || pages != 3 {
		t.Fatalf("pages %d ids %v want %v", pages, got, contoso)
	}
	all, _, err := s.ListRuns(ctx, "", 0, "")
	if err != nil || len(all) != 14 || all[0].ID < all[1].ID {
		t.Fatalf("all runs %d %v", len(all), err)
	}
	_, next, _ := s.ListRuns(ctx, "contoso", 2, "")
	for _, bad := range []string{"garbage!", "cjE6", next + "x", "cjE6LTE6Y29udG9zbw"} {
		if _, _, err := s.ListRuns(ctx, "contoso", 2, bad); !errors.Is(err, ErrInvalidPageToken) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	// A token is bound to its filter.
	if _, _, err := s.ListRuns(ctx, "fabrikam", 2, next); !errors.Is(err, ErrInvalidPageToken) {
		t.Errorf("token replayed on another tenant: %v", err)
	}
	if _, _, err := s.ListRuns(ctx, "", 5000, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("page size 5000: %v", err)
	}
}

func TestRunRetention(t *testing.T) {
	s, _ := openTest(t, Options{KeepRuns: 5, KeepRunMailboxes: 2})
	ctx := t.Context()
	var ids []int64
	for i := range 8 {
		run := begin(t, s, "contoso", TriggerSchedule, time.Unix(int64(i), 0), "h")
		ids = append(ids, run.ID)
		if err := run.Finish(ctx, RunResult{Status: RunOK, Mailboxes: []RunMailbox{{UserID: "m", Status: MailboxOK}}}); err != nil {
			t.Fatal(err)
		}
	}
	runs, _, _ := s.ListRuns(ctx, "contoso", 100, "")
	if len(runs) != 5 || runs[4].ID != ids[3] {
		t.Fatalf("kept %d runs", len(runs))
	}
	for i, id := range ids[3:] {
		_, mbs, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := i >= 3; (len(mbs) == 1) != want {
			t.Errorf("run %d: %d mailbox rows, want details=%v", id, len(mbs), want)
		}
	}
}

func TestEvents(t *testing.T) {
	s, _ := openTest(t, Options{KeepEvents: 5})
	ctx := t.Context()
	if seq, err := s.LastEventSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("empty: %d %v", seq, err)
	}
	for _, bad := range []Event{{ID: 0}, {ID: 1001}, {ID: 5, Fields: json.RawMessage(`[1]`)}, {ID: 5, Fields: json.RawMessage(`{`)}} {
		if _, err := s.AppendEvent(ctx, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("event %+v: %v", bad, err)
		}
	}
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var seqs []int64
	for i := range 8 {
		seq, err := s.AppendEvent(ctx, Event{Time: t0.Add(time.Duration(i) * time.Second), Tenant: "contoso", ID: 100 + i, Level: "INFO",
			Message: fmt.Sprint("event ", i), Fields: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	all, err := s.EventsSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || all[0].Seq != seqs[3] || all[4].Seq != seqs[7] {
		t.Fatalf("kept %d events: %+v", len(all), all)
	}
	e := all[4]
	if e.ID != 107 || e.Tenant != "contoso" || e.Level != "INFO" || e.Message != "event 7" || string(e.Fields) != `{"i":7}` || !e.Time.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("event %+v", e)
	}
	since, _ := s.EventsSince(ctx, seqs[5], 1)
	if len(since) != 1 || since[0].Seq != seqs[6] {
		t.Fatalf("since %+v", since)
	}
	if last, _ := s.LastEventSeq(ctx); last != seqs[7] {
		t.Fatalf("last %d", last)
	}
	// Seq is never reused, even when every event was trimmed.
	s.w.Exec("DELETE FROM events")
	seq, _ := s.AppendEvent(ctx, Event{ID: 1, Level: "INFO"})
	if seq <= seqs[7] {
		t.Fatalf("seq %d reused", seq)
	}
	if _, err := s.EventsSince(ctx, 0, -1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative limit: %v", err)
	}
}
