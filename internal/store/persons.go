package store

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
)

// PersonKind says which directory collection a person came from; each kind
// has its own delta link.
type PersonKind string

// Person kinds.
const (
	KindUser       PersonKind = "user"       // users/delta
	KindOrgContact PersonKind = "orgContact" // contacts/delta (organizational contacts)
	KindGroup      PersonKind = "group"      // mail-enabled groups, read whole every run (no delta link)
)

func (k PersonKind) valid() bool { return k == KindUser || k == KindOrgContact || k == KindGroup }

// deltaColumn is the tenants column of the kind's delta link; "" for a
// kind without one.
func (k PersonKind) deltaColumn() string {
	switch k {
	case KindOrgContact:
		return "org_contacts_delta_link"
	case KindGroup:
		return ""
	}
	return "users_delta_link"
}

// Person is a directory entry as last read from the source. Data is opaque to
// the store (the directory package's JSON); the other fields are columns so
// that sources can be selected without decoding Data.
type Person struct {
	// SourceID is the directory object id.
	SourceID string
	Kind     PersonKind
	// Enabled is accountEnabled (true for org contacts).
	Enabled bool
	// UserType is "Member" or "Guest" for users, "" for org contacts.
	UserType string
	// HasMail reports a non-empty mail address.
	HasMail bool
	Data    []byte
}

// ApplyPersonDelta applies one users/delta or contacts/delta page in one
// transaction: upserts by SourceID (their Kind must be kind or empty), then
// deletes (source ids; unknown ids are ignored). When deltaLink is not empty
// (the last page) it is stored as the kind's delta link in the same
// transaction, so a crash between pages resumes from the previous link and
// re-applies idempotently. ErrNotFound for an unknown tenant.
func (s *Store) ApplyPersonDelta(ctx context.Context, tenant string, kind PersonKind, upserts []Person, deletes []string, deltaLink string) error {
	if !kind.valid() {
		return fmt.Errorf("%w: person kind %q", ErrInvalidArgument, kind)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := tenantID(ctx, tx, tenant)
		if err != nil {
			return err
		}
		if err := insertPersons(ctx, tx, "INSERT INTO persons (tenant, source_id, kind, enabled, user_type, has_mail, data) VALUES ",
			` ON CONFLICT (tenant, source_id) DO UPDATE SET kind = excluded.kind, enabled = excluded.enabled,
				user_type = excluded.user_type, has_mail = excluded.has_mail, data = excluded.data`, id, kind, upserts); err != nil {
			return err
		}
		if err := bulkExec(ctx, tx, "DELETE FROM persons WHERE (tenant, source_id) IN (VALUES ", "(?, ?)", ")",
			len(deletes), func(i int) []any { return []any{id, deletes[i]} }); err != nil {
			return err
		}
		if deltaLink != "" && kind.deltaColumn() != "" {
			_, err = tx.ExecContext(ctx, "UPDATE tenants SET "+kind.deltaColumn()+" = ? WHERE id = ?", deltaLink, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: apply %s delta for %q: %w", kind, tenant, err)
	}
	return nil
}

// insertPersons runs head + VALUES rows + tail (columns tenant, source_id,
// kind, enabled, user_type, has_mail, data) for every person.
func insertPersons(ctx context.Context, tx *sql.Tx, head, tail string, tenant int64, kind PersonKind, ps []Person) error {
	for _, p := range ps {
		if p.Kind != "" && p.Kind != kind {
			return fmt.Errorf("%w: person %s has kind %q in a %q page", ErrInvalidArgument, p.SourceID, p.Kind, kind)
		}
		if p.SourceID == "" {
			return fmt.Errorf("%w: person without source id", ErrInvalidArgument)
		}
	}
	return bulkExec(ctx, tx, head, "(?, ?, ?, ?, ?, ?, ?)", tail, len(ps), func(i int) []any {
		p := &ps[i]
		data := p.Data
		if data == nil {
			data = []byte{}
		}
		return []any{tenant, p.SourceID, kind, b2i(p.Enabled), p.UserType, b2i(p.HasMail), data}
	})
}

// PersonResync replaces a tenant's persons of one kind by a full read (first
// read, or after a 410 on the delta link). Pages are staged with Add; the
// current set stays visible and unchanged until Commit swaps in the staged
// set and the new delta link in one transaction. Abort (or a crash) discards
// the staged rows. A PersonResync is used by one goroutine.
type PersonResync struct {
	s      *Store
	tenant string
	id     int64
	kind   PersonKind
	done   bool
}

// BeginPersonResync starts a full resync of the tenant's persons of kind,
// discarding rows staged by an earlier resync that never committed.
// ErrNotFound for an unknown tenant.
func (s *Store) BeginPersonResync(ctx context.Context, tenant string, kind PersonKind) (*PersonResync, error) {
	if !kind.valid() {
		return nil, fmt.Errorf("%w: person kind %q", ErrInvalidArgument, kind)
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if id, err = tenantID(ctx, tx, tenant); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM persons_staging WHERE tenant = ? AND kind = ?", id, kind)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: begin %s resync for %q: %w", kind, tenant, err)
	}
	return &PersonResync{s: s, tenant: tenant, id: id, kind: kind}, nil
}

// Add stages one page of persons (a person repeated across pages keeps its
// last version).
func (r *PersonResync) Add(ctx context.Context, persons []Person) error {
	if r.done {
		return fmt.Errorf("%w: resync already finished", ErrInvalidArgument)
	}
	err := r.s.write(ctx, func(tx *sql.Tx) error {
		return insertPersons(ctx, tx, "INSERT OR REPLACE INTO persons_staging (tenant, source_id, kind, enabled, user_type, has_mail, data) VALUES ",
			"", r.id, r.kind, persons)
	})
	if err != nil {
		return fmt.Errorf("store: stage %s resync for %q: %w", r.kind, r.tenant, err)
	}
	return nil
}

// Commit replaces the tenant's persons of this kind by the staged set and
// stores deltaLink, atomically.
func (r *PersonResync) Commit(ctx context.Context, deltaLink string) error {
	if r.done {
		return fmt.Errorf("%w: resync already finished", ErrInvalidArgument)
	}
	err := r.s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			"DELETE FROM persons WHERE tenant = ?1 AND kind = ?2",
			`INSERT OR REPLACE INTO persons (tenant, source_id, kind, enabled, user_type, has_mail, data)
				SELECT tenant, source_id, kind, enabled, user_type, has_mail, data FROM persons_staging
				WHERE tenant = ?1 AND kind = ?2`,
			"DELETE FROM persons_staging WHERE tenant = ?1 AND kind = ?2",
		} {
			if _, err := tx.ExecContext(ctx, q, r.id, r.kind); err != nil {
				return err
			}
		}
		if r.kind.deltaColumn() == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, "UPDATE tenants SET "+r.kind.deltaColumn()+" = ? WHERE id = ?", deltaLink, r.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: commit %s resync for %q: %w", r.kind, r.tenant, err)
	}
	r.done = true
	return nil
}

