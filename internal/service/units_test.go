package service

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/fsperm"
	"github.com/galmirror/galmirror/internal/store"
)

// The private folders grant NT SERVICE\<fsperm.ServiceName>: the account of
// the service Install creates.
func TestServiceNameMatchesFsperm(t *testing.T) {
	if ServiceName != fsperm.ServiceName {
		t.Errorf("service.ServiceName %q, fsperm.ServiceName %q", ServiceName, fsperm.ServiceName)
	}
}

func TestRunEventsOnePerCondition(t *testing.T) {
	tk := &runTicket{id: 7, trigger: store.TriggerSchedule}
	next := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		res  Result
		want []events.ID
	}{
		{"ok", Result{Status: store.RunOK}, []events.ID{events.RunSucceeded}},
		{"partial with held deletes and heavy throttling",
			Result{Status: store.RunPartial, Counts: store.Counts{MailboxesFailed: 1, HeldBack: 40, GraphRequests: 100, Throttled429: 30},
				Mailboxes: []store.RunMailbox{{UPN: "a@x", Status: store.MailboxFailed, ErrorCode: "ErrorQuotaExceeded"}, {Counts: store.Counts{HeldBack: 40}}}},
			[]events.ID{events.RunPartial, events.RunThrottled, events.MassDeleteHeld}},
		{"auth", Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailAuth, Code: "AADSTS700027", Message: "invalid signature"}},
			[]events.ID{events.RunFailed, events.AuthFailed}},
		{"consent", Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailConsent, MissingRoles: []string{"Contacts.ReadWrite", "User.Read.All"}}},
			[]events.ID{events.RunFailed, events.ConsentMissing}},
		{"cert missing", Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailCertMissing}}, []events.ID{events.RunFailed, events.CertNotFound}},
		{"cert key", Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailCertificate}}, []events.ID{events.RunFailed, events.CertKeyUnreadable}},
		{"gave up throttled", Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailThrottled}}, []events.ID{events.RunFailed, events.RunThrottled}},
		{"config", Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailConfig}}, []events.ID{events.RunFailed}},
		{"timeout", Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailTimeout}}, []events.ID{events.RunFailed}},
		{"light throttling", Result{Status: store.RunOK, Counts: store.Counts{GraphRequests: 1000, Throttled429: 25}}, []events.ID{events.RunSucceeded}},
		{"long Retry-After waits", Result{Status: store.RunOK, ThrottleWait: 11 * time.Minute}, []events.ID{events.RunSucceeded, events.RunThrottled}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := runEvents("contoso", tk, normalise(c.res, nil, nil), 90*time.Second, next)
			if got := ids(evs, "contoso"); !slices.Equal(got, c.want) {
				t.Fatalf("events %v, want %v", got, c.want)
			}
			for _, e := range evs {
				if e.RunID != "7" {
					t.Errorf("%v without run id", e.ID)
				}
				switch e.ID {
				case events.AuthFailed:
					if e.Field("aadsts") != "700027" || !strings.HasPrefix(e.Detail, "AADSTS700027: ") {
						t.Errorf("auth event %+v", e)
					}
				case events.ConsentMissing:
					if e.Field("missing") != "Contacts.ReadWrite,User.Read.All" {
						t.Errorf("consent event %+v", e)
					}
				case events.RunPartial:
					if !strings.Contains(e.Detail, "ErrorQuotaExceeded") || e.Field("failed") != "1" {
						t.Errorf("partial event %+v", e)
					}
				case events.MassDeleteHeld:
					if e.Field("held") != "40" || e.Field("mailboxes") != "1" {
						t.Errorf("mass delete event %+v", e)
					}
				case events.RunFailed:
					// The class is the engine's, as `galmirror sync --json` names it.
					if e.Field("next_attempt") != "2026-01-02T03:04:05Z" || e.Field("class") != string(c.res.Failure.Class) {
						t.Errorf("failed event %+v", e)
					}
				}
			}
		})
	}
}

