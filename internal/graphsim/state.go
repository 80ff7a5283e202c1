package graphsim

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

// tenantState is one tenant's live state. mu guards the directory and the
// mailboxes map; each mailbox has its own lock so mailboxes proceed in
// parallel.
type tenantState struct {
	id, name, domain string
	cloud            string // "" is global

	mu          sync.RWMutex
	apps        map[string]*App    // by lower-case client id
	docs        map[string]*appDoc // application objects, by lower-case client id (apps.go)
	users       map[string]*userObj
	upns        map[string]string   // lower-case UPN -> id
	softDeleted map[string]*userObj // restorable users
	groups      map[string]*Group
	orgContacts map[string]*OrgContact
	order       []string // user ids in list order (sorted)
	orderDirty  bool
	// orderMu serialises rebuilding order: readers holding mu.RLock may
	// call userOrder at once (writers set orderDirty under mu.Lock).
	orderMu sync.Mutex
	seq     uint64 // directory change sequence for users/delta and contacts/delta
	tombs   []userTomb
	// ocSeq tracks each org contact's changes for contacts/delta (by
	// id); ocTombs are the org contacts deleted.
	ocSeq     map[string]*changeSeq
	ocTombs   []userTomb
	epoch     uint64 // delta token generation; ExpireDeltaTokens bumps it
	stale     uint64 // users/delta links older than this are stale (StaleDeltaTokens)
	mailboxes map[string]*mailbox
	// photos are the users' photos by user id (photo.go).
	photos map[string]*photo
}

type userObj struct {
	u       User // without ContactFolders
	seq     uint64
	propSeq map[string]uint64
}

// changeSeq is when an object (seq) and each of its properties (propSeq)
// last changed, in the tenant's directory change sequence.
type changeSeq struct {
	seq     uint64
	propSeq map[string]uint64
}

type userTomb struct {
	id     string
	seq    uint64
	reason string // "changed" (soft delete) or "deleted"
}

func (s *Server) tenant(id string) (*tenantState, error) {
	s.mu.RLock()
	t := s.tenants[strings.ToLower(id)]
	s.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return t, nil
}

func (s *Server) putTenant(tf Tenant) error {
	if !isGUID(tf.ID) {
		return fmt.Errorf("graphsim: tenant id %q is not a GUID", tf.ID)
	}
	cloud := strings.ToLower(tf.Cloud)
	switch cloud {
	case CloudGlobal:
		cloud = ""
	case "", CloudUSGov, CloudUSGovDoD, CloudChina:
	default:
		return fmt.Errorf("graphsim: tenant %s: cloud %q is not global, usgov, usgovdod or china", tf.ID, tf.Cloud)
	}
	t := &tenantState{
		id: strings.ToLower(tf.ID), name: tf.Name, domain: tf.Domain, cloud: cloud,
		apps: map[string]*App{}, docs: map[string]*appDoc{}, users: map[string]*userObj{}, upns: map[string]string{},
		softDeleted: map[string]*userObj{}, groups: map[string]*Group{}, orgContacts: map[string]*OrgContact{},
		ocSeq: map[string]*changeSeq{}, mailboxes: map[string]*mailbox{}, epoch: uint64(time.Now().UnixNano()),
	}
	et := entrasim.Tenant{ID: t.id}
	if tf.Domain != "" {
		et.Domains = []string{tf.Domain}
	}
	for i, a := range tf.Apps {
		if !isGUID(a.ClientID) {
			return fmt.Errorf("graphsim: tenant %s app %d: client id %q is not a GUID", tf.ID, i, a.ClientID)
		}
		certs, err := parseCertificatesPEM(a.CertificatesPEM)
		if err != nil {
			return fmt.Errorf("graphsim: tenant %s app %s: %w", tf.ID, a.ClientID, err)
		}
		a := a
		a.ClientID = strings.ToLower(a.ClientID)
		a.Roles, a.MailboxGrants = slices.Clone(a.Roles), slices.Clone(a.MailboxGrants)
		t.apps[a.ClientID] = &a
		et.Apps = append(et.Apps, entrasim.App{ClientID: a.ClientID, DisplayName: a.DisplayName, Certificates: certs, Roles: a.Roles,
			RedirectURIs: a.RedirectURIs, Secrets: a.ClientSecrets, UserRoles: a.UserRoles})
	}
	for i, u := range tf.Users {
		if err := t.putUserLocked(u); err != nil {
			return fmt.Errorf("graphsim: tenant %s user %d: %w", tf.ID, i, err)
		}
	}
	for i, g := range tf.Groups {
		if !isGUID(g.ID) {
			return fmt.Errorf("graphsim: tenant %s group %d: id %q is not a GUID", tf.ID, i, g.ID)
		}
		g := g
		g.ID = strings.ToLower(g.ID)
		t.groups[g.ID] = &g
	}
	for i, c := range tf.OrgContacts {
		if !isGUID(c.ID) {
			return fmt.Errorf("graphsim: tenant %s orgContact %d: id %q is not a GUID", tf.ID, i, c.ID)
		}
		t.putOrgContactLocked(c)
	}
	for _, u := range tf.Users {
		if len(u.ContactFolders) == 0 {
			continue
		}
		mb := t.mailboxLocked(strings.ToLower(u.ID))
		if err := mb.load(u.ContactFolders); err != nil {
			return fmt.Errorf("graphsim: tenant %s user %s mailbox: %w", tf.ID, u.ID, err)
		}
	}
	s.entra.PutTenant(et)
	s.mu.Lock()
	s.tenants[t.id] = t
	s.mu.Unlock()
	return nil
}

