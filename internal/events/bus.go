package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sink delivers events somewhere durable or visible. Write should return
// promptly; the Bus calls sinks one after another on the emitting goroutine.
type Sink interface {
	Write(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, e Event) error

// Write calls f.
func (f SinkFunc) Write(ctx context.Context, e Event) error { return f(ctx, e) }

// Bus fans events out to sinks and subscribers. It is safe for concurrent
// use. A slow subscriber loses events (counted) rather than blocking the
// service.
type Bus struct {
	now    func() time.Time
	errLog *slog.Logger

	// order serialises recording and delivery to subscribers, so that
	// subscribers see events in Seq order.
	order    sync.Mutex
	recorder Recorder

	mu    sync.Mutex
	sinks []Sink
	subs  map[*Subscription]struct{}
}

// NewBus returns a Bus delivering to sinks. errLog receives sink failures
// (never nil: pass slog.Default() if nothing better exists).
func NewBus(errLog *slog.Logger, sinks ...Sink) *Bus {
	if errLog == nil {
		errLog = slog.Default()
	}
	return &Bus{now: time.Now, errLog: errLog, sinks: sinks, subs: map[*Subscription]struct{}{}}
}

// Recorder stores events durably and numbers them; the store is the
// recorder, and its Seq is the admin API's resume cursor.
type Recorder interface {
	Record(ctx context.Context, e Event) (seq int64, err error)
}

// SetRecorder makes r number every event before subscribers and sinks see
// it.
func (b *Bus) SetRecorder(r Recorder) {
	b.order.Lock()
	b.recorder = r
	b.order.Unlock()
}

// AddSink appends a sink; events emitted afterwards reach it.
func (b *Bus) AddSink(s Sink) {
	b.mu.Lock()
	b.sinks = append(b.sinks, s)
	b.mu.Unlock()
}

// Emit stamps the event's time if unset and delivers it to every sink and
// subscriber. Sink errors are logged, not returned: an event that cannot be
// written must not stop a sync.
func (b *Bus) Emit(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	// A cancelled context (shutdown) must not lose the final events, so
	// sinks get a context that keeps its values but not its cancellation.
	ctx = context.WithoutCancel(ctx)
	b.order.Lock()
	if b.recorder != nil {
		seq, err := b.recorder.Record(ctx, e)
		if err != nil {
			b.errLog.Error("record event", "event_id", uint32(e.ID), "err", err)
		}
		e.Seq = seq
	}
	b.mu.Lock()
	sinks := append([]Sink(nil), b.sinks...)
	for s := range b.subs {
		s.offer(e)
	}
	b.mu.Unlock()
	b.order.Unlock()
	for _, s := range sinks {
		if err := s.Write(ctx, e); err != nil {
			b.errLog.Error("event sink failed", "event_id", uint32(e.ID), "err", err)
		}
	}
}

// Subscribe returns a subscription receiving every event emitted from now
// on, buffered up to buffer events (at least 1). Close it when done.
func (b *Bus) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	s := &Subscription{bus: b, ch: make(chan Event, buffer)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Subscription is one in-process listener (e.g. the admin API's
// WatchEvents stream).
type Subscription struct {
	bus     *Bus
	ch      chan Event
	dropped atomic.Int64
	closed  bool // guarded by bus.mu
}

// C delivers the events. It is closed when the subscription is closed.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped reports how many events were lost because the buffer was full.
func (s *Subscription) Dropped() int64 { return s.dropped.Load() }

// Close ends the subscription and closes C. It is idempotent.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(s.bus.subs, s)
	close(s.ch)
}

// offer delivers without blocking; called with bus.mu held.
func (s *Subscription) offer(e Event) {
	select {
	case s.ch <- e:
	default:
		s.dropped.Add(1)
	}
}

// Scope de-duplicates events: it passes at most one event per (ID, tenant)
// and drops the rest. A tenant run uses one Scope so that a condition is
// reported once per run however often it occurs.
type Scope struct {
	bus  *Bus
	mu   sync.Mutex
	seen map[scopeKey]bool
}

type scopeKey struct {
	id     ID
	tenant string
}

// Scope returns a new de-duplicating scope emitting to b.
func (b *Bus) Scope() *Scope { return &Scope{bus: b, seen: map[scopeKey]bool{}} }

// Emit emits e unless an event with the same ID and tenant already went
// through this scope. It reports whether e was emitted.
func (s *Scope) Emit(ctx context.Context, e Event) bool {
	k := scopeKey{e.ID, e.Tenant}
	s.mu.Lock()
	dup := s.seen[k]
	s.seen[k] = true
	s.mu.Unlock()
	if dup {
		return false
	}
	s.bus.Emit(ctx, e)
	return true
}
