package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/fsperm"
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

// The photo cache: the JPEGs galmirror uploads, one file per content hash
// in the data directory's photos folder (private like the directory), so
// that a contact that needs a photo galmirror already has (a new mailbox,
// a contact made again, a photo put back) costs no download, and a run
// holds no photo in memory longer than its upload.

func (s *Store) photoPath(hash string) (string, error) {
	if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: photo hash %q", ErrInvalidArgument, hash)
	}
	return filepath.Join(s.dir, "photos", hash+".jpg"), nil
}

// PutPhoto stores a photo under its hash (the hex SHA-256 of data).
func (s *Store) PutPhoto(hash string, data []byte) error {
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hash {
		return fmt.Errorf("%w: photo does not match its hash", ErrInvalidArgument)
	}
	path, err := s.photoPath(hash)
	if err != nil {
		return err
	}
	if err := fsperm.MkdirPrivate(filepath.Dir(path)); err != nil {
		return fmt.Errorf("store: photo cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "put-*.tmp")
	if err != nil {
		return fmt.Errorf("store: photo cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("store: photo cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("store: photo cache: %w", err)
	}
	return nil
}

// Photo returns the cached photo of a hash; ErrNotFound when it is not
// cached (or no longer matches its hash).
func (s *Store) Photo(hash string) ([]byte, error) {
	path, err := s.photoPath(hash)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("photo %s: %w", hash[:12], ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: photo cache: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hash {
		os.Remove(path)
		return nil, fmt.Errorf("photo %s: damaged in the cache: %w", hash[:12], ErrNotFound)
	}
	return data, nil
}

// PrunePhotos removes cached photos no tenant's source photo names any
// more, once they are older than a day (a run may have cached a photo it
// has not recorded yet).
func (s *Store) PrunePhotos(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, "SELECT DISTINCT hash FROM source_photos")
	if err != nil {
		return fmt.Errorf("store: prune photos: %w", err)
	}
	keep := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return fmt.Errorf("store: prune photos: %w", err)
		}
		keep[h+".jpg"] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: prune photos: %w", err)
	}
	dir := filepath.Join(s.dir, "photos")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: prune photos: %w", err)
	}
	old := time.Now().Add(-24 * time.Hour)
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(old) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}
