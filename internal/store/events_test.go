package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// idsOf returns the ids of every stored event, oldest first.
func idsOf(t *testing.T, s *Store) (ids []int, seqs []int64) {
	t.Helper()
	for after := int64(0); ; {
		evs, err := s.EventsSince(t.Context(), after, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			ids = append(ids, e.ID)
			seqs = append(seqs, e.Seq)
			after = e.Seq
		}
		if len(evs) < 10000 {
			return ids, seqs
		}
	}
}

func count(ids []int, match func(int) bool) int {
	n := 0
	for _, id := range ids {
		if match(id) {
			n++
		}
	}
	return n
}

func is(id int) func(int) bool { return func(x int) bool { return x == id } }

func ordinary(id int) bool { return id < 600 || id > 602 }

func appendN(t *testing.T, s *Store, n, id int, at time.Time) []int64 {
	t.Helper()
	var seqs []int64
	for i := range n {
		seq, err := s.AppendEvent(t.Context(), Event{Time: at, ID: id, Level: "INFO", Message: fmt.Sprint(id, " #", i)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// A flood of ordinary events and of denied calls (601) and failed logins
// (602) leaves every operator action (600) in the store; ordinary events
// keep their own retention, whatever the audit trail does.
func TestAuditEventsSurviveFloods(t *testing.T) {
	// Small bounds, floods ten times over them (every append pays for the
	// race detector's SQLite).
	const keepOrdinary, maxAudit = 40, 60
	s, _ := openTest(t, Options{KeepEvents: keepOrdinary, KeepAuditEvents: 10, MaxAuditEvents: maxAudit})
	now := time.Now()
	actions := appendN(t, s, 20, 600, now)
	appendN(t, s, 400, 200, now) // ordinary
	appendN(t, s, 300, 601, now) // denied calls
	appendN(t, s, 200, 602, now) // failed authentication
	appendN(t, s, 50, 100, now)
	ids, seqs := idsOf(t, s)
	var kept []int64
	for i, id := range ids {
		if id == 600 {
			kept = append(kept, seqs[i])
		}
	}
	if !slices.Equal(kept, actions) {
		t.Fatalf("operator actions kept: %v, want all of %v", kept, actions)
	}
	if n := count(ids, ordinary); n != keepOrdinary {
		t.Errorf("%d ordinary events kept, want %d", n, keepOrdinary)
	}
	if n := count(ids, func(id int) bool { return !ordinary(id) }); n != maxAudit {
		t.Errorf("%d audit events kept, want the cap of %d", n, maxAudit)
	}
	// The newest failed logins were kept, the older denied calls given up.
	if n := count(ids, is(602)); n != maxAudit-20 {
		t.Errorf("%d events 602 kept, want %d (the newest)", n, maxAudit-20)
	}
	if ids[len(ids)-1] != 100 {
		t.Errorf("newest event %d", ids[len(ids)-1])
	}

	// Operator actions beyond the cap go, oldest first, only when nothing
	// else is left to give up.
	appendN(t, s, maxAudit-10, 600, now)
	ids, seqs = idsOf(t, s)
	if n := count(ids, is(600)); n != maxAudit {
		t.Fatalf("%d operator actions kept, want %d", n, maxAudit)
	}
	if n := count(ids, is(601)) + count(ids, is(602)); n != 0 {
		t.Errorf("%d other audit events kept beside %d operator actions", n, maxAudit)
	}
	for i, id := range ids {
		if id == 600 && seqs[i] <= actions[9] {
			t.Fatalf("operator action %d was kept although newer ones were given up", seqs[i])
		}
	}
}

// Audit events are kept while among the newest KeepAuditEvents or younger
// than KeepAuditAge; the age is applied at most once an hour.
func TestAuditRetentionByAge(t *testing.T) {
	s, _ := openTest(t, Options{KeepEvents: 5, KeepAuditEvents: 3, KeepAuditAge: 90 * 24 * time.Hour})
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	old := now.Add(-100 * 24 * time.Hour)
	young := now.Add(-80 * 24 * time.Hour)
	appendN(t, s, 4, 600, old)
	appendN(t, s, 2, 601, young)
	appendN(t, s, 1, 602, old)
	// The age was applied at the first append, when there was nothing to
	// trim; not again within the hour.
	ids, _ := idsOf(t, s)
	if got, want := ids, []int{600, 600, 600, 600, 601, 601, 602}; !slices.Equal(got, want) {
		t.Fatalf("within the hour kept %v, want %v", got, want)
	}
	now = now.Add(time.Hour)
	appendN(t, s, 10, 200, now) // an ordinary event applies it too
	ids, _ = idsOf(t, s)
	if got, want := ids[:3], []int{601, 601, 602}; !slices.Equal(got, want) {
		t.Fatalf("after an hour kept %v, want the newest 3 audit events first", ids)
	}
	if n := count(ids, ordinary); n != 5 {
		t.Fatalf("%d ordinary events", n)
	}
	// Young events stay however many there are (below the cap).
	appendN(t, s, 20, 601, now)
	now = now.Add(2 * time.Hour)
	appendN(t, s, 1, 200, now)
	ids, _ = idsOf(t, s)
	if n := count(ids, is(601)); n != 22 {
		t.Fatalf("%d young 601 events kept, want 22", n)
	}
}

// The per-class counts survive deletes that do not go through
// AppendEvent, and are made by the migration from the events present.
func TestEventCountsStayTrue(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	old, err := open(ctx, dir, Options{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []int{100, 600, 601, 602, 200, 600, 603} { // 603 is not an audit event
		if _, err := old.w.Exec(`INSERT INTO events (time, event_id, level, message) VALUES (?, ?, 'INFO', 'x')`, i, id); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(want [3]int) {
		t.Helper()
		var got [3]int
		rows, err := s.r.QueryContext(context.Background(), "SELECT class, n FROM event_counts ORDER BY class")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var c, n int
			rows.Scan(&c, &n)
			got[c] = n
		}
		if got != want {
			t.Fatalf("counts %v, want %v", got, want)
		}
	}
	check([3]int{3, 2, 2})
	appendN(t, s, 1, 602, time.Now())
	check([3]int{3, 2, 3})
	if _, err := s.w.Exec("DELETE FROM events WHERE event_id IN (100, 601)"); err != nil {
		t.Fatal(err)
	}
	check([3]int{2, 2, 2})
}