func TestNormalise(t *testing.T) {
	if r := normalise(Result{}, context.Canceled, context.Canceled); r.Status != store.RunInterrupted || r.Failure.Class != store.FailCanceled {
		t.Errorf("interrupted: %+v", r)
	}
	if r := normalise(Result{Status: store.RunOK}, os.ErrNotExist, nil); r.Status != store.RunFailed || r.Failure.Class != store.FailInternal {
		t.Errorf("error without classification: %+v", r)
	}
	if r := normalise(Result{}, nil, nil); r.Status != store.RunOK {
		t.Errorf("empty result: %+v", r)
	}
}

func TestCertGateDailyAndEscalating(t *testing.T) {
	g := newCertGate()
	day := 24 * time.Hour
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	c := Certificate{Thumbprint: "AB", NotAfter: now.Add(20 * day)}
	var got []events.ID
	for h := 0; h < 24*12; h++ { // hourly checks for 12 days
		if e, ok := g.due("t", c, now.Add(time.Duration(h)*time.Hour)); ok {
			got = append(got, e.ID)
		}
	}
	// Days 0..5: ≤30 daily (6); from day 6 (14 days left) ≤14 daily (6).
	want := []events.ID{320, 320, 320, 320, 320, 320, 321, 321, 321, 321, 321, 321}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if _, ok := g.due("t", Certificate{NotAfter: now.Add(40 * day)}, now); ok {
		t.Error("event for a certificate valid 40 more days")
	}
	if e, ok := g.due("u", Certificate{NotAfter: now.Add(-time.Hour)}, now); !ok || e.ID != events.CertExpired {
		t.Errorf("expired: %v %v", e.ID, ok)
	}
	g.seed("v", events.CertExpires7, now.Add(-time.Hour))
	if _, ok := g.due("v", Certificate{NotAfter: now.Add(3 * day)}, now); ok {
		t.Error("a warning emitted an hour ago (before a restart) was repeated")
	}
}

func TestMetricsExposition(t *testing.T) {
	m := newMetrics(`1.0 "x"`)
	m.observe("contoso", Result{Status: store.RunOK, Counts: store.Counts{Created: 3, Updated: 2, GraphRequests: 9, Throttled429: 1},
		Certificate: Certificate{NotAfter: time.Unix(1800000000, 0)}}, 42*time.Second, 0)
	m.observe("contoso", Result{Status: store.RunFailed}, 2*time.Second, 1)
	m.setNext("fab\"rikam", time.Unix(1700000000, 500e6))
	_ = m.Write(context.Background(), events.Event{ID: events.RunFailed})
	var b strings.Builder
	if err := m.render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`galmirror_build_info{version="1.0 \"x\""} 1`,
		`galmirror_runs_total{tenant="contoso",status="ok"} 1`,
		`galmirror_runs_total{tenant="contoso",status="failed"} 1`,
		`galmirror_run_duration_seconds_bucket{tenant="contoso",le="5"} 1`,
		`galmirror_run_duration_seconds_bucket{tenant="contoso",le="60"} 2`,
		`galmirror_run_duration_seconds_bucket{tenant="contoso",le="+Inf"} 2`,
		`galmirror_run_duration_seconds_sum{tenant="contoso"} 44`,
		`galmirror_contacts_written_total{tenant="contoso",op="created"} 3`,
		`galmirror_graph_requests_total{tenant="contoso"} 9`,
		`galmirror_graph_throttled_total{tenant="contoso",code="429"} 1`,
		`galmirror_certificate_expiry_timestamp_seconds{tenant="contoso"} 1.8e+09`,
		`galmirror_consecutive_failures{tenant="contoso"} 1`,
		`galmirror_next_run_timestamp_seconds{tenant="fab\"rikam"} 1.7000000005e+09`,
		`galmirror_events_total{id="202",name="run_failed"} 1`,
		"# TYPE galmirror_run_duration_seconds histogram",
	} {
		if !strings.Contains(out, want+"\n") && !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	// Every sample line belongs to a declared family (no stray names).
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "galmirror_") || strings.Count(line, " ") < 1 {
			t.Errorf("bad sample line %q", line)
		}
	}
	m.forget("contoso")
	b.Reset()
	_ = m.render(&b)
	if strings.Contains(b.String(), `tenant="contoso"`) {
		t.Error("removed tenant's series still exposed")
	}
}

