// Package store keeps galmirror's state in one SQLite database per data
// directory (FileName): per tenant the directory as last read and its delta
// links, per mailbox the managed folder, contacts delta link and the map
// source id → contact id + hash, and the history of runs and events.
//
// It uses modernc.org/sqlite (pure Go: Windows builds need no cgo) in WAL
// mode with synchronous=NORMAL: a committed transaction survives the
// process being killed at any point; a power loss may roll back the last
// transactions. That is safe because the state is a cache of what the
// mailboxes themselves record: a lost contact-map entry or uncertain mark
// is recovered from the contacts' own marks (contacts delta adopts marked
// contacts it does not know; a lost folder id means a reconcile), and a
// lost delta link means reading again. FULL would fsync on every commit,
// and a run commits once per mailbox: 1,000 mailboxes at ~10 ms an fsync
// is ten seconds of a no-change run spent waiting for the disk. Writes go through a single
// connection with immediate transactions; readers (including `galmirror
// status` in another process while the service runs, see OpenReadOnly) never
// block it and see committed data only.
//
// Every method takes a context and honours its cancellation, except
// ActiveRun.Finish's final write (see there). Times are stored as Unix milliseconds
// in UTC; the zero time.Time is stored as NULL and read back as the zero time.
//
// Typical use by a tenant run:
//
//	st, _ := store.Open(ctx, cfg.DataDir, store.Options{})
//	defer st.Close()
//	run, err := st.BeginRun(ctx, store.RunSpec{Tenant: "contoso", TenantID: tenantID, Trigger: store.TriggerSchedule, Owner: owner})
//	// directory: ApplyPersonDelta per users/delta page, or BeginPersonResync/Add/Commit
//	// per mailbox: BeginMailbox → ContactMap → writes → SaveMailbox
//	err = run.Finish(ctx, store.RunResult{...})
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/galmirror/galmirror/internal/fsperm"
)

// FileName is the database's file name inside the data directory.
const FileName = "galmirror.db"

// Errors returned by the store; test with errors.Is.
var (
	// ErrNotFound: the tenant, mailbox, contact or run does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrReadOnly: a write through a store opened with OpenReadOnly.
	ErrReadOnly = errors.New("store: opened read-only")
	// ErrInvalidPageToken: a page token that ListRuns did not issue for
	// this query.
	ErrInvalidPageToken = errors.New("store: invalid page token")
	// ErrSchemaTooNew: the database was written by a newer galmirror.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this galmirror")
	// ErrSchemaTooOld: OpenReadOnly found a database that needs migrating
	// (no galmirror of this version has opened it for writing yet).
	ErrSchemaTooOld = errors.New("store: database schema is older than this galmirror")
	// ErrTenantBusy: BeginRun found a run of the same tenant in progress
	// in this or another process. See *BusyError.
	ErrTenantBusy = errors.New("store: tenant has a run in progress")
	// ErrPurged: BeginRun of a tenant `galmirror purge` removed. See
	// *PurgedError.
	ErrPurged = errors.New("store: tenant purged")
	// ErrInvalidArgument: a value the store refuses (such as an event id
	// outside 1..1000 or an unknown run status).
	ErrInvalidArgument = errors.New("store: invalid argument")
)

// Options tune retention. The zero value of a field means its default.
type Options struct {
	// KeepRuns is how many runs per tenant are kept (default 5000).
	KeepRuns int
	// KeepRunMailboxes is how many of a tenant's most recent runs keep
	// their per-mailbox outcomes (default 200); older runs keep only
	// their summary.
	KeepRunMailboxes int
	// KeepEvents is how many ordinary events (all but the admin audit
	// trail) are kept (default 10000).
	KeepEvents int

	// The admin audit trail, events 600 (operator actions), 601 (denied
	// calls) and 602 (failed authentication), has a retention of its own
	// that ordinary events do not use up: an audit event is kept while
	// it is one of the newest KeepAuditEvents audit events (default 10000)
	// or younger than KeepAuditAge (default 90 days), as long as there
	// are no more than MaxAuditEvents (default 100000, at least
	// KeepAuditEvents). Beyond that cap the oldest 601 and 602 events go
	// first; an operator action (600) is given up only when no other
	// audit event is left, so a flood of denied calls or failed logins
	// cannot push operator actions out.
	KeepAuditEvents int
	KeepAuditAge    time.Duration
	MaxAuditEvents  int

	// Now is the store's clock (default time.Now): the day RecordUsage
	// books a run on, and the age of audit events.
	Now func() time.Time
}