// Abort discards the staged rows. It is a no-op after Commit or Abort, so it
// can be deferred. It works even when ctx is cancelled (the usual reason to
// abort).
func (r *PersonResync) Abort(ctx context.Context) error {
	if r.done {
		return nil
	}
	r.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWriteTimeout)
	defer cancel()
	err := r.s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM persons_staging WHERE tenant = ? AND kind = ?", r.id, r.kind)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: abort %s resync for %q: %w", r.kind, r.tenant, err)
	}
	return nil
}

// Persons streams the tenant's persons (all kinds), ordered by source id,
// from one read transaction (a consistent snapshot). The sequence yields an
// error at most once, last; stopping early is fine. An unknown tenant has
// none.
func (s *Store) Persons(ctx context.Context, tenant string) iter.Seq2[Person, error] {
	return func(yield func(Person, error) bool) {
		rows, err := s.r.QueryContext(ctx, `SELECT p.source_id, p.kind, p.enabled, p.user_type, p.has_mail, p.data
			FROM persons p WHERE p.tenant = (SELECT id FROM tenants WHERE name = ?) ORDER BY p.source_id`, tenant)
		if err != nil {
			yield(Person{}, fmt.Errorf("store: persons of %q: %w", tenant, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var p Person
			if err := rows.Scan(&p.SourceID, &p.Kind, &p.Enabled, &p.UserType, &p.HasMail, &p.Data); err != nil {
				yield(Person{}, fmt.Errorf("store: persons of %q: %w", tenant, err))
				return
			}
			if !yield(p, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Person{}, fmt.Errorf("store: persons of %q: %w", tenant, err))
		}
	}
}

// PersonCount returns how many persons of the tenant are stored.
func (s *Store) PersonCount(ctx context.Context, tenant string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM persons WHERE tenant = (SELECT id FROM tenants WHERE name = ?)", tenant).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count persons of %q: %w", tenant, err)
	}
	return n, nil
}
