package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

// cliEvents is the event bus of `sync` and `check`, which emit the
// service's events where an RMM watches for them (--no-events turns them
// off): the Windows Event Log (source galmirror, when registered), a log
// line with event_id on stderr (what the journal gets from the service),
// and with st the state database, where the service's admin API shows
// them. close releases the Event Log.
func cliEvents(logger *slog.Logger, st *store.Store) (bus *events.Bus, close func()) {
	bus = events.NewBus(logger, events.SlogSink{Logger: logger})
	close = func() {}
	if el, err := events.OpenEventLog(events.SourceName); err == nil {
		bus.AddSink(el)
		close = func() { el.Close() }
	} else if !errors.Is(err, events.ErrUnsupported) {
		logger.Debug("windows event log unavailable", "err", err)
	}
	if st != nil {
		bus.SetRecorder(service.StoreRecorder(st))
	}
	return bus, close
}

// runReporter wraps a tenant's run with the reporter's before and after.
type runReporter struct {
	rep *service.Reporter
}

func (r runReporter) run(ctx context.Context, eng *syncer.Engine, t *config.Tenant, ro syncer.RunOptions) *syncer.Result {
	if r.rep == nil {
		return eng.Run(ctx, t, ro)
	}
	prev := r.rep.Before(ctx, t.Name)
	began := time.Now()
	res := eng.Run(ctx, t, ro)
	if res.RunID != 0 && res.Status != syncer.StatusSkipped {
		sr, _ := serviceResult(ctx, res)
		r.rep.After(ctx, t.Name, res.RunID, store.TriggerCLI, prev, sr, time.Since(began))
	}
	return res
}
