package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TenantState is the persisted state of one configured tenant.
type TenantState struct {
	// Name is the tenant's name in settings.json (the stable key).
	Name string
	// TenantID is the Entra tenant id the state belongs to ("" until the
	// tenant's first run, see BeginRun).
	TenantID             string
	UsersDeltaLink       string
	OrgContactsDeltaLink string
	// OrgContactsReadAt is when the tenant's organisational contacts were
	// last read whole, addresses and phones with them (contacts/delta
	// carries neither); zero: never, or not since their state was cleared.
	OrgContactsReadAt time.Time
	// DesiredDigest identifies the desired contacts of the tenant's last
	// run that got as far as its mailboxes (SetDesiredDigest): a mailbox
	// whose synced digest equals it was in line with them, and the next
	// run may plan it from what changed since alone.
	DesiredDigest string
	// Paused tenants are not run by the schedule; PausedAt and PausedBy
	// (a principal) say who paused it.
	Paused   bool
	PausedAt time.Time
	PausedBy string
	// CertExpiry is the NotAfter of the certificate last used.
	CertExpiry time.Time
	// ConsecutiveFailures counts runs that failed as a whole since the
	// last run that did not (ActiveRun.Finish maintains it; it drives back-off
	// and alerts).
	ConsecutiveFailures int
	// NextRun is the service's next scheduled run.
	NextRun time.Time
	// LastSuccess is when the last run with status ok or partial finished.
	LastSuccess time.Time
	// PurgedAt is when `galmirror purge` removed galmirror from the tenant
	// (zero: never, or re-enabled since); PurgedBy says where from. A
	// purged tenant does not run (BeginRun refuses with *PurgedError).
	PurgedAt time.Time
	PurgedBy string
}

// ensureTenant creates the tenant's row if missing, inside BeginRun's
// transaction, under the tenant's run lock. When the stored tenant id
// differs from tenantID (settings now point the name at another tenant),
// the tenant's directory, mailbox and contact state and its delta links are
// discarded, since they describe another tenant; reset reports that. Run
// history, events and the paused flag are kept.
//
// It is not exported: discarding a tenant's state is only safe while
// holding its run lock, or it could wipe the state of a run of the tenant
// in progress in another process.
func ensureTenant(ctx context.Context, tx *sql.Tx, name, tenantID string) (reset bool, err error) {
	id, err := ensureTenantRow(ctx, tx, name)
	if err != nil {
		return false, err
	}
	var stored string
	if err := tx.QueryRowContext(ctx, "SELECT tenant_id FROM tenants WHERE id = ?", id).Scan(&stored); err != nil {
		return false, err
	}
	if stored == tenantID {
		return false, nil
	}
	if stored != "" {
		reset = true
		if err := clearTenantState(ctx, tx, id); err != nil {
			return false, err
		}
	}
	_, err = tx.ExecContext(ctx, "UPDATE tenants SET tenant_id = ? WHERE id = ?", tenantID, id)
	return reset, err
}

