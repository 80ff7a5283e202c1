package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MailboxStatus is the outcome of a mailbox's last sync.
type MailboxStatus string

// Mailbox statuses.
const (
	MailboxOK            MailboxStatus = "ok"
	MailboxNoMailbox     MailboxStatus = "no_mailbox"     // 404 MailboxNotEnabledForRESTAPI: skipped
	MailboxOutOfScope    MailboxStatus = "out_of_scope"   // 403 from the app's RBAC scope: skipped
	MailboxFailed        MailboxStatus = "failed"         // errors this run
	MailboxForeignFolder MailboxStatus = "foreign_folder" // a same-named folder we did not create
	// In a run's history only: a mailbox that stopped being a target,
	// cleaned (Counts.Deleted), or held back by the mass-delete guard
	// (Counts.HeldBack: the contacts it holds).
	MailboxRemoved     MailboxStatus = "removed"
	MailboxRemovalHeld MailboxStatus = "removal_held"
)

// Mailbox is the persisted state of one target mailbox.
type Mailbox struct {
	// UserID is the mailbox owner's object id (the key within a tenant).
	UserID   string
	UPN      string
	FolderID string
	// ParentFolderID is the folder the managed folder sat in when it was
	// created or found (the default Contacts folder). In the default
	// folder mode FolderID is the default Contacts folder and
	// ParentFolderID the same id (no managed folder is its own parent).
	ParentFolderID    string
	ContactsDeltaLink string
	// Status is "" until the mailbox's first SaveMailbox.
	Status       MailboxStatus
	ErrorCode    string
	ErrorMessage string
	RequestID    string
	// Uncertain is set before a mailbox's writes begin and cleared when its
	// state is saved: a crash leaves it set, telling the engine that the
	// contact map may be incomplete and the mailbox must be reconciled from
	// the contacts' marks.
	Uncertain  bool
	LastSynced time.Time
	// Digest identifies the desired contacts the mailbox was last brought
	// fully in line with (opaque to the store; empty when it was not).
	Digest string
}

const mailboxColumns = `m.user_id, m.upn, m.folder_id, m.contacts_delta_link, m.status, m.error_code, m.error_message,
	m.request_id, m.uncertain, m.last_synced, m.synced_digest, m.parent_folder_id`

func scanMailbox(sc interface{ Scan(...any) error }) (Mailbox, error) {
	var m Mailbox
	var last sql.NullInt64
	err := sc.Scan(&m.UserID, &m.UPN, &m.FolderID, &m.ContactsDeltaLink, &m.Status, &m.ErrorCode, &m.ErrorMessage,
		&m.RequestID, &m.Uncertain, &last, &m.Digest, &m.ParentFolderID)
	m.LastSynced = fromMS(last)
	return m, err
}

// Mailboxes returns the tenant's mailboxes, ordered by user id.
func (s *Store) Mailboxes(ctx context.Context, tenant string) ([]Mailbox, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+mailboxColumns+` FROM mailboxes m
		WHERE m.tenant = (SELECT id FROM tenants WHERE name = ?) ORDER BY m.user_id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: mailboxes of %q: %w", tenant, err)
	}
	defer rows.Close()
	var ms []Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, fmt.Errorf("store: mailboxes of %q: %w", tenant, err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mailboxes of %q: %w", tenant, err)
	}
	return ms, nil
}

// Mailbox returns one mailbox, or ErrNotFound.
func (s *Store) Mailbox(ctx context.Context, tenant, userID string) (Mailbox, error) {
	release, err := s.mailboxRead(ctx)
	if err != nil {
		return Mailbox{}, err
	}
	defer release()
	m, err := scanMailbox(s.r.QueryRowContext(ctx, "SELECT "+mailboxColumns+` FROM mailboxes m
		JOIN tenants t ON t.id = m.tenant WHERE t.name = ? AND m.user_id = ?`, tenant, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return Mailbox{}, fmt.Errorf("mailbox %s of %q: %w", userID, tenant, ErrNotFound)
	}
	if err != nil {
		return Mailbox{}, fmt.Errorf("store: mailbox %s of %q: %w", userID, tenant, err)
	}
	return m, nil
}

// mailboxID resolves a mailbox inside a transaction.
func mailboxID(ctx context.Context, tx *sql.Tx, tenant, userID string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT m.id FROM mailboxes m JOIN tenants t ON t.id = m.tenant
		WHERE t.name = ? AND m.user_id = ?`, tenant, userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %s of %q: %w", userID, tenant, ErrNotFound)
	}
	return id, err
}

