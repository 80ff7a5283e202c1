package graphsim

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
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

// OwnerMoveContact moves a contact to another folder as the owner does
// in Outlook (destinationFolderID "" is the default Contacts folder): it
// keeps its properties and extended properties and gets a new id (its old
// folder's contacts delta reports the old id @removed). It returns nothing
// of the new id: find the contact in Folders.
func (s *Server) OwnerMoveContact(tenantID, user, contactID, destinationFolderID string) error {
	return s.ownerMoveContact(tenantID, user, contactID, destinationFolderID)
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

// ErrNeedsAdminConsent is returned (wrapped) when a user without a role
// that may consent approves a sign-in asking for permissions that need
// admin consent; the device code stays pending, as Entra's "Need admin
// approval" page leaves it.
var ErrNeedsAdminConsent = entrasim.ErrNeedsAdminConsent

// ApproveDeviceCode signs the user (id or userPrincipalName) of a tenant
// ("" means the tenant whose directory holds that user principal name) in
// for a pending device code, as the user does in a browser at the
// verification page, consenting to the scopes asked for. The user must be
// enabled; scopes that need admin consent need one of the modelled admin
// roles (User.DirectoryRoles).
func (s *Server) ApproveDeviceCode(tenantID, user, userCode string) error {
	t, o, err := s.findSignInUser(tenantID, user)
	if err != nil {
		return err
	}
	su := entrasim.SignedInUser{ID: o.ID, UPN: o.UserPrincipalName, DisplayName: o.DisplayName}
	for _, r := range o.DirectoryRoles {
		su.RoleTemplateIDs = append(su.RoleTemplateIDs, directoryRoleTemplates[r])
	}
	if err := s.entra.ApproveDeviceCode(userCode, t.id, su); err != nil {
		if errors.Is(err, entrasim.ErrUnknownUserCode) {
			return fmt.Errorf("device code %q: %w", userCode, ErrNotFound)
		}
		return err
	}
	return nil
}

// DeclineDeviceCode makes a pending device code's sign-in refused by its
// user (the next poll answers authorization_declined).
func (s *Server) DeclineDeviceCode(userCode string) error {
	return notFoundCode(userCode, s.entra.DeclineDeviceCode(userCode))
}

// BlockDeviceCode makes a Conditional Access policy block a pending device
// code's sign-in (the next poll answers invalid_grant AADSTS53003).
func (s *Server) BlockDeviceCode(userCode string) error {
	return notFoundCode(userCode, s.entra.BlockDeviceCode(userCode))
}

func notFoundCode(userCode string, err error) error {
	if errors.Is(err, entrasim.ErrUnknownUserCode) {
		return fmt.Errorf("device code %q: %w", userCode, ErrNotFound)
	}
	return err
}

// signInUsers lists a tenant's enabled users for the authorize
// endpoint's sign-in page, in directory order.
func (s *Server) signInUsers(tenantID string) []entrasim.SignedInUser {
	t, err := s.tenant(tenantID)
	if err != nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []entrasim.SignedInUser
	for _, id := range t.userOrder() {
		o := t.users[id]
		if o == nil || (o.u.AccountEnabled != nil && !*o.u.AccountEnabled) {
			continue
		}
		su := entrasim.SignedInUser{ID: o.u.ID, UPN: o.u.UserPrincipalName, DisplayName: o.u.DisplayName}
		for _, r := range o.u.DirectoryRoles {
			su.RoleTemplateIDs = append(su.RoleTemplateIDs, directoryRoleTemplates[r])
		}
		out = append(out, su)
	}
	return out
}

// findSignInUser resolves a user who signs in, by id or UPN, in a tenant
// or in whichever tenant holds the UPN.
func (s *Server) findSignInUser(tenantID, user string) (*tenantState, User, error) {
	var cands []*tenantState
	if tenantID != "" {
		t, err := s.tenant(tenantID)
		if err != nil {
			return nil, User{}, err
		}
		cands = []*tenantState{t}
	} else {
		s.mu.RLock()
		for _, t := range s.tenants {
			cands = append(cands, t)
		}
		s.mu.RUnlock()
	}
	for _, t := range cands {
		t.mu.RLock()
		o := t.resolveUserLocked(user)
		var u User
		if o != nil {
			u = o.u
		}
		t.mu.RUnlock()
		if o == nil {
			continue
		}
		if u.AccountEnabled != nil && !*u.AccountEnabled {
			return nil, User{}, fmt.Errorf("graphsim: user %s is disabled and cannot sign in", user)
		}
		return t, u, nil
	}
	return nil, User{}, fmt.Errorf("user %q: %w", user, ErrNotFound)
}

// SetPropagation sets how long after a change made through Graph (a new
// application or service principal, a key, an app role assignment) Entra's
// token service honours it: tokens carry a new role, a new key signs in,
// a new app is known, only after the delay. Zero means at once.
func (s *Server) SetPropagation(d time.Duration) { s.entra.SetPropagation(d) }

// SetReplicationLag sets how long after an application or service
// principal is created Graph's other requests do not find it (see
// visibleApp in apps.go). Zero means at once.
func (s *Server) SetReplicationLag(d time.Duration) {
	s.cfgMu.Lock()
	s.replLag = max(d, 0)
	s.cfgMu.Unlock()
}

// ReplicationLag returns the lag SetReplicationLag set.
func (s *Server) ReplicationLag() time.Duration {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.replLag
}

// Propagation returns the delay SetPropagation set.
func (s *Server) Propagation() time.Duration { return s.entra.Propagation() }

// AdminConsent grants an application the Microsoft Graph application
// permissions its requiredResourceAccess lists, as an administrator does by
// opening the admin consent link (v2.0/adminconsent with /.default) and
// accepting. The user must hold Global Administrator or Privileged Role
// Administrator (other admin roles may not grant Microsoft Graph's
// application permissions). Grants propagate like any other.
func (s *Server) AdminConsent(tenantID, clientID, user string) error {
	t, u, err := s.findSignInUser(tenantID, user)
	if err != nil {
		return err
	}
	if !slices.Contains(u.DirectoryRoles, RoleGlobalAdministrator) && !slices.Contains(u.DirectoryRoles, RolePrivilegedRoleAdministrator) {
		return fmt.Errorf("graphsim: %s may not grant Microsoft Graph's application permissions (needs Global Administrator or Privileged Role Administrator): %w", user, ErrNeedsAdminConsent)
	}
	t.mu.Lock()
	d := t.docLocked(clientID)
	var rra []resourceAccess
	if d != nil {
		if d.spID == "" {
			// Consent creates the service principal.
			d.spID, d.spCreated = NewGUID(), s.now()
		}
		rra = slices.Clone(d.rra)
	}
	t.mu.Unlock()
	if d == nil {
		return fmt.Errorf("app %q: %w", clientID, ErrNotFound)
	}
	now := s.now()
	until := now.Add(s.entra.Propagation())
	return s.entra.UpdateApp(t.id, d.appID, func(a *entrasim.App) error {
		a.NoServicePrincipal, a.ServicePrincipalID = false, d.spID
		if until.After(a.VisibleAt) {
			a.VisibleAt = until
		}
		for _, r := range rra {
			if !strings.EqualFold(r.ResourceAppID, GraphAppID) {
				continue
			}
			for _, x := range r.ResourceAccess {
				role, ok := graphRoleByID(x.ID)
				if x.Type != "Role" || !ok || slices.ContainsFunc(assignments(*a), func(g entrasim.Grant) bool { return g.AppRoleID == role.id }) {
					continue
				}
				a.Grants = append(a.Grants, entrasim.Grant{ID: assignmentID(), AppRoleID: role.id, Role: role.value, Created: now, VisibleAt: until})
			}
		}
		return nil
	})
}

// AppKey is a key credential of an application, as AppRegistration shows it.
type AppKey struct {
	KeyID      string    `json:"keyId"`
	Thumbprint string    `json:"thumbprint"` // SHA-1, upper-case hex
	NotAfter   time.Time `json:"notAfter"`
	// Active says the token service honours it now (propagated).
	Active bool `json:"active"`
}

// AppRegistration is an application as tests inspect it.
type AppRegistration struct {
	ClientID           string   `json:"clientId"`
	ObjectID           string   `json:"objectId"`
	DisplayName        string   `json:"displayName"`
	Tags               []string `json:"tags"`
	ServicePrincipalID string   `json:"servicePrincipalId,omitempty"`
	Keys               []AppKey `json:"keys"`
	// Roles are the roles a token of the app carries now; PendingRoles
	// those granted but not yet propagated.
	Roles        []string `json:"roles"`
	PendingRoles []string `json:"pendingRoles,omitempty"`
}

// Apps lists a tenant's applications (loaded and created through Graph).
func (s *Server) Apps(tenantID string) ([]AppRegistration, error) {
	t, err := s.tenant(tenantID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	docs := t.allDocsLocked()
	t.mu.Unlock()
	out := []AppRegistration{}
	for _, d := range docs {
		r, err := s.AppRegistration(tenantID, d.appID)
		if err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// AppRegistration returns an application's keys and role grants.
func (s *Server) AppRegistration(tenantID, clientID string) (AppRegistration, error) {
	t, err := s.tenant(tenantID)
	if err != nil {
		return AppRegistration{}, err
	}
	t.mu.Lock()
	d := t.docLocked(clientID)
	var r AppRegistration
	if d != nil {
		r = AppRegistration{ClientID: d.appID, ObjectID: d.objectID, DisplayName: d.displayName, Tags: slices.Clone(d.tags), ServicePrincipalID: d.spID}
	}
	t.mu.Unlock()
	a, ok := s.entra.App(t.id, clientID)
	if d == nil || !ok {
		return AppRegistration{}, fmt.Errorf("app %q: %w", clientID, ErrNotFound)
	}
	now := s.now()
	for _, k := range appKeys(a) {
		r.Keys = append(r.Keys, AppKey{KeyID: k.ID, Thumbprint: Thumbprint(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})),
			NotAfter: k.Cert.NotAfter, Active: !now.Before(k.VisibleAt)})
	}
	r.Roles = append([]string{}, a.Roles...)
	for _, g := range a.Grants {
		if now.Before(g.VisibleAt) {
			r.PendingRoles = append(r.PendingRoles, g.Role)
		} else if !slices.Contains(r.Roles, g.Role) {
			r.Roles = append(r.Roles, g.Role)
		}
	}
	return r, nil
}