// Default retention of the admin audit trail.
const (
	DefaultKeepAuditEvents = 10000
	DefaultKeepAuditAge    = 90 * 24 * time.Hour
	DefaultMaxAuditEvents  = 100000
)

func (o Options) withDefaults() Options {
	if o.KeepRuns <= 0 {
		o.KeepRuns = 5000
	}
	if o.KeepRunMailboxes <= 0 {
		o.KeepRunMailboxes = 200
	}
	if o.KeepEvents <= 0 {
		o.KeepEvents = 10000
	}
	if o.KeepAuditEvents <= 0 {
		o.KeepAuditEvents = DefaultKeepAuditEvents
	}
	if o.KeepAuditAge <= 0 {
		o.KeepAuditAge = DefaultKeepAuditAge
	}
	if o.MaxAuditEvents <= 0 {
		o.MaxAuditEvents = DefaultMaxAuditEvents
	}
	o.MaxAuditEvents = max(o.MaxAuditEvents, o.KeepAuditEvents)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is an open state database. It is safe for concurrent use.
type Store struct {
	path string
	dir  string
	w    *sql.DB // nil when read-only; one connection
	r    *sql.DB // readers
	// mailboxReads bounds the per-mailbox reads (a run's thousands of
	// mailbox readers ask at once): beyond the idle connections kept,
	// each extra query opened a connection and closed it after.
	mailboxReads chan struct{}
	opts         Options

	mu     sync.Mutex
	runs   map[int64]*ActiveRun // begun, not finished
	closed bool

	now func() time.Time // Options.Now
	// auditAgeTrimmed is when AppendEvent last removed audit events by
	// age; guarded by the writer (one connection, one transaction).
	auditAgeTrimmed time.Time
}

//go:embed sql/migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order; their numbers must be
// 1, 2, 3, ...
func migrations() ([]migration, error) {
	ents, err := fs.ReadDir(migrationFS, "sql/migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "-")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: bad migration file name %q", e.Name())
		}
		b, err := migrationFS.ReadFile("sql/migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %s: expected number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this galmirror writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // embedded at build time; migrations_test.go keeps it valid
	}
	return len(ms)
}

// dsn builds a file: URI (so SQLite sees mode=ro) with the driver's
// parameters.
func dsn(path string, params ...string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // file:///C:/dir/galmirror.db
	}
	u := url.URL{Scheme: "file", Path: p, OmitHost: false}
	return u.String() + "?" + strings.Join(params, "&")
}

const busyTimeoutMS = "10000"

// Open opens (creating if needed) the database in dataDir and migrates it
// to the current schema. dataDir is created private if missing (mode 0700;
// on Windows a protected DACL, see package fsperm) and refused if it is not
// private: whoever can write to it could plant a database or a -wal file.
// A new database file is created readable by its owner only (it holds the
// directory's personal data).
func Open(ctx context.Context, dataDir string, opts Options) (*Store, error) {
	return open(ctx, dataDir, opts, SchemaVersion())
}

