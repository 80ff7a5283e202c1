package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// durationBuckets are the upper bounds (seconds) of the run duration
// histogram: a run takes seconds for a small tenant without changes and up
// to an hour for a first sync of a large one.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}

// metrics holds the service's counters and gauges, rendered in the
// Prometheus text exposition format (version 0.0.4) without a client
// library.
type metrics struct {
	version string
	mu      sync.Mutex
	tenants map[string]*tenantMetrics
	events  map[events.ID]int64
}

type tenantMetrics struct {
	runs         map[store.RunStatus]int64
	buckets      []int64 // cumulative counts per durationBuckets
	durCount     int64
	durSum       float64
	lastDuration float64
	created      int64
	updated      int64
	deleted      int64
	requests     int64
	throttled429 int64
	throttled503 int64
	heldBack     int64
	failures     int
	running      int
	paused       bool
	next         time.Time
	lastSuccess  time.Time
	certNotAfter time.Time
}

func newMetrics(version string) *metrics {
	return &metrics{version: version, tenants: map[string]*tenantMetrics{}, events: map[events.ID]int64{}}
}

func (m *metrics) tenant(name string) *tenantMetrics {
	t, ok := m.tenants[name]
	if !ok {
		t = &tenantMetrics{runs: map[store.RunStatus]int64{}, buckets: make([]int64, len(durationBuckets))}
		m.tenants[name] = t
	}
	return t
}

func (m *metrics) observe(name string, res Result, ran time.Duration, failures int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tenant(name)
	t.runs[res.Status]++
	sec := ran.Seconds()
	for i, b := range durationBuckets {
		if sec <= b {
			t.buckets[i]++
		}
	}
	t.durCount++
	t.durSum += sec
	t.lastDuration = sec
	c := res.Counts
	t.created += int64(c.Created)
	t.updated += int64(c.Updated)
	t.deleted += int64(c.Deleted)
	t.requests += int64(c.GraphRequests)
	t.throttled429 += int64(c.Throttled429)
	t.throttled503 += int64(c.Throttled503)
	t.heldBack += int64(c.HeldBack)
	t.failures = failures
	if res.Status == store.RunOK || res.Status == store.RunPartial {
		t.lastSuccess = time.Now()
	}
	if !res.Certificate.NotAfter.IsZero() {
		t.certNotAfter = res.Certificate.NotAfter
	}
}

func (m *metrics) running(name string, delta int) {
	m.mu.Lock()
	m.tenant(name).running += delta
	m.mu.Unlock()
}

func (m *metrics) setNext(name string, next time.Time) {
	m.mu.Lock()
	m.tenant(name).next = next
	m.mu.Unlock()
}

func (m *metrics) setPaused(name string, paused bool) {
	m.mu.Lock()
	m.tenant(name).paused = paused
	m.mu.Unlock()
}

func (m *metrics) setCert(name string, notAfter time.Time) {
	m.mu.Lock()
	m.tenant(name).certNotAfter = notAfter
	m.mu.Unlock()
}

// forget drops a removed tenant's series.
func (m *metrics) forget(name string) {
	m.mu.Lock()
	delete(m.tenants, name)
	m.mu.Unlock()
}

// Write implements events.Sink: it counts events by ID.
func (m *metrics) Write(_ context.Context, e events.Event) error {
	m.mu.Lock()
	m.events[e.ID]++
	m.mu.Unlock()
	return nil
}

// escapeLabel escapes a label value per the text format.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func unixSeconds(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return fmtFloat(float64(t.UnixMilli()) / 1000)
}

