package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// ContactRef maps a source person to the managed contact in one mailbox.
type ContactRef struct {
	SourceID  string
	ContactID string
	// Hash is the galmirror.hash mark written with the contact.
	Hash      string
	ChangeKey string
}

// ContactChanges are changes to one mailbox's contact map.
type ContactChanges struct {
	// Reset empties the map first: the upserts are then the whole map (a
	// reconcile read every managed contact from the mailbox itself).
	Reset bool
	// Upserts by SourceID.
	Upserts []ContactRef
	// Deletes are source ids; unknown ones are ignored.
	Deletes []string
}

// contactKey is the indexed stand-in for a contact id.
func contactKey(contactID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(contactID))
	return int64(h.Sum64())
}

func applyContactChanges(ctx context.Context, tx *sql.Tx, mailbox int64, c ContactChanges) error {
	for _, u := range c.Upserts {
		if u.SourceID == "" {
			return fmt.Errorf("%w: contact map entry without source id", ErrInvalidArgument)
		}
	}
	if c.Reset {
		if _, err := tx.ExecContext(ctx, `DELETE FROM contacts WHERE mailbox = ?`, mailbox); err != nil {
			return err
		}
	}
	err := bulkExec(ctx, tx, "INSERT INTO contacts (mailbox, source_id, contact_id, contact_key, hash, change_key) VALUES ",
		"(?, ?, ?, ?, ?, ?)", ` ON CONFLICT (mailbox, source_id) DO UPDATE SET contact_id = excluded.contact_id,
			contact_key = excluded.contact_key, hash = excluded.hash, change_key = excluded.change_key`,
		len(c.Upserts), func(i int) []any {
			u := &c.Upserts[i]
			return []any{mailbox, u.SourceID, u.ContactID, contactKey(u.ContactID), u.Hash, u.ChangeKey}
		})
	if err != nil {
		return err
	}
	return bulkExec(ctx, tx, "DELETE FROM contacts WHERE (mailbox, source_id) IN (VALUES ", "(?, ?)", ")",
		len(c.Deletes), func(i int) []any { return []any{mailbox, c.Deletes[i]} })
}

const mailboxSubquery = `(SELECT m.id FROM mailboxes m JOIN tenants t ON t.id = m.tenant WHERE t.name = ? AND m.user_id = ?)`

// ContactMap loads a mailbox's whole contact map, keyed by source id, in one
// query. An unknown mailbox has an empty map.
func (s *Store) ContactMap(ctx context.Context, tenant, userID string) (map[string]ContactRef, error) {
	release, err := s.mailboxRead(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := s.r.QueryContext(ctx, `SELECT source_id, contact_id, hash, change_key FROM contacts
		WHERE mailbox = `+mailboxSubquery, tenant, userID)
	if err != nil {
		return nil, fmt.Errorf("store: contact map of %s in %q: %w", userID, tenant, err)
	}
	defer rows.Close()
	m := make(map[string]ContactRef)
	for rows.Next() {
		var c ContactRef
		if err := rows.Scan(&c.SourceID, &c.ContactID, &c.Hash, &c.ChangeKey); err != nil {
			return nil, fmt.Errorf("store: contact map of %s in %q: %w", userID, tenant, err)
		}
		m[c.SourceID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: contact map of %s in %q: %w", userID, tenant, err)
	}
	return m, nil
}

// ContactsFor loads the contact map entries of some sources of a mailbox
// (those it has), keyed by source id.
func (s *Store) ContactsFor(ctx context.Context, tenant, userID string, sourceIDs []string) (map[string]ContactRef, error) {
	release, err := s.mailboxRead(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	m := make(map[string]ContactRef, len(sourceIDs))
	var id int64
	err = s.r.QueryRowContext(ctx, "SELECT id FROM mailboxes WHERE id = "+mailboxSubquery, tenant, userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || len(sourceIDs) == 0 {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: contacts of %s in %q: %w", userID, tenant, err)
	}
	const chunk = 500
	for start := 0; start < len(sourceIDs); start += chunk {
		part := sourceIDs[start:min(start+chunk, len(sourceIDs))]
		args := make([]any, 0, len(part)+1)
		args = append(args, id)
		q := "SELECT source_id, contact_id, hash, change_key FROM contacts WHERE mailbox = ? AND source_id IN (?" + strings.Repeat(",?", len(part)-1) + ")"
		for _, sid := range part {
			args = append(args, sid)
		}
		if err := s.scanRefs(ctx, m, q, args...); err != nil {
			return nil, fmt.Errorf("store: contacts of %s in %q: %w", userID, tenant, err)
		}
	}
	return m, nil
}

func (s *Store) scanRefs(ctx context.Context, into map[string]ContactRef, q string, args ...any) error {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c ContactRef
		if err := rows.Scan(&c.SourceID, &c.ContactID, &c.Hash, &c.ChangeKey); err != nil {
			return err
		}
		into[c.SourceID] = c
	}
	return rows.Err()
}

// SaveContacts applies contact map changes for one mailbox in one
// transaction, without touching the mailbox's other state (for saving
// progress during a long mailbox). ErrNotFound unless the mailbox exists
// (BeginMailbox creates it).
func (s *Store) SaveContacts(ctx context.Context, tenant, userID string, changes ContactChanges) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := mailboxID(ctx, tx, tenant, userID)
		if err != nil {
			return err
		}
		return applyContactChanges(ctx, tx, id, changes)
	})
	if err != nil {
		return fmt.Errorf("store: save contacts of %s in %q: %w", userID, tenant, err)
	}
	return nil
}

