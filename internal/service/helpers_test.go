package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// call is one RunTenant invocation seen by fakeRunner.
type call struct {
	tenant  string
	run     RunInfo
	cfg     config.Tenant
	start   time.Time
	end     time.Time
	err     error
	ctxDone bool // ended because its context was cancelled
}

// fakeRunner stands in for the syncer (another team's package). behave
// decides each run's outcome; it may block on ctx to model a long run.
type fakeRunner struct {
	mu        sync.Mutex
	calls     []call
	active    map[string]int
	nActive   int
	maxActive int
	overlap   []string
	behave    func(ctx context.Context, t config.Tenant, n int) (Result, error)
}

func newFakeRunner(behave func(ctx context.Context, t config.Tenant, n int) (Result, error)) *fakeRunner {
	if behave == nil {
		behave = func(context.Context, config.Tenant, int) (Result, error) { return okResult(), nil }
	}
	return &fakeRunner{active: map[string]int{}, behave: behave}
}

func okResult() Result {
	return Result{Status: store.RunOK, Counts: store.Counts{MailboxesSynced: 3, Created: 2, Unchanged: 7, GraphRequests: 5}}
}

func (f *fakeRunner) RunTenant(ctx context.Context, t config.Tenant, run RunInfo) (Result, error) {
	f.mu.Lock()
	n := 0
	for _, c := range f.calls {
		if c.tenant == t.Name {
			n++
		}
	}
	if f.active[t.Name] > 0 {
		f.overlap = append(f.overlap, t.Name)
	}
	f.active[t.Name]++
	f.nActive++
	f.maxActive = max(f.maxActive, f.nActive)
	idx := len(f.calls)
	f.calls = append(f.calls, call{tenant: t.Name, run: run, cfg: t, start: time.Now()})
	f.mu.Unlock()

	res, err := f.behave(ctx, t, n)

	f.mu.Lock()
	f.active[t.Name]--
	f.nActive--
	f.calls[idx].end = time.Now()
	f.calls[idx].err = err
	f.calls[idx].ctxDone = ctx.Err() != nil
	f.mu.Unlock()
	return res, err
}

func (f *fakeRunner) callsOf(tenant string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.tenant == tenant {
			out = append(out, c)
		}
	}
	return out
}

// memState is an in-memory State used until the store lands; it keeps the
// store's documented semantics that the service relies on (busy runs,
// consecutive failures on FinishRun).
type memState struct {
	mu      sync.Mutex
	tenants map[string]*store.TenantState
	runs    map[int64]*store.Run
	results map[int64]store.RunResult
	events  []store.Event
	nextID  int64
	// busyOwner, when set for a tenant, makes StartRun report another
	// process running it.
	busyOwner map[string]string
}

func newMemState() *memState {
	return &memState{tenants: map[string]*store.TenantState{}, runs: map[int64]*store.Run{},
		results: map[int64]store.RunResult{}, busyOwner: map[string]string{}}
}

func (m *memState) tenant(name string) *store.TenantState {
	t, ok := m.tenants[name]
	if !ok {
		t = &store.TenantState{Name: name}
		m.tenants[name] = t
	}
	return t
}

func (m *memState) EnsureTenant(_ context.Context, name, tenantID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tenant(name)
	reset := t.TenantID != "" && t.TenantID != tenantID
	t.TenantID = tenantID
	return reset, nil
}

func (m *memState) Tenant(_ context.Context, name string) (store.TenantState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[name]
	if !ok {
		return store.TenantState{}, store.ErrNotFound
	}
	return *t, nil
}

func (m *memState) SetPaused(_ context.Context, tenant string, paused bool, by string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tenant(tenant)
	t.Paused, t.PausedBy, t.PausedAt = paused, by, at
	return nil
}

func (m *memState) SetNextRun(_ context.Context, tenant string, next time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tenant(tenant).NextRun = next
	return nil
}

func (m *memState) SetCertExpiry(_ context.Context, tenant string, notAfter time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tenant(tenant).CertExpiry = notAfter
	return nil
}

