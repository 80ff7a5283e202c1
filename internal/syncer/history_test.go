package syncer

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/store"
)

// `galmirror sync` records its runs through the store's one run path: the
// result, the failure class as `sync --json` names it, and the
// certificate's expiry.
func TestSyncRecordsItsRun(t *testing.T) {
	e := newEnv(t, threeUsers())
	ctx := t.Context()
	res := e.sync(RunOptions{})
	mustOK(t, res)
	run, _, err := e.st.GetRun(ctx, res.RunID)
	if err != nil || run.Status != store.RunOK || run.Trigger != store.TriggerCLI || run.FailureClass != "" || !strings.Contains(run.Owner, ":") {
		t.Fatalf("recorded run %+v %v", run, err)
	}
	ts, _ := e.st.Tenant(ctx, "contoso")
	if res.CertificateExpires.IsZero() || !ts.CertExpiry.Equal(res.CertificateExpires.Truncate(time.Millisecond)) || ts.TenantID != e.tenant.ID {
		t.Errorf("tenant after the run %+v, certificate expires %v", ts, res.CertificateExpires)
	}

	_, other, err := graphsim.NewApp("other")
	if err != nil {
		t.Fatal(err)
	}
	e.cred.CertPEM, e.cred.KeyPEM = other.CertPEM, other.KeyPEM
	e.writeSettings()
	res = e.sync(RunOptions{})
	b, _ := json.Marshal(res.Failure)
	if res.Status != StatusFailed || !strings.HasPrefix(string(b), `{"class":"auth","code":"AADSTS700027",`) {
		t.Fatalf("sync --json failure %s", b)
	}
	run, _, _ = e.st.GetRun(ctx, res.RunID)
	ts, _ = e.st.Tenant(ctx, "contoso")
	if run.Status != store.RunFailed || run.FailureClass != store.FailAuth || run.Error != "auth: "+res.Failure.Message || ts.ConsecutiveFailures != 1 {
		t.Errorf("failed run recorded as %+v, tenant %+v", run, ts)
	}
}

// A `galmirror sync` stopped before it finished (Ctrl-C) fails with class
// canceled, and its history says interrupted, as the service's stopped
// runs do: it is not counted as a failure (which would make the service
// back off).
func TestStoppedSyncIsRecordedInterrupted(t *testing.T) {
	e := newEnv(t, threeUsers(), func(o *graphsim.Options) { o.Faults.Latency = 20 * time.Millisecond })
	e.writeSettings()
	e.open()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	o := e.opts
	o.Store = e.st
	done := make(chan *Result, 1)
	go func() { done <- New(o).Run(ctx, &e.cfg.Tenants[0], RunOptions{}) }()
	for deadline := time.Now().Add(10 * time.Second); e.counters().Writes == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	res := <-done
	if res.Status != StatusInterrupted || res.Failure == nil || res.Failure.Class != FailCanceled ||
		!strings.HasSuffix(res.Failure.Message, "; the next run continues") || res.ExitCode() != 130 {
		t.Fatalf("stopped run: %s %+v", res.Status, res.Failure)
	}
	run, _, err := e.st.GetRun(t.Context(), res.RunID)
	ts, _ := e.st.Tenant(t.Context(), "contoso")
	if err != nil || run.Status != store.RunInterrupted || run.FailureClass != store.FailCanceled || ts.ConsecutiveFailures != 0 {
		t.Errorf("stopped run recorded as %+v %v; tenant %+v", run, err, ts)
	}
	// Stopped before it began: no run to record, but the class says why.
	res = New(o).Run(ctx, &e.cfg.Tenants[0], RunOptions{})
	if res.Failure == nil || res.Failure.Class != FailCanceled || res.RunID != 0 {
		t.Errorf("run of a cancelled context: %+v", res.Failure)
	}
}

// `galmirror sync` of a tenant whose tenant id changed, while the service
// runs the tenant, is skipped (not failed) and leaves that run's state
// alone.
func TestSyncRefusedDuringAnotherRun(t *testing.T) {
	e := newEnv(t, threeUsers())
	ctx := t.Context()
	mustOK(t, e.sync(RunOptions{}))
	before, _ := e.st.PersonCount(ctx, "contoso")
	svc, err := store.Open(ctx, e.cfg.DataDir, store.Options{}) // the service
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	running, err := svc.BeginRun(ctx, store.RunSpec{Tenant: "contoso", TenantID: e.tenant.ID, Trigger: store.TriggerSchedule, Owner: "service:1"})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Tenants[0].TenantID = graphsim.NewGUID()
	res := e.sync(RunOptions{})
	if res.Status != StatusSkipped || res.ReasonCode != "busy" || res.Failure != nil ||
		!strings.Contains(res.Reason, "service:1") || res.RunID != 0 || res.ExitCode() != 0 {
		t.Fatalf("sync during the service's run: %s %+v %s", res.Status, res.Failure, res.Reason)
	}
	ts, _ := e.st.Tenant(ctx, "contoso")
	n, _ := e.st.PersonCount(ctx, "contoso")
	if ts.TenantID != e.tenant.ID || n != before || n == 0 {
		t.Errorf("the service's run lost its state: %+v, %d persons (had %d)", ts, n, before)
	}
	if err := running.Finish(ctx, store.RunResult{Status: store.RunOK}); err != nil {
		t.Fatal(err)
	}
}