// ContactCount returns the number of mapped contacts in a mailbox.
func (s *Store) ContactCount(ctx context.Context, tenant, userID string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM contacts WHERE mailbox = "+mailboxSubquery, tenant, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count contacts of %s in %q: %w", userID, tenant, err)
	}
	return n, nil
}

// ContactCounts returns the number of mapped contacts per mailbox user id
// (mailboxes without contacts included, with 0).
func (s *Store) ContactCounts(ctx context.Context, tenant string) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT m.user_id, (SELECT count(*) FROM contacts c WHERE c.mailbox = m.id)
		FROM mailboxes m WHERE m.tenant = (SELECT id FROM tenants WHERE name = ?)`, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: count contacts in %q: %w", tenant, err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var u string
		var n int
		if err := rows.Scan(&u, &n); err != nil {
			return nil, fmt.Errorf("store: count contacts in %q: %w", tenant, err)
		}
		counts[u] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count contacts in %q: %w", tenant, err)
	}
	return counts, nil
}

// ContactByID finds a mailbox's map entry by contact id (for contacts delta
// items, which carry only the contact id when removed), or ErrNotFound.
func (s *Store) ContactByID(ctx context.Context, tenant, userID, contactID string) (ContactRef, error) {
	release, err := s.mailboxRead(ctx)
	if err != nil {
		return ContactRef{}, err
	}
	defer release()
	var c ContactRef
	err = s.r.QueryRowContext(ctx, `SELECT source_id, contact_id, hash, change_key FROM contacts
		WHERE mailbox = `+mailboxSubquery+` AND contact_key = ? AND contact_id = ?`,
		tenant, userID, contactKey(contactID), contactID).Scan(&c.SourceID, &c.ContactID, &c.Hash, &c.ChangeKey)
	if errors.Is(err, sql.ErrNoRows) {
		return ContactRef{}, fmt.Errorf("contact in mailbox %s of %q: %w", userID, tenant, ErrNotFound)
	}
	if err != nil {
		return ContactRef{}, fmt.Errorf("store: contact in mailbox %s of %q: %w", userID, tenant, err)
	}
	return c, nil
}

// DeleteMailboxContacts removes a mailbox's whole contact map (before
// reconciling it from the marks).
func (s *Store) DeleteMailboxContacts(ctx context.Context, tenant, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM contacts WHERE mailbox = "+mailboxSubquery, tenant, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete contacts of %s in %q: %w", userID, tenant, err)
	}
	return nil
}
