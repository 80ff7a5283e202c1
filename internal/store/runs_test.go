package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRunLifecycle(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	if _, err := s.StartRun(ctx, "contoso", "cron", t0, "h:1"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad trigger: %v", err)
	}
	id, err := s.StartRun(ctx, "contoso", TriggerSchedule, t0, "h:1")
	if err != nil {
		t.Fatal(err)
	}
	// A second run of the same tenant is refused while the first runs,
	// naming it; another tenant is not affected.
	_, err = s.StartRun(ctx, "contoso", TriggerManual, t0, "h:2")
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrTenantBusy) || busy.RunID != id || busy.Owner != "h:1" {
		t.Fatalf("overlapping run: %v", err)
	}
	other, err := s.StartRun(ctx, "fabrikam", TriggerManual, t0, "h:1")
	if err != nil {
		t.Fatal(err)
	}
	// The lock holds across processes: a second Store on the same
	// directory stands in for `galmirror sync` beside the service.
	s2, err := Open(ctx, s.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.StartRun(ctx, "contoso", TriggerManual, t0, "h:3"); !errors.Is(err, ErrTenantBusy) {
		t.Fatalf("second store overlapped the run: %v", err)
	}
	s2.Close()
	if err := s.TouchRun(ctx, id, t0.Add(time.Minute)); err != nil {
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
	}
	// Shutdown: the run's context is cancelled, its history must still
	// be written.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.FinishRun(cctx, id, res); err != nil {
		t.Fatal(err)
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
	if err := s.TouchRun(ctx, id, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("touch finished run: %v", err)
	}
	ts, _ := s.Tenant(ctx, "contoso")
	if ts.LastSuccess != res.Finished || ts.ConsecutiveFailures != 0 {
		t.Fatalf("tenant after partial run %+v", ts)
	}
	// The lock is released: the next run starts.
	id2, err := s.StartRun(ctx, "contoso", TriggerManual, t0.Add(time.Hour), "h:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, id2, RunResult{Status: RunFailed, Finished: t0.Add(time.Hour + time.Second), Error: "AADSTS700027"}); err != nil {
		t.Fatal(err)
	}
	id3, _ := s.StartRun(ctx, "contoso", TriggerManual, t0.Add(2*time.Hour), "h:1")
	if err := s.FinishRun(ctx, id3, RunResult{Status: RunFailed, Finished: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ts, _ = s.Tenant(ctx, "contoso")
	if ts.ConsecutiveFailures != 2 || ts.LastSuccess != res.Finished {
		t.Fatalf("tenant after failures %+v", ts)
	}
	last, err := s.LastRun(ctx, "contoso")
	if err != nil || last.ID != id3 || last.Status != RunFailed {
		t.Fatalf("last run %+v %v", last, err)
	}
	if _, err := s.LastRun(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("last run of unknown tenant: %v", err)
	}
	if _, _, err := s.GetRun(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
	if err := s.FinishRun(ctx, other, RunResult{Status: RunRunning}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("finish with status running: %v", err)
	}
	if err := s.FinishRun(ctx, 9999, RunResult{Status: RunOK}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finish unknown run: %v", err)
	}
}

func TestListRunsPaging(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var contoso []int64
	for i := range 7 {
		for _, tenant := range []string{"contoso", "fabrikam"} {
			id, err := s.StartRun(ctx, tenant, TriggerSchedule, t0.Add(time.Duration(i)*time.Hour), "h")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.FinishRun(ctx, id, RunResult{Status: RunOK, Finished: t0.Add(time.Duration(i)*time.Hour + time.Minute)}); err != nil {
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
		id, err := s.StartRun(ctx, "contoso", TriggerSchedule, time.Unix(int64(i), 0), "h")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if err := s.FinishRun(ctx, id, RunResult{Status: RunOK, Mailboxes: []RunMailbox{{UserID: "m", Status: MailboxOK}}}); err != nil {
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
