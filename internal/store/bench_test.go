package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

const benchContacts = 5000

func benchMap(gen int) []ContactRef {
	cs := make([]ContactRef, benchContacts)
	for i := range cs {
		cs[i] = ContactRef{
			SourceID:  fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i),
			ContactID: fmt.Sprintf("AAMkADAwATM3ZmYAZS0yNzQ3LTQ3NzEtOGQzYy02NzA4NjNiMjYyNjYARgAAAAAAWW1Ccl7MOU2Uy8BwBwCZ6Q7kHxYzQ7%016xAAA=", i),
			Hash:      fmt.Sprintf("sha256:%032x%d", i, gen),
			ChangeKey: fmt.Sprintf("EQAAABYAAACZ6Q7kHxYzQ7%08x", gen),
		}
	}
	return cs
}

// BenchmarkContactMapLoad loads a 5,000-contact mailbox map; ns/row is the
// per-contact cost.
func BenchmarkContactMapLoad(b *testing.B) {
	s, _ := openTestB(b)
	ctx := b.Context()
	if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: "m"}, ContactChanges{Upserts: benchMap(0)}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		m, err := s.ContactMap(ctx, "contoso", "m")
		if err != nil || len(m) != benchContacts {
			b.Fatal(len(m), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchContacts), "ns/row")
}

// BenchmarkContactMapUpsert rewrites every entry of a 5,000-contact map in
// one transaction (the worst case: every contact changed).
func BenchmarkContactMapUpsert(b *testing.B) {
	s, _ := openTestB(b)
	ctx := b.Context()
	maps := [2][]ContactRef{benchMap(0), benchMap(1)}
	i := 0
	for b.Loop() {
		if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: "m"}, ContactChanges{Upserts: maps[i%2]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchContacts), "ns/row")
}

func openTestB(b *testing.B) (*Store, string) {
	b.Helper()
	dir := b.TempDir()
	s, err := Open(b.Context(), dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.ensureTenantForTest(b.Context(), "contoso", "t"); err != nil {
		b.Fatal(err)
	}
	return s, dir
}

// BenchmarkAppendEvent appends an ordinary event to a full event table
// (the default retention: 10,000 ordinary and 10,000 audit events), the cost
// every emitted event pays, trimming included.
func BenchmarkAppendEvent(b *testing.B) {
	s, _ := openTestB(b)
	ctx := b.Context()
	err := s.write(ctx, func(tx *sql.Tx) error { // filled in one transaction: quicker than 20,000
		for i := range 20000 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO events (time, event_id, level, message) VALUES (?, ?, 'INFO', 'filler')`,
				time.Now().UnixMilli(), 200+400*(i%2)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.AppendEvent(ctx, Event{ID: 200, Level: "INFO", Message: "tenant sync succeeded", Fields: json.RawMessage(`{"tenant":"contoso"}`)}); err != nil {
			b.Fatal(err)
		}
	}
}
