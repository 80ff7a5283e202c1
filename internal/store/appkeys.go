package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// The keyIds of app certificates galmirror added with addKey, by tenant
// name and certificate (SHA-1 thumbprint), kept in meta: an app may not
// read its own registration, so the keyId addKey answered is the only
// way to name the key to removeKey once the certificate is renewed again.
// They live beside the tenant's state but are not cleared with it: a
// tenant id change makes a new app anyway, and an unused row is a few
// bytes. Keys galmirror registered at onboarding need no row: their keyId
// is derived from the certificate (entra.KeyIDFor).

func appKeyKey(tenant, thumbprint string) string {
	return "appkey:" + tenant + ":" + strings.ToUpper(thumbprint)
}

// AppKeyID returns the keyId recorded for a tenant's certificate, or ""
// when none was.
func (s *Store) AppKeyID(ctx context.Context, tenant, thumbprint string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, appKeyKey(tenant, thumbprint)).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("store: app key id: %w", err)
	}
	return id, nil
}

// SetAppKeyID records the keyId of a tenant's certificate ("" forgets it).
func (s *Store) SetAppKeyID(ctx context.Context, tenant, thumbprint, keyID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if keyID == "" {
			_, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, appKeyKey(tenant, thumbprint))
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, appKeyKey(tenant, thumbprint), keyID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set app key id: %w", err)
	}
	return nil
}
