package graphsim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

// Application registrations, service principals and app role assignments,
// as Microsoft Graph v1.0 serves them (applications, servicePrincipals,
// appRoleAssignments, addKey, removeKey). The token service (entrasim)
// holds what it needs to issue tokens (keys, role grants, when each
// propagates); graphsim keeps the rest of the application object here.
// EVIDENCE.md ("Applications and consent") gives the source of each rule.

// GraphAppID is Microsoft Graph's application id, the same in every tenant.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// graphAppRole is one of Microsoft Graph's application permissions with
// its id (microsoft-graph-devx-content permissions/new/provisioningInfo.json,
// the Application scheme; the same ids on learn.microsoft.com/graph/permissions-reference).
type graphAppRole struct {
	id, value, displayName string
}

// graphAppRoles are the app roles graphsim's Microsoft Graph service
// principal offers: those galmirror uses and the broader ones its checks
// accept.
var graphAppRoles = []graphAppRole{
	{"df021288-bdef-4463-88db-98f22de89214", "User.Read.All", "Read all users' full profiles"},
	{"741f803b-c850-494e-b5df-cde7c675a1ca", "User.ReadWrite.All", "Read and write all users' full profiles"},
	{"98830695-27a2-44f7-8c18-0c3ebc9698f6", "GroupMember.Read.All", "Read all group memberships"},
	{"dbaae8cf-10b5-4b86-a4a1-f871c94c6695", "GroupMember.ReadWrite.All", "Read and write all group memberships"},
	{"5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All", "Read all groups"},
	{"62a82d76-70ea-41e2-9197-370581804d09", "Group.ReadWrite.All", "Read and write all groups"},
	{"e1a88a34-94c4-4418-be12-c87b00e26bea", "OrgContact.Read.All", "Read organizational contacts"},
	{"089fe4d0-434a-44c5-8827-41ba8a0b17f5", "Contacts.Read", "Read contacts in all mailboxes"},
	{"6918b873-d17a-4dc1-b314-35f528134491", "Contacts.ReadWrite", "Read and write contacts in all mailboxes"},
	{"40f97065-369a-49f4-947c-6a255697ae91", "MailboxSettings.Read", "Read all user mailbox settings"},
	{"7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All", "Read directory data"},
	{"19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Directory.ReadWrite.All", "Read and write directory data"},
	{"9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All", "Read all applications"},
	{"1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "Application.ReadWrite.All", "Read and write all applications"},
	{"18a4783c-866b-4cc7-a460-3d5e5662c884", "Application.ReadWrite.OwnedBy", "Manage apps that this app creates or owns"},
	{"06b708a9-e830-4db3-a914-8e69da51d44f", "AppRoleAssignment.ReadWrite.All", "Manage app permission grants and app role assignments"},
	{"498476ce-e0fe-48b0-b801-37ba7e2685c6", "Organization.Read.All", "Read organization information"},
}

func graphRoleByID(id string) (graphAppRole, bool) {
	for _, r := range graphAppRoles {
		if strings.EqualFold(r.id, id) {
			return r, true
		}
	}
	return graphAppRole{}, false
}

func graphRoleByValue(v string) (graphAppRole, bool) {
	for _, r := range graphAppRoles {
		if strings.EqualFold(r.value, v) {
			return r, true
		}
	}
	return graphAppRole{}, false
}

// popAudience is the audience a proof of possession must name (Azure AD
// Graph's application id; application-addkey.md).
const popAudience = "00000002-0000-0000-c000-000000000000"

// appDoc is the part of an application object and its service principal
// that only Graph shows.
type appDoc struct {
	objectID, appID, displayName, signInAudience string
	tags                                         []string
	rra                                          []resourceAccess
	redirectURIs                                 []string // publicClient.redirectUris
	webRedirectURIs                              []string // web.redirectUris
	created                                      time.Time
	spID                                         string // "" while it has no service principal
	spCreated                                    time.Time
}

type resourceAccess struct {
	ResourceAppID  string `json:"resourceAppId"`
	ResourceAccess []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"resourceAccess"`
}

// derivedID returns a stable GUID for a name.
func derivedID(parts ...string) string {
	h := sha1.Sum([]byte(strings.ToLower(strings.Join(parts, "\x00"))))
	var b [16]byte
	copy(b[:], h[:16])
	return formatGUID(b)
}

// graphSPID is the object id of Microsoft Graph's service principal in a
// tenant.
func graphSPID(tenantID string) string { return derivedID("graph-sp", tenantID) }

// docLocked returns the application document of an app, creating one for
// an app loaded from a fixture (with a service principal, as consent made
// it).
func (t *tenantState) docLocked(clientID string) *appDoc {
	k := strings.ToLower(clientID)
	if d := t.docs[k]; d != nil {
		return d
	}
	a := t.apps[k]
	if a == nil {
		return nil
	}
	d := &appDoc{objectID: derivedID("app", t.id, k), appID: k, displayName: a.DisplayName, signInAudience: "AzureADMyOrg",
		created: time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC), spID: derivedID("sp", t.id, k)}
	d.spCreated = d.created
	t.docs[k] = d
	return d
}

// allDocsLocked returns every application document, fixture apps included.
func (t *tenantState) allDocsLocked() []*appDoc {
	for k := range t.apps {
		t.docLocked(k)
	}
	out := make([]*appDoc, 0, len(t.docs))
	for _, d := range t.docs {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *appDoc) int { return a.created.Compare(b.created) })
	return out
}

// docByRef finds an application by object id or by the alternate key
// "appId='...'".
func (t *tenantState) docByRefLocked(ref string) *appDoc {
	if v, ok := altKeyValue(ref); ok {
		return t.docLocked(v)
	}
	for _, d := range t.allDocsLocked() {
		if strings.EqualFold(d.objectID, ref) {
			return d
		}
	}
	return nil
}

func (t *tenantState) docBySPLocked(ref string) *appDoc {
	if v, ok := altKeyValue(ref); ok {
		d := t.docLocked(v)
		if d == nil || d.spID == "" {
			return nil
		}
		return d
	}
	for _, d := range t.allDocsLocked() {
		if d.spID != "" && strings.EqualFold(d.spID, ref) {
			return d
		}
	}
	return nil
}

// Replication: for Options.ReplicationLag after an application or service
// principal is created, requests that name it (by id, by appId, in a
// filter, as a principal) do not find it, as requests served by another
// of Entra's directory replicas do not (a service principal create right
// after the application create answers "The appId ... does not reference
// a valid application object": learn.microsoft.com/answers/questions/5883620).
// The create's own answer has it.

func (s *Server) visibleApp(g *greq, d *appDoc) *appDoc {
	if d == nil || g.now.Before(d.created.Add(s.ReplicationLag())) {
		return nil
	}
	return d
}

func (s *Server) visibleSP(g *greq, d *appDoc) *appDoc {
	if d == nil || d.spID == "" || g.now.Before(d.spCreated.Add(s.ReplicationLag())) {
		return nil
	}
	return d
}

func (s *Server) visibleApps(g *greq, docs []*appDoc) []*appDoc {
	out := docs[:0:0]
	for _, d := range docs {
		if s.visibleApp(g, d) != nil {
			out = append(out, d)
		}
	}
	return out
}

// altKeyValue parses the alternate key segment "appId='v'".
func altKeyValue(ref string) (string, bool) {
	v, ok := strings.CutPrefix(ref, "appId=")
	if !ok || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
		return "", false
	}
	return strings.ReplaceAll(v[1:len(v)-1], "''", "'"), true
}

// splitAltKey splits "applications(appId='x')" into the entity set and the
// key "appId='x'".
func splitAltKey(seg string) (name, key string, ok bool) {
	i := strings.IndexByte(seg, '(')
	if i <= 0 || !strings.HasSuffix(seg, ")") {
		return "", "", false
	}
	name, key = seg[:i], seg[i+1:len(seg)-1]
	switch strings.ToLower(name) {
	case "applications", "serviceprincipals":
	default:
		return "", "", false
	}
	if _, ok := altKeyValue(key); !ok {
		return "", "", false
	}
	return name, key, true
}

// The application routes; the handlers authorise (apps.go: delegated
// scopes and the signed-in user's roles, or application permissions).
var (
	specApps        = newSpec("/applications", permApps, 1, methods{"GET": (*Server).listApplications, "POST": (*Server).createApplication})
	specApp         = newSpec("/applications/{id}", permApps, 1, methods{"GET": (*Server).getApplication, "PATCH": (*Server).patchApplication, "DELETE": (*Server).deleteApplication})
	specAddKey      = newSpec("/applications/{id}/addKey", permApps, 1, methods{"POST": (*Server).addKey})
	specRemoveKey   = newSpec("/applications/{id}/removeKey", permApps, 1, methods{"POST": (*Server).removeKey})
	specSPs         = newSpec("/servicePrincipals", permApps, 1, methods{"GET": (*Server).listServicePrincipals, "POST": (*Server).createServicePrincipal})
	specSP          = newSpec("/servicePrincipals/{id}", permApps, 1, methods{"GET": (*Server).getServicePrincipal})
	specAssignments = newSpec("/servicePrincipals/{id}/appRoleAssignments", permApps, 1, methods{"GET": (*Server).listAppRoleAssignments})
	specAssignedTo  = newSpec("/servicePrincipals/{id}/appRoleAssignedTo", permApps, 1, methods{"POST": (*Server).grantAppRole})
)

// applications matches /applications, /applications/{id} (or
// (appId='x')) and its addKey and removeKey actions.
func (m *matcher) applications() (*route, gresp, bool) {
	segs := m.segs
	switch {
	case len(segs) == 1:
		return m.pick(specApps, "")
	case len(segs) == 2:
		return m.pick(specApp, "", segs[1])
	case len(segs) == 3 && m.is(2, "addKey"):
		return m.pick(specAddKey, "", segs[1])
	case len(segs) == 3 && m.is(2, "removeKey"):
		return m.pick(specRemoveKey, "", segs[1])
	}
	return m.notFound(segs[len(segs)-1])
}

// servicePrincipals matches /servicePrincipals, one by id or appId, its
// appRoleAssignments and appRoleAssignedTo.
func (m *matcher) servicePrincipals() (*route, gresp, bool) {
	segs := m.segs
	switch {
	case len(segs) == 1:
		return m.pick(specSPs, "")
	case len(segs) == 2:
		return m.pick(specSP, "", segs[1])
	case len(segs) == 3 && m.is(2, "appRoleAssignments"):
		return m.pick(specAssignments, "", segs[1])
	case len(segs) == 3 && m.is(2, "appRoleAssignedTo"):
		return m.pick(specAssignedTo, "", segs[1])
	}
	return m.notFound(segs[len(segs)-1])
}

// Authorization of the application routes. Delegated calls need the scope
// and a signed-in user holding a role that may do it (graphsim is
// stricter than a tenant that lets every user register apps); app-only
// calls need an application permission, except an app rolling its own
// keys (application-addkey.md: "An application does not need any specific
// permission to roll its own keys").

var (
	readAppScopes   = []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	writeAppScopes  = []string{"Application.ReadWrite.All", "Directory.ReadWrite.All"}
	appWriterRoles  = []string{entrasim.RoleGlobalAdministrator, entrasim.RoleApplicationAdministrator, entrasim.RoleCloudApplicationAdministrator}
	graphGrantRoles = []string{entrasim.RoleGlobalAdministrator, entrasim.RolePrivilegedRoleAdministrator}
)

func (g *greq) denied() gresp {
	return g.graphErr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

func (g *greq) hasScope(scopes ...string) bool {
	return slices.ContainsFunc(g.claims.Scopes, func(sc string) bool {
		return slices.ContainsFunc(scopes, func(x string) bool { return strings.EqualFold(x, sc) })
	})
}

func (g *greq) userHasRole(roles ...string) bool {
	return slices.ContainsFunc(g.claims.RoleTemplateIDs, func(r string) bool {
		return slices.ContainsFunc(roles, func(x string) bool { return strings.EqualFold(x, r) })
	})
}

// mayRead authorises reading applications and service principals.
func (g *greq) mayRead() bool {
	if g.claims.Delegated() {
		return g.hasScope(readAppScopes...)
	}
	return g.hasRole(readAppScopes...)
}

// mayWrite authorises creating, changing and deleting them.
func (g *greq) mayWrite() bool {
	if g.claims.Delegated() {
		return g.hasScope(writeAppScopes...) && g.userHasRole(appWriterRoles...)
	}
	return g.hasRole(writeAppScopes...)
}

// Rendering.

func (s *Server) renderKey(k entrasim.Key, withKey bool) obj {
	tp := sha1.Sum(k.Cert.Raw)
	var key any
	if withKey {
		key = base64.StdEncoding.EncodeToString(k.Cert.Raw)
	}
	return obj{
		{"customKeyIdentifier", strings.ToUpper(fmt.Sprintf("%X", tp[:]))},
		{"displayName", k.DisplayName},
		{"endDateTime", k.Cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z")},
		{"key", key},
		{"keyId", k.ID},
		{"startDateTime", k.Cert.NotBefore.UTC().Format("2006-01-02T15:04:05Z")},
		{"type", "AsymmetricX509Cert"},
		{"usage", "Verify"},
	}
}

// appKeys lists an app's key credentials: the certificates of a loaded app
// (with key ids derived from their thumbprints) and the keys added
// through Graph.
func appKeys(a entrasim.App) []entrasim.Key {
	var out []entrasim.Key
	for _, c := range a.Certificates {
		tp := sha1.Sum(c.Raw)
		out = append(out, entrasim.Key{ID: derivedID("key", fmt.Sprintf("%x", tp)), Cert: c})
	}
	return append(out, a.Keys...)
}

func (s *Server) renderApplication(d *appDoc, a entrasim.App, withKeys bool) obj {
	var keys []obj
	for _, k := range appKeys(a) {
		keys = append(keys, s.renderKey(k, withKeys))
	}
	rra := []obj{}
	for _, r := range d.rra {
		var acc []obj
		for _, x := range r.ResourceAccess {
			acc = append(acc, obj{{"id", x.ID}, {"type", x.Type}})
		}
		rra = append(rra, obj{{"resourceAppId", r.ResourceAppID}, {"resourceAccess", nonNil(acc)}})
	}
	tags := d.tags
	if tags == nil {
		tags = []string{}
	}
	redirects := d.redirectURIs
	if redirects == nil {
		redirects = []string{}
	}
	return obj{
		{"id", d.objectID},
		{"deletedDateTime", nil},
		{"appId", d.appID},
		{"createdDateTime", d.created.UTC().Format("2006-01-02T15:04:05Z")},
		{"displayName", d.displayName},
		{"identifierUris", []string{}},
		{"signInAudience", d.signInAudience},
		{"tags", tags},
		{"keyCredentials", nonNil(keys)},
		{"passwordCredentials", []obj{}},
		{"publicClient", obj{{"redirectUris", redirects}}},
		{"web", obj{{"redirectUris", nonNilStrings(d.webRedirectURIs)}}},
		{"requiredResourceAccess", rra},
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNil(o []obj) []obj {
	if o == nil {
		return []obj{}
	}
	return o
}

func (s *Server) renderSP(d *appDoc, tenantID string) obj {
	tags := d.tags
	if tags == nil {
		tags = []string{}
	}
	return obj{
		{"id", d.spID},
		{"deletedDateTime", nil},
		{"accountEnabled", true},
		{"appDisplayName", d.displayName},
		{"appId", d.appID},
		{"appOwnerOrganizationId", tenantID},
		{"appRoles", []obj{}},
		{"displayName", d.displayName},
		{"servicePrincipalType", "Application"},
		{"signInAudience", d.signInAudience},
		{"tags", tags},
	}
}

func (s *Server) renderGraphSP(tenantID string) obj {
	var roles []obj
	for _, r := range graphAppRoles {
		roles = append(roles, obj{
			{"allowedMemberTypes", []string{"Application"}},
			{"description", r.displayName},
			{"displayName", r.displayName},
			{"id", r.id},
			{"isEnabled", true},
			{"origin", "Application"},
			{"value", r.value},
		})
	}
	return obj{
		{"id", graphSPID(tenantID)},
		{"deletedDateTime", nil},
		{"accountEnabled", true},
		{"appDisplayName", "Microsoft Graph"},
		{"appId", GraphAppID},
		{"appOwnerOrganizationId", "f8cdef31-a31e-4b4a-93e4-5f571e91255a"},
		{"appRoles", roles},
		{"displayName", "Microsoft Graph"},
		{"servicePrincipalType", "Application"},
		{"signInAudience", "AzureADMultipleOrgs"},
		{"tags", []string{}},
	}
}

// assignments lists the app role assignments of an app's service
// principal: the roles of a loaded app and the grants made through Graph.
func assignments(a entrasim.App) []entrasim.Grant {
	var out []entrasim.Grant
	for _, r := range a.Roles {
		gr, ok := graphRoleByValue(r)
		if !ok {
			continue
		}
		out = append(out, entrasim.Grant{ID: derivedID("grant", a.ClientID, gr.id), AppRoleID: gr.id, Role: gr.value})
	}
	return append(out, a.Grants...)
}

func (s *Server) renderAssignment(gr entrasim.Grant, d *appDoc, tenantID string) obj {
	created := gr.Created
	if created.IsZero() {
		created = d.spCreated
	}
	return obj{
		{"id", gr.ID},
		{"deletedDateTime", nil},
		{"appRoleId", gr.AppRoleID},
		{"createdDateTime", created.UTC().Format("2006-01-02T15:04:05.0000000Z")},
		{"principalDisplayName", d.displayName},
		{"principalId", d.spID},
		{"principalType", "ServicePrincipal"},
		{"resourceDisplayName", "Microsoft Graph"},
		{"resourceId", graphSPID(tenantID)},
	}
}

// Handlers.

func (s *Server) notFoundObject(g *greq, ref string) gresp {
	return g.graphErr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", ref))
}

// appFilter parses the $filter forms graphsim supports on applications and
// service principals: appId eq '...', displayName eq '...' and
// tags/any(t:t eq '...'). Anything else is refused (stricter than Graph).
func (g *greq) appFilter() (func(d *appDoc) bool, *gresp) {
	src, ok := g.q["$filter"]
	if !ok {
		return func(*appDoc) bool { return true }, nil
	}
	f := strings.TrimSpace(src[0])
	lit := func(rest string) (string, bool) {
		rest = strings.TrimSpace(rest)
		if len(rest) < 2 || rest[0] != '\'' || rest[len(rest)-1] != '\'' {
			return "", false
		}
		return strings.ReplaceAll(rest[1:len(rest)-1], "''", "'"), true
	}
	bad := func() (func(*appDoc) bool, *gresp) {
		r := g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query.")
		return nil, &r
	}
	lf := strings.ToLower(f)
	switch {
	case strings.HasPrefix(lf, "appid eq "):
		v, ok := lit(f[len("appid eq "):])
		if !ok {
			return bad()
		}
		return func(d *appDoc) bool { return strings.EqualFold(d.appID, v) }, nil
	case strings.HasPrefix(lf, "displayname eq "):
		v, ok := lit(f[len("displayname eq "):])
		if !ok {
			return bad()
		}
		return func(d *appDoc) bool { return d.displayName == v }, nil
	case strings.HasPrefix(lf, "tags/any(") && strings.HasSuffix(f, ")"):
		inner := f[len("tags/any(") : len(f)-1]
		v, _, ok := strings.Cut(inner, ":")
		if !ok {
			return bad()
		}
		cond := strings.TrimSpace(inner[len(v)+1:])
		prefix := strings.TrimSpace(v) + " eq "
		if !strings.HasPrefix(strings.ToLower(cond), strings.ToLower(prefix)) {
			return bad()
		}
		val, ok := lit(cond[len(prefix):])
		if !ok {
			return bad()
		}
		return func(d *appDoc) bool { return slices.Contains(d.tags, val) }, nil
	}
	return bad()
}

func (s *Server) listApplications(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayRead() {
		return g.denied()
	}
	match, e := g.appFilter()
	if e != nil {
		return *e
	}
	t := g.t
	t.mu.Lock()
	docs := s.visibleApps(g, t.allDocsLocked())
	t.mu.Unlock()
	var vals []obj
	for _, d := range docs {
		if !match(d) {
			continue
		}
		a, ok := s.entra.App(t.id, d.appID)
		if !ok {
			continue
		}
		vals = append(vals, s.renderApplication(d, a, false))
	}
	return okJSON(http.StatusOK, obj{{"@odata.context", s.contextURL("applications")}, {"value", nonNil(vals)}})
}

func (s *Server) getApplication(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayRead() {
		return g.denied()
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleApp(g, t.docByRefLocked(rt.ids[0]))
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	a, _ := s.entra.App(t.id, d.appID)
	sel := strings.ToLower(strings.Join(g.q["$select"], ","))
	return okJSON(http.StatusOK, append(obj{{"@odata.context", s.contextURL("applications/$entity")}},
		s.renderApplication(d, a, strings.Contains(sel, "keycredentials"))...))
}

// keyCredentialIn is a keyCredential in a request body.
type keyCredentialIn struct {
	KeyID         *string `json:"keyId"`
	Type          string  `json:"type"`
	Usage         string  `json:"usage"`
	Key           *string `json:"key"`
	DisplayName   string  `json:"displayName"`
	StartDateTime string  `json:"startDateTime"`
	EndDateTime   string  `json:"endDateTime"`
}

// parseCertKey checks a keyCredential carrying a certificate: type
// AsymmetricX509Cert, usage Verify, the key a DER certificate in base64
// (application-addkey.md; keyCredential resource) whose key is RSA and
// which has not expired. A certificate of another key type is refused:
// Entra's client assertions are signed only with RS* and PS* algorithms
// (certificate-credentials.md), so such a key could never sign in (graphsim
// is stricter than accepting it).
func (g *greq) parseCertKey(k keyCredentialIn, where string) (*x509.Certificate, *gresp) {
	fail := func(msg string) (*x509.Certificate, *gresp) {
		r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", where+": "+msg)
		return nil, &r
	}
	if k.Type != "AsymmetricX509Cert" {
		return fail(fmt.Sprintf("key type %q is not supported; use AsymmetricX509Cert", k.Type))
	}
	if k.Usage != "Verify" {
		return fail(fmt.Sprintf("usage %q is not valid for AsymmetricX509Cert; use Verify", k.Usage))
	}
	if k.Key == nil || *k.Key == "" {
		return fail("the key property is required")
	}
	der, err := base64.StdEncoding.DecodeString(*k.Key)
	if err != nil {
		return fail("the key is not base64")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fail("the key is not an X.509 certificate")
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return fail("the certificate's key is not RSA")
	}
	if g.now.After(c.NotAfter) {
		return fail("the certificate has expired")
	}
	return c, nil
}

// applicationIn is the part of an application a create or update body may
// carry.
type applicationIn struct {
	DisplayName            *string           `json:"displayName"`
	SignInAudience         *string           `json:"signInAudience"`
	Tags                   []string          `json:"tags"`
	KeyCredentials         []keyCredentialIn `json:"keyCredentials"`
	RequiredResourceAccess []resourceAccess  `json:"requiredResourceAccess"`
	PublicClient           *struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"publicClient"`
	Web *struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"web"`
	present map[string]bool
}

func (g *greq) parseApplication() (*applicationIn, *gresp) {
	var in applicationIn
	dec := json.NewDecoder(bytes.NewReader(g.body))
	if err := dec.Decode(&in); err != nil {
		r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid request body: "+err.Error())
		return nil, &r
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(g.body, &raw)
	in.present = map[string]bool{}
	known := map[string]bool{"displayName": true, "signInAudience": true, "tags": true, "keyCredentials": true, "requiredResourceAccess": true, "publicClient": true, "web": true}
	for k := range raw {
		if !known[k] {
			r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.application' or graphsim does not emulate it.", k))
			return nil, &r
		}
		in.present[k] = true
	}
	if in.SignInAudience != nil {
		switch *in.SignInAudience {
		case "AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount":
		default:
			r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid value specified for property 'signInAudience' of resource 'Application'."))
			return nil, &r
		}
	}
	if in.Web != nil {
		if e := g.checkRedirectURIs(in.Web.RedirectURIs, "web.redirectUris"); e != nil {
			return nil, e
		}
	}
	for _, r := range in.RequiredResourceAccess {
		if !isGUID(r.ResourceAppID) {
			e := g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'resourceAppId' of resource 'RequiredResourceAccess'.")
			return nil, &e
		}
		for _, x := range r.ResourceAccess {
			if x.Type != "Role" && x.Type != "Scope" {
				e := g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'type' of resource 'ResourceAccess'.")
				return nil, &e
			}
			if _, ok := graphRoleByID(x.ID); strings.EqualFold(r.ResourceAppID, GraphAppID) && x.Type == "Role" && !ok {
				e := g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Permission (scope or role) %s cannot be found on Microsoft Graph (graphsim knows the app roles listed in apps.go).", x.ID))
				return nil, &e
			}
		}
	}
	return &in, nil
}

// keysFrom turns the keyCredentials of a create or update into the app's
// keys. Each entry must carry its certificate (key): an update replaces
// the collection, and graphsim does not keep a key named by keyId alone
// (stricter than guessing that Graph would). A certificate the app has
// already keeps its keyId and is not propagated again; a new one gets the
// keyId the entry names (a GUID) or a new one.
func (s *Server) keysFrom(g *greq, in []keyCredentialIn, existing []entrasim.Key) ([]entrasim.Key, *gresp) {
	var out []entrasim.Key
	prop := s.entra.Propagation()
	for i, k := range in {
		where := fmt.Sprintf("keyCredentials[%d]", i)
		c, e := g.parseCertKey(k, where)
		if e != nil {
			return nil, e
		}
		if j := slices.IndexFunc(existing, func(e entrasim.Key) bool { return bytes.Equal(e.Cert.Raw, c.Raw) }); j >= 0 {
			if slices.ContainsFunc(out, func(e entrasim.Key) bool { return e.ID == existing[j].ID }) {
				r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", where+": the key credential is listed twice")
				return nil, &r
			}
			out = append(out, existing[j])
			continue
		}
		id := NewGUID()
		if k.KeyID != nil {
			if !isGUID(*k.KeyID) {
				r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", where+": keyId is not a GUID")
				return nil, &r
			}
			id = strings.ToLower(*k.KeyID)
		}
		if slices.ContainsFunc(out, func(e entrasim.Key) bool { return e.ID == id || bytes.Equal(e.Cert.Raw, c.Raw) }) ||
			slices.ContainsFunc(existing, func(e entrasim.Key) bool { return e.ID == id }) {
			r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", where+": the keyId or the certificate is listed twice")
			return nil, &r
		}
		out = append(out, entrasim.Key{ID: id, DisplayName: k.DisplayName, Cert: c, VisibleAt: g.now.Add(prop)})
	}
	return out, nil
}

// checkRedirectURIs applies Entra's rule for web redirect URIs: absolute,
// https, or http on localhost (reply-url restrictions).
func (g *greq) checkRedirectURIs(uris []string, where string) *gresp {
	for i, u := range uris {
		p, err := url.Parse(u)
		ok := err == nil && p.IsAbs() && p.Host != "" && p.Fragment == "" &&
			(p.Scheme == "https" || p.Scheme == "http" && (p.Hostname() == "localhost" || p.Hostname() == "127.0.0.1"))
		if !ok {
			r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("%s[%d]: a redirect URI must be an absolute https URL, or http on localhost", where, i))
			return &r
		}
	}
	return nil
}

func (s *Server) createApplication(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayWrite() {
		return g.denied()
	}
	in, e := g.parseApplication()
	if e != nil {
		return *e
	}
	if in.DisplayName == nil || strings.TrimSpace(*in.DisplayName) == "" {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Property 'displayName' is required and cannot be empty.")
	}
	keys, e := s.keysFrom(g, in.KeyCredentials, nil)
	if e != nil {
		return *e
	}
	d := &appDoc{objectID: NewGUID(), appID: NewGUID(), displayName: *in.DisplayName, signInAudience: "AzureADMyOrg",
		tags: slices.Clone(in.Tags), rra: slices.Clone(in.RequiredResourceAccess), created: g.now}
	if in.SignInAudience != nil {
		d.signInAudience = *in.SignInAudience
	}
	if in.PublicClient != nil {
		d.redirectURIs = slices.Clone(in.PublicClient.RedirectURIs)
	}
	if in.Web != nil {
		d.webRedirectURIs = slices.Clone(in.Web.RedirectURIs)
	}
	a := entrasim.App{ClientID: d.appID, DisplayName: d.displayName, Keys: keys,
		VisibleAt: g.now.Add(s.entra.Propagation()), NoServicePrincipal: true}
	if err := s.entra.AddApp(g.t.id, a); err != nil {
		return g.graphErr(http.StatusInternalServerError, "generalException", err.Error())
	}
	t := g.t
	t.mu.Lock()
	t.docs[d.appID] = d
	t.mu.Unlock()
	resp := okJSON(http.StatusCreated, append(obj{{"@odata.context", s.contextURL("applications/$entity")}}, s.renderApplication(d, a, false)...))
	resp.hdr.Set("Location", s.url+"/v2/"+t.id+"/directoryObjects/"+d.objectID+"/Microsoft.DirectoryServices.Application")
	return resp
}

func (s *Server) patchApplication(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayWrite() {
		return g.denied()
	}
	in, e := g.parseApplication()
	if e != nil {
		return *e
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleApp(g, t.docByRefLocked(rt.ids[0]))
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	if in.present["keyCredentials"] {
		cur, _ := s.entra.App(t.id, d.appID)
		keys, e := s.keysFrom(g, in.KeyCredentials, appKeys(cur))
		if e != nil {
			return *e
		}
		if err := s.entra.UpdateApp(t.id, d.appID, func(a *entrasim.App) error {
			a.Certificates, a.Keys = nil, keys
			return nil
		}); err != nil {
			return s.notFoundObject(g, rt.ids[0])
		}
	}
	t.mu.Lock()
	if in.DisplayName != nil {
		d.displayName = *in.DisplayName
	}
	if in.SignInAudience != nil {
		d.signInAudience = *in.SignInAudience
	}
	if in.present["tags"] {
		d.tags = slices.Clone(in.Tags)
	}
	if in.present["requiredResourceAccess"] {
		d.rra = slices.Clone(in.RequiredResourceAccess)
	}
	if in.PublicClient != nil {
		d.redirectURIs = slices.Clone(in.PublicClient.RedirectURIs)
	}
	if in.Web != nil {
		d.webRedirectURIs = slices.Clone(in.Web.RedirectURIs)
	}
	t.mu.Unlock()
	return noContent()
}

// deleteApplication deletes the application and, as Entra does for an app
// in its home tenant, its service principal and role assignments; tokens
// for it stop at once.
func (s *Server) deleteApplication(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayWrite() {
		return g.denied()
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleApp(g, t.docByRefLocked(rt.ids[0]))
	if d != nil {
		delete(t.docs, d.appID)
		delete(t.apps, d.appID)
	}
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	_ = s.entra.RemoveApp(t.id, d.appID)
	return noContent()
}

// faultAnswer is an injected failure (Faults.AddKeyStatus).
func (g *greq) faultAnswer(status int) gresp {
	switch status {
	case http.StatusForbidden:
		return g.denied()
	case http.StatusServiceUnavailable:
		r := g.graphErr(status, "serviceNotAvailable", "The service is temporarily unavailable. Please try again later.")
		r.hdr.Set("Retry-After", "5")
		return r
	}
	return g.graphErr(status, "generalException", "An internal server error occurred.")
}

// proofError is a refused proof of possession. The codes and messages are
// guesses, except Authentication_MissingOrMalformed for padded base64
// (application-rollkey-prooftoken.md).
func (g *greq) proofError(code, msg string) gresp {
	return g.graphErr(http.StatusBadRequest, code, msg)
}

// checkProof verifies an addKey/removeKey proof of possession
// (application-addkey.md, application-rollkey-prooftoken.md): a JWT
// signed (RS256) with the private key of one of the application's valid
// certificates, named by its x5t, with aud 00000002-0000-0000-c000-000000000000,
// iss the application's object id, nbf, and exp at most ten minutes after
// nbf; the current time must lie in [nbf, exp] (five minutes' skew).
func (s *Server) checkProof(g *greq, proof string, d *appDoc, a entrasim.App) *gresp {
	fail := func(code, msg string) *gresp { r := g.proofError(code, msg); return &r }
	parts := strings.Split(proof, ".")
	if len(parts) != 3 || proof == "" {
		return fail("Authentication_MissingOrMalformed", "The proof is not a JSON Web Token.")
	}
	if strings.Contains(parts[0]+parts[1], "=") {
		return fail("Authentication_MissingOrMalformed", "The proof's header or payload has base64 padding.")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	var hdr struct {
		Alg string `json:"alg"`
		X5t string `json:"x5t"`
	}
	var cl struct {
		Aud any      `json:"aud"`
		Iss string   `json:"iss"`
		Nbf *float64 `json:"nbf"`
		Exp *float64 `json:"exp"`
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(pb, &cl) != nil {
		return fail("Authentication_MissingOrMalformed", "The proof is not a well-formed JSON Web Token.")
	}
	if hdr.Alg != "RS256" {
		return fail("Request_BadRequest", fmt.Sprintf("Proof of possession validation failed: signature algorithm %q is not supported (RS256).", hdr.Alg))
	}
	tp, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(hdr.X5t, "="))
	if err != nil || len(tp) != sha1.Size {
		return fail("Request_BadRequest", "Proof of possession validation failed: the x5t header does not name a certificate.")
	}
	var signer *x509.Certificate
	for _, k := range appKeys(a) {
		if s := sha1.Sum(k.Cert.Raw); bytes.Equal(s[:], tp) {
			signer = k.Cert
		}
	}
	if signer == nil {
		return fail("Request_BadRequest", "Proof of possession validation failed: the proof is not signed by a key of the application.")
	}
	if g.now.After(signer.NotAfter) {
		return fail("Request_BadRequest", "Proof of possession validation failed: the certificate that signed the proof has expired; an application without a valid certificate cannot use this action.")
	}
	pub, _ := signer.PublicKey.(*rsa.PublicKey)
	if pub == nil || verifyRS256(pub, parts[0]+"."+parts[1], sig) != nil {
		return fail("Request_BadRequest", "Proof of possession validation failed: the signature is not valid.")
	}
	if aud, _ := cl.Aud.(string); aud != popAudience {
		return fail("Request_BadRequest", "Proof of possession validation failed: the audience must be "+popAudience+".")
	}
	if !strings.EqualFold(cl.Iss, d.objectID) {
		return fail("Request_BadRequest", "Proof of possession validation failed: the issuer must be the application's object id.")
	}
	if cl.Nbf == nil || cl.Exp == nil {
		return fail("Request_BadRequest", "Proof of possession validation failed: nbf and exp are required.")
	}
	nbf := time.Unix(int64(*cl.Nbf), 0)
	exp := time.Unix(int64(*cl.Exp), 0)
	if exp.Sub(nbf) > 10*time.Minute || !exp.After(nbf) {
		return fail("Request_BadRequest", "Proof of possession validation failed: the token must be valid for at most ten minutes.")
	}
	if g.now.Before(nbf.Add(-5*time.Minute)) || g.now.After(exp.Add(5*time.Minute)) {
		return fail("Request_BadRequest", "Proof of possession validation failed: the token is not within its validity period.")
	}
	return nil
}

// mayRollKeys authorises addKey and removeKey: the application itself
// (app-only, any token of its own), or a caller who may write applications.
func (g *greq) mayRollKeys(d *appDoc) bool {
	if !g.claims.Delegated() && strings.EqualFold(g.claims.AppID, d.appID) {
		return true
	}
	return g.mayWrite()
}

func (s *Server) addKey(g *greq, rt *route, _ *mailbox) gresp {
	if st := s.Faults().AddKeyStatus; st != 0 {
		return g.faultAnswer(st)
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleApp(g, t.docByRefLocked(rt.ids[0]))
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	if !g.mayRollKeys(d) {
		return g.denied()
	}
	var in struct {
		KeyCredential      *keyCredentialIn `json:"keyCredential"`
		PasswordCredential json.RawMessage  `json:"passwordCredential"`
		Proof              string           `json:"proof"`
	}
	if err := json.Unmarshal(g.body, &in); err != nil || in.KeyCredential == nil {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The request body must contain keyCredential and proof.")
	}
	if len(in.PasswordCredential) > 0 && string(in.PasswordCredential) != "null" {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "passwordCredential must be null for a key of type AsymmetricX509Cert.")
	}
	a, _ := s.entra.App(t.id, d.appID)
	if e := s.checkProof(g, in.Proof, d, a); e != nil {
		return *e
	}
	c, e := g.parseCertKey(*in.KeyCredential, "keyCredential")
	if e != nil {
		return *e
	}
	if slices.ContainsFunc(appKeys(a), func(k entrasim.Key) bool { return bytes.Equal(k.Cert.Raw, c.Raw) }) {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "keyCredential: the application already has this key.")
	}
	// A keyId in the body is not honoured: addKey's page names type, usage
	// and key only, so graphsim gives the key its own id (stricter: a
	// client must use the id the answer carries).
	k := entrasim.Key{ID: NewGUID(), DisplayName: in.KeyCredential.DisplayName, Cert: c, VisibleAt: g.now.Add(s.entra.Propagation())}
	if err := s.entra.UpdateApp(t.id, d.appID, func(a *entrasim.App) error {
		a.Keys = append(a.Keys, k)
		return nil
	}); err != nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	return okJSON(http.StatusOK, append(obj{{"@odata.context", s.contextURL("microsoft.graph.keyCredential")}}, s.renderKey(k, false)...))
}

func (s *Server) removeKey(g *greq, rt *route, _ *mailbox) gresp {
	t := g.t
	t.mu.Lock()
	d := s.visibleApp(g, t.docByRefLocked(rt.ids[0]))
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	if !g.mayRollKeys(d) {
		return g.denied()
	}
	var in struct {
		KeyID string `json:"keyId"`
		Proof string `json:"proof"`
	}
	if err := json.Unmarshal(g.body, &in); err != nil || in.KeyID == "" {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The request body must contain keyId and proof.")
	}
	a, _ := s.entra.App(t.id, d.appID)
	if e := s.checkProof(g, in.Proof, d, a); e != nil {
		return *e
	}
	keys := appKeys(a)
	i := slices.IndexFunc(keys, func(k entrasim.Key) bool { return strings.EqualFold(k.ID, in.KeyID) })
	if i < 0 {
		return g.graphErr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("No key credential with keyId '%s' exists on the application.", in.KeyID))
	}
	keys = slices.Delete(keys, i, i+1)
	// Removal takes effect for tokens at once (stricter than replication).
	if err := s.entra.UpdateApp(t.id, d.appID, func(a *entrasim.App) error {
		a.Certificates, a.Keys = nil, keys
		return nil
	}); err != nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	return noContent()
}

func (s *Server) listServicePrincipals(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayRead() {
		return g.denied()
	}
	match, e := g.appFilter()
	if e != nil {
		return *e
	}
	t := g.t
	t.mu.Lock()
	docs := t.allDocsLocked()
	t.mu.Unlock()
	vals := []obj{}
	graphDoc := &appDoc{appID: GraphAppID, displayName: "Microsoft Graph"}
	if match(graphDoc) {
		vals = append(vals, s.renderGraphSP(t.id))
	}
	for _, d := range docs {
		if s.visibleSP(g, d) != nil && match(d) {
			vals = append(vals, s.renderSP(d, t.id))
		}
	}
	return okJSON(http.StatusOK, obj{{"@odata.context", s.contextURL("servicePrincipals")}, {"value", vals}})
}

func (s *Server) getServicePrincipal(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayRead() {
		return g.denied()
	}
	ref := rt.ids[0]
	if v, ok := altKeyValue(ref); (ok && strings.EqualFold(v, GraphAppID)) || strings.EqualFold(ref, graphSPID(g.t.id)) {
		return okJSON(http.StatusOK, append(obj{{"@odata.context", s.contextURL("servicePrincipals/$entity")}}, s.renderGraphSP(g.t.id)...))
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleSP(g, t.docBySPLocked(ref))
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, ref)
	}
	return okJSON(http.StatusOK, append(obj{{"@odata.context", s.contextURL("servicePrincipals/$entity")}}, s.renderSP(d, t.id)...))
}

func (s *Server) createServicePrincipal(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayWrite() {
		return g.denied()
	}
	var in struct {
		AppID string   `json:"appId"`
		Tags  []string `json:"tags"`
	}
	if err := json.Unmarshal(g.body, &in); err != nil || in.AppID == "" {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Property 'appId' is required.")
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleApp(g, t.docLocked(in.AppID))
	if d == nil {
		t.mu.Unlock()
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("The appId '%s' of the service principal does not reference a valid application object.", in.AppID))
	}
	if d.spID != "" {
		t.mu.Unlock()
		return g.graphErr(http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue", "Another object with the same value for property servicePrincipalNames already exists.")
	}
	d.spID, d.spCreated = NewGUID(), g.now
	body := append(obj{{"@odata.context", s.contextURL("servicePrincipals/$entity")}}, s.renderSP(d, t.id)...)
	t.mu.Unlock()
	until := g.now.Add(s.entra.Propagation())
	_ = s.entra.UpdateApp(t.id, d.appID, func(a *entrasim.App) error {
		a.NoServicePrincipal = false
		a.ServicePrincipalID = d.spID
		if until.After(a.VisibleAt) {
			a.VisibleAt = until
		}
		return nil
	})
	return okJSON(http.StatusCreated, body)
}

func (s *Server) listAppRoleAssignments(g *greq, rt *route, _ *mailbox) gresp {
	if !g.mayRead() {
		return g.denied()
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleSP(g, t.docBySPLocked(rt.ids[0]))
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, rt.ids[0])
	}
	a, _ := s.entra.App(t.id, d.appID)
	vals := []obj{}
	for _, gr := range assignments(a) {
		vals = append(vals, s.renderAssignment(gr, d, t.id))
	}
	return okJSON(http.StatusOK, obj{{"@odata.context", s.contextURL(fmt.Sprintf("servicePrincipals('%s')/appRoleAssignments", d.spID))}, {"value", vals}})
}

// grantAppRole creates an app role assignment of one of Microsoft Graph's
// app roles (serviceprincipal-post-approleassignedto.md): delegated, it
// needs AppRoleAssignment.ReadWrite.All with Application.Read.All (or
// broader), and a user who may grant Microsoft Graph's application
// permissions: Global Administrator or Privileged Role Administrator
// (Application and Cloud Application Administrators may not).
func (s *Server) grantAppRole(g *greq, rt *route, _ *mailbox) gresp {
	ok := false
	if g.claims.Delegated() {
		ok = g.hasScope("AppRoleAssignment.ReadWrite.All") && g.hasScope(readAppScopes...) && g.userHasRole(graphGrantRoles...)
	} else {
		ok = g.hasRole("AppRoleAssignment.ReadWrite.All") && g.hasRole(readAppScopes...)
	}
	if !ok {
		return g.denied()
	}
	ref := rt.ids[0]
	if v, isAlt := altKeyValue(ref); !(isAlt && strings.EqualFold(v, GraphAppID)) && !strings.EqualFold(ref, graphSPID(g.t.id)) {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "graphsim grants only Microsoft Graph's app roles.")
	}
	var in struct {
		PrincipalID string `json:"principalId"`
		ResourceID  string `json:"resourceId"`
		AppRoleID   string `json:"appRoleId"`
	}
	if err := json.Unmarshal(g.body, &in); err != nil {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid request body.")
	}
	if !strings.EqualFold(in.ResourceID, graphSPID(g.t.id)) {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The resourceId must be the id of the service principal in the URL.")
	}
	role, found := graphRoleByID(in.AppRoleID)
	if !found {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Permission being assigned was not found on application.")
	}
	t := g.t
	t.mu.Lock()
	d := s.visibleSP(g, t.docBySPLocked(in.PrincipalID))
	t.mu.Unlock()
	if d == nil {
		return s.notFoundObject(g, in.PrincipalID)
	}
	gr := entrasim.Grant{ID: assignmentID(), AppRoleID: role.id, Role: role.value,
		Created: g.now, VisibleAt: g.now.Add(s.entra.Propagation())}
	dup := false
	if err := s.entra.UpdateApp(t.id, d.appID, func(a *entrasim.App) error {
		if slices.ContainsFunc(assignments(*a), func(x entrasim.Grant) bool { return strings.EqualFold(x.AppRoleID, role.id) }) {
			dup = true
			return nil
		}
		a.Grants = append(a.Grants, gr)
		return nil
	}); err != nil {
		return s.notFoundObject(g, in.PrincipalID)
	}
	if dup {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Permission being assigned already exists on the object")
	}
	return okJSON(http.StatusCreated, append(obj{{"@odata.context", s.contextURL(fmt.Sprintf("servicePrincipals('%s')/appRoleAssignedTo/$entity", graphSPID(t.id)))}},
		s.renderAssignment(gr, d, t.id)...))
}

// assignmentID returns an id in the form of appRoleAssignment ids: 43
// characters of base64url.
func assignmentID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func verifyRS256(pub *rsa.PublicKey, input string, sig []byte) error {
	d := sha256.Sum256([]byte(input))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
}