func (t *tenantState) putUserLocked(u User) error {
	if !isGUID(u.ID) {
		return fmt.Errorf("id %q is not a GUID", u.ID)
	}
	if u.UserPrincipalName == "" || !strings.Contains(u.UserPrincipalName, "@") {
		return fmt.Errorf("user %s: userPrincipalName %q is not name@domain", u.ID, u.UserPrincipalName)
	}
	switch u.Mailbox {
	case "", MailboxNormal, MailboxNone, MailboxOutOfScope:
	default:
		return fmt.Errorf("user %s: mailbox state %q is not normal, none or outOfScope", u.ID, u.Mailbox)
	}
	switch u.MailboxPurpose {
	case "", "user", "linked", "shared", "room", "equipment", "others":
	default:
		return fmt.Errorf("user %s: mailbox purpose %q is not user, linked, shared, room, equipment or others", u.ID, u.MailboxPurpose)
	}
	for _, r := range u.DirectoryRoles {
		if directoryRoleTemplates[r] == "" {
			return fmt.Errorf("user %s: directory role %q is not one graphsim models (Global Administrator, Privileged Role Administrator, Application Administrator, Cloud Application Administrator)", u.ID, r)
		}
	}
	u.ID = strings.ToLower(u.ID)
	u.ContactFolders = nil
	if u.Photo != nil {
		p, err := newPhoto(u.Photo.ContentType, u.Photo.Data)
		if err != nil {
			return fmt.Errorf("user %s: %w", u.ID, err)
		}
		if t.photos == nil {
			t.photos = map[string]*photo{}
		}
		t.photos[u.ID] = p
		u.Photo = nil
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	if u.CreatedDateTime == "" {
		u.CreatedDateTime = "2024-01-15T09:00:00Z"
	}
	lu := strings.ToLower(u.UserPrincipalName)
	if other, ok := t.upns[lu]; ok && other != u.ID {
		return fmt.Errorf("user %s: userPrincipalName %s already belongs to user %s", u.ID, u.UserPrincipalName, other)
	}
	old := t.users[u.ID]
	if old != nil && old.u.MailboxPurpose != u.MailboxPurpose {
		// A conversion in Exchange alone: the directory object (and
		// users/delta) does not change.
		same := old.u
		same.MailboxPurpose = u.MailboxPurpose
		if reflect.DeepEqual(same, u) {
			old.u.MailboxPurpose = u.MailboxPurpose
			return nil
		}
	}
	t.seq++
	o := &userObj{u: u, seq: t.seq, propSeq: map[string]uint64{}}
	if old != nil {
		delete(t.upns, strings.ToLower(old.u.UserPrincipalName))
		maps := userValues(&old.u)
		for name, v := range userValues(&u) {
			if ps, ok := old.propSeq[name]; ok && jsonEqual(maps[name], v) {
				o.propSeq[name] = ps
			} else {
				o.propSeq[name] = t.seq
			}
		}
	} else {
		for _, p := range userProps {
			o.propSeq[p.name] = t.seq
		}
		t.orderDirty = true
	}
	t.users[u.ID] = o
	t.upns[lu] = u.ID
	return nil
}

// globalCloud reports whether the tenant is in the global cloud.
func (t *tenantState) globalCloud() bool { return t.cloud == "" }

// deltaCloud reports whether the tenant's cloud offers contacts delta
// (not China: https://learn.microsoft.com/graph/api/contact-delta).
func (t *tenantState) deltaCloud() bool { return t.cloud != CloudChina }

// resolveUserLocked finds a live user by id or UPN.
func (t *tenantState) resolveUserLocked(ref string) *userObj {
	ref = strings.ToLower(ref)
	if o := t.users[ref]; o != nil {
		return o
	}
	if id, ok := t.upns[ref]; ok {
		return t.users[id]
	}
	return nil
}

func (t *tenantState) userOrder() []string {
	t.orderMu.Lock()
	defer t.orderMu.Unlock()
	if t.orderDirty || t.order == nil {
		t.order = t.order[:0]
		for id := range t.users {
			t.order = append(t.order, id)
		}
		slices.Sort(t.order)
		t.orderDirty = false
	}
	return t.order
}

func (s *Server) putUser(tenantID string, u User) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.putUserLocked(u); err != nil {
		return fmt.Errorf("graphsim: put user: %w", err)
	}
	return nil
}

