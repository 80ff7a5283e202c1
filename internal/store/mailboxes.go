package store

import (
	"context"
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
)

// Mailbox is the persisted state of one target mailbox.
type Mailbox struct {
	// UserID is the mailbox owner's object id (the key within a tenant).
	UserID            string
	UPN               string
	FolderID          string
	ContactsDeltaLink string
	Status            MailboxStatus
	ErrorCode         string
	ErrorMessage      string
	RequestID         string
	// Uncertain is set before a mailbox's writes begin and cleared when its
	// state is saved: a crash leaves it set, telling the engine that the
	// contact map may be incomplete and the mailbox must be reconciled from
	// the contacts' marks.
	Uncertain  bool
	LastSynced time.Time
}

// Mailboxes returns the tenant's mailboxes, ordered by user id.
func (s *Store) Mailboxes(ctx context.Context, tenant string) ([]Mailbox, error) {
	return nil, errNotYet
}

// Mailbox returns one mailbox, or ErrNotFound.
func (s *Store) Mailbox(ctx context.Context, tenant, userID string) (Mailbox, error) {
	return Mailbox{}, errNotYet
}

// BeginMailbox marks the mailbox uncertain before its first write of a run,
// creating its row (with upn) if needed. The mark is durable when
// BeginMailbox returns.
func (s *Store) BeginMailbox(ctx context.Context, tenant, userID, upn string) error { return errNotYet }

// SaveMailbox stores the mailbox's state m and applies contact map changes
// in one transaction; m.Uncertain is stored as given (false once every write
// of the run is accounted for in changes).
func (s *Store) SaveMailbox(ctx context.Context, tenant string, m Mailbox, changes ContactChanges) error {
	return errNotYet
}

// DeleteMailbox removes a mailbox and its contact map (a user who is no
// longer a target, after the engine has removed its folder or given up on
// it).
func (s *Store) DeleteMailbox(ctx context.Context, tenant, userID string) error { return errNotYet }
