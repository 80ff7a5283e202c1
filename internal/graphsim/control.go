package graphsim

import (
	"encoding/json"
	"errors"
)

// ErrNotFound is returned (wrapped) by control methods for an unknown
// tenant, user, group, folder or contact.
var ErrNotFound = errors.New("graphsim: not found")

// Control methods. Users are addressed by id or userPrincipalName; folder
// ids and contact ids are Graph's ids. Every mutation is visible to Graph
// requests at once (directory changes show up in users/delta, owner edits
// in contacts delta).

// PutTenant adds a tenant or replaces the tenant with the same id (its
// directory, mailboxes and app registrations) and registers its apps with
// the token service.
func (s *Server) PutTenant(t Tenant) error { return s.putTenant(t) }

// Tenant exports a tenant's current state, mailbox contents included.
func (s *Server) Tenant(tenantID string) (Tenant, error) { return s.exportTenant(tenantID) }

// Fixture exports every tenant (what `galmirror graphsim` saves).
func (s *Server) Fixture() Fixture { return s.exportFixture() }

// PutUser creates a user or replaces the user with the same id; the change
// shows in users/delta.
func (s *Server) PutUser(tenantID string, u User) error { return s.putUser(tenantID, u) }

// PatchUser changes some properties of a user; patch keys are Graph
// property names (as in User's JSON), a nil value clears. Only changed
// properties count as changed for users/delta with Prefer: return=minimal.
func (s *Server) PatchUser(tenantID, user string, patch map[string]any) error {
	return s.patchUser(tenantID, user, patch)
}

// DeleteUser deletes a user: soft (restorable; users/delta reports
// @removed reason "changed") or permanent (reason "deleted"). The user's
// mailbox goes with it.
func (s *Server) DeleteUser(tenantID, user string, permanent bool) error {
	return s.deleteUser(tenantID, user, permanent)
}

// RestoreUser restores a soft-deleted user.
func (s *Server) RestoreUser(tenantID, userID string) error { return s.restoreUser(tenantID, userID) }

// PutGroup creates or replaces a group (its members included).
func (s *Server) PutGroup(tenantID string, g Group) error { return s.putGroup(tenantID, g) }

// DeleteGroup deletes a group.
func (s *Server) DeleteGroup(tenantID, groupID string) error { return s.deleteGroup(tenantID, groupID) }

// PutOrgContact creates or replaces an organisational contact; a change to
// a property contacts/delta tracks shows in it.
func (s *Server) PutOrgContact(tenantID string, c OrgContact) error {
	return s.putOrgContact(tenantID, c)
}

// DeleteOrgContact deletes an organisational contact; contacts/delta
// reports it @removed with reason "deleted".
func (s *Server) DeleteOrgContact(tenantID, contactID string) error {
	return s.deleteOrgContact(tenantID, contactID)
}

// SetMailboxState changes a user's mailbox state; its content is kept.
func (s *Server) SetMailboxState(tenantID, user string, st MailboxState) error {
	return s.setMailboxState(tenantID, user, st)
}

// SetRoles replaces an app's granted roles; nil revokes consent (tokens
// still issue, with no roles, and Graph answers 403). Tokens issued before
// keep their roles until they expire, as with Entra.
func (s *Server) SetRoles(tenantID, clientID string, roles []string) error {
	return s.setRoles(tenantID, clientID, roles)
}

// SetMailboxGrants replaces the mailboxes (user ids or UPNs) an Exchange
// "Application Contacts.ReadWrite" role assignment scopes an app to
// (App.MailboxGrants); nil removes the assignment. Unlike roles, grants
// apply to tokens already issued (Exchange authorises each call).
func (s *Server) SetMailboxGrants(tenantID, clientID string, users []string) error {
	return s.setMailboxGrants(tenantID, clientID, users)
}

// Folders lists a mailbox's folders with their contacts and extended
// properties, whatever the mailbox state: the default Contacts folder
// first (WellKnown, WellKnownName "contacts"), then Deleted Items
// (WellKnownName "deleteditems": contacts deleted one by one are in it,
// folders deleted into it have its id as ParentFolderID), then the contact
// folders in creation order.
func (s *Server) Folders(tenantID, user string) ([]Folder, error) { return s.folders(tenantID, user) }

// OwnerCreateFolder creates a folder under the default Contacts folder as
// the mailbox owner would in Outlook, and returns its id.
func (s *Server) OwnerCreateFolder(tenantID, user, displayName string) (string, error) {
	return s.ownerCreateFolder(tenantID, user, displayName)
}

// OwnerCreateChildFolder acts as the mailbox owner creating a folder inside
// another folder (for example inside galmirror's managed folder).
func (s *Server) OwnerCreateChildFolder(tenantID, user, parentFolderID, displayName string) (string, error) {
	return s.ownerCreateChildFolder(tenantID, user, parentFolderID, displayName)
}

