package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SourcePhoto is what galmirror last read of a source user's photo.
type SourcePhoto struct {
	SourceID string
	// ETag is Graph's @odata.mediaEtag ("" when Graph gave none).
	ETag string
	// Hash is the SHA-256 (hex) of the JPEG galmirror uploads for it.
	Hash string
	Size int64
}

// SourcePhotos returns the tenant's source photos by source id (empty for
// an unknown tenant).
func (s *Store) SourcePhotos(ctx context.Context, tenant string) (map[string]SourcePhoto, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT p.source_id, p.etag, p.hash, p.size FROM source_photos p
		JOIN tenants t ON t.id = p.tenant WHERE t.name = ?`, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: source photos of %q: %w", tenant, err)
	}
	defer rows.Close()
	out := map[string]SourcePhoto{}
	for rows.Next() {
		var p SourcePhoto
		if err := rows.Scan(&p.SourceID, &p.ETag, &p.Hash, &p.Size); err != nil {
			return nil, fmt.Errorf("store: source photos of %q: %w", tenant, err)
		}
		out[p.SourceID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: source photos of %q: %w", tenant, err)
	}
	return out, nil
}

// SaveSourcePhotos stores photos read this run and forgets those of the
// removed source ids, in one transaction (the tenant's row is made if
// missing).
func (s *Store) SaveSourcePhotos(ctx context.Context, tenant string, upserts []SourcePhoto, removed []string) error {
	if len(upserts)+len(removed) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		tid, err := ensureTenantRow(ctx, tx, tenant)
		if err != nil {
			return err
		}
		err = bulkExec(ctx, tx, "INSERT INTO source_photos (tenant, source_id, etag, hash, size) VALUES ", "(?, ?, ?, ?, ?)",
			` ON CONFLICT (tenant, source_id) DO UPDATE SET etag = excluded.etag, hash = excluded.hash, size = excluded.size`,
			len(upserts), func(i int) []any {
				p := &upserts[i]
				return []any{tid, p.SourceID, p.ETag, p.Hash, p.Size}
			})
		if err != nil {
			return err
		}
		return bulkExec(ctx, tx, "DELETE FROM source_photos WHERE (tenant, source_id) IN (VALUES ", "(?, ?)", ")",
			len(removed), func(i int) []any { return []any{tid, removed[i]} })
	})
	if err != nil {
		return fmt.Errorf("store: save source photos of %q: %w", tenant, err)
	}
	return nil
}

// ContactPhoto is the photo galmirror uploaded to a managed contact.
type ContactPhoto struct {
	SourceID  string
	ContactID string
	Hash      string
}

// ContactPhotos returns the uploaded photos of some sources' contacts in a
// mailbox, by source id.
func (s *Store) ContactPhotos(ctx context.Context, tenant, userID string, sourceIDs []string) (map[string]ContactPhoto, error) {
	release, err := s.mailboxRead(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	out := make(map[string]ContactPhoto, len(sourceIDs))
	var id int64
	err = s.r.QueryRowContext(ctx, "SELECT id FROM mailboxes WHERE id = "+mailboxSubquery, tenant, userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || len(sourceIDs) == 0 {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: contact photos of %s in %q: %w", userID, tenant, err)
	}
	const chunk = 500
	for start := 0; start < len(sourceIDs); start += chunk {
		part := sourceIDs[start:min(start+chunk, len(sourceIDs))]
		args := make([]any, 0, len(part)+1)
		args = append(args, id)
		for _, sid := range part {
			args = append(args, sid)
		}
		rows, err := s.r.QueryContext(ctx, "SELECT source_id, contact_id, hash FROM contact_photos WHERE mailbox = ? AND source_id IN (?"+
			strings.Repeat(",?", len(part)-1)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("store: contact photos of %s in %q: %w", userID, tenant, err)
		}
		for rows.Next() {
			var p ContactPhoto
			if err := rows.Scan(&p.SourceID, &p.ContactID, &p.Hash); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: contact photos of %s in %q: %w", userID, tenant, err)
			}
			out[p.SourceID] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: contact photos of %s in %q: %w", userID, tenant, err)
		}
	}
	return out, nil
}

// SaveContactPhotos records photos uploaded to a mailbox's contacts and
// forgets those of the given source ids. ErrNotFound for an unknown
// mailbox.
func (s *Store) SaveContactPhotos(ctx context.Context, tenant, userID string, upserts []ContactPhoto, removed []string) error {
	if len(upserts)+len(removed) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		mb, err := mailboxID(ctx, tx, tenant, userID)
		if err != nil {
			return err
		}
		err = bulkExec(ctx, tx, "INSERT INTO contact_photos (mailbox, source_id, contact_id, hash) VALUES ", "(?, ?, ?, ?)",
			` ON CONFLICT (mailbox, source_id) DO UPDATE SET contact_id = excluded.contact_id, hash = excluded.hash`,
			len(upserts), func(i int) []any {
				p := &upserts[i]
				return []any{mb, p.SourceID, p.ContactID, p.Hash}
			})
		if err != nil {
			return err
		}
		return bulkExec(ctx, tx, "DELETE FROM contact_photos WHERE (mailbox, source_id) IN (VALUES ", "(?, ?)", ")",
			len(removed), func(i int) []any { return []any{mb, removed[i]} })
	})
	if err != nil {
		return fmt.Errorf("store: save contact photos of %s in %q: %w", userID, tenant, err)
	}
	return nil
}