func (s *Server) patchUser(tenantID, ref string, patch map[string]any) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.resolveUserLocked(ref)
	if o == nil {
		return fmt.Errorf("user %q: %w", ref, ErrNotFound)
	}
	raw, err := json.Marshal(o.u)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for k, v := range patch {
		if k == "id" {
			return fmt.Errorf("graphsim: patch user %s: id cannot change", ref)
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	raw, err = json.Marshal(m)
	if err != nil {
		return fmt.Errorf("graphsim: patch user %s: %w", ref, err)
	}
	var nu User
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nu); err != nil {
		return fmt.Errorf("graphsim: patch user %s: %w", ref, err)
	}
	if err := t.putUserLocked(nu); err != nil {
		return fmt.Errorf("graphsim: patch user %s: %w", ref, err)
	}
	return nil
}

func (s *Server) deleteUser(tenantID, ref string, permanent bool) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.resolveUserLocked(ref)
	if o == nil {
		return fmt.Errorf("user %q: %w", ref, ErrNotFound)
	}
	delete(t.users, o.u.ID)
	delete(t.upns, strings.ToLower(o.u.UserPrincipalName))
	t.orderDirty = true
	t.seq++
	reason := "deleted"
	if !permanent {
		reason = "changed"
		t.softDeleted[o.u.ID] = o
	} else {
		delete(t.mailboxes, o.u.ID)
	}
	t.tombs = append(t.tombs, userTomb{id: o.u.ID, seq: t.seq, reason: reason})
	return nil
}

func (s *Server) restoreUser(tenantID, id string) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.softDeleted[strings.ToLower(id)]
	if o == nil {
		return fmt.Errorf("soft-deleted user %q: %w", id, ErrNotFound)
	}
	delete(t.softDeleted, o.u.ID)
	t.seq++
	o.seq = t.seq
	for k := range o.propSeq {
		o.propSeq[k] = t.seq
	}
	t.users[o.u.ID] = o
	t.upns[strings.ToLower(o.u.UserPrincipalName)] = o.u.ID
	t.orderDirty = true
	return nil
}

func (s *Server) putGroup(tenantID string, g Group) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	if !isGUID(g.ID) {
		return fmt.Errorf("graphsim: group id %q is not a GUID", g.ID)
	}
	g.ID = strings.ToLower(g.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.groups[g.ID] = &g
	return nil
}

func (s *Server) deleteGroup(tenantID, id string) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.groups[strings.ToLower(id)] == nil {
		return fmt.Errorf("group %q: %w", id, ErrNotFound)
	}
	delete(t.groups, strings.ToLower(id))
	return nil
}

