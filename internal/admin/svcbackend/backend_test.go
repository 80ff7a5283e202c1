package svcbackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

// gateRunner stands in for the sync engine (the service's Runner; the real
// engine is exercised end to end in cmd/galmirror): each run records two
// mailboxes and waits for the test to let it finish.
type gateRunner struct {
	st      *store.Store
	mu      sync.Mutex
	gates   map[string]chan store.RunStatus // per tenant; nil: finish at once
	started chan int64
}

func (r *gateRunner) gate(tenant string) chan store.RunStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gates[tenant] == nil {
		r.gates[tenant] = make(chan store.RunStatus)
	}
	return r.gates[tenant]
}

func (r *gateRunner) RunTenant(ctx context.Context, t config.Tenant, run service.RunInfo) (service.Result, error) {
	for i, upn := range []string{"b@contoso.example", "a@contoso.example"} {
		if err := r.st.BeginMailbox(ctx, t.Name, fmt.Sprintf("user-%d", i), upn); err != nil {
			return service.Result{}, err
		}
	}
	select {
	case r.started <- run.ID:
	default:
	}
	status := store.RunOK
	select {
	case status = <-r.gate(t.Name):
	case <-ctx.Done():
		return service.Result{}, ctx.Err()
	}
	res := service.Result{Status: status, Counts: store.Counts{MailboxesSynced: 1, MailboxesFailed: 1, Created: 5, HeldBack: 2},
		Mailboxes: []store.RunMailbox{
			{UserID: "user-0", UPN: "b@contoso.example", Status: store.MailboxFailed, ErrorCode: "ErrorAccessDenied", ErrorMessage: "Access is denied.", RequestID: "r-1"},
			{UserID: "user-1", UPN: "a@contoso.example", Status: store.MailboxOK, Counts: store.Counts{Created: 5}},
		}}
	if status == store.RunFailed {
		res.Failure = &store.Failure{Class: store.FailCertificate, Message: "wrong PFX password"}
		return res, errors.New(res.Failure.Message)
	}
	return res, nil
}

type fixture struct {
	b      *Backend
	svc    *service.Service
	st     *store.Store
	runner *gateRunner
	stop   func()
	// watching has a signal each time an Events sequence has subscribed
	// and read the newest stored Seq: events emitted after it reach the
	// watcher.
	watching chan struct{}
}

// signalStore is the store, signalling each LastEventSeq the backend has
// read (Events reads it right after subscribing).
type signalStore struct {
	Store
	read chan<- struct{}
}

func (s signalStore) LastEventSeq(ctx context.Context) (int64, error) {
	seq, err := s.Store.LastEventSeq(ctx)
	select {
	case s.read <- struct{}{}:
	default: // nobody waits for this one
	}
	return seq, err
}

// watch runs fn, which watches with Events, in a goroutine and returns
// once it is watching.
func (f *fixture) watch(t *testing.T, fn func()) {
	t.Helper()
	for len(f.watching) > 0 {
		<-f.watching // from earlier Events calls
	}
	go fn()
	select {
	case <-f.watching:
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not subscribe")
	}
}

func tenantJSON(name string) string {
	return fmt.Sprintf(`{"name": %q, "tenantId": "11111111-1111-1111-1111-11111111111%d",
		"clientId": "22222222-2222-2222-2222-222222222222", "certificate": {"file": "%s.pem"},
		"schedule": {"every": "1h", "jitter": "0s"}}`, name, len(name)%10, name)
}

// start runs a real service on a real store with the gate runner.
func start(t *testing.T, tenants ...string) *fixture {
	t.Helper()
	return startWith(t, store.Options{}, tenants...)
}

