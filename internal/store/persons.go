package store

import (
	"context"
	"iter"
)

// PersonKind says which directory collection a person came from; each kind
// has its own delta link.
type PersonKind string

// Person kinds.
const (
	KindUser       PersonKind = "user"       // users/delta
	KindOrgContact PersonKind = "orgContact" // contacts/delta (organizational contacts)
)

// Person is a directory entry as last read from the source. Data is opaque to
// the store (the directory package's JSON); the other fields are columns so
// that sources can be selected without decoding Data.
type Person struct {
	// SourceID is the directory object id.
	SourceID string
	Kind     PersonKind
	// Enabled is accountEnabled (always true for org contacts).
	Enabled bool
	// UserType is "Member" or "Guest" for users, "" for org contacts.
	UserType string
	// HasMail reports a non-empty mail address.
	HasMail bool
	Data    []byte
}

// ApplyPersonDelta applies one users/delta or contacts/delta page in one
// transaction: upserts by SourceID, then deletes (source ids; unknown ids are
// ignored). When deltaLink is not empty (the last page) it is stored as the
// kind's delta link in the same transaction, so a crash between pages
// resumes from the previous link and re-applies idempotently.
func (s *Store) ApplyPersonDelta(ctx context.Context, tenant string, kind PersonKind, upserts []Person, deletes []string, deltaLink string) error {
	return errNotYet
}

// PersonResync replaces a tenant's persons of one kind by a full read (first
// read, or after a 410 on the delta link). Pages are staged with Add; the
// current set stays visible and unchanged until Commit swaps in the staged
// set and the new delta link in one transaction. Abort (or a crash) discards
// the staged rows. A PersonResync is used by one goroutine.
type PersonResync struct {
	s      *Store
	tenant string
	kind   PersonKind
	done   bool
}

// BeginPersonResync starts a full resync of the tenant's persons of kind,
// discarding rows staged by an earlier resync that never committed.
func (s *Store) BeginPersonResync(ctx context.Context, tenant string, kind PersonKind) (*PersonResync, error) {
	return nil, errNotYet
}

// Add stages one page of persons.
func (r *PersonResync) Add(ctx context.Context, persons []Person) error { return errNotYet }

// Commit replaces the tenant's persons of this kind by the staged set and
// stores deltaLink, atomically.
func (r *PersonResync) Commit(ctx context.Context, deltaLink string) error { return errNotYet }

// Abort discards the staged rows. It is a no-op after Commit, so it can be
// deferred.
func (r *PersonResync) Abort(ctx context.Context) error { return errNotYet }

// Persons streams the tenant's persons (all kinds), ordered by source id. The
// sequence yields an error at most once, last; stopping early is fine.
func (s *Store) Persons(ctx context.Context, tenant string) iter.Seq2[Person, error] {
	return func(yield func(Person, error) bool) { yield(Person{}, errNotYet) }
}

// PersonCount returns how many persons of the tenant are stored.
func (s *Store) PersonCount(ctx context.Context, tenant string) (int, error) { return 0, errNotYet }