// render writes the exposition. Families are written whole, in a fixed
// order, tenants sorted, so scrapes are stable.
func (m *metrics) render(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	bw := bufio.NewWriter(w)
	names := make([]string, 0, len(m.tenants))
	for n := range m.tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	family := func(name, typ, help string, each func(tenant string, t *tenantMetrics)) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, n := range names {
			each(`tenant="`+escapeLabel(n)+`"`, m.tenants[n])
		}
	}
	fmt.Fprintf(bw, "# HELP galmirror_build_info The running galmirror version.\n# TYPE galmirror_build_info gauge\n")
	fmt.Fprintf(bw, "galmirror_build_info{version=\"%s\"} 1\n", escapeLabel(m.version))
	family("galmirror_runs_total", "counter", "Tenant runs by outcome.", func(l string, t *tenantMetrics) {
		for _, st := range []store.RunStatus{store.RunOK, store.RunPartial, store.RunFailed, store.RunInterrupted} {
			fmt.Fprintf(bw, "galmirror_runs_total{%s,status=\"%s\"} %d\n", l, st, t.runs[st])
		}
	})
	family("galmirror_run_duration_seconds", "histogram", "Duration of tenant runs.", func(l string, t *tenantMetrics) {
		for i, b := range durationBuckets {
			fmt.Fprintf(bw, "galmirror_run_duration_seconds_bucket{%s,le=\"%s\"} %d\n", l, fmtFloat(b), t.buckets[i])
		}
		fmt.Fprintf(bw, "galmirror_run_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", l, t.durCount)
		fmt.Fprintf(bw, "galmirror_run_duration_seconds_sum{%s} %s\n", l, fmtFloat(t.durSum))
		fmt.Fprintf(bw, "galmirror_run_duration_seconds_count{%s} %d\n", l, t.durCount)
	})
	family("galmirror_last_run_duration_seconds", "gauge", "Duration of the tenant's last run.", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_last_run_duration_seconds{%s} %s\n", l, fmtFloat(t.lastDuration))
	})
	family("galmirror_contacts_written_total", "counter", "Contacts written to mailboxes, by operation.", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_contacts_written_total{%s,op=\"created\"} %d\n", l, t.created)
		fmt.Fprintf(bw, "galmirror_contacts_written_total{%s,op=\"updated\"} %d\n", l, t.updated)
		fmt.Fprintf(bw, "galmirror_contacts_written_total{%s,op=\"deleted\"} %d\n", l, t.deleted)
	})
	family("galmirror_deletes_held_total", "counter", "Deletes held back by the mass-delete guard.", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_deletes_held_total{%s} %d\n", l, t.heldBack)
	})
	family("galmirror_graph_requests_total", "counter", "Microsoft Graph requests (a $batch counts once).", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_graph_requests_total{%s} %d\n", l, t.requests)
	})
	family("galmirror_graph_throttled_total", "counter", "Throttling responses from Microsoft Graph, by status code.", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_graph_throttled_total{%s,code=\"429\"} %d\n", l, t.throttled429)
		fmt.Fprintf(bw, "galmirror_graph_throttled_total{%s,code=\"503\"} %d\n", l, t.throttled503)
	})
	family("galmirror_certificate_expiry_timestamp_seconds", "gauge", "NotAfter of the tenant's certificate (0 when unknown).", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_certificate_expiry_timestamp_seconds{%s} %s\n", l, unixSeconds(t.certNotAfter))
	})
	family("galmirror_last_success_timestamp_seconds", "gauge", "End of the tenant's last run that did not fail as a whole, since the service started (0 when none).", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_last_success_timestamp_seconds{%s} %s\n", l, unixSeconds(t.lastSuccess))
	})
	family("galmirror_next_run_timestamp_seconds", "gauge", "When the tenant's next scheduled run starts.", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_next_run_timestamp_seconds{%s} %s\n", l, unixSeconds(t.next))
	})
	family("galmirror_consecutive_failures", "gauge", "Whole-run failures since the tenant's last success.", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_consecutive_failures{%s} %d\n", l, t.failures)
	})
	family("galmirror_tenant_running", "gauge", "1 while a run of the tenant executes.", func(l string, t *tenantMetrics) {
		fmt.Fprintf(bw, "galmirror_tenant_running{%s} %d\n", l, t.running)
	})
	family("galmirror_tenant_paused", "gauge", "1 when the tenant is paused.", func(l string, t *tenantMetrics) {
		p := 0
		if t.paused {
			p = 1
		}
		fmt.Fprintf(bw, "galmirror_tenant_paused{%s} %d\n", l, p)
	})
	fmt.Fprintf(bw, "# HELP galmirror_events_total Events emitted, by catalog id.\n# TYPE galmirror_events_total counter\n")
	ids := make([]events.ID, 0, len(m.events))
	for id := range m.events {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		fmt.Fprintf(bw, "galmirror_events_total{id=\"%d\",name=\"%s\"} %d\n", uint32(id), id.Name(), m.events[id])
	}
	return bw.Flush()
}

// ServeHTTP serves GET /metrics.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = m.render(w)
}

// serveMetrics listens on addr and serves the metrics until ctx ends. The
// listener is opened before it returns, so a bad address fails start-up.
func serveMetrics(ctx context.Context, addr string, m *metrics, log *slog.Logger) (wait func(), err error) {
	return serveHTTP(ctx, "metrics", addr, m, log)
}

// serveHTTP serves h on addr until ctx ends; wait waits for the server to
// have stopped.
func serveHTTP(ctx context.Context, name, addr string, h http.Handler, log *slog.Logger) (wait func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" server", "err", err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info(name+" endpoint listening", "addr", ln.Addr().String())
	return func() { <-done; <-stopped }, nil
}
