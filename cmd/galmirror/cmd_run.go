package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/svcbackend"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/fsperm"
	"github.com/galmirror/galmirror/internal/logfile"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

func init() {
	register(&command{
		name:    "run",
		summary: "run the service: every tenant on its schedule until stopped",
		run:     runService,
	})
}

// newServiceRunner builds the Runner the service schedules: the sync
// engine, adapted to service.Runner. It is set where the engine is wired
// into the binary; while it is nil, `galmirror run` refuses to start.
var newServiceRunner func(cfg *config.Config, st *store.Store, logger *slog.Logger) (service.Runner, error)

// errConfig marks a start-up failure caused by the settings file (exit 2).
var errConfig = errors.New("configuration error")

func runService(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file (settings.json)")
	stopTimeout := fs.Duration("stop-timeout", service.DefaultStopTimeout, "how long shutdown waits for runs in flight")
	asService := fs.Bool("service", false, "Windows: run as the Windows service (the service's command line has it; started from a terminal it fails)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror run [--config FILE] [--stop-timeout 25s] [--service]")
		fmt.Fprintln(stderr, "Runs until SIGTERM/SIGINT (or the Windows service is stopped); SIGHUP reloads the settings file.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	path, err := filepath.Abs(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: settings file %s: %v\n", *cfgPath, err)
		return exitUsage
	}

	var current atomic.Pointer[service.Service]
	reload := func() {
		if s := current.Load(); s != nil {
			s.Reload()
		}
	}
	serve := func(ctx context.Context) error {
		return serveService(ctx, path, *stopTimeout, stderr, &current)
	}
	switch {
	case *asService && runtime.GOOS != "windows":
		fmt.Fprintln(stderr, "galmirror: run --service is the Windows service mode; under systemd or in a terminal run without it")
		return exitUsage
	case *asService || service.IsWindowsService():
		// Explicit service mode never depends on detecting the service
		// manager (Wine's is not detected); detection still serves
		// services installed before the flag existed.
		err = service.RunWindowsService(service.ServiceName, serve, reload)
	default:
		err = serveWithSignals(ctx, serve, reload)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errConfig):
		return exitUsage
	default:
		fmt.Fprintf(stderr, "galmirror: %v\n", err)
		return exitFailed
	}
}

// serveWithSignals runs serve in the foreground: SIGHUP reloads (SIGTERM and
// SIGINT arrive through ctx, from main).
func serveWithSignals(ctx context.Context, serve func(context.Context) error, reload func()) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case <-hup:
			reload()
		}
	}
}

// serveService loads the configuration, opens the store, and runs the
// service until ctx ends. Start-up failures are reported as events too (an
// RMM sees a service that cannot start through event 103).
func serveService(ctx context.Context, path string, stopTimeout time.Duration, stderr io.Writer, current *atomic.Pointer[service.Service]) error {
	level := new(slog.LevelVar)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	bus := events.NewBus(logger, events.SlogSink{Logger: logger})
	if el, err := events.OpenEventLog(events.SourceName); err == nil {
		defer el.Close()
		bus.AddSink(el)
	} else if !errors.Is(err, events.ErrUnsupported) {
		logger.Warn("windows event log unavailable", "err", err)
	}
	failed := func(err error) {
		bus.Emit(ctx, events.Event{ID: events.ServiceFailed, Detail: err.Error(), Fields: []events.Field{events.F("config", path)}})
	}

	cfg, err := config.Load(path)
	if err != nil {
		bus.Emit(ctx, events.Event{ID: events.ConfigInvalid, Detail: "the service cannot start",
			Fields: []events.Field{events.F("config", path), events.F("error", err.Error())}})
		failed(errors.New("configuration invalid"))
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	out, closeLog, err := logOutput(cfg, stderr)
	if err != nil {
		// The Event Log still gets everything: run on.
		logger.Warn("log file unavailable", "err", err)
	}
	defer closeLog()
	if cfg.Log.Format == "json" || out != stderr {
		if cfg.Log.Format == "json" {
			logger = slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}))
		} else {
			logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
		}
		bus = events.NewBus(logger, events.SlogSink{Logger: logger})
		if el, err := events.OpenEventLog(events.SourceName); err == nil {
			defer el.Close()
			bus.AddSink(el)
		}
	}
	var lv slog.Level
	if lv.UnmarshalText([]byte(cfg.Log.Level)) == nil {
		level.Set(lv)
	}
	// store.Open creates the data directory private, or refuses one that
	// is not (package fsperm).
	st, err := store.Open(ctx, cfg.DataDir, store.Options{})
	if err != nil {
		if errors.As(err, new(*fsperm.NotPrivateError)) && runtime.GOOS == "windows" {
			err = fmt.Errorf("%w (or, elevated: galmirror service secure --config %q)", err, path)
		}
		err = fmt.Errorf("open the state database in %s: %w", cfg.DataDir, err)
		failed(err)
		return err
	}
	defer st.Close()
	if newServiceRunner == nil {
		err := errors.New("this build has no sync engine wired into the service")
		failed(err)
		return err
	}
	runner, err := newServiceRunner(cfg, st, logger)
	if err != nil {
		failed(err)
		return err
	}
	svc, err := service.New(service.Options{
		Config: cfg, Runner: runner, State: st, Bus: bus, Logger: logger, LogLevel: level,
		Notifier: service.SystemdNotifier(), Version: buildVersion(), StopTimeout: stopTimeout,
	})
	if err != nil {
		failed(err)
		return err
	}
	if svcbackend.Enabled(cfg.Admin) || cfg.Console != nil {
		stopAdmin, err := serveAdmin(ctx, cfg, svc, st, logger)
		if err != nil {
			failed(err)
			return err
		}
		defer stopAdmin()
	}
	current.Store(svc)
	defer current.Store(nil)
	if err := svc.Run(ctx); err != nil {
		failed(err)
		return err
	}
	return nil
}