func TestMetricsServer(t *testing.T) {
	m := newMetrics("t")
	ctx, cancel := context.WithCancel(t.Context())
	wait, err := serveMetrics(ctx, "127.0.0.1:0", m, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wait() }()
	if _, err := serveMetrics(ctx, "256.0.0.1:1", m, discardLogger()); err == nil {
		t.Error("bad listen address accepted")
	}
	// Find the port through a second server on a known listener instead of
	// exporting the address: the handler is what matters.
	srv := &http.Server{Handler: m, ReadHeaderTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Post("http://"+ln.Addr().String()+"/metrics", "text/plain", nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /metrics: %d", resp.StatusCode)
		}
	}
}

func TestServeControl(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reqs := make(chan control)
		var reports []ctlStatus
		reloads := 0
		stopped := false
		done := make(chan error)
		go func() {
			done <- serveControl(context.Background(), reqs, func(s ctlStatus) { reports = append(reports, s) },
				func(ctx context.Context) error {
					<-ctx.Done()
					time.Sleep(12 * time.Second) // slow, bounded cleanup
					stopped = true
					return nil
				}, func() { reloads++ })
		}()
		synctest.Wait()
		if len(reports) != 2 || reports[0].State != stateStartPending || reports[1].State != stateRunning {
			t.Fatalf("start reports %+v", reports)
		}
		reqs <- ctlInterrogate
		reqs <- ctlParamChange
		synctest.Wait()
		if reloads != 1 || len(reports) != 4 || reports[3].State != stateRunning {
			t.Fatalf("after interrogate+paramchange: reloads %d, reports %+v", reloads, reports)
		}
		reqs <- ctlPreShutdown
		synctest.Wait()
		if last := reports[len(reports)-1]; last.State != stateStopPending || last.WaitHint == 0 {
			t.Fatalf("stop not acknowledged at once: %+v", last)
		}
		reqs <- ctlStop // a second stop request while stopping is answered
		if err := <-done; err != nil || !stopped {
			t.Fatalf("serveControl: %v, stopped %v", err, stopped)
		}
		var cps []uint32
		for _, r := range reports {
			if r.State == stateStopPending {
				cps = append(cps, r.CheckPoint)
			}
		}
		if len(cps) < 4 || !slices.IsSorted(cps) || cps[len(cps)-1] <= cps[0] {
			t.Errorf("stop progress checkpoints %v: want increasing reports while runs finish", cps)
		}
	})
}

func TestSystemdNotifier(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sd_notify is Linux only")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	n := SystemdNotifier()
	read := func() string {
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:k])
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.HasPrefix(got, "READY=1\n") {
		t.Errorf("ready: %q", got)
	}
	_ = n.Reloading()
	if got := read(); !strings.HasPrefix(got, "RELOADING=1\n") || !strings.Contains(got, "\nMONOTONIC_USEC=") {
		t.Errorf("reloading: %q", got)
	}
	_ = n.Stopping()
	if got := read(); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Errorf("stopping: %q", got)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if _, ok := SystemdNotifier().(nopNotifier); !ok {
		t.Error("without NOTIFY_SOCKET the notifier must do nothing")
	}
}

