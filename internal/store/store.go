// Package store keeps galmirror's state in one SQLite database per data
// directory (FileName): per tenant the directory as last read and its delta
// links, per mailbox the managed folder, contacts delta link and the map
// source id → contact id + hash, and the history of runs and events.
//
// It uses modernc.org/sqlite (pure Go: Windows builds need no cgo) in WAL
// mode. One process writes at a time through a single connection with
// immediate transactions; readers (including `galmirror status` in another
// process while the service runs, see OpenReadOnly) never block it.
//
// Every method takes a context and honours its cancellation. Times are stored
// as Unix milliseconds in UTC; the zero time.Time is stored as NULL and read
// back as the zero time.
package store

import (
	"context"
	"database/sql"
	"errors"
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
	// (the service has not started with this version yet).
	ErrSchemaTooOld = errors.New("store: database schema is older than this galmirror")
	// ErrTenantBusy: StartRun found a live run of the same tenant (in this
	// or another process). See *BusyError.
	ErrTenantBusy = errors.New("store: tenant has a run in progress")
)

// Options tune retention. The zero value of a field means its default.
type Options struct {
	// KeepRuns is how many runs per tenant are kept (default 5000).
	KeepRuns int
	// KeepRunMailboxes is how many of a tenant's most recent runs keep
	// their per-mailbox outcomes (default 200); older runs keep only
	// their summary.
	KeepRunMailboxes int
	// KeepEvents is how many events are kept (default 10000).
	KeepEvents int
}

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
	return o
}

// Store is an open state database. It is safe for concurrent use.
type Store struct {
	path     string
	w        *sql.DB // nil when read-only; one connection
	r        *sql.DB // readers
	readOnly bool
	opts     Options
}

// Open opens (creating if needed) the database in dataDir and migrates it
// to the current schema. dataDir must exist.
func Open(ctx context.Context, dataDir string, opts Options) (*Store, error) {
	return nil, errors.New("store: not implemented yet")
}

// OpenReadOnly opens an existing database for reading, for `galmirror
// status` while the service runs. It never creates or migrates the file; a
// database at another schema version returns ErrSchemaTooOld or
// ErrSchemaTooNew.
func OpenReadOnly(ctx context.Context, dataDir string) (*Store, error) {
	return nil, errors.New("store: not implemented yet")
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	var err error
	if s.w != nil {
		err = s.w.Close()
	}
	return errors.Join(err, s.r.Close())
}

var errNotYet = errors.New("store: not implemented yet")
