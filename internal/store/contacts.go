package store

import "context"

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
	// Upserts by SourceID.
	Upserts []ContactRef
	// Deletes are source ids.
	Deletes []string
}

// ContactMap loads a mailbox's whole contact map, keyed by source id, in one
// query. An unknown mailbox has an empty map.
func (s *Store) ContactMap(ctx context.Context, tenant, userID string) (map[string]ContactRef, error) {
	return nil, errNotYet
}

// SaveContacts applies contact map changes for one mailbox in one
// transaction, without touching the mailbox's other state (for saving
// progress during a long mailbox). The mailbox row must exist (BeginMailbox).
func (s *Store) SaveContacts(ctx context.Context, tenant, userID string, changes ContactChanges) error {
	return errNotYet
}

// ContactCount returns the number of mapped contacts in a mailbox.
func (s *Store) ContactCount(ctx context.Context, tenant, userID string) (int, error) {
	return 0, errNotYet
}

// ContactCounts returns the number of mapped contacts per mailbox user id.
func (s *Store) ContactCounts(ctx context.Context, tenant string) (map[string]int, error) {
	return nil, errNotYet
}

// ContactByID finds a mailbox's map entry by contact id (for contacts delta
// items, which carry only the contact id when removed), or ErrNotFound.
func (s *Store) ContactByID(ctx context.Context, tenant, userID, contactID string) (ContactRef, error) {
	return ContactRef{}, errNotYet
}

// DeleteMailboxContacts removes a mailbox's whole contact map (before
// reconciling it from the marks).
func (s *Store) DeleteMailboxContacts(ctx context.Context, tenant, userID string) error {
	return errNotYet
}
