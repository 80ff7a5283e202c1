// Package service is galmirror's long-running mode: per-tenant schedules,
// a cap on concurrent tenant runs, back-off for failing tenants, manual runs,
// pause and resume, configuration reload without restart, events, metrics,
// and a clean, bounded shutdown. The platform glue (Windows service control
// manager, systemd notifications) lives in the _windows/_linux/_other files.
//
// The sync itself is done by a Runner (the syncer); the service records each
// run in the store and chooses events from its Result.
package service

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// Defaults for Options.
const (
	DefaultPollInterval = 5 * time.Second
	DefaultStopTimeout  = 25 * time.Second
)

// Options configure a Service.
type Options struct {
	// Config is the validated configuration to start with; Config.Path is
	// the file watched for changes and re-read on Reload.
	Config *config.Config
	// Runner performs tenant runs.
	Runner Runner
	// State is the open store (usually *store.Store).
	State State
	// Bus delivers events. The service adds the store and metrics as sinks;
	// the caller adds the platform sinks (slog, Windows Event Log). The
	// service makes the store its recorder. nil
	// creates a bus with a slog sink on Logger.
	Bus *events.Bus
	// Logger receives operational logs; nil means slog.Default().
	Logger *slog.Logger
	// LogLevel, when set, is adjusted to log.level on reload.
	LogLevel *slog.LevelVar
	// Notifier tells the service manager about readiness, reloads and
	// stopping (systemd); nil means none.
	Notifier Notifier
	// Version is reported in events and metrics.
	Version string
	// Load reads and validates a configuration file; nil means config.Load.
	Load func(path string) (*config.Config, error)
	// PollInterval is how often the configuration file is checked for
	// changes (default DefaultPollInterval; negative turns polling off). A
	// change is applied once the file has been stable for one interval, so
	// an editor's half-written file is not reported as invalid.
	PollInterval time.Duration
	// StopTimeout bounds the wait for runs in flight at shutdown (default
	// DefaultStopTimeout).
	StopTimeout time.Duration
	// Timing tunes the scheduler (tests shorten it).
	Timing Timing
}

// Service runs the tenants of a configuration on their schedules until its
// context ends. Its methods are safe for concurrent use; SyncNow, Pause,
// Resume and Tenants are what the admin API calls.
type Service struct {
	opts    Options
	log     *slog.Logger
	bus     *events.Bus
	metrics *metrics
	sched   *scheduler
	notify  Notifier
	reload  chan struct{}

	mu       sync.Mutex
	cfg      *config.Config
	running  bool
	fileSeen fileStamp // last state of the file seen by the poller
	applied  [32]byte  // hash of the configuration content last applied
	rejected [32]byte  // hash of the content last rejected (reported once)
}