// open migrates up to version upTo; tests use it to build older databases.
func open(ctx context.Context, dataDir string, opts Options, upTo int) (*Store, error) {
	// The data directory is created on first use (an MSP points dataDir at
	// a new path and expects it to appear), private to the service: it
	// holds the tenants' state.
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	if err := fsperm.MkdirPrivate(abs); err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	path, err := dbPath(abs)
	if err != nil {
		return nil, err
	}
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("store: create %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn(path,
		"_pragma=busy_timeout("+busyTimeoutMS+")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One writer: SQLite allows one anyway, and queuing in database/sql
	// (context-aware) beats spinning on SQLITE_BUSY.
	w.SetMaxOpenConns(1)
	if err := migrate(ctx, w, upTo); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	r, err := openReader(path)
	if err != nil {
		w.Close()
		return nil, err
	}
	opts = opts.withDefaults()
	return &Store{path: path, dir: filepath.Dir(path), w: w, r: r, mailboxReads: newReadSlots(), opts: opts, runs: map[int64]*ActiveRun{}, now: opts.Now}, nil
}

// Installation returns this state database's installation id: random,
// made once when the database was created, and lost with it.
func (s *Store) Installation(ctx context.Context) (string, error) {
	var id string
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'installation'`).Scan(&id); err != nil {
		return "", fmt.Errorf("store: installation id: %w", err)
	}
	return id, nil
}

func dbPath(dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("store: data directory: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("store: data directory: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("store: data directory %s is not a directory", abs)
	}
	return filepath.Join(abs, FileName), nil
}

func openReader(path string) (*sql.DB, error) {
	r, err := sql.Open("sqlite", dsn(path,
		"mode=ro",
		"_pragma=busy_timeout("+busyTimeoutMS+")",
		"_query_only=1",
		// 512 KiB of page cache per reader, not SQLite's 2 MB: dozens of
		// readers stay open through a run, and their caches are memory
		// outside Go's heap (the OS caches the file anyway).
		"_pragma=cache_size(-512)"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// No cap on readers: a caller may hold one open (streaming Persons)
	// while asking for another (ContactMap), and a cap would let a few such
	// workers deadlock each other. Readers are cheap in WAL mode.
	// Keep idle at least as many as the per-mailbox reads that run at once
	// (newReadSlots): with a handful, most queries closed a connection and
	// opened another (each opening reads the schema again), a sixth of a
	// 1% run's CPU. Idle ones close after a minute.
	r.SetMaxIdleConns(readSlots() + 4)
	r.SetConnMaxIdleTime(time.Minute)
	return r, nil
}

// readSlots is how many per-mailbox reads run at once: the reads are CPU
// work in this process (modernc SQLite), so a few per CPU keep it busy.
func readSlots() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

func newReadSlots() chan struct{} { return make(chan struct{}, readSlots()) }

// mailboxRead takes a per-mailbox read slot; the caller calls the release
// returned when done. It returns ctx's error if ctx ends first.
func (s *Store) mailboxRead(ctx context.Context) (func(), error) {
	select {
	case s.mailboxReads <- struct{}{}:
		return func() { <-s.mailboxReads }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// OpenReadOnly opens an existing database for reading, for `galmirror
// status` while the service runs. It never creates or migrates the file; a
// database at another schema version returns ErrSchemaTooOld or
// ErrSchemaTooNew. Writes return ErrReadOnly.
func OpenReadOnly(ctx context.Context, dataDir string) (*Store, error) {
	path, err := dbPath(dataDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	r, err := openReader(path)
	if err != nil {
		return nil, err
	}
	var v int
	if err := r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		r.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	switch want := SchemaVersion(); {
	case v > want:
		r.Close()
		return nil, fmt.Errorf("%w: %s is at version %d, this galmirror knows %d", ErrSchemaTooNew, path, v, want)
	case v < want:
		r.Close()
		return nil, fmt.Errorf("%w: %s is at version %d, this galmirror needs %d", ErrSchemaTooOld, path, v, want)
	}
	return &Store{path: path, dir: filepath.Dir(path), r: r, mailboxReads: newReadSlots(), opts: Options{}.withDefaults(), runs: map[int64]*ActiveRun{}, now: time.Now}, nil
}

// migrate brings the database to version upTo, one transaction per
// migration, so a failure leaves it at the last complete version.
func migrate(ctx context.Context, db *sql.DB, upTo int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(ms) {
		return fmt.Errorf("%w: database is at version %d, this galmirror knows %d", ErrSchemaTooNew, v, len(ms))
	}
	for _, m := range ms[v:min(upTo, len(ms))] {
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// write runs fn in an immediate transaction on the writer.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.w == nil {
		return ErrReadOnly
	}
	return inTx(ctx, s.w, fn)
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close ends the heartbeats of runs not finished, releases their locks
// (their history stays "running" until the tenant's next run marks them
// interrupted) and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	runs := s.runs
	s.runs = map[int64]*ActiveRun{}
	s.mu.Unlock()
	for _, a := range runs {
		a.stopHeartbeat()
		a.unlock()
	}
	var err error
	if s.w != nil {
		err = s.w.Close()
	}
	return errors.Join(err, s.r.Close())
}

// ms converts a time to the stored form.
func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tenantID resolves a tenant name inside a transaction.
func tenantID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, "SELECT id FROM tenants WHERE name = ?", name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	return id, err
}

// ensureTenantRow returns the tenant's id, creating its row if missing.
func ensureTenantRow(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	if _, err := tx.ExecContext(ctx, "INSERT INTO tenants (name) VALUES (?) ON CONFLICT (name) DO NOTHING", name); err != nil {
		return 0, err
	}
	return tenantID(ctx, tx, name)
}