func (m *memState) StartRun(_ context.Context, tenant string, trigger store.Trigger, started time.Time, owner string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o := m.busyOwner[tenant]; o != "" {
		return 0, &store.BusyError{RunID: 999, Owner: o}
	}
	for _, r := range m.runs {
		if r.Tenant == tenant && r.Status == store.RunRunning {
			return 0, &store.BusyError{RunID: r.ID, Owner: r.Owner}
		}
	}
	m.nextID++
	m.runs[m.nextID] = &store.Run{ID: m.nextID, Tenant: tenant, Trigger: trigger, Status: store.RunRunning, Started: started, Owner: owner}
	return m.nextID, nil
}

func (m *memState) TouchRun(context.Context, int64, time.Time) error { return nil }

func (m *memState) FinishRun(_ context.Context, id int64, res store.RunResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok || r.Status != store.RunRunning {
		return fmt.Errorf("finish run %d: %w", id, store.ErrNotFound)
	}
	r.Status, r.Finished, r.Counts, r.Error = res.Status, res.Finished, res.Counts, res.Error
	m.results[id] = res
	t := m.tenant(r.Tenant)
	switch res.Status {
	case store.RunFailed:
		t.ConsecutiveFailures++
	case store.RunOK, store.RunPartial:
		t.ConsecutiveFailures = 0
		t.LastSuccess = res.Finished
	}
	return nil
}

func (m *memState) AppendEvent(_ context.Context, e store.Event) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.Seq = int64(len(m.events) + 1)
	m.events = append(m.events, e)
	return e.Seq, nil
}

func (m *memState) EventsSince(_ context.Context, after int64, limit int) ([]store.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Event
	for _, e := range m.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memState) LastEventSeq(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.events)), nil
}

func (m *memState) eventIDs(tenant string) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []int
	for _, e := range m.events {
		if tenant == "*" || e.Tenant == tenant {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

func (m *memState) runsOf(tenant string) []store.Run {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Run
	for id := int64(1); id <= m.nextID; id++ {
		if r := m.runs[id]; r != nil && r.Tenant == tenant {
			out = append(out, *r)
		}
	}
	return out
}

// tenantJSON is one tenant entry of a test settings file.
func tenantJSON(name, schedule string) string {
	if schedule == "" {
		schedule = `{"every": "1h", "jitter": "5m"}`
	}
	return fmt.Sprintf(`{"name": %q, "tenantId": "11111111-1111-1111-1111-111111111111",
		"clientId": "22222222-2222-2222-2222-222222222222", "certificate": {"file": "%s.pem"},
		"schedule": %s}`, name, name, schedule)
}

// writeConfig writes a settings file with the tenants and returns its path.
func writeConfig(t *testing.T, dir string, maxConc int, tenants ...string) string {
	t.Helper()
	path := filepath.Join(dir, "settings.json")
	doc := fmt.Sprintf(`{"dataDir": "state", "maxConcurrentTenants": %d, "tenants": [%s]}`, maxConc, strings.Join(tenants, ","))
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// harness runs a Service in the background of a test.
type harness struct {
	svc    *Service
	state  *memState
	runner *fakeRunner
	sub    *events.Subscription
	cancel context.CancelFunc
	done   chan error
	path   string
}

func startService(t *testing.T, r *fakeRunner, o Options, tenants ...string) *harness {
	t.Helper()
	return startServiceCap(t, r, o, 2, tenants...)
}

// startServiceCap starts a service with maxConcurrentTenants = maxConc.
func startServiceCap(t *testing.T, r *fakeRunner, o Options, maxConc int, tenants ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, maxConc, tenants...)
	if o.Config == nil {
		o.Config = loadConfig(t, path)
	}
	st := newMemState()
	o.Runner, o.State = r, st
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval == 0 {
		o.PollInterval = -1
	}
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	h := &harness{svc: svc, state: st, runner: r, sub: svc.Subscribe(1000), cancel: cancel, done: make(chan error, 1), path: path}
	go func() { h.done <- svc.Run(ctx) }()
	return h
}

// stop ends the service and returns Run's error.
func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	err := <-h.done
	h.sub.Close()
	return err
}

// drain returns the events received so far.
func (h *harness) drain() []events.Event {
	var out []events.Event
	for {
		select {
		case e, ok := <-h.sub.C():
			if !ok {
				return out
			}
			out = append(out, e)
		default:
			return out
		}
	}
}

func ids(es []events.Event, tenant string) []events.ID {
	var out []events.ID
	for _, e := range es {
		if tenant == "*" || e.Tenant == tenant {
			out = append(out, e.ID)
		}
	}
	return out
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