// New checks the options and returns a Service ready to Run.
func New(o Options) (*Service, error) {
	if o.Config == nil || o.Runner == nil || o.State == nil {
		return nil, errors.New("service: Config, Runner and State are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Load == nil {
		o.Load = config.Load
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.Notifier == nil {
		o.Notifier = nopNotifier{}
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	bus := o.Bus
	if bus == nil {
		bus = events.NewBus(o.Logger, events.SlogSink{Logger: o.Logger})
	}
	m := newMetrics(o.Version)
	bus.SetRecorder(StoreRecorder(o.State))
	bus.AddSink(m)
	owner := hostPID()
	s := &Service{
		opts: o, log: o.Logger, bus: bus, metrics: m, notify: o.Notifier,
		reload: make(chan struct{}, 1),
		cfg:    o.Config,
	}
	s.sched = newScheduler(o.Runner, o.State, bus, o.Logger, m, o.Timing, owner,
		func() time.Duration { return s.Config().Health.OutageAfter.Std() })
	return s, nil
}

// Run starts the scheduler, the metrics endpoint and the configuration
// watcher, and blocks until ctx ends. It then cancels runs in flight, waits
// for them at most StopTimeout (recording their history), and returns. An
// error means the service could not start (a metrics listener that cannot
// bind); runs failing is never an error of Run.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("service: already running")
	}
	s.running = true
	cfg := s.cfg
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	var waitMetrics func()
	if cfg.Metrics.Listen != "" {
		w, err := serveMetrics(ctx, cfg.Metrics.Listen, s.metrics, s.log)
		if err != nil {
			return err
		}
		waitMetrics = w
	}
	if cfg.Health.Listen != "" {
		w, err := serveHTTP(ctx, "health", cfg.Health.Listen, healthz{s}, s.log)
		if err != nil {
			return err
		}
		defer w()
	}
	if stamp, sum, err := readStamp(cfg.Path); err == nil {
		s.mu.Lock()
		s.fileSeen, s.applied = stamp, sum
		s.mu.Unlock()
	}
	s.seedCertGate(ctx)
	s.sched.apply(ctx, cfg)
	s.bus.Emit(ctx, events.Event{ID: events.ServiceStarted, Fields: []events.Field{
		events.F("version", s.opts.Version), events.F("config", cfg.Path), events.FInt("tenants", int64(len(cfg.Tenants)))}})
	if err := s.notify.Ready(); err != nil {
		s.log.Warn("notify service manager", "err", err)
	}

	var poll <-chan time.Time
	if s.opts.PollInterval > 0 {
		t := time.NewTicker(s.opts.PollInterval)
		defer t.Stop()
		poll = t.C
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-s.reload:
			s.doReload(ctx, true)
		case <-poll:
			s.pollConfig(ctx)
		}
	}

	if err := s.notify.Stopping(); err != nil {
		s.log.Warn("notify service manager", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.StopTimeout)
	stuck := s.sched.stopAll(sctx)
	cancel()
	s.sched.outages.stop()
	final := context.WithoutCancel(ctx)
	if len(stuck) > 0 {
		s.bus.Emit(final, events.Event{ID: events.ServiceStopTimeout, Fields: []events.Field{
			events.F("wait", s.opts.StopTimeout.String()), events.F("tenants", strings.Join(stuck, ","))}})
	}
	s.bus.Emit(final, events.Event{ID: events.ServiceStopped, Fields: []events.Field{events.F("version", s.opts.Version)}})
	if waitMetrics != nil {
		waitMetrics()
	}
	return nil
}

// Reload asks the running service to re-read its configuration file (SIGHUP,
// the Windows ParamChange control, the admin API). It does not wait.
func (s *Service) Reload() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// Config returns the configuration in force (the last good one).
func (s *Service) Config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// SyncNow starts a run of the tenant now (or as soon as a concurrency slot
// is free) and returns its run id. It returns an *AlreadyRunningError when
// the tenant has a run queued or in progress (here or in another process),
// and ErrUnknownTenant, ErrPaused or ErrNotRunning as appropriate.
func (s *Service) SyncNow(ctx context.Context, tenant string) (int64, error) {
	if !s.isRunning() {
		return 0, ErrNotRunning
	}
	return s.sched.syncNow(ctx, tenant)
}

// Pause stops scheduled runs of the tenant until Resume; a run in progress
// finishes. The pause is stored (it survives restarts) with by, the
// principal who asked.
func (s *Service) Pause(ctx context.Context, tenant, by string) error {
	if !s.isRunning() {
		return ErrNotRunning
	}
	return s.sched.setPaused(ctx, tenant, true, by)
}

// Resume undoes Pause; the tenant runs at its next scheduled time.
func (s *Service) Resume(ctx context.Context, tenant, by string) error {
	if !s.isRunning() {
		return ErrNotRunning
	}
	return s.sched.setPaused(ctx, tenant, false, by)
}

// Tenants returns the live state of every configured tenant, by name.
func (s *Service) Tenants() []TenantStatus { return s.sched.statuses() }

// Subscribe returns a subscription to the events emitted from now on (the
// admin API's WatchEvents; it reads older ones from the store). A subscriber
// that falls buffer events behind loses events rather than stalling the
// service; Subscription.Dropped counts them.
func (s *Service) Subscribe(buffer int) *events.Subscription { return s.bus.Subscribe(buffer) }

// Emit delivers an event through the service's sinks (the admin API's
// audit events 600 and 601).
func (s *Service) Emit(ctx context.Context, e events.Event) { s.bus.Emit(ctx, e) }

func (s *Service) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// fileStamp is what the poller compares cheaply before hashing: the names,
// times and sizes of the configuration's files (config.Sources).
type fileStamp [32]byte

// readStamp reads the configuration's files (the settings file and its
// drop-in tenant files): their stamp and the hash of their names and
// contents.
func readStamp(path string) (fileStamp, [32]byte, error) {
	files, err := config.Sources(path)
	if err != nil {
		return fileStamp{}, [32]byte{}, err
	}
	meta, content := sha256.New(), sha256.New()
	for i, f := range files {
		st, err := os.Stat(f)
		if err == nil {
			var b []byte
			if b, err = os.ReadFile(f); err == nil {
				fmt.Fprintf(meta, "%s\x00%d\x00%d\x00", f, st.ModTime().UnixNano(), st.Size())
				fmt.Fprintf(content, "%s\x00%d\x00", f, len(b))
				content.Write(b)
				continue
			}
		}
		if i == 0 {
			return fileStamp{}, [32]byte{}, err
		}
		// A drop-in removed while listing: the next poll sees the rest.
	}
	var stamp fileStamp
	var sum [32]byte
	copy(stamp[:], meta.Sum(nil))
	copy(sum[:], content.Sum(nil))
	return stamp, sum, nil
}

// pollConfig reloads when the file's content differs from what was applied
// and has not changed since the previous poll.
func (s *Service) pollConfig(ctx context.Context) {
	s.mu.Lock()
	path, prev, applied, rejected := s.cfg.Path, s.fileSeen, s.applied, s.rejected
	s.mu.Unlock()
	stamp, sum, err := readStamp(path)
	if err != nil {
		// A file being replaced may be missing for a moment; a missing
		// file is reported by an explicit reload, not by polling.
		return
	}
	s.mu.Lock()
	s.fileSeen = stamp
	s.mu.Unlock()
	if stamp != prev || sum == applied || sum == rejected {
		return
	}
	s.doReload(ctx, false)
}

// doReload loads the configuration file and applies it if valid. explicit
// reloads (SIGHUP, service control) always report; polling reports a given
// bad content once.
func (s *Service) doReload(ctx context.Context, explicit bool) {
	if err := s.notify.Reloading(); err != nil {
		s.log.Warn("notify service manager", "err", err)
	}
	defer func() {
		if err := s.notify.Ready(); err != nil {
			s.log.Warn("notify service manager", "err", err)
		}
	}()
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	_, sum, _ := readStamp(old.Path)
	cfg, err := s.opts.Load(old.Path)
	if err != nil {
		s.mu.Lock()
		report := explicit || sum != s.rejected
		s.rejected = sum
		s.mu.Unlock()
		if report {
			s.bus.Emit(ctx, events.Event{ID: events.ConfigInvalid,
				Detail: "keeping the last good configuration",
				Fields: []events.Field{events.F("config", old.Path), events.F("error", oneLine(err))}})
		}
		return
	}
	var notes []string
	if cfg.DataDir != old.DataDir {
		notes = append(notes, "dataDir changes apply at the next restart")
		cfg = withDataDir(cfg, old.DataDir)
	}
	if cfg.Metrics.Listen != old.Metrics.Listen {
		notes = append(notes, "metrics.listen changes apply at the next restart")
	}
	if cfg.Log.File != old.Log.File || cfg.Log.MaxSizeMB != old.Log.MaxSizeMB || cfg.Log.MaxFiles != old.Log.MaxFiles {
		notes = append(notes, "log file changes apply at the next restart")
	}
	if cfg.Health.Listen != old.Health.Listen {
		notes = append(notes, "health.listen changes apply at the next restart")
	}
	if !reflect.DeepEqual(cfg.Admin, old.Admin) {
		// The admin API (listeners, certificates, Kerberos, roles) is set
		// up once at start; keep reporting the settings in force until then.
		notes = append(notes, "admin settings apply at the next restart")
		c := *cfg
		c.Admin = old.Admin
		cfg = &c
	}
	if !reflect.DeepEqual(cfg.Console, old.Console) {
		// The console connection (push mode) is set up once at start too.
		notes = append(notes, "console settings apply at the next restart")
		c := *cfg
		c.Console = old.Console
		cfg = &c
	}
	if s.opts.LogLevel != nil {
		var lvl slog.Level
		if lvl.UnmarshalText([]byte(cfg.Log.Level)) == nil {
			s.opts.LogLevel.Set(lvl)
		}
	}
	a := s.sched.apply(ctx, cfg)
	s.mu.Lock()
	s.cfg, s.applied, s.rejected = cfg, sum, [32]byte{}
	s.mu.Unlock()
	fields := []events.Field{events.F("config", cfg.Path),
		events.F("added", strings.Join(a.added, ",")),
		events.F("removed", strings.Join(a.removed, ",")),
		events.F("changed", strings.Join(a.changed, ","))}
	s.bus.Emit(ctx, events.Event{ID: events.ConfigReloaded, Detail: strings.Join(notes, "; "), Fields: fields})
}

// withDataDir returns a copy of cfg using dataDir: the open store cannot
// move while the service runs.
func withDataDir(cfg *config.Config, dataDir string) *config.Config {
	c := *cfg
	c.DataDir = dataDir
	return &c
}

// oneLine shortens a (possibly multi-line) validation error for an event;
// the first problems are the useful ones.
func oneLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > 5 {
		lines = append(lines[:5], fmt.Sprintf("(%d more)", len(lines)-5))
	}
	return strings.Join(lines, "; ")
}