func (s *Server) putOrgContact(tenantID string, c OrgContact) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	if !isGUID(c.ID) {
		return fmt.Errorf("graphsim: orgContact id %q is not a GUID", c.ID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.putOrgContactLocked(c)
	return nil
}

// putOrgContactLocked creates or replaces an org contact, recording which
// of its properties changed for contacts/delta.
func (t *tenantState) putOrgContactLocked(c OrgContact) {
	c.ID = strings.ToLower(c.ID)
	t.seq++
	cs := &changeSeq{seq: t.seq, propSeq: map[string]uint64{}}
	old, oldSeq := t.orgContacts[c.ID], t.ocSeq[c.ID]
	for _, p := range orgContactProps {
		if old != nil && oldSeq != nil && jsonEqual(orgContactValue(old, p), orgContactValue(&c, p)) {
			cs.propSeq[p] = oldSeq.propSeq[p]
		} else {
			cs.propSeq[p] = t.seq
		}
	}
	t.orgContacts[c.ID] = &c
	t.ocSeq[c.ID] = cs
}

func (s *Server) deleteOrgContact(tenantID, id string) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	id = strings.ToLower(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.orgContacts[id] == nil {
		return fmt.Errorf("orgContact %q: %w", id, ErrNotFound)
	}
	delete(t.orgContacts, id)
	delete(t.ocSeq, id)
	t.seq++
	t.ocTombs = append(t.ocTombs, userTomb{id: id, seq: t.seq, reason: "deleted"})
	return nil
}

func (s *Server) setMailboxState(tenantID, ref string, st MailboxState) error {
	switch st {
	case "", MailboxNormal, MailboxNone, MailboxOutOfScope:
	default:
		return fmt.Errorf("graphsim: mailbox state %q is not normal, none or outOfScope", st)
	}
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.resolveUserLocked(ref)
	if o == nil {
		return fmt.Errorf("user %q: %w", ref, ErrNotFound)
	}
	// The mailbox state is not a directory property: no delta change.
	o.u.Mailbox = st
	return nil
}

func (s *Server) setRoles(tenantID, clientID string, roles []string) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	a := t.apps[strings.ToLower(clientID)]
	if a != nil {
		a.Roles = slices.Clone(roles)
	}
	t.mu.Unlock()
	if a == nil {
		return fmt.Errorf("app %q: %w", clientID, ErrNotFound)
	}
	return s.entra.SetRoles(t.id, a.ClientID, roles)
}

func (s *Server) setMailboxGrants(tenantID, clientID string, users []string) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.apps[strings.ToLower(clientID)]
	if a == nil && t.docs[strings.ToLower(clientID)] != nil {
		a = &App{ClientID: strings.ToLower(clientID)}
		t.apps[a.ClientID] = a
	}
	if a == nil {
		return fmt.Errorf("app %q: %w", clientID, ErrNotFound)
	}
	for _, u := range users {
		if strings.TrimSpace(u) == "" {
			return fmt.Errorf("graphsim: mailbox grant %q is empty", u)
		}
	}
	a.MailboxGrants = slices.Clone(users)
	return nil
}

// granted reports whether an app's Exchange RBAC grants (App.MailboxGrants)
// cover the mailbox of a user ref. A grant names the user by id or UPN.
func (t *tenantState) granted(app, ref string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	a := t.apps[app]
	if a == nil || len(a.MailboxGrants) == 0 {
		return false
	}
	o := t.resolveUserLocked(ref)
	if o == nil {
		return false
	}
	for _, g := range a.MailboxGrants {
		if strings.EqualFold(g, o.u.ID) || strings.EqualFold(g, o.u.UserPrincipalName) {
			return true
		}
	}
	return false
}

// staleDeltaTokens makes every delta link issued so far too old: users/delta
// and /contacts/delta links answer 400 syncStateNotFound, contacts delta
// links 400 ErrorInvalidSyncStateData.
func (s *Server) staleDeltaTokens(tenantID string) error {
	return s.refuseDeltaTokens(tenantID, func(t *tenantState) { t.stale++ })
}