// OwnerDeleteFolder deletes a folder as the mailbox owner does in
// Outlook: it moves, with its contents and child folders, to Deleted Items
// (keeping its id); a folder already in Deleted Items goes for good.
func (s *Server) OwnerDeleteFolder(tenantID, user, folderID string) error {
	return s.ownerDeleteFolder(tenantID, user, folderID)
}

// OwnerPermanentDeleteFolder removes a folder and everything in it for
// good (Shift+Delete in Outlook); contacts delta links of the folder then
// answer ErrorSyncFolderNotFound.
func (s *Server) OwnerPermanentDeleteFolder(tenantID, user, folderID string) error {
	return s.ownerPermanentDeleteFolder(tenantID, user, folderID)
}

// OwnerMoveFolder moves a contact folder (ids kept) under another folder:
// destinationFolderID "" is the default Contacts folder; the Deleted Items
// folder's id (see Folders) is allowed.
func (s *Server) OwnerMoveFolder(tenantID, user, folderID, destinationFolderID string) error {
	return s.ownerMoveFolder(tenantID, user, folderID, destinationFolderID)
}

// OwnerEmptyDeletedItems empties the mailbox's Deleted Items folder as the
// owner does in Outlook: its contacts and folders are gone for good.
func (s *Server) OwnerEmptyDeletedItems(tenantID, user string) error {
	return s.ownerEmptyDeletedItems(tenantID, user)
}

// OwnerUpdateFolder renames a folder or writes its extended properties
// (patch is a contactFolder JSON object) as another client of the mailbox
// would: the owner in Outlook, or another application.
func (s *Server) OwnerUpdateFolder(tenantID, user, folderID string, patch json.RawMessage) error {
	return s.ownerUpdateFolder(tenantID, user, folderID, patch)
}

// OwnerCreateContact adds a contact to a folder ("" means the default
// Contacts folder) as the mailbox owner would in Outlook; properties is a
// Graph contact JSON object. It returns the contact's id.
func (s *Server) OwnerCreateContact(tenantID, user, folderID string, properties json.RawMessage) (string, error) {
	return s.ownerCreateContact(tenantID, user, folderID, properties)
}

// OwnerUpdateContact edits a contact as the mailbox owner (merge semantics,
// like PATCH); the edit changes its changeKey and shows in contacts delta.
func (s *Server) OwnerUpdateContact(tenantID, user, contactID string, patch json.RawMessage) error {
	return s.ownerUpdateContact(tenantID, user, contactID, patch)
}

// OwnerDeleteContact deletes a contact as the mailbox owner does in
// Outlook: it moves to Deleted Items with a new id (its folder's contacts
// delta reports the old id @removed); one already in Deleted Items goes
// for good.
func (s *Server) OwnerDeleteContact(tenantID, user, contactID string) error {
	return s.ownerDeleteContact(tenantID, user, contactID)
}

// ExpireDeltaTokens invalidates every users/delta, org contacts
// (/contacts/delta) and contacts delta link (and nextLink) issued so far
// for a tenant ("" means all tenants): users/delta and /contacts/delta
// links answer 410 Gone resyncRequired with a Location to restart from;
// contacts delta links answer 400 ErrorInvalidSyncStateData.
func (s *Server) ExpireDeltaTokens(tenantID string) error { return s.expireDeltaTokens(tenantID) }

// StaleDeltaTokens makes every delta link (deltaLink or nextLink) issued so
// far for a tenant ("" means all tenants) older than Graph keeps delta
// state: users/delta and /contacts/delta links answer 400
// syncStateNotFound (directory links live 7 days); contacts delta links
// answer 400 ErrorInvalidSyncStateData.
func (s *Server) StaleDeltaTokens(tenantID string) error { return s.staleDeltaTokens(tenantID) }

// Counters returns a snapshot of the counters.
func (s *Server) Counters() Counters { return s.ctr.snapshot() }

// ResetCounters zeroes the counters (not the throttling state).
func (s *Server) ResetCounters() { s.ctr.reset() }

// Throttle returns the current throttling model.
func (s *Server) Throttle() Throttle {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.throttle
}

// SetThrottle replaces the throttling model; windows restart.
func (s *Server) SetThrottle(t Throttle) {
	s.cfgMu.Lock()
	s.throttle = t
	s.cfgMu.Unlock()
	s.lim.resetWindows()
}

// Faults returns the injected faults.
func (s *Server) Faults() Faults {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.faults
}

// SetFaults replaces the injected faults (the token outage included).
func (s *Server) SetFaults(f Faults) {
	s.cfgMu.Lock()
	s.faults = f
	s.cfgMu.Unlock()
	s.entra.SetFaults(entrasimFaults(f))
}

// SetUsersDeltaPageSize sets the page size of the directory delta rounds,
// users/delta and /contacts/delta (tests force paging with small values);
// n <= 0 restores 100.
func (s *Server) SetUsersDeltaPageSize(n int) {
	if n <= 0 {
		n = 100
	}
	s.cfgMu.Lock()
	s.deltaPS = n
	s.cfgMu.Unlock()
}
