package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// mustTenant creates the tenant's row, as its first run would.
func mustTenant(t *testing.T, s *Store, name string) {
	t.Helper()
	if err := s.ensureTenantForTest(t.Context(), name, "tid-"+name); err != nil {
		t.Fatal(err)
	}
}

// ensureTenantForTest is what BeginRun does to the tenant, without a run.
func (s *Store) ensureTenantForTest(ctx context.Context, name, tenantID string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := ensureTenant(ctx, tx, name, tenantID)
		return err
	})
}

func TestOpenCreatesPrivateWALDatabase(t *testing.T) {
	s, dir := openTest(t, Options{})
	if s.Path() != filepath.Join(dir, FileName) {
		t.Fatalf("path %s", s.Path())
	}
	var mode string
	if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	var fk int
	if err := s.w.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d %v", fk, err)
	}
	var v int
	if err := s.w.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("user_version %d %v", v, err)
	}
	st, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && os.PathSeparator == '/' {
		t.Fatalf("database mode %v: readable by others", perm)
	}
}

// A missing data directory is created, private to its owner; a read-only
// open (galmirror status) never creates one.
func TestOpenMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state")
	if _, err := OpenReadOnly(t.Context(), dir); err == nil {
		t.Fatal("read-only open of a missing data directory succeeded")
	}
	s, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && os.PathSeparator == '/' {
		t.Fatalf("data directory mode %v: open to others", perm)
	}
}