// seedCertGate reads the last day's certificate events from the store, so
// that a restart does not repeat a warning already given today.
func (s *Service) seedCertGate(ctx context.Context) {
	seedCerts(ctx, s.opts.State, s.sched.certs, func(err error) { s.log.Warn("read recent events", "err", err) })
}

// StoreRecorder returns the recorder that appends events to the store's
// events table and numbers them (Seq), from which the admin API serves
// event history and resumes watchers.
func StoreRecorder(st interface {
	AppendEvent(ctx context.Context, e store.Event) (int64, error)
}) events.Recorder {
	return storeRecorder{st}
}

type storeRecorder struct {
	st interface {
		AppendEvent(ctx context.Context, e store.Event) (int64, error)
	}
}

// Record implements events.Recorder.
func (r storeRecorder) Record(ctx context.Context, e events.Event) (int64, error) {
	fields := map[string]string{}
	for _, f := range e.Fields {
		fields[f.Key] = f.Value
	}
	if e.RunID != "" {
		fields["run_id"] = e.RunID
	}
	if e.Detail != "" {
		fields["detail"] = e.Detail
	}
	fields["event"] = e.ID.Name()
	raw, err := json.Marshal(fields)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return r.st.AppendEvent(ctx, store.Event{
		Time: e.Time, Tenant: e.Tenant, ID: int(e.ID),
		Level: e.Level().Slog().String(), Message: e.Text(), Fields: json.RawMessage(raw),
	})
}

func hostPID() string {
	h, err := os.Hostname()
	if err != nil {
		h = "localhost"
	}
	return h + ":" + strconv.Itoa(os.Getpid())
}