func clearTenantState(ctx context.Context, tx *sql.Tx, id int64) error {
	for _, q := range []string{
		"DELETE FROM persons WHERE tenant = ?",
		"DELETE FROM persons_staging WHERE tenant = ?",
		"DELETE FROM mailboxes WHERE tenant = ?", // cascades to contacts
		"UPDATE tenants SET users_delta_link = '', org_contacts_delta_link = '' WHERE id = ?",
		"DELETE FROM meta WHERE key = " + orgContactsReadKey + "?",
		"DELETE FROM meta WHERE key = " + desiredDigestKey + "?",
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

// orgContactsReadKey prefixes, in the meta table, the key of a tenant's
// OrgContactsReadAt (Unix milliseconds), followed by the tenant's row id.
// It lives there rather than in a column of tenants so that it needs no
// schema change.
const orgContactsReadKey = "'org_contacts_read_at/' || "

// desiredDigestKey prefixes, in the meta table, the key of a tenant's
// DesiredDigest, followed by the tenant's row id.
const desiredDigestKey = "'desired_digest/' || "

// purgedKey prefixes, in the meta table, the key of a tenant's purge mark
// ("<Unix milliseconds> <by>"), followed by the tenant's row id. It is kept
// when the tenant's state is cleared.
const purgedKey = "'purged/' || "

const tenantColumns = `name, tenant_id, users_delta_link, org_contacts_delta_link, paused, paused_at, paused_by,
	cert_expiry, consecutive_failures, next_run, last_success,
	(SELECT CAST(value AS INTEGER) FROM meta WHERE key = ` + orgContactsReadKey + `tenants.id),
	COALESCE((SELECT value FROM meta WHERE key = ` + desiredDigestKey + `tenants.id), ''),
	COALESCE((SELECT value FROM meta WHERE key = ` + purgedKey + `tenants.id), '')`

func scanTenant(sc interface{ Scan(...any) error }) (TenantState, error) {
	var t TenantState
	var pausedAt, certExpiry, nextRun, lastSuccess, orgRead sql.NullInt64
	var purged string
	err := sc.Scan(&t.Name, &t.TenantID, &t.UsersDeltaLink, &t.OrgContactsDeltaLink, &t.Paused, &pausedAt, &t.PausedBy,
		&certExpiry, &t.ConsecutiveFailures, &nextRun, &lastSuccess, &orgRead, &t.DesiredDigest, &purged)
	t.PurgedAt, t.PurgedBy = parsePurged(purged)
	t.PausedAt, t.CertExpiry, t.NextRun, t.LastSuccess = fromMS(pausedAt), fromMS(certExpiry), fromMS(nextRun), fromMS(lastSuccess)
	t.OrgContactsReadAt = fromMS(orgRead)
	return t, err
}

// Tenant returns a tenant's state, or ErrNotFound.
func (s *Store) Tenant(ctx context.Context, name string) (TenantState, error) {
	t, err := scanTenant(s.r.QueryRowContext(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return TenantState{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return TenantState{}, fmt.Errorf("store: tenant %q: %w", name, err)
	}
	return t, nil
}

// Tenants returns every tenant's state, ordered by name.
func (s *Store) Tenants(ctx context.Context) ([]TenantState, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+tenantColumns+" FROM tenants ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("store: tenants: %w", err)
	}
	defer rows.Close()
	var ts []TenantState
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tenants: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tenants: %w", err)
	}
	return ts, nil
}

// updateTenant runs one UPDATE on an existing tenant's row.
func (s *Store) updateTenant(ctx context.Context, what, tenant, set string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE tenants SET "+set+" WHERE name = ?", append(args, tenant)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// upsertTenant runs one UPDATE on a tenant's row, creating it if missing.
func (s *Store) upsertTenant(ctx context.Context, what, tenant, set string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := ensureTenantRow(ctx, tx, tenant)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE tenants SET "+set+" WHERE id = ?", append(args, id)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// SetUsersDeltaLink stores the tenant's users/delta link; "" forces a full
// read next time. ErrNotFound for an unknown tenant.
func (s *Store) SetUsersDeltaLink(ctx context.Context, tenant, link string) error {
	return s.updateTenant(ctx, "set users delta link", tenant, "users_delta_link = ?", link)
}

// SetOrgContactsDeltaLink stores the tenant's contacts/delta link; "" forces
// a full read next time. ErrNotFound for an unknown tenant.
func (s *Store) SetOrgContactsDeltaLink(ctx context.Context, tenant, link string) error {
	return s.updateTenant(ctx, "set org contacts delta link", tenant, "org_contacts_delta_link = ?", link)
}

// SetOrgContactsReadAt records when the tenant's organisational contacts
// were last read whole; zero forgets it. ErrNotFound for an unknown
// tenant.
func (s *Store) SetOrgContactsReadAt(ctx context.Context, tenant string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := tenantID(ctx, tx, tenant)
		if err != nil {
			return err
		}
		if at.IsZero() {
			_, err = tx.ExecContext(ctx, "DELETE FROM meta WHERE key = "+orgContactsReadKey+"?", id)
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT OR REPLACE INTO meta (key, value) VALUES ("+orgContactsReadKey+"?, ?)", id, strconv.FormatInt(at.UnixMilli(), 10))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set org contacts read time: %w", err)
	}
	return nil
}

// SetDesiredDigest records the digest of a run's desired contacts
// (TenantState.DesiredDigest).
func (s *Store) SetDesiredDigest(ctx context.Context, tenant, digest string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := tenantID(ctx, tx, tenant)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT OR REPLACE INTO meta (key, value) VALUES ("+desiredDigestKey+"?, ?)", id, digest)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set desired digest of %q: %w", tenant, err)
	}
	return nil
}

// SetPaused pauses or resumes the tenant, recording who and when (both are
// cleared on resume). The tenant row is created if missing, so a tenant can
// be paused before its first run.
func (s *Store) SetPaused(ctx context.Context, tenant string, paused bool, by string, at time.Time) error {
	if !paused {
		by, at = "", time.Time{}
	}
	return s.upsertTenant(ctx, "set paused", tenant, "paused = ?, paused_by = ?, paused_at = ?", b2i(paused), by, ms(at))
}

// SetCertExpiry records the NotAfter of the certificate last loaded. The
// tenant row is created if missing.
func (s *Store) SetCertExpiry(ctx context.Context, tenant string, notAfter time.Time) error {
	return s.upsertTenant(ctx, "set certificate expiry", tenant, "cert_expiry = ?", ms(notAfter))
}

// SetNextRun records the service's next scheduled run time (zero: none). The
// tenant row is created if missing.
func (s *Store) SetNextRun(ctx context.Context, tenant string, next time.Time) error {
	return s.upsertTenant(ctx, "set next run", tenant, "next_run = ?", ms(next))
}

// DeleteTenantState removes the tenant's directory, mailbox and contact state
// and its delta links (after `galmirror purge`, or when a tenant leaves the
// settings for good). Run history, events and the paused flag are kept. An
// unknown tenant is not an error.
func (s *Store) DeleteTenantState(ctx context.Context, tenant string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := tenantID(ctx, tx, tenant)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return clearTenantState(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("store: delete tenant state %q: %w", tenant, err)
	}
	return nil
}

func parsePurged(v string) (time.Time, string) {
	msS, by, _ := strings.Cut(v, " ")
	ms, err := strconv.ParseInt(msS, 10, 64)
	if v == "" || err != nil {
		return time.Time{}, ""
	}
	return time.UnixMilli(ms).UTC(), by
}

// PurgedError is returned (wrapping ErrPurged) by BeginRun for a tenant
// `galmirror purge` removed: it runs again only once re-enabled
// (SetPurged with a zero time).
type PurgedError struct {
	Tenant string
	At     time.Time
	By     string
}

func (e *PurgedError) Error() string {
	return fmt.Sprintf("tenant %s was purged on %s (%s): it is not synced until `galmirror purge --tenant %s --reenable`",
		e.Tenant, e.At.UTC().Format("2006-01-02 15:04 MST"), e.By, e.Tenant)
}

// Unwrap makes errors.Is(err, ErrPurged) true.
func (e *PurgedError) Unwrap() error { return ErrPurged }

// purgedOf returns the tenant's purge mark inside a transaction.
func purgedOf(ctx context.Context, tx *sql.Tx, name string) (*PurgedError, error) {
	var v string
	err := tx.QueryRowContext(ctx, "SELECT m.value FROM meta m JOIN tenants t ON m.key = "+purgedKey+"t.id WHERE t.name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	at, by := parsePurged(v)
	if at.IsZero() {
		return nil, nil
	}
	return &PurgedError{Tenant: name, At: at, By: by}, nil
}

// TenantHold holds a tenant's run lock outside a run (`galmirror purge`):
// no run of the tenant starts, here or in another process, until Release.
type TenantHold struct {
	Tenant string
	lock   *tenantLock
	once   sync.Once
}

// Release releases the run lock.
func (h *TenantHold) Release() { h.once.Do(h.lock.unlock) }

// HoldTenant takes the tenant's run lock as BeginRun does, without
// starting a run: a *BusyError when a run of the tenant is in progress.
func (s *Store) HoldTenant(ctx context.Context, tenant string) (*TenantHold, error) {
	if s.w == nil {
		return nil, ErrReadOnly
	}
	lock, ok, err := lockTenant(s.dir, tenant)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.busy(ctx, tenant)
	}
	return &TenantHold{Tenant: tenant, lock: lock}, nil
}

// SetPurged marks the tenant purged at at by by (what `galmirror purge`
// does before it removes anything), or re-enables it when at is zero. The
// tenant row is created if missing. Call it holding the tenant
// (HoldTenant), so that no run of it is in progress.
func (s *Store) SetPurged(ctx context.Context, tenant string, at time.Time, by string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := ensureTenantRow(ctx, tx, tenant)
		if err != nil {
			return err
		}
		if at.IsZero() {
			_, err = tx.ExecContext(ctx, "DELETE FROM meta WHERE key = "+purgedKey+"?", id)
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT OR REPLACE INTO meta (key, value) VALUES ("+purgedKey+"?, ?)", id,
			strconv.FormatInt(at.UnixMilli(), 10)+" "+by)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set purged of %q: %w", tenant, err)
	}
	return nil
}