func TestTenants(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	if _, err := s.Tenant(ctx, "contoso"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	if err := s.SetUsersDeltaLink(ctx, "contoso", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delta link of unknown tenant: %v", err)
	}
	if err := s.ensureTenantForTest(ctx, "contoso", "t1"); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	steps := []error{
		s.SetUsersDeltaLink(ctx, "contoso", "https://graph/users/delta?$deltatoken=1"),
		s.SetOrgContactsDeltaLink(ctx, "contoso", "https://graph/contacts/delta?$deltatoken=2"),
		s.SetPaused(ctx, "contoso", true, "alice@EXAMPLE.COM", at),
		s.SetCertExpiry(ctx, "contoso", at.Add(30*24*time.Hour)),
		s.SetNextRun(ctx, "contoso", at.Add(time.Hour)),
		s.SetPaused(ctx, "fabrikam", true, "bob", at), // creates the row
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got, err := s.Tenant(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	want := TenantState{Name: "contoso", TenantID: "t1", UsersDeltaLink: "https://graph/users/delta?$deltatoken=1",
		OrgContactsDeltaLink: "https://graph/contacts/delta?$deltatoken=2", Paused: true, PausedAt: at, PausedBy: "alice@EXAMPLE.COM",
		CertExpiry: at.Add(30 * 24 * time.Hour), NextRun: at.Add(time.Hour)}
	if got != want {
		t.Fatalf("tenant\n got %+v\nwant %+v", got, want)
	}
	if err := s.SetPaused(ctx, "contoso", false, "carol", at); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Tenant(ctx, "contoso")
	if got.Paused || got.PausedBy != "" || !got.PausedAt.IsZero() {
		t.Fatalf("resume left %+v", got)
	}
	all, err := s.Tenants(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "contoso" || all[1].Name != "fabrikam" || !all[1].Paused {
		t.Fatalf("tenants %+v %v", all, err)
	}
}

func collect(t *testing.T, s *Store, tenant string) []Person {
	t.Helper()
	var ps []Person
	for p, err := range s.Persons(t.Context(), tenant) {
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func ids(ps []Person) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.SourceID)
	}
	return s
}

func TestPersonDelta(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	if err := s.ApplyPersonDelta(ctx, "nope", KindUser, nil, nil, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	mustTenant(t, s, "contoso")
	mustTenant(t, s, "other")
	page1 := []Person{
		{SourceID: "b", Kind: KindUser, Enabled: true, UserType: "Member", HasMail: true, Data: []byte(`{"displayName":"Bé"}`)},
		{SourceID: "a", Enabled: false, UserType: "Guest", Data: []byte(`{}`)},
	}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, page1, nil, ""); err != nil {
		t.Fatal(err)
	}
	if ts, _ := s.Tenant(ctx, "contoso"); ts.UsersDeltaLink != "" {
		t.Fatal("delta link stored before the last page")
	}
	if err := s.ApplyPersonDelta(ctx, "other", KindUser, []Person{{SourceID: "z"}}, nil, ""); err != nil {
		t.Fatal(err)
	}
	page2 := []Person{{SourceID: "c", Enabled: true, HasMail: true, Data: []byte(`{"v":1}`)}, {SourceID: "b", Enabled: true, Data: []byte(`{"v":2}`)}}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, page2, []string{"a", "unknown"}, "link-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindOrgContact, []Person{{SourceID: "oc1", Enabled: true, HasMail: true}}, nil, "oc-link"); err != nil {
		t.Fatal(err)
	}
	ps := collect(t, s, "contoso")
	if got := ids(ps); !slices.Equal(got, []string{"b", "c", "oc1"}) {
		t.Fatalf("persons %v", got)
	}
	if string(ps[0].Data) != `{"v":2}` || ps[0].HasMail || ps[0].Kind != KindUser || ps[2].Kind != KindOrgContact || !ps[1].HasMail {
		t.Fatalf("person fields %+v", ps)
	}
	ts, _ := s.Tenant(ctx, "contoso")
	if ts.UsersDeltaLink != "link-2" || ts.OrgContactsDeltaLink != "oc-link" {
		t.Fatalf("delta links %+v", ts)
	}
	if n, _ := s.PersonCount(ctx, "contoso"); n != 3 {
		t.Fatalf("count %d", n)
	}
	// A page whose person has another kind is refused whole.
	err := s.ApplyPersonDelta(ctx, "contoso", KindUser, []Person{{SourceID: "d"}, {SourceID: "e", Kind: KindOrgContact}}, nil, "")
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("mixed kinds: %v", err)
	}
	if n, _ := s.PersonCount(ctx, "contoso"); n != 3 {
		t.Fatalf("failed page partly applied: %d", n)
	}
	// Stopping the stream early is fine.
	for range s.Persons(ctx, "contoso") {
		break
	}
}

func TestPersonResync(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, []Person{{SourceID: "old1"}, {SourceID: "keep", Data: []byte("1")}}, nil, "old-link"); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindOrgContact, []Person{{SourceID: "oc"}}, nil, "oc-link"); err != nil {
		t.Fatal(err)
	}
	// An abandoned resync's staged rows never leak into the next one.
	r0, err := s.BeginPersonResync(ctx, "contoso", KindUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := r0.Add(ctx, []Person{{SourceID: "ghost"}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginPersonResync(ctx, "contoso", KindUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(ctx, []Person{{SourceID: "keep", Data: []byte("2")}, {SourceID: "new1"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(ctx, []Person{{SourceID: "new2"}}); err != nil {
		t.Fatal(err)
	}
	// The old set is what readers see until Commit.
	if got := ids(collect(t, s, "contoso")); !slices.Equal(got, []string{"keep", "oc", "old1"}) {
		t.Fatalf("before commit %v", got)
	}
	if err := r.Commit(ctx, "new-link"); err != nil {
		t.Fatal(err)
	}
	if err := r.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	ps := collect(t, s, "contoso")
	if got := ids(ps); !slices.Equal(got, []string{"keep", "new1", "new2", "oc"}) {
		t.Fatalf("after commit %v", got)
	}
	if string(ps[0].Data) != "2" {
		t.Fatalf("keep not replaced: %q", ps[0].Data)
	}
	ts, _ := s.Tenant(ctx, "contoso")
	if ts.UsersDeltaLink != "new-link" || ts.OrgContactsDeltaLink != "oc-link" {
		t.Fatalf("links %+v", ts)
	}
	var staged int
	s.r.QueryRow("SELECT count(*) FROM persons_staging").Scan(&staged)
	if staged != 0 {
		t.Fatalf("%d staged rows left", staged)
	}
	// Abort with a cancelled context still discards.
	r2, _ := s.BeginPersonResync(ctx, "contoso", KindUser)
	r2.Add(ctx, []Person{{SourceID: "x"}})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r2.Abort(cctx); err != nil {
		t.Fatal(err)
	}
	s.r.QueryRow("SELECT count(*) FROM persons_staging").Scan(&staged)
	if staged != 0 || r2.Commit(ctx, "x") == nil {
		t.Fatalf("abort left %d rows or allowed commit", staged)
	}
}

func TestMailboxesAndContacts(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	if err := s.BeginMailbox(ctx, "contoso", "m1", "a@x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	mustTenant(t, s, "contoso")
	if err := s.SaveContacts(ctx, "contoso", "m1", ContactChanges{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown mailbox: %v", err)
	}
	if err := s.BeginMailbox(ctx, "contoso", "m1", "ann@contoso.com"); err != nil {
		t.Fatal(err)
	}
	m, err := s.Mailbox(ctx, "contoso", "m1")
	if err != nil || !m.Uncertain || m.UPN != "ann@contoso.com" || m.Status != "" {
		t.Fatalf("after begin %+v %v", m, err)
	}
	longID := "AAMkAGI2TG93AAA=" + string(make([]byte, 0)) + "AAMkADAwATM3ZmYAZS0yNzQ3LTQ3NzEtOGQzYy02NzA4NjNiMjYyNjYARgAAAAAAWW1Ccl7MOU2Uy_-"
	changes := ContactChanges{Upserts: []ContactRef{
		{SourceID: "s1", ContactID: longID + "1", Hash: "h1", ChangeKey: "ck1"},
		{SourceID: "s2", ContactID: longID + "2", Hash: "h2", ChangeKey: "ck2"},
		{SourceID: "s3", ContactID: longID + "3", Hash: "h3", ChangeKey: "ck3"},
	}}
	if err := s.SaveContacts(ctx, "contoso", "m1", changes); err != nil {
		t.Fatal(err)
	}
	synced := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mb := Mailbox{UserID: "m1", UPN: "ann@contoso.com", FolderID: "f1", ContactsDeltaLink: "cdl", Status: MailboxOK, LastSynced: synced}
	if err := s.SaveMailbox(ctx, "contoso", mb, ContactChanges{
		Upserts: []ContactRef{{SourceID: "s2", ContactID: longID + "2", Hash: "h2b", ChangeKey: "ck2b"}},
		Deletes: []string{"s3", "nope"},
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Mailbox(ctx, "contoso", "m1"); got != mb {
		t.Fatalf("mailbox\n got %+v\nwant %+v", got, mb)
	}
	cm, err := s.ContactMap(ctx, "contoso", "m1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ContactRef{
		"s1": {SourceID: "s1", ContactID: longID + "1", Hash: "h1", ChangeKey: "ck1"},
		"s2": {SourceID: "s2", ContactID: longID + "2", Hash: "h2b", ChangeKey: "ck2b"},
	}
	if fmt.Sprint(cm) != fmt.Sprint(want) {
		t.Fatalf("map\n got %v\nwant %v", cm, want)
	}
	if c, err := s.ContactByID(ctx, "contoso", "m1", longID+"2"); err != nil || c != want["s2"] {
		t.Fatalf("by id %+v %v", c, err)
	}
	if _, err := s.ContactByID(ctx, "contoso", "m1", longID+"3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted contact by id: %v", err)
	}
	if n, _ := s.ContactCount(ctx, "contoso", "m1"); n != 2 {
		t.Fatalf("count %d", n)
	}
	if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: "m2", Status: MailboxNoMailbox, ErrorCode: "MailboxNotEnabledForRESTAPI"}, ContactChanges{}); err != nil {
		t.Fatal(err)
	}
	counts, err := s.ContactCounts(ctx, "contoso")
	if err != nil || counts["m1"] != 2 || counts["m2"] != 0 || len(counts) != 2 {
		t.Fatalf("counts %v %v", counts, err)
	}
	mbs, _ := s.Mailboxes(ctx, "contoso")
	if len(mbs) != 2 || mbs[1].Status != MailboxNoMailbox {
		t.Fatalf("mailboxes %+v", mbs)
	}
	// Same ids in another tenant do not collide.
	mustTenant(t, s, "other")
	if err := s.SaveMailbox(ctx, "other", Mailbox{UserID: "m1"}, ContactChanges{Upserts: []ContactRef{{SourceID: "s1", ContactID: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if cm, _ := s.ContactMap(ctx, "contoso", "m1"); cm["s1"].ContactID != longID+"1" {
		t.Fatal("tenants share a contact map")
	}
	if err := s.DeleteMailboxContacts(ctx, "contoso", "m1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ContactCount(ctx, "contoso", "m1"); n != 0 {
		t.Fatalf("count after delete %d", n)
	}
	if err := s.DeleteMailbox(ctx, "contoso", "m2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mailbox(ctx, "contoso", "m2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted mailbox: %v", err)
	}
	if cm, err := s.ContactMap(ctx, "contoso", "ghost"); err != nil || len(cm) != 0 {
		t.Fatalf("unknown mailbox map %v %v", cm, err)
	}
	if err := s.DeleteTenantState(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	var left int
	s.r.QueryRow("SELECT count(*) FROM contacts").Scan(&left)
	if left != 0 {
		t.Fatalf("%d contacts left after deleting the tenant state", left)
	}
}

// A run killed between BeginMailbox and SaveMailbox leaves the mailbox
// uncertain for the next process: the engine then reconciles from the marks.
func TestUncertainSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustTenant(t, s, "contoso")
	if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: "m1", Status: MailboxOK}, ContactChanges{}); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginMailbox(ctx, "contoso", "m1", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveContacts(ctx, "contoso", "m1", ContactChanges{Upserts: []ContactRef{{SourceID: "s1", ContactID: "c1"}}}); err != nil {
		t.Fatal(err)
	}
	run, err := s.BeginRun(ctx, RunSpec{Tenant: "contoso", TenantID: "tid-contoso", Trigger: TriggerSchedule, Owner: "host:1"})
	if err != nil {
		t.Fatal(err)
	}
	runID := run.ID
	// Crash: no SaveMailbox, no Finish, no Close — drop the handles the
	// way a dying process would (its file lock goes with it).
	run.stopHeartbeat()
	s.w.Close()
	s.r.Close()
	run.lock.f.Close()

	s2, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m, err := s2.Mailbox(ctx, "contoso", "m1")
	if err != nil || !m.Uncertain || m.Status != MailboxOK {
		t.Fatalf("after crash %+v %v", m, err)
	}
	if cm, _ := s2.ContactMap(ctx, "contoso", "m1"); len(cm) != 1 {
		t.Fatalf("progress saved before the crash lost: %v", cm)
	}
	// The next run starts (the dead process's lock is gone) and marks the
	// dead run interrupted.
	run2, err := s2.BeginRun(ctx, RunSpec{Tenant: "contoso", TenantID: "tid-contoso", Trigger: TriggerStartup, Owner: "host:2"})
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := s2.GetRun(ctx, runID)
	if err != nil || r.Status != RunInterrupted {
		t.Fatalf("dead run %+v %v", r, err)
	}
	m.Uncertain = false
	if err := s2.SaveMailbox(ctx, "contoso", m, ContactChanges{}); err != nil {
		t.Fatal(err)
	}
	if m, _ := s2.Mailbox(ctx, "contoso", "m1"); m.Uncertain {
		t.Fatal("uncertain not cleared")
	}
	if err := run2.Finish(ctx, RunResult{Status: RunOK}); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyWhileWriting(t *testing.T) {
	s, dir := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	ro, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.SetNextRun(ctx, "contoso", time.Now()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write through read-only store: %v", err)
	}
	if _, err := ro.BeginRun(ctx, RunSpec{Tenant: "contoso", Trigger: TriggerManual}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("run through read-only store: %v", err)
	}
	// A reader holding a snapshot open does not block the writer, and sees
	// only committed data.
	const mailboxes, perMailbox = 20, 200
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range mailboxes {
			var ch ContactChanges
			for j := range perMailbox {
				ch.Upserts = append(ch.Upserts, ContactRef{SourceID: fmt.Sprint(j), ContactID: fmt.Sprint(i, "-", j)})
			}
			if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: fmt.Sprint("m", i)}, ch); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			counts, err := ro.ContactCounts(ctx, "contoso")
			if err != nil {
				errc <- err
				return
			}
			for u, n := range counts {
				if n != perMailbox {
					errc <- fmt.Errorf("reader saw %s with %d contacts: a partial transaction", u, n)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	counts, err := ro.ContactCounts(ctx, "contoso")
	if err != nil || len(counts) != mailboxes {
		t.Fatalf("final counts %d %v", len(counts), err)
	}
}

func TestOpenReadOnlyRefusesMissingOrOldDatabase(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(t.Context(), dir); err == nil {
		t.Fatal("opened a missing database")
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("OpenReadOnly created the database")
	}
}

func TestCancelledContext(t *testing.T) {
	s, _ := openTest(t, Options{})
	mustTenant(t, s, "contoso")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.SetNextRun(ctx, "contoso", time.Now()); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with cancelled ctx: %v", err)
	}
	if _, err := s.Tenants(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with cancelled ctx: %v", err)
	}
}

// `galmirror status` with the service stopped: the WAL files are gone.
func TestReadOnlyAfterWriterClosed(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustTenant(t, s, "contoso")
	s.Close()
	ro, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ts, err := ro.Tenants(ctx)
	if err != nil || len(ts) != 1 {
		t.Fatalf("tenants %v %v", ts, err)
	}
}

// Bulk writes go in chunks of bulkChunk rows: cover full chunks, the
// remainder and deletes across chunk boundaries.
func TestBulkChunkBoundaries(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	n := 2*bulkChunk + 3
	var ch ContactChanges
	var ps []Person
	for i := range n {
		ch.Upserts = append(ch.Upserts, ContactRef{SourceID: fmt.Sprint("s", i), ContactID: fmt.Sprint("c", i), Hash: "h"})
		ps = append(ps, Person{SourceID: fmt.Sprint("s", i)})
	}
	if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: "m"}, ch); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, ps, nil, ""); err != nil {
		t.Fatal(err)
	}
	var del []string
	for i := 0; i < n; i += 2 {
		del = append(del, fmt.Sprint("s", i))
	}
	if err := s.SaveContacts(ctx, "contoso", "m", ContactChanges{Deletes: del}); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, nil, del, ""); err != nil {
		t.Fatal(err)
	}
	cm, _ := s.ContactMap(ctx, "contoso", "m")
	pc, _ := s.PersonCount(ctx, "contoso")
	if len(cm) != n-len(del) || pc != n-len(del) {
		t.Fatalf("%d contacts, %d persons left, want %d", len(cm), pc, n-len(del))
	}
	for i := 1; i < n; i += 2 {
		if cm[fmt.Sprint("s", i)].ContactID != fmt.Sprint("c", i) {
			t.Fatalf("entry s%d wrong: %+v", i, cm[fmt.Sprint("s", i)])
		}
	}
}

// Callers may nest reads (a Persons stream open while loading contact maps)
// from many goroutines at once without starving each other.
func TestNestedReadsDoNotDeadlock(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, []Person{{SourceID: "a"}, {SourceID: "b"}}, nil, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for _, err := range s.Persons(ctx, "contoso") {
				if err != nil {
					errc <- err
					return
				}
				if _, err := s.ContactMap(ctx, "contoso", "m"); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

// The database path goes into a file: URI; characters that mean something
// in a URI must not change which file is opened.
func TestOddDataDirPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Pro gram Data #1 ?x=1 %20 ü")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustTenant(t, s, "contoso")
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Tenant(t.Context(), "contoso"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("files created beside the data directory: %v", entries)
	}
}

// A mailbox's digest is saved with its state and cleared when writes begin.
func TestMailboxDigest(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	m := Mailbox{UserID: "m1", UPN: "ann@contoso.com", FolderID: "f", Status: MailboxOK, Digest: "d1"}
	if err := s.SaveMailbox(ctx, "contoso", m, ContactChanges{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Mailbox(ctx, "contoso", "m1")
	if err != nil || got.Digest != "d1" {
		t.Fatalf("saved %+v %v", got, err)
	}
	if err := s.BeginMailbox(ctx, "contoso", "m1", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Mailbox(ctx, "contoso", "m1"); got.Digest != "" || !got.Uncertain {
		t.Fatalf("after begin %+v", got)
	}
}

// A reconcile replaces the whole contact map (entries of contacts that are
// no longer in the mailbox go), and the managed folder's parent is kept.
func TestContactMapResetAndFolderParent(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	m := Mailbox{UserID: "m1", FolderID: "f", ParentFolderID: "contacts-root", Status: MailboxOK}
	if err := s.SaveMailbox(ctx, "contoso", m, ContactChanges{Upserts: []ContactRef{
		{SourceID: "a", ContactID: "ca", Hash: "h"}, {SourceID: "b", ContactID: "cb", Hash: "h"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMailbox(ctx, "contoso", m, ContactChanges{Reset: true, Upserts: []ContactRef{
		{SourceID: "b", ContactID: "cb2", Hash: "h2"}, {SourceID: "c", ContactID: "cc", Hash: "h"}}}); err != nil {
		t.Fatal(err)
	}
	cm, err := s.ContactMap(ctx, "contoso", "m1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cm) != 2 || cm["b"].ContactID != "cb2" || cm["c"].ContactID != "cc" {
		t.Fatalf("map after reset: %+v", cm)
	}
	if got, _ := s.Mailbox(ctx, "contoso", "m1"); got.ParentFolderID != "contacts-root" {
		t.Fatalf("parent folder: %+v", got)
	}
}

// The installation id is made once per state database and kept.
func TestInstallationID(t *testing.T) {
	s, dir := openTest(t, Options{})
	id, err := s.Installation(t.Context())
	if err != nil || len(id) != 32 {
		t.Fatalf("installation %q %v", id, err)
	}
	s.Close()
	s2, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if id2, _ := s2.Installation(t.Context()); id2 != id {
		t.Fatalf("reopened: %q, want %q", id2, id)
	}
	other, _ := openTest(t, Options{})
	if id3, _ := other.Installation(t.Context()); id3 == id || id3 == "" {
		t.Fatalf("another database has id %q", id3)
	}
}

// SaveMailboxes saves several mailboxes in one transaction: all of them,
// or, when one is invalid, none.
func TestSaveMailboxes(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	a := Mailbox{UserID: "m1", UPN: "a@x", FolderID: "f1", ContactsDeltaLink: "l1", Status: MailboxOK}
	b := Mailbox{UserID: "m2", UPN: "b@x", FolderID: "f2", ContactsDeltaLink: "l2", Status: MailboxOK}
	err := s.SaveMailboxes(ctx, "contoso", []MailboxSave{
		{Mailbox: a, Changes: ContactChanges{Upserts: []ContactRef{{SourceID: "s1", ContactID: "c1", Hash: "h1"}}}},
		{Mailbox: b},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Mailbox{a, b} {
		if got, err := s.Mailbox(ctx, "contoso", want.UserID); err != nil || got != want {
			t.Errorf("mailbox %s: %+v %v", want.UserID, got, err)
		}
	}
	if cm, _ := s.ContactMap(ctx, "contoso", "m1"); cm["s1"].ContactID != "c1" {
		t.Errorf("contact map %v", cm)
	}
	a.ContactsDeltaLink, b.ContactsDeltaLink = "l1b", "l2b"
	err = s.SaveMailboxes(ctx, "contoso", []MailboxSave{{Mailbox: a}, {Mailbox: b, Changes: ContactChanges{Upserts: []ContactRef{{ContactID: "c9"}}}}})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a contact without source id: %v", err)
	}
	if got, _ := s.Mailbox(ctx, "contoso", "m1"); got.ContactsDeltaLink != "l1" {
		t.Errorf("a failed transaction saved mailbox m1: %+v", got)
	}
}

// The time org contacts were last read whole: kept per tenant, forgotten
// with the tenant's state and when set to zero.
func TestOrgContactsReadAt(t *testing.T) {
	ctx := t.Context()
	s, _ := openTest(t, Options{})
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := s.SetOrgContactsReadAt(ctx, "contoso", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	for _, n := range []string{"contoso", "fabrikam"} {
		if err := s.ensureTenantForTest(ctx, n, "t-"+n); err != nil {
			t.Fatal(err)
		}
	}
	readAt := func(n string) time.Time {
		t.Helper()
		ts, err := s.Tenant(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return ts.OrgContactsReadAt
	}
	if !readAt("contoso").IsZero() {
		t.Fatal("a new tenant has a read time")
	}
	if err := s.SetOrgContactsReadAt(ctx, "contoso", at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOrgContactsReadAt(ctx, "fabrikam", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := readAt("contoso"); !got.Equal(at) {
		t.Fatalf("read at %v, want %v", got, at)
	}
	all, err := s.Tenants(ctx)
	if err != nil || len(all) != 2 || !all[1].OrgContactsReadAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("tenants %+v %v", all, err)
	}
	if err := s.SetOrgContactsReadAt(ctx, "contoso", time.Time{}); err != nil || !readAt("contoso").IsZero() {
		t.Fatalf("zero kept a read time: %v", err)
	}
	if err := s.DeleteTenantState(ctx, "fabrikam"); err != nil || !readAt("fabrikam").IsZero() {
		t.Fatalf("tenant state deleted, read time kept: %v", err)
	}
	if err := s.SetOrgContactsReadAt(ctx, "contoso", at); err != nil {
		t.Fatal(err)
	}
	run, err := s.BeginRun(ctx, RunSpec{Tenant: "contoso", TenantID: "another", Trigger: TriggerManual})
	if err != nil || !run.Reset || !readAt("contoso").IsZero() {
		t.Fatalf("another tenant id kept the read time: %v", err)
	}
	if err := run.Finish(ctx, RunResult{Status: RunOK}); err != nil {
		t.Fatal(err)
	}
}

// ContactsFor loads only the named sources' entries; the desired digest is
// kept per tenant and cleared with its state.
func TestContactsForAndDesiredDigest(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	if got, err := s.ContactsFor(ctx, "contoso", "m1", []string{"s1"}); err != nil || len(got) != 0 {
		t.Fatalf("unknown mailbox: %v %v", got, err)
	}
	var ups []ContactRef
	var ask []string
	for i := range 1200 {
		sid := fmt.Sprintf("s%d", i)
		ups = append(ups, ContactRef{SourceID: sid, ContactID: "c" + sid, Hash: "h"})
		if i%2 == 0 {
			ask = append(ask, sid)
		}
	}
	if err := s.SaveMailbox(ctx, "contoso", Mailbox{UserID: "m1", Status: MailboxOK}, ContactChanges{Upserts: ups}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ContactsFor(ctx, "contoso", "m1", append(ask, "nope"))
	if err != nil || len(got) != 600 || got["s1198"].ContactID != "cs1198" {
		t.Fatalf("got %d entries, %v", len(got), err)
	}
	if err := s.SetDesiredDigest(ctx, "contoso", "d1"); err != nil {
		t.Fatal(err)
	}
	if ts, _ := s.Tenant(ctx, "contoso"); ts.DesiredDigest != "d1" {
		t.Fatalf("digest %q", ts.DesiredDigest)
	}
	run, err := s.BeginRun(ctx, RunSpec{Tenant: "contoso", TenantID: "another", Trigger: TriggerManual})
	if err != nil || !run.Reset {
		t.Fatal(err)
	}
	if err := run.Finish(ctx, RunResult{Status: RunOK}); err != nil {
		t.Fatal(err)
	}
	if ts, _ := s.Tenant(ctx, "contoso"); ts.DesiredDigest != "" {
		t.Fatalf("digest kept after the tenant id changed: %q", ts.DesiredDigest)
	}
}

// The keyIds of renewed certificates survive a reopen and can be forgotten.
func TestAppKeyIDs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := st.AppKeyID(ctx, "contoso", "ab12"); err != nil || id != "" {
		t.Fatalf("unknown key: %q %v", id, err)
	}
	if err := st.SetAppKeyID(ctx, "contoso", "ab12", "11111111-2222-3333-4444-555555555555"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if id, _ := st.AppKeyID(ctx, "contoso", "AB12"); id != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("after reopen: %q", id)
	}
	if id, _ := st.AppKeyID(ctx, "fabrikam", "AB12"); id != "" {
		t.Errorf("another tenant sees it: %q", id)
	}
	if err := st.SetAppKeyID(ctx, "contoso", "ab12", ""); err != nil {
		t.Fatal(err)
	}
	if id, _ := st.AppKeyID(ctx, "contoso", "ab12"); id != "" {
		t.Errorf("after forgetting: %q", id)
	}
}

// Mail groups have no delta link: their resync and pages replace the
// groups and leave the users' and org contacts' links alone.
func TestGroupPersonsHaveNoDeltaLink(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustTenant(t, s, "contoso")
	if err := s.ApplyPersonDelta(ctx, "contoso", KindUser, []Person{{SourceID: "u"}}, nil, "users-link"); err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginPersonResync(ctx, "contoso", KindGroup)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(ctx, []Person{{SourceID: "g1", Enabled: true, HasMail: true}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx, "ignored"); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyPersonDelta(ctx, "contoso", KindGroup, []Person{{SourceID: "g2"}}, nil, "ignored"); err != nil {
		t.Fatal(err)
	}
	ts, err := s.Tenant(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	if ts.UsersDeltaLink != "users-link" || ts.OrgContactsDeltaLink != "" {
		t.Fatalf("delta links %q, %q", ts.UsersDeltaLink, ts.OrgContactsDeltaLink)
	}
	if got := ids(collect(t, s, "contoso")); !slices.Equal(got, []string{"g1", "g2", "u"}) {
		t.Fatalf("persons %v", got)
	}
}