// startWith is start with the store's retention options.
func startWith(t *testing.T, opts store.Options, tenants ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	doc := `{"dataDir": "state", "tenants": [` + strings.Join(tenants, ",") + `]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), cfg.DataDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &gateRunner{st: st, gates: map[string]chan store.RunStatus{}, started: make(chan int64, 16)}
	log := slog.New(slog.DiscardHandler)
	svc, err := service.New(service.Options{Config: cfg, Runner: r, State: st, Logger: log, PollInterval: -1,
		Bus: events.NewBus(log)})
	if err != nil {
		t.Fatal(err)
	}
	watching := make(chan struct{}, 64)
	b, err := New(Options{Service: svc, Store: signalStore{st, watching}, Version: "1.2.3", Checker: fakeChecker{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	f := &fixture{b: b, svc: svc, st: st, runner: r, watching: watching}
	var once sync.Once
	f.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service: %v", err)
			}
			st.Close()
		})
	}
	t.Cleanup(f.stop)
	return f
}

// waitRun waits for a run to start and returns its id.
func (f *fixture) waitRun(t *testing.T) int64 {
	t.Helper()
	select {
	case id := <-f.runner.started:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no run started")
		return 0
	}
}

// finish lets the tenant's run end with status and waits for its event.
func (f *fixture) finish(t *testing.T, tenant string, status store.RunStatus) {
	t.Helper()
	sub := f.svc.Subscribe(100)
	defer sub.Close()
	f.runner.gate(tenant) <- status
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-sub.C():
			if e.Tenant == tenant && e.ID >= events.RunSucceeded && e.ID <= events.RunFailed {
				return
			}
		case <-deadline:
			t.Fatalf("run of %s did not finish", tenant)
		}
	}
}

type fakeChecker struct{}

func (fakeChecker) Check(_ context.Context, t *config.Tenant) *syncer.CheckReport {
	return &syncer.CheckReport{Tenant: t.Name, Items: []syncer.CheckItem{
		{Name: "configuration", OK: true, Detail: "tenant " + t.TenantID},
		{Name: "certificate", OK: false, Detail: "expires in 9 days"},
	}, CertificateExpires: time.Now().Add(9 * 24 * time.Hour)}
}

func TestTenantsRunsAndSyncNow(t *testing.T) {
	f := start(t, tenantJSON("contoso"), tenantJSON("fabrikam"))
	ctx := t.Context()
	f.waitRun(t)
	f.waitRun(t) // both start-up runs are in progress

	ts, err := f.b.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "contoso" || ts[1].Name != "fabrikam" {
		t.Fatalf("tenants %+v, want contoso and fabrikam by name", ts)
	}
	c := ts[0]
	if c.State != admin.StateRunning || c.CurrentRunID == 0 || c.LastRun != nil || !c.NextRun.IsZero() {
		t.Errorf("running tenant: %+v", c)
	}
	first := c.CurrentRunID // contoso's start-up run
	if c.TargetMailboxes != 2 || c.TenantID != "11111111-1111-1111-1111-111111111117" {
		t.Errorf("tenant details: %+v", c)
	}

	// SyncNow while the start-up run is in progress: Busy naming it.
	_, err = f.b.SyncNow(ctx, "contoso", "cert:abc")
	var busy *admin.BusyError
	if !errors.As(err, &busy) || !errors.Is(err, admin.ErrBusy) || busy.RunID != c.CurrentRunID {
		t.Errorf("SyncNow on a running tenant: %v, want BusyError for run %d", err, c.CurrentRunID)
	}
	f.finish(t, "contoso", store.RunPartial)
	f.finish(t, "fabrikam", store.RunFailed)

	id, err := f.b.SyncNow(ctx, "contoso", "alice@EXAMPLE.COM")
	if err != nil || id <= first {
		t.Fatalf("SyncNow: %d, %v", id, err)
	}
	if got := f.waitRun(t); got != id {
		t.Errorf("run %d started, SyncNow said %d", got, id)
	}
	f.finish(t, "contoso", store.RunOK)

	c, err = f.b.Tenant(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != admin.StateIdle || c.LastRun == nil || c.LastRun.ID != id || c.LastRun.Outcome != admin.OutcomeSucceeded ||
		c.LastSuccess.IsZero() || c.NextRun.IsZero() {
		t.Errorf("idle tenant after SyncNow: %+v (last run %+v)", c, c.LastRun)
	}
	if c.LastRun.RequestedBy != "alice@EXAMPLE.COM" || c.LastRun.Trigger != "manual" {
		t.Errorf("last run requested by %q (trigger %q), want alice by manual", c.LastRun.RequestedBy, c.LastRun.Trigger)
	}
	fab, _ := f.b.Tenant(ctx, "fabrikam")
	if fab.State != admin.StateBackingOff || fab.ConsecutiveFailures != 1 || fab.LastRun.Outcome != admin.OutcomeFailed ||
		fab.CertError != "wrong PFX password" {
		t.Errorf("failing tenant: %+v (last run %+v)", fab, fab.LastRun)
	}

	checkRunHistory(t, f, first, id)
	checkPauseAndCheck(t, f)

	info, _ := f.b.ServiceInfo(ctx)
	if info.Version != "1.2.3" || info.Tenants != 2 || !strings.HasSuffix(info.ConfigPath, "settings.json") {
		t.Errorf("ServiceInfo: %+v", info)
	}

	// The service stopping: operator calls are Unavailable.
	f.stop()
	if _, err := f.b.SyncNow(context.Background(), "fabrikam", "p"); !errors.Is(err, admin.ErrUnavailable) {
		t.Errorf("SyncNow on a stopped service: %v", err)
	}
}

// checkRunHistory checks Runs (newest first, paged, page tokens bound to
// their tenant), Run (per-mailbox outcomes in address order) and the
// errors the API maps to NotFound, after contoso's start-up run first and
// SyncNow run id.
func checkRunHistory(t *testing.T, f *fixture, first, id int64) {
	ctx := t.Context()
	// Runs: newest first, paged; per-mailbox outcomes in address order.
	runs, next, err := f.b.Runs(ctx, "contoso", 1, "")
	if err != nil || len(runs) != 1 || runs[0].ID != id || next == "" {
		t.Fatalf("Runs page 1: %+v next %q err %v", runs, next, err)
	}
	runs, next, err = f.b.Runs(ctx, "contoso", 5, next)
	if err != nil || len(runs) != 1 || runs[0].ID != first || next != "" || runs[0].Trigger != "startup" {
		t.Fatalf("Runs page 2: %+v next %q err %v", runs, next, err)
	}
	if r := runs[0]; r.Outcome != admin.OutcomePartial || r.Counts.Mailboxes != 2 || r.Counts.MailboxesFailed != 1 ||
		r.Counts.Created != 5 || r.Counts.DeletesHeld != 2 {
		t.Errorf("partial run summary: %+v", r)
	}
	run, mbs, err := f.b.Run(ctx, first)
	if err != nil || run.ID != first || len(mbs) != 2 {
		t.Fatalf("Run: %+v %+v %v", run, mbs, err)
	}
	if mbs[0].Mailbox != "a@contoso.example" || mbs[0].Status != "succeeded" || mbs[0].Counts.Created != 5 ||
		mbs[1].Status != "failed" || mbs[1].Error != "ErrorAccessDenied: Access is denied.; request-id r-1" {
		t.Errorf("mailbox outcomes: %+v", mbs)
	}

	// Errors the API maps to codes.
	for name, err := range map[string]error{
		"unknown tenant runs": third(f.b.Runs(ctx, "nobody", 5, "")),
		"unknown tenant":      second(f.b.Tenant(ctx, "nobody")),
		"unknown run":         third(f.b.Run(ctx, 99999)),
		"unknown sync":        second(f.b.SyncNow(ctx, "nobody", "p")),
		"unknown pause":       f.b.SetPaused(ctx, "nobody", true, "p"),
		"unknown check":       second(f.b.Check(ctx, "nobody")),
	} {
		if !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if _, _, err := f.b.Runs(ctx, "fabrikam", 5, next+"x"); !errors.Is(err, admin.ErrInvalidArgument) {
		t.Errorf("bad page token: %v", err)
	}
	// A token issued for another tenant is not valid here.
	_, tok, _ := f.b.Runs(ctx, "contoso", 1, "")
	if _, _, err := f.b.Runs(ctx, "fabrikam", 5, tok); !errors.Is(err, admin.ErrInvalidArgument) {
		t.Errorf("other tenant's page token: %v", err)
	}
}

// checkPauseAndCheck pauses and resumes contoso and checks it.
func checkPauseAndCheck(t *testing.T, f *fixture) {
	ctx := t.Context()
	// Pause persists and refuses SyncNow; resume undoes it.
	if err := f.b.SetPaused(ctx, "contoso", true, "cert:abc"); err != nil {
		t.Fatal(err)
	}
	c, _ := f.b.Tenant(ctx, "contoso")
	if c.State != admin.StatePaused || !c.Paused || c.PausedBy != "cert:abc" || !c.NextRun.IsZero() {
		t.Errorf("paused tenant: %+v", c)
	}
	if _, err := f.b.SyncNow(ctx, "contoso", "p"); !errors.Is(err, admin.ErrPaused) || !strings.Contains(err.Error(), "resume it first") {
		t.Errorf("SyncNow on a paused tenant: %v", err)
	}
	if err := f.b.SetPaused(ctx, "contoso", false, "cert:abc"); err != nil {
		t.Fatal(err)
	}
	if c, _ = f.b.Tenant(ctx, "contoso"); c.Paused {
		t.Errorf("resume did not resume: %+v", c)
	}

	// Check maps the engine's report: a soon-expiring certificate warns.
	res, err := f.b.Check(ctx, "contoso")
	if err != nil || res.Status != admin.CheckWarning || len(res.Checks) != 2 || res.Checks[1].Status != admin.CheckWarning {
		t.Errorf("Check: %+v %v", res, err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// collect reads events until n have arrived or the time is up.
func collect(t *testing.T, seq func(func(admin.Event, error) bool), n int, cancel func()) []admin.Event {
	t.Helper()
	var out []admin.Event
	timer := time.AfterFunc(10*time.Second, cancel)
	defer timer.Stop()
	for e, err := range seq {
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		out = append(out, e)
		if len(out) == n {
			break
		}
	}
	return out
}

// Stored events, then live ones, without duplicates or gaps: also when the
// watcher falls behind its subscription buffer, and when the cursor is
// beyond the newest event.
func TestEventsReplayThenLive(t *testing.T) {
	f := start(t, tenantJSON("contoso"))
	ctx := t.Context()
	f.waitRun(t)
	f.finish(t, "contoso", store.RunOK) // 100 service started, 200 run succeeded
	stored, err := f.st.LastEventSeq(ctx)
	if err != nil || stored < 2 {
		t.Fatalf("stored events: %d, %v", stored, err)
	}
	emit := func(n int) {
		for i := range n {
			f.b.Audit(ctx, admin.AuditRecord{Kind: admin.AuditAction, Principal: "p", Method: "SyncNow", Tenant: "contoso",
				Source: "local", Result: "ok", Detail: fmt.Sprint("n", i)})
		}
	}

	checkReplayThenLive(t, f, stored, emit)
	le := checkLiveEqualsStored(t, f)
	checkFutureCursor(t, f, le, emit)
}

// checkReplayThenLive watches from the start: the stored events, then live
// ones, in Seq order, while the watcher falls far behind its buffer.
func checkReplayThenLive(t *testing.T, f *fixture, stored int64, emit func(int)) {
	ctx := t.Context()
	// From the start: the stored ones, then live ones, in Seq order.
	wctx, cancel := context.WithCancel(ctx)
	var got []admin.Event
	done := make(chan struct{})
	want := int(stored) + subscriptionBuffer*3
	release := make(chan struct{})
	f.watch(t, func() {
		defer close(done)
		first := true
		for e, err := range f.b.Events(wctx, 0) {
			if err != nil {
				t.Errorf("Events: %v", err)
				return
			}
			if first {
				// Stall while far more than the buffer is emitted.
				<-release
				first = false
			}
			got = append(got, e)
			if len(got) == want {
				return
			}
		}
	})
	emit(subscriptionBuffer * 3)
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		<-done
	}
	cancel()
	if len(got) != want {
		t.Fatalf("got %d events, want %d", len(got), want)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has Seq %d: gap or duplicate", i, e.Seq)
		}
	}
	if got[0].ID != int(events.ServiceStarted) || got[len(got)-1].ID != int(events.AdminAction) {
		t.Errorf("first %d, last %d", got[0].ID, got[len(got)-1].ID)
	}
	a := got[len(got)-1]
	if a.Tenant != "contoso" || a.Attrs["principal"] != "p" || a.Attrs["method"] != "SyncNow" || a.Level != admin.LevelInfo {
		t.Errorf("audit event: %+v", a)
	}
}

// checkLiveEqualsStored checks that a live event reads the same as its
// stored form, and returns it.
func checkLiveEqualsStored(t *testing.T, f *fixture) admin.Event {
	ctx := t.Context()
	// A live event reads the same as its stored form.
	wctx, cancel := context.WithCancel(ctx)
	live := make(chan admin.Event, 1)
	f.watch(t, func() {
		for e := range f.b.Events(wctx, -1) { // live only
			live <- e
			return
		}
	})
	f.b.Audit(ctx, admin.AuditRecord{Kind: admin.AuditDenied, Principal: "viewer", Role: "viewer", Method: "SyncNow", Source: "127.0.0.1"})
	var le admin.Event
	select {
	case le = <-live:
	case <-time.After(10 * time.Second):
		t.Fatal("no live event")
	}
	cancel()
	stEvs := collect(t, f.b.Events(ctx, le.Seq-1), 1, func() {})
	if se := stEvs[0]; se.Seq != le.Seq || se.Message != le.Message || se.ID != int(events.AdminDenied) || se.Level != admin.LevelWarning ||
		!se.Time.Equal(le.Time) || fmt.Sprint(se.Attrs) != fmt.Sprint(le.Attrs) {
		t.Errorf("live and stored forms differ:\n live   %+v\n stored %+v", le, se)
	}
	return le
}

// checkFutureCursor checks that a cursor beyond the newest event resumes
// at the newest (the one after le).
func checkFutureCursor(t *testing.T, f *fixture, le admin.Event, emit func(int)) {
	ctx := t.Context()
	// A cursor beyond the newest event resumes at the newest.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan admin.Event, 1)
	f.watch(t, func() {
		for e := range f.b.Events(wctx, 1<<40) {
			next <- e
			return
		}
	})
	emit(1)
	select {
	case e := <-next:
		if e.Seq != le.Seq+1 {
			t.Errorf("after a future cursor got Seq %d, want %d", e.Seq, le.Seq+1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cursor beyond the newest event hides new events")
	}
}

// The certificate error is read from the run's failure class, whoever
// recorded the run: the service, `galmirror sync` (which named its classes
// differently before they were one vocabulary), or a galmirror before the
// class had a column of its own (the migration classified it).
func TestCertErrorOfEveryRecorder(t *testing.T) {
	for _, c := range []struct {
		run  store.Run
		want string
	}{
		{store.Run{Status: store.RunFailed, FailureClass: store.FailCertificate, Error: "certificate: wrong PFX password"}, "wrong PFX password"},
		{store.Run{Status: store.RunFailed, FailureClass: store.FailCertMissing, Error: "certificate-missing: open x.pfx: no such file"}, "open x.pfx: no such file"},
		{store.Run{Status: store.RunFailed, FailureClass: store.FailCertMissing, Error: "cert_not_found: open x.pfx"}, "open x.pfx"},
		{store.Run{Status: store.RunFailed, FailureClass: store.FailAuth, Error: "auth: AADSTS700027: certificate: bad"}, ""},
		{store.Run{Status: store.RunInterrupted, FailureClass: store.FailCanceled, Error: "canceled: interrupted"}, ""},
	} {
		if got := certError(&c.run); got != c.want {
			t.Errorf("%q: certificate error %q, want %q", c.run.Error, got, c.want)
		}
	}
}