// BeginMailbox marks the mailbox uncertain before its first write of a run,
// and clears its digest, creating its row (with upn) if needed. The mark is
// durable when BeginMailbox returns. ErrNotFound for an unknown tenant.
func (s *Store) BeginMailbox(ctx context.Context, tenant, userID, upn string) error {
	if userID == "" {
		return fmt.Errorf("%w: empty mailbox user id", ErrInvalidArgument)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		id, err := tenantID(ctx, tx, tenant)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO mailboxes (tenant, user_id, upn, uncertain) VALUES (?, ?, ?, 1)
			ON CONFLICT (tenant, user_id) DO UPDATE SET uncertain = 1, synced_digest = '',
				upn = CASE WHEN excluded.upn = '' THEN upn ELSE excluded.upn END`, id, userID, upn)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: begin mailbox %s of %q: %w", userID, tenant, err)
	}
	return nil
}

// SaveMailbox stores the mailbox's state m (creating its row if needed) and
// applies contact map changes, in one transaction. m.Uncertain is stored as
// given: false once every write of the run is accounted for in the map.
// ErrNotFound for an unknown tenant.
func (s *Store) SaveMailbox(ctx context.Context, tenant string, m Mailbox, changes ContactChanges) error {
	return s.SaveMailboxes(ctx, tenant, []MailboxSave{{Mailbox: m, Changes: changes}})
}

// MailboxSave is one mailbox's state and contact map changes.
type MailboxSave struct {
	Mailbox Mailbox
	Changes ContactChanges
}

// SaveMailboxes saves several mailboxes as SaveMailbox does, in one
// transaction (a run's mailboxes that had nothing to write are saved
// together: one commit instead of one each).
func (s *Store) SaveMailboxes(ctx context.Context, tenant string, saves []MailboxSave) error {
	for _, sv := range saves {
		if sv.Mailbox.UserID == "" {
			return fmt.Errorf("%w: empty mailbox user id", ErrInvalidArgument)
		}
	}
	if len(saves) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		tid, err := tenantID(ctx, tx, tenant)
		if err != nil {
			return err
		}
		for _, sv := range saves {
			if err := saveMailbox(ctx, tx, tid, sv.Mailbox, sv.Changes); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		what := saves[0].Mailbox.UserID
		if len(saves) > 1 {
			what = fmt.Sprintf("%d mailboxes", len(saves))
		}
		return fmt.Errorf("store: save mailbox %s of %q: %w", what, tenant, err)
	}
	return nil
}

func saveMailbox(ctx context.Context, tx *sql.Tx, tid int64, m Mailbox, changes ContactChanges) error {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO mailboxes (tenant, user_id, upn, folder_id, contacts_delta_link, status,
			error_code, error_message, request_id, uncertain, last_synced, synced_digest, parent_folder_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, user_id) DO UPDATE SET upn = excluded.upn, folder_id = excluded.folder_id,
			contacts_delta_link = excluded.contacts_delta_link, status = excluded.status,
			error_code = excluded.error_code, error_message = excluded.error_message,
			request_id = excluded.request_id, uncertain = excluded.uncertain, last_synced = excluded.last_synced,
			synced_digest = excluded.synced_digest, parent_folder_id = excluded.parent_folder_id
		RETURNING id`,
		tid, m.UserID, m.UPN, m.FolderID, m.ContactsDeltaLink, string(m.Status), m.ErrorCode, m.ErrorMessage,
		m.RequestID, b2i(m.Uncertain), ms(m.LastSynced), m.Digest, m.ParentFolderID).Scan(&id)
	if err != nil {
		return err
	}
	return applyContactChanges(ctx, tx, id, changes)
}

// DeleteMailbox removes a mailbox and its contact map (a user who is no
// longer a target, after the engine has removed its folder or given up on
// it). An unknown mailbox is not an error.
func (s *Store) DeleteMailbox(ctx context.Context, tenant, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM mailboxes WHERE user_id = ? AND tenant = (SELECT id FROM tenants WHERE name = ?)`,
			userID, tenant)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete mailbox %s of %q: %w", userID, tenant, err)
	}
	return nil
}
