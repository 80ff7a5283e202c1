package events

import (
	"context"
	"errors"
	"log/slog"
)

// SourceName is the Windows event source galmirror registers and writes
// under, in the Application log.
const SourceName = "galmirror"

// ErrUnsupported is returned by the Windows Event Log functions on other
// systems.
var ErrUnsupported = errors.New("the Windows Event Log is not available on this system")

// SlogSink writes each event as one structured record carrying event_id, so
// that journald or a log shipper can filter on it just as an RMM filters the
// Event Log.
type SlogSink struct {
	Logger *slog.Logger
}

// Write logs e at its catalog level.
func (s SlogSink) Write(ctx context.Context, e Event) error {
	d, _ := Lookup(e.ID)
	msg := d.Summary
	if msg == "" {
		msg = e.ID.Name()
	}
	attrs := make([]slog.Attr, 0, 5+len(e.Fields))
	attrs = append(attrs, slog.Int("event_id", int(e.ID)), slog.String("event", e.ID.Name()))
	if e.Tenant != "" {
		attrs = append(attrs, slog.String("tenant", e.Tenant))
	}
	if e.RunID != "" {
		attrs = append(attrs, slog.String("run_id", e.RunID))
	}
	if e.Detail != "" {
		attrs = append(attrs, slog.String("detail", clean(e.Detail)))
	}
	for _, f := range e.Fields {
		attrs = append(attrs, slog.String(f.Key, clean(f.Value)))
	}
	s.Logger.LogAttrs(ctx, e.Level().Slog(), msg, attrs...)
	return nil
}

// reporter is the part of x/sys/windows/svc/eventlog.Log the Event Log sink
// uses; declared here so the level mapping is tested on every system.
type reporter interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// report writes e through r with the event type matching its level.
func report(r reporter, e Event) error {
	if e.ID < 1 || e.ID > 1000 {
		// EventCreate.exe only has messages for 1–1000.
		return errors.New("event id out of the 1-1000 range")
	}
	msg := e.Text()
	switch e.Level() {
	case Info:
		return r.Info(uint32(e.ID), msg)
	case Warning:
		return r.Warning(uint32(e.ID), msg)
	default:
		return r.Error(uint32(e.ID), msg)
	}
}
