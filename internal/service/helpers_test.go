package service

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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

// testState is the real store in a temporary directory, with the queries
// tests need.
type testState struct {
	*store.Store
	dir string
}

func newTestState(t *testing.T) *testState {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &testState{Store: st, dir: dir}
}

// runsOf returns the tenant's runs, oldest first.
func (s *testState) runsOf(t *testing.T, tenant string) []store.Run {
	t.Helper()
	runs, _, err := s.ListRuns(context.Background(), tenant, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(runs)
	return runs
}

// eventIDs returns the stored events' ids for the tenant ("*": all).
func (s *testState) eventIDs(t *testing.T, tenant string) []int {
	t.Helper()
	evs, err := s.EventsSince(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, e := range evs {
		if tenant == "*" || e.Tenant == tenant {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// tenantJSON is one tenant entry of a test settings file.
func tenantJSON(name, schedule string) string {
	if schedule == "" {
		schedule = `{"every": "1h", "jitter": "5m"}`
	}
	// A tenant id per name: two entries of one tenant need two folders.
	h := fnv.New64a()
	h.Write([]byte(name))
	return fmt.Sprintf(`{"name": %q, "tenantId": "11111111-1111-1111-1111-%012x",
		"clientId": "22222222-2222-2222-2222-222222222222", "certificate": {"file": "%s.pem"},
		"schedule": %s}`, name, h.Sum64()&0xffffffffffff, name, schedule)
}

// writeConfig writes a settings file with the tenants and returns its path.
func writeConfig(t *testing.T, dir string, maxConc int, tenants ...string) string {
	t.Helper()
	path := filepath.Join(dir, "settings.json")
	doc := fmt.Sprintf(`{"dataDir": "state", "maxConcurrentTenants": %d, "tenants": [%s]}`, maxConc, strings.Join(tenants, ","))
	if err := writeFile(path, doc); err != nil {
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
	state  *testState
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
	return startServiceOn(t, newTestState(t), r, o, maxConc, tenants...)
}

// startServiceOn starts a service on st, a state the test prepared.
func startServiceOn(t *testing.T, st *testState, r *fakeRunner, o Options, maxConc int, tenants ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, maxConc, tenants...)
	if o.Config == nil {
		o.Config = loadConfig(t, path)
	}
	o.Runner, o.State = r, st
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval == 0 {
		o.PollInterval = -1
	}
	if o.Timing.TouchEvery == 0 {
		o.Timing.TouchEvery = 10 * time.Minute // fewer SQLite writes over hours of fake time
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

// writeFile replaces the file at once, as an editor saving it would: the
// service polls the settings file, and a poll must not read it half
// written.
func writeFile(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
