package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrationsAreDense(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || SchemaVersion() != len(ms) {
		t.Fatalf("%d migrations, version %d", len(ms), SchemaVersion())
	}
	for _, m := range ms {
		if !strings.Contains(m.sql, "STRICT") && strings.Contains(m.sql, "CREATE TABLE") {
			t.Errorf("%s creates a table that is not STRICT", m.name)
		}
	}
}

func schemaOf(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.r.Query("SELECT type, name, coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, sql string
		rows.Scan(&typ, &name, &sql)
		b.WriteString(typ + " " + name + ": " + sql + "\n")
	}
	return b.String()
}

// TestMigrateFromEveryVersion builds a database at each older version (the
// empty file included), leaves it, and opens it with the current code: it
// must reach the current version with the same schema as a fresh database.
func TestMigrateFromEveryVersion(t *testing.T) {
	ctx := t.Context()
	fresh, _ := openTest(t, Options{})
	want := schemaOf(t, fresh)
	for v := 0; v < SchemaVersion(); v++ {
		dir := t.TempDir()
		old, err := open(ctx, dir, Options{}, v)
		if err != nil {
			t.Fatalf("build version %d: %v", v, err)
		}
		var got int
		old.w.QueryRow("PRAGMA user_version").Scan(&got)
		if got != v {
			t.Fatalf("built version %d, got %d", v, got)
		}
		if v > 0 {
			// Old data must survive: every version has had tenants.
			if _, err := old.w.Exec("INSERT INTO tenants (name) VALUES ('contoso')"); err != nil {
				t.Fatal(err)
			}
		}
		old.Close()
		if v > 0 {
			if _, err := OpenReadOnly(ctx, dir); !errors.Is(err, ErrSchemaTooOld) {
				t.Fatalf("read-only open of version %d: %v", v, err)
			}
		}
		s, err := Open(ctx, dir, Options{})
		if err != nil {
			t.Fatalf("migrate from %d: %v", v, err)
		}
		s.r.QueryRow("PRAGMA user_version").Scan(&got)
		if got != SchemaVersion() {
			t.Fatalf("from %d: at version %d", v, got)
		}
		if sch := schemaOf(t, s); sch != want {
			t.Fatalf("from %d: schema differs from a fresh database:\n%s\nwant\n%s", v, sch, want)
		}
		if v > 0 {
			if _, err := s.Tenant(ctx, "contoso"); err != nil {
				t.Fatalf("from %d: data lost: %v", v, err)
			}
		}
		s.Close()
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	s, dir := openTest(t, Options{})
	if _, err := s.w.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, dir, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open: %v", err)
	}
	if _, err := OpenReadOnly(ctx, dir); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("read-only open: %v", err)
	}
}

func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("this is not sqlite, just some text that is long enough to have a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dir, Options{}); err == nil {
		t.Fatal("opened a file that is not a database")
	}
}

// Runs recorded before the failure class had a column of its own get the
// class their error text names, in the one vocabulary.
func TestMigrationClassifiesRecordedFailures(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	old, err := open(ctx, dir, Options{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]FailureClass{
		"auth: AADSTS700027: bad signature":   FailAuth,
		"cert_not_found: open x.pfx":          FailCertMissing,
		"cert_unreadable: wrong PFX password": FailCertificate,
		"certificate-missing: open x.pfx":     FailCertMissing,
		"interrupted: context canceled":       FailCanceled,
		"canceled: the run was stopped":       FailCanceled,
		"timeout: the run did not finish":     FailTimeout,
		"AADSTS700027":                        "",
		"odd: text":                           "",
		"":                                    "",
	}
	for msg := range want {
		if _, err := old.w.Exec(`INSERT INTO runs (tenant, trigger_kind, status, started, error) VALUES ('contoso', 'manual', 'failed', 0, ?)`, msg); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, _, err := s.ListRuns(ctx, "contoso", 100, "")
	if err != nil || len(runs) != len(want) {
		t.Fatalf("%d runs, %v", len(runs), err)
	}
	for _, r := range runs {
		if r.FailureClass != want[r.Error] {
			t.Errorf("%q: class %q, want %q", r.Error, r.FailureClass, want[r.Error])
		}
	}
}