// serveAdmin starts the admin API (docs/admin-api.md) beside the service:
// HTTPS on admin.listen and the local socket or pipe, both bound before it
// returns, so that a port in use stops the start-up. It serves until ctx
// ends or stop is called; stop waits for it to finish. Its settings are
// read once: a reload that changes them says a restart is needed (event
// 401).
func serveAdmin(ctx context.Context, cfg *config.Config, svc *service.Service, st *store.Store, logger *slog.Logger) (stop func(), err error) {
	backend, err := svcbackend.New(svcbackend.Options{
		Service: svc, Store: st, Checker: syncer.New(syncer.Options{Store: st, Logger: logger}),
		Version: buildVersion(), Log: logger,
	})
	if err != nil {
		return nil, err
	}
	opts, release, err := svcbackend.ServerOptions(ctx, cfg, backend, logger)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	srv, err := admin.New(opts)
	if err != nil {
		release()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var push func(context.Context) error
	if cfg.Console != nil {
		run, releasePush, err := pushTunnel(ctx, cfg, srv, backend, svc.Emit, logger)
		if err != nil {
			cancel()
			release()
			return nil, fmt.Errorf("console: %w", err)
		}
		push = run
		prev := release
		release = func() { releasePush(); prev() }
	}
	wait, err := svcbackend.Start(ctx, srv, opts, svc.Emit)
	if err != nil {
		cancel()
		release()
		return nil, fmt.Errorf("admin API: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := wait(); err != nil {
			// Rare (the listener broke after start). The service keeps
			// syncing; the log says why the API is gone.
			logger.Error("admin API stopped", "err", err)
		}
	})
	if push != nil {
		// Push mode ends with the service only: it retries every failure.
		wg.Go(func() {
			if err := push(ctx); err != nil {
				logger.Error("console connection stopped", "err", err)
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
		release()
	}, nil
}

// logOutput is where the service logs: stderr (a terminal; the journal
// under systemd) and the rotating log file, when the settings name one
// (log.file) or the service runs as a Windows service, where nobody reads
// stderr: %ProgramData%\galmirror\logs\galmirror.log.
func logOutput(cfg *config.Config, stderr io.Writer) (out io.Writer, close func(), err error) {
	path := cfg.Log.File
	if path == "" && service.IsWindowsService() {
		path = filepath.Join(service.DefaultDir(), "logs", "galmirror.log")
	}
	if path == "" {
		return stderr, func() {}, nil
	}
	f, err := logfile.Open(path, int64(cfg.Log.MaxSizeMB)<<20, cfg.Log.MaxFiles)
	if err != nil {
		return stderr, func() {}, fmt.Errorf("%s: %w", path, err)
	}
	return tee{stderr, f}, func() { f.Close() }, nil
}

// tee writes to every writer, whatever the others do: a Windows service has
// no stderr, and a full disk must not silence the other.
type tee []io.Writer

func (t tee) Write(p []byte) (int, error) {
	var first error
	for _, w := range t {
		if _, err := w.Write(p); err != nil && first == nil {
			first = err
		}
	}
	return len(p), first
}
