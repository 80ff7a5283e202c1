package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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

// AppendEvent stores e (its Seq is ignored) and returns its Seq, keeping
// the retention of Options: the newest KeepEvents ordinary events, and the
// audit trail (600, 601, 602) by its own rules. ErrInvalidArgument for an id
// outside 1..1000 or Fields that are not a JSON object.
func (s *Store) AppendEvent(ctx context.Context, e Event) (int64, error) {
	if e.ID < 1 || e.ID > 1000 {
		return 0, fmt.Errorf("%w: event id %d (1..1000)", ErrInvalidArgument, e.ID)
	}
	var fields any
	if len(e.Fields) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e.Fields, &obj); err != nil || obj == nil {
			return 0, fmt.Errorf("%w: event %d fields are not a JSON object", ErrInvalidArgument, e.ID)
		}
		fields = string(e.Fields)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	var seq int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var class int
		err := tx.QueryRowContext(ctx, `INSERT INTO events (time, tenant, event_id, level, message, fields)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING seq, class`, e.Time.UnixMilli(), e.Tenant, e.ID, e.Level, e.Message, fields).Scan(&seq, &class)
		if err != nil {
			return err
		}
		return s.trimEvents(ctx, tx, class)
	})
	if err != nil {
		return 0, fmt.Errorf("store: append event %d: %w", e.ID, err)
	}
	return seq, nil
}

// Event classes (the events.class column, which the database derives from
// the event id).
const (
	classOrdinary    = 0
	classAuditAction = 1 // 600
	classAuditOther  = 2 // 601, 602
)

// auditAgeTrimEvery is how often AppendEvent removes audit events by age:
// the age is counted in days, and this pass reads the whole audit trail.
const auditAgeTrimEvery = time.Hour

// trimEvents applies the retention of Options after an event of class was
// added: the count bound of its class, and once an hour the age of the
// audit trail. The per-class counts come from event_counts (kept by
// triggers), so trimming costs the rows it removes, not a count of the
// table.
func (s *Store) trimEvents(ctx context.Context, tx *sql.Tx, class int) error {
	// oldestOver deletes the oldest events of a class by which the classes
	// counted exceed a bound.
	oldestOver := func(class int, counted string, bound int) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE class = ? ORDER BY seq
			LIMIT max(0, (SELECT sum(n) FROM event_counts WHERE class IN (`+counted+`)) - ?))`, class, bound)
		return err
	}
	var err error
	if class == classOrdinary {
		err = oldestOver(classOrdinary, "0", s.opts.KeepEvents)
	} else {
		// The hard cap: other audit events go before operator actions.
		err = oldestOver(classAuditOther, "1, 2", s.opts.MaxAuditEvents)
		if err == nil {
			err = oldestOver(classAuditAction, "1, 2", s.opts.MaxAuditEvents)
		}
	}
	if err != nil {
		return err
	}
	// By age: what is beyond the newest KeepAuditEvents and older than
	// KeepAuditAge.
	now := s.now()
	if now.Sub(s.auditAgeTrimmed) < auditAgeTrimEvery && !now.Before(s.auditAgeTrimmed) {
		return nil
	}
	s.auditAgeTrimmed = now
	_, err = tx.ExecContext(ctx, `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE class IN (1, 2) ORDER BY seq
		LIMIT max(0, (SELECT sum(n) FROM event_counts WHERE class IN (1, 2)) - ?)) AND time < ?`,
		s.opts.KeepAuditEvents, now.Add(-s.opts.KeepAuditAge).UnixMilli())
	return err
}

// EventsSince returns up to limit events with Seq > after, oldest first
// (limit 1..10000; 0 means 1000). A cursor older than the oldest kept event
// resumes at the oldest.
func (s *Store) EventsSince(ctx context.Context, after int64, limit int) ([]Event, error) {
	switch {
	case limit == 0:
		limit = 1000
	case limit < 0 || limit > 10000:
		return nil, fmt.Errorf("%w: limit %d (1..10000)", ErrInvalidArgument, limit)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, tenant, event_id, level, message, fields FROM events
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	var es []Event
	for rows.Next() {
		var e Event
		var t int64
		var fields sql.NullString
		if err := rows.Scan(&e.Seq, &t, &e.Tenant, &e.ID, &e.Level, &e.Message, &fields); err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		e.Time = time.UnixMilli(t).UTC()
		if fields.Valid {
			e.Fields = json.RawMessage(fields.String)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return es, nil
}

// LastEventSeq returns the newest event's Seq (0 when none), so a watcher can
// start "from now".
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT max(seq) FROM events").Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last event: %w", err)
	}
	return seq.Int64, nil
}
