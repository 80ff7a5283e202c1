package store

import (
	"context"
	"encoding/json"
	"time"
)

// Event is one entry of the event catalog as it happened.
type Event struct {
	// Seq is assigned by AppendEvent: increasing, never reused (also after
	// trimming), so it serves as the admin API's resume cursor.
	Seq     int64
	Time    time.Time
	Tenant  string // "" for service-wide events
	ID      int    // catalog id, 1..1000
	Level   string // slog level name: DEBUG, INFO, WARN, ERROR
	Message string
	// Fields are the event's structured attributes as a JSON object (nil
	// for none).
	Fields json.RawMessage
}

// AppendEvent stores e and returns its Seq, keeping only the last
// Options.KeepEvents events.
func (s *Store) AppendEvent(ctx context.Context, e Event) (int64, error) { return 0, errNotYet }

// EventsSince returns up to limit events with Seq > after, oldest first
// (limit 1..10000; 0 means 1000). A cursor older than the oldest kept event
// simply resumes at the oldest.
func (s *Store) EventsSince(ctx context.Context, after int64, limit int) ([]Event, error) {
	return nil, errNotYet
}

// LastEventSeq returns the newest event's Seq (0 when none), so a watcher can
// start "from now".
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) { return 0, errNotYet }