func TestBuildReportHealth(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	now := time.Now()
	day := 24 * time.Hour
	names := []string{"fresh", "stale", "paused", "never", "failing", "outage", "longoutage", "overdue", "gone"}
	var tenants []string
	for _, n := range names {
		tenants = append(tenants, tenantJSON(n, ""))
	}
	cfg := loadConfig(t, writeConfig(t, t.TempDir(), 2, tenants...))
	finish := func(name string, status store.RunStatus, at time.Time, class store.FailureClass) {
		run, err := st.BeginRun(ctx, store.RunSpec{Tenant: name, Trigger: store.TriggerSchedule, Started: at.Add(-time.Minute), Owner: "x"})
		if err != nil {
			t.Fatal(err)
		}
		res := store.RunResult{Status: status, Finished: at}
		if status == store.RunFailed {
			res.Failure = &store.Failure{Class: class, Message: "AADSTS700027"}
		}
		if err := run.Finish(ctx, res); err != nil {
			t.Fatal(err)
		}
	}
	finish("fresh", store.RunOK, now.Add(-time.Hour), "")
	finish("stale", store.RunOK, now.Add(-8*time.Hour), "")
	finish("paused", store.RunOK, now.Add(-30*day), "")
	_ = st.SetPaused(ctx, "paused", true, "bob", now)
	_ = st.SetNextRun(ctx, "never", now.Add(time.Hour)) // known, never run
	finish("failing", store.RunOK, now.Add(-2*time.Hour), "")
	finish("failing", store.RunFailed, now.Add(-time.Hour), store.FailAuth)
	finish("outage", store.RunOK, now.Add(-2*time.Hour), "")
	finish("outage", store.RunFailed, now.Add(-20*time.Minute), store.FailUnavailable)
	finish("longoutage", store.RunOK, now.Add(-3*time.Hour), "")
	finish("longoutage", store.RunFailed, now.Add(-2*time.Hour), store.FailUnavailable)
	finish("longoutage", store.RunFailed, now.Add(-time.Hour), store.FailUnavailable)
	finish("overdue", store.RunOK, now.Add(-2*time.Hour), "")
	_ = st.SetNextRun(ctx, "overdue", now.Add(-time.Hour))
	finish("gone", store.RunOK, now.Add(-time.Hour), "")

	policy := PolicyOf(cfg.Health)
	check := func(c *config.Config, p Policy) Report {
		rep, err := BuildReport(ctx, st, c, now, p)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	only := *cfg
	only.Tenants = cfg.Tenants[:len(cfg.Tenants)-1] // "gone" was removed from the settings
	rep := check(&only, policy)
	if rep.Healthy || !strings.HasPrefix(rep.Reason, "tenant stale: last successful run 8h0m0s ago (max 6h0m0s)") {
		t.Errorf("reason %q", rep.Reason)
	}
	got := map[string]string{}
	for _, tr := range rep.Tenants {
		var codes []string
		for _, p := range tr.Problems {
			codes = append(codes, p.Code)
		}
		got[tr.Name] = tr.State + ":" + strings.Join(codes, ",")
	}
	want := map[string]string{"fresh": "ok:", "stale": "failing:stale", "paused": "paused:", "never": "never-run:never-succeeded",
		"failing": "failing:failing", "outage": "degraded:", "longoutage": "failing:outage", "overdue": "failing:overdue", "gone": "orphaned:"}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s: %s, want %s", n, got[n], w)
		}
	}
	// Two failures in a row allowed: failing is healthy again.
	p2 := policy
	p2.MaxFailures = 2
	for _, tr := range check(&only, p2).Tenants {
		if tr.Name == "failing" && !tr.Healthy {
			t.Errorf("failing with maxFailures 2: %v", tr.Problems)
		}
	}
	// Only fresh and paused: healthy until a certificate nears expiry.
	only.Tenants = []config.Tenant{cfg.Tenants[0], cfg.Tenants[2]}
	if rep := check(&only, policy); !rep.Healthy {
		t.Errorf("unhealthy: %s", rep.Reason)
	}
	_ = st.SetCertExpiry(ctx, "paused", now.Add(10*day+time.Hour))
	if rep := check(&only, policy); rep.Healthy || !strings.Contains(rep.Reason, "tenant paused: certificate expires in 10 days") {
		t.Errorf("certificate near expiry not reported: %q", rep.Reason)
	}
}