// refuseDeltaTokens makes the tenants' directory delta links (users/delta,
// /contacts/delta) refused as bump says (their stale generation or their
// epoch) and every contacts delta link of their mailboxes invalid.
func (s *Server) refuseDeltaTokens(tenantID string, bump func(*tenantState)) error {
	ts, err := s.tenantsOf(tenantID)
	if err != nil {
		return err
	}
	for _, t := range ts {
		t.mu.Lock()
		bump(t)
		mbs := make([]*mailbox, 0, len(t.mailboxes))
		for _, mb := range t.mailboxes {
			mbs = append(mbs, mb)
		}
		t.mu.Unlock()
		for _, mb := range mbs {
			mb.mu.Lock()
			mb.epoch++
			mb.mu.Unlock()
		}
	}
	return nil
}

// tenantsOf is one tenant, or every tenant for "".
func (s *Server) tenantsOf(tenantID string) ([]*tenantState, error) {
	if tenantID != "" {
		t, err := s.tenant(tenantID)
		if err != nil {
			return nil, err
		}
		return []*tenantState{t}, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts := make([]*tenantState, 0, len(s.tenants))
	for _, t := range s.tenants {
		ts = append(ts, t)
	}
	return ts, nil
}

func (s *Server) expireDeltaTokens(tenantID string) error {
	return s.refuseDeltaTokens(tenantID, func(t *tenantState) { t.epoch++ })
}

func (s *Server) exportFixture() Fixture {
	s.mu.RLock()
	ids := make([]string, 0, len(s.tenants))
	for id := range s.tenants {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	slices.Sort(ids)
	var f Fixture
	for _, id := range ids {
		if t, err := s.exportTenant(id); err == nil {
			f.Tenants = append(f.Tenants, t)
		}
	}
	return f
}

func (s *Server) exportTenant(id string) (Tenant, error) {
	t, err := s.tenant(id)
	if err != nil {
		return Tenant{}, err
	}
	t.mu.RLock()
	out := Tenant{ID: t.id, Name: t.name, Domain: t.domain, Cloud: t.cloud}
	// Apps as the token service holds them now (keys and role grants made
	// through Graph included), with their Exchange RBAC grants.
	if et, ok := s.entra.Tenant(t.id); ok {
		now := s.now()
		for _, ea := range et.Apps {
			a := App{ClientID: ea.ClientID, DisplayName: ea.DisplayName, Roles: slices.Clone(ea.Roles)}
			for _, gr := range ea.Grants {
				if !now.Before(gr.VisibleAt) && !slices.Contains(a.Roles, gr.Role) {
					a.Roles = append(a.Roles, gr.Role)
				}
			}
			for _, k := range appKeys(ea) {
				a.CertificatesPEM = append(a.CertificatesPEM, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})))
			}
			if ga := t.apps[strings.ToLower(ea.ClientID)]; ga != nil {
				a.MailboxGrants = slices.Clone(ga.MailboxGrants)
			}
			out.Apps = append(out.Apps, a)
		}
	}
	slices.SortFunc(out.Apps, func(a, b App) int { return strings.Compare(a.ClientID, b.ClientID) })
	type pending struct {
		i  int
		mb *mailbox
	}
	var mbs []pending
	for _, uid := range t.userOrder() {
		u := t.users[uid].u
		if p := t.photos[uid]; p != nil {
			u.Photo = &UserPhoto{ContentType: p.ctype, Data: p.data}
		}
		out.Users = append(out.Users, u)
		if mb := t.mailboxes[uid]; mb != nil {
			mbs = append(mbs, pending{len(out.Users) - 1, mb})
		}
	}
	for _, g := range t.groups {
		out.Groups = append(out.Groups, *g)
	}
	slices.SortFunc(out.Groups, func(a, b Group) int { return strings.Compare(a.ID, b.ID) })
	for _, c := range t.orgContacts {
		out.OrgContacts = append(out.OrgContacts, *c)
	}
	slices.SortFunc(out.OrgContacts, func(a, b OrgContact) int { return strings.Compare(a.ID, b.ID) })
	t.mu.RUnlock()
	for _, p := range mbs {
		out.Users[p.i].ContactFolders = p.mb.export()
	}
	return out, nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
