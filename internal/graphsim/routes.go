package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

type handlerFunc = func(s *Server, g *greq, rt *route, mb *mailbox) gresp

// methods maps HTTP methods to handlers for one path shape.
type methods map[string]handlerFunc

// routeSpec is one path shape: its template, permission class, resource
// units, handlers and the counter name of each method
// ("POST /users/{id}/contacts"), made once.
type routeSpec struct {
	perm  perm
	ru    int
	h     methods
	names map[string]string
	// roles, when set, replace perm's roles: a mailbox route that needs
	// another permission than Contacts (mailboxSettings); Exchange RBAC
	// mailbox grants (Contacts) do not open it.
	roles []string
}

// withRoles sets a spec's own roles (routeSpec.roles).
func withRoles(rs *routeSpec, roles ...string) *routeSpec {
	rs.roles = roles
	return rs
}

func newSpec(tmpl string, p perm, ru int, h methods) *routeSpec {
	rs := &routeSpec{perm: p, ru: ru, h: h, names: map[string]string{}}
	for m := range h {
		rs.names[m] = m + " " + tmpl
	}
	return rs
}

var (
	specUsers       = newSpec("/users", permUsers, 2, methods{"GET": (*Server).listUsers})
	specUsersDelta  = newSpec("/users/delta", permUsers, 1, methods{"GET": (*Server).usersDelta})
	specUser        = newSpec("/users/{id}", permUsers, 1, methods{"GET": (*Server).getUser})
	specFolders     = newSpec("/users/{id}/contactFolders", permMailbox, 0, methods{"GET": (*Server).listFolders, "POST": (*Server).createFolder})
	specFolder      = newSpec("/users/{id}/contactFolders/{id}", permMailbox, 0, methods{"GET": (*Server).getFolder, "DELETE": (*Server).deleteFolder, "PATCH": (*Server).patchFolder})
	specFolderPurge = newSpec("/users/{id}/contactFolders/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteFolder})
	specChildren    = newSpec("/users/{id}/contactFolders/{id}/childFolders", permMailbox, 0, methods{"GET": (*Server).listFolders, "POST": (*Server).createFolder})
	specChild       = newSpec("/users/{id}/contactFolders/{id}/childFolders/{id}", permMailbox, 0, methods{"GET": (*Server).getFolder, "DELETE": (*Server).deleteFolder, "PATCH": (*Server).patchFolder})
	specChildPurge  = newSpec("/users/{id}/contactFolders/{id}/childFolders/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteFolder})
	specFContacts   = newSpec("/users/{id}/contactFolders/{id}/contacts", permMailbox, 0, methods{"GET": (*Server).listContacts, "POST": (*Server).createContact})
	specFDelta      = newSpec("/users/{id}/contactFolders/{id}/contacts/delta", permMailbox, 0, methods{"GET": (*Server).contactsDelta})
	specFContact    = newSpec("/users/{id}/contactFolders/{id}/contacts/{id}", permMailbox, 0, methods{"GET": (*Server).getContact, "PATCH": (*Server).patchContact, "DELETE": (*Server).deleteContact})
	specFPurge      = newSpec("/users/{id}/contactFolders/{id}/contacts/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteContact})
	specContacts    = newSpec("/users/{id}/contacts", permMailbox, 0, methods{"GET": (*Server).listContacts, "POST": (*Server).createContact})
	specDelta       = newSpec("/users/{id}/contacts/delta", permMailbox, 0, methods{"GET": (*Server).contactsDelta})
	specContact     = newSpec("/users/{id}/contacts/{id}", permMailbox, 0, methods{"GET": (*Server).getContact, "PATCH": (*Server).patchContact, "DELETE": (*Server).deleteContact})
	specPurge       = newSpec("/users/{id}/contacts/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteContact})
	specGroups      = newSpec("/groups", permGroups, 1, methods{"GET": (*Server).listGroups})
	specGroup       = newSpec("/groups/{id}", permGroups, 1, methods{"GET": (*Server).getGroup})
	specOrgContacts = newSpec("/contacts", permOrgContacts, 1, methods{"GET": (*Server).listOrgContacts})
	specOrgContact  = newSpec("/contacts/{id}", permOrgContacts, 1, methods{"GET": (*Server).getOrgContact})
	specOrgDelta    = newSpec("/contacts/delta", permOrgContacts, 1, methods{"GET": (*Server).orgContactsDelta})
	specMbxSettings = withRoles(newSpec("/users/{id}/mailboxSettings", permMailbox, 0, methods{"GET": (*Server).getMailboxSettings}),
		"MailboxSettings.Read", "MailboxSettings.ReadWrite")
	specUserPhoto  = newSpec("/users/{id}/photo", permPhotos, 1, methods{"GET": (*Server).getUserPhoto})
	specUserPhotoV = newSpec("/users/{id}/photo/$value", permPhotos, 1, methods{"GET": (*Server).getUserPhotoValue})
	specFPhoto     = newSpec("/users/{id}/contactFolders/{id}/contacts/{id}/photo", permMailbox, 0, methods{"GET": (*Server).getContactPhoto})
	specFPhotoV    = newSpec("/users/{id}/contactFolders/{id}/contacts/{id}/photo/$value", permMailbox, 0, methods{"GET": (*Server).getContactPhotoValue, "PUT": (*Server).putContactPhoto, "PATCH": (*Server).putContactPhoto, "DELETE": (*Server).deleteContactPhoto})
	specMembers    = newSpec("/groups/{id}/members", permGroups, 3, methods{"GET": (*Server).listMembers})
	specTransitive = newSpec("/groups/{id}/transitiveMembers", permGroups, 5, methods{"GET": (*Server).listMembers})
)

// matcher matches one request's path segments.
type matcher struct {
	s    *Server
	g    *greq
	segs []string
}

// is reports whether segment i is name, compared in lower case.
func (m *matcher) is(i int, name string) bool {
	if s := m.segs[i]; isASCII(s) {
		return strings.EqualFold(s, name)
	}
	return strings.ToLower(m.segs[i]) == strings.ToLower(name)
}

func (m *matcher) notFound(seg string) (*route, gresp, bool) {
	return nil, m.g.graphErr(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg)), false
}

// pick takes spec's handler of the request's method; the route lives in
// the request.
func (m *matcher) pick(spec *routeSpec, user string, ids ...string) (*route, gresp, bool) {
	g := m.g
	h, ok := spec.h[g.method]
	if !ok {
		code := "Request_BadRequest"
		if spec.perm == permMailbox {
			code = "ErrorInvalidRequest"
		}
		return nil, g.graphErr(http.StatusMethodNotAllowed, code, "Specified HTTP method is not allowed for the request target."), false
	}
	return m.pickNamed(spec, spec.names[g.method], h, user, ids...)
}

// pickNamed fills the request's route.
func (m *matcher) pickNamed(spec *routeSpec, name string, h handlerFunc, user string, ids ...string) (*route, gresp, bool) {
	rt := &m.g.rtBuf
	*rt = route{template: name, perm: spec.perm, ru: spec.ru, h: h, user: user, roles: spec.roles}
	rt.ids = append(rt.idBuf[:0], ids...)
	return rt, gresp{}, true
}

// matchRoute parses the request target and finds its handler.
func (s *Server) matchRoute(g *greq) (*route, gresp, bool) {
	segs, resp, ok := g.parseTarget()
	if !ok {
		return nil, resp, false
	}
	m := &matcher{s: s, g: g, segs: segs}
	if len(segs) == 0 {
		return m.notFound("v1.0")
	}
	switch {
	case m.is(0, "me"):
		return nil, g.graphErr(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow."), false
	case m.is(0, "users"):
		return m.users()
	case m.is(0, "groups"):
		return m.groups()
	case m.is(0, "applications"):
		return m.applications()
	case m.is(0, "servicePrincipals"):
		return m.servicePrincipals()
	case m.is(0, "contacts"):
		switch len(segs) {
		case 1:
			return m.pick(specOrgContacts, "")
		case 2:
			if m.is(1, "delta") {
				return m.pick(specOrgDelta, "")
			}
			return m.pick(specOrgContact, "", segs[1])
		}
		return m.notFound(segs[2])
	}
	return m.notFound(segs[0])
}

// parseTarget parses the query (system options lower-cased, each at most
// once) and the path segments, OData key segments split in two.
func (g *greq) parseTarget() ([]string, gresp, bool) {
	g.q = nil
	if g.rawQuery != "" {
		q, err := url.ParseQuery(g.rawQuery)
		if err != nil {
			return nil, g.graphErr(http.StatusBadRequest, "BadRequest", "The query specified in the URI is not valid."), false
		}
		g.q = url.Values{}
		for k, v := range q {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "$") {
				if _, dup := g.q[lk]; dup || len(v) > 1 {
					return nil, g.graphErr(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Query option '%s' was specified more than once, but it must be specified at most once.", k)), false
				}
				k = lk
			}
			g.q[k] = v
		}
	}
	raw := strings.Trim(g.rawPath, "/")
	var segs []string
	if raw != "" {
		segs = make([]string, 0, 8)
		for p := range strings.SplitSeq(raw, "/") {
			u, err := url.PathUnescape(p)
			if err != nil {
				return nil, g.graphErr(http.StatusBadRequest, "BadRequest", "The request URI is not valid."), false
			}
			segs = append(segs, u)
		}
	}
	// OData key segments (users('x'), contactFolders('y')) address the
	// same entities as slash segments; Exchange writes its links in that
	// form (see exchangePath).
	for i := 0; i < len(segs); i++ {
		if strings.IndexByte(segs[i], '(') < 0 {
			continue
		}
		if name, key, ok := keySegment(segs[i]); ok {
			segs[i] = name
			segs = slices.Insert(segs, i+1, key)
			i++
		}
	}
	// The alternate key of applications and service principals:
	// applications(appId='x'), servicePrincipals(appId='x').
	if len(segs) > 0 {
		if name, key, ok := splitAltKey(segs[0]); ok {
			segs = append([]string{name, key}, segs[1:]...)
		}
	}
	g.segs = segs
	return segs, gresp{}, true
}

// users matches /users, /users/delta, /users/{id} and mailbox routes.
func (m *matcher) users() (*route, gresp, bool) {
	segs := m.segs
	switch {
	case len(segs) == 1:
		return m.pick(specUsers, "")
	case len(segs) == 2 && m.is(1, "delta"):
		return m.pick(specUsersDelta, "")
	case len(segs) == 2:
		return m.pick(specUser, "", segs[1])
	}
	// permanentDelete exists in the global cloud only
	// (contact-permanentdelete.md, contactfolder-permanentdelete.md:
	// includes/global-only.md); elsewhere it is an unknown segment.
	// contacts delta is not offered by 21Vianet
	// (https://learn.microsoft.com/graph/api/contact-delta: China ❌);
	// graphsim answers it as an unknown segment (guess: 400 BadRequest
	// "Resource not found for the segment 'delta'.").
	switch {
	case m.is(2, "mailboxSettings") && len(m.segs) == 3:
		return m.pick(specMbxSettings, m.segs[1])
	case len(segs) == 3 && m.is(2, "photo"): // throttled as the user's mailbox (route.outlook)
		return m.pick(specUserPhoto, segs[1], segs[1])
	case len(segs) == 4 && m.is(2, "photo") && m.is(3, "$value"):
		return m.pick(specUserPhotoV, segs[1], segs[1])
	case m.is(2, "contactFolders"):
		return m.contactFolders()
	case m.is(2, "contacts"):
		return m.contacts()
	}
	return m.notFound(segs[2])
}

// contactFolders matches /users/{id}/contactFolders/...
func (m *matcher) contactFolders() (*route, gresp, bool) {
	user, rest := m.segs[1], m.segs[2:]
	r := &matcher{s: m.s, g: m.g, segs: rest}
	global := m.g.t.globalCloud()
	switch {
	case len(rest) == 1:
		return m.pick(specFolders, user)
	case len(rest) == 2:
		return m.pick(specFolder, user, rest[1])
	case len(rest) == 3 && r.is(2, "permanentDelete"):
		if !global {
			return m.notFound(rest[2])
		}
		return m.pick(specFolderPurge, user, rest[1])
	case len(rest) == 3 && r.is(2, "childFolders"):
		return m.pick(specChildren, user, rest[1])
	case len(rest) == 4 && r.is(2, "childFolders"):
		return m.pick(specChild, user, rest[1], rest[3])
	case len(rest) == 5 && r.is(2, "childFolders") && r.is(4, "permanentDelete"):
		if !global {
			return m.notFound(rest[4])
		}
		return m.pick(specChildPurge, user, rest[1], rest[3])
	case len(rest) == 3 && r.is(2, "contacts"):
		return m.pick(specFContacts, user, rest[1])
	case len(rest) == 4 && r.is(2, "contacts") && r.is(3, "delta"):
		if !m.g.t.deltaCloud() {
			return m.notFound(rest[3])
		}
		return m.pick(specFDelta, user, rest[1])
	case len(rest) == 4 && r.is(2, "contacts"):
		return m.pick(specFContact, user, rest[1], rest[3])
	case len(rest) == 5 && r.is(2, "contacts") && r.is(4, "permanentDelete"):
		if !global {
			return m.notFound(rest[4])
		}
		return m.pick(specFPurge, user, rest[1], rest[3])
	case len(rest) == 5 && r.is(2, "contacts") && r.is(4, "photo"):
		return m.pick(specFPhoto, user, rest[1], rest[3])
	case len(rest) == 6 && r.is(2, "contacts") && r.is(4, "photo") && r.is(5, "$value"):
		return m.pick(specFPhotoV, user, rest[1], rest[3])
	case len(rest) >= 5 && (r.is(2, "contacts") || r.is(2, "childFolders")):
		if len(rest) > 5 && r.is(4, "permanentDelete") {
			return m.notFound(rest[5])
		}
		return m.notFound(rest[4])
	}
	return m.notFound(rest[2])
}

// contacts matches /users/{id}/contacts/...
func (m *matcher) contacts() (*route, gresp, bool) {
	user, rest := m.segs[1], m.segs[2:]
	r := &matcher{s: m.s, g: m.g, segs: rest}
	switch {
	case len(rest) == 1:
		return m.pick(specContacts, user, "")
	case len(rest) == 2 && r.is(1, "delta"):
		if !m.g.t.deltaCloud() {
			return m.notFound(rest[1])
		}
		return m.pick(specDelta, user, "")
	case len(rest) == 2:
		return m.pick(specContact, user, "", rest[1])
	case len(rest) == 3 && r.is(2, "permanentDelete"):
		if !m.g.t.globalCloud() {
			return m.notFound(rest[2])
		}
		return m.pick(specPurge, user, "", rest[1])
	}
	return m.notFound(rest[2])
}

// groups matches /groups, /groups/{id} and member lists.
func (m *matcher) groups() (*route, gresp, bool) {
	segs := m.segs
	switch {
	case len(segs) == 1:
		return m.pick(specGroups, "")
	case len(segs) == 2:
		return m.pick(specGroup, "", segs[1])
	case (len(segs) == 3 || len(segs) == 4) && (m.is(2, "members") || m.is(2, "transitiveMembers")):
		spec, name := specMembers, "members"
		if m.is(2, "transitiveMembers") {
			spec, name = specTransitive, "transitiveMembers"
		}
		tmpl, cast := "/groups/{id}/"+name, ""
		if len(segs) == 4 {
			cast = strings.ToLower(segs[3])
			switch cast {
			case "microsoft.graph.user", "microsoft.graph.group", "microsoft.graph.orgcontact":
			case "$count":
				return nil, m.g.graphErr(http.StatusBadRequest, "Request_BadRequest", "$count is not currently supported."), false
			default:
				return m.notFound(segs[3])
			}
			tmpl += "/" + segs[3]
		}
		h, ok := spec.h[m.g.method]
		if !ok {
			return m.pick(spec, "") // the method's refusal
		}
		return m.pickNamed(spec, m.g.method+" "+tmpl, h, "", segs[1], strings.ToLower(segs[2]), cast)
	}
	return m.notFound(segs[2])
}

// keySegment splits an OData key segment of an entity set graphsim routes
// by key (users('x'), contactFolders('y'), childFolders('y'),
// contacts('z')) into its name and key; a quote inside the key is doubled.
func keySegment(seg string) (name, key string, ok bool) {
	i := strings.IndexByte(seg, '(')
	if i <= 0 || len(seg) < i+5 || seg[i+1] != '\'' || !strings.HasSuffix(seg, "')") {
		return "", "", false
	}
	name = seg[:i]
	switch strings.ToLower(name) {
	case "users", "contactfolders", "childfolders", "contacts":
	default:
		return "", "", false
	}
	key = seg[i+2 : len(seg)-2]
	if strings.IndexByte(key, '\'') >= 0 {
		var b strings.Builder
		for j := 0; j < len(key); j++ {
			if key[j] == '\'' {
				if j+1 >= len(key) || key[j+1] != '\'' {
					return "", "", false
				}
				j++
			}
			b.WriteByte(key[j])
		}
		key = b.String()
	}
	return name, key, true
}

// keyLiteral renders a key as the inside of an OData key segment in a URL
// path: quotes doubled, the rest path-escaped.
func keyLiteral(key string) string {
	return url.PathEscape(strings.ReplaceAll(key, "'", "''"))
}

// exchangePath renders a mailbox route's path as Exchange writes it in the
// links it emits (nextLink, deltaLink): OData key segments, the user and
// folder named as the request named them, e.g.
// /users('u')/contactFolders('f')/contacts/delta.
// Evidence: contact-delta.md's sample nextLink .../contactfolders('{id}')/
// contacts/delta; users('{upn as sent}') in the Location of
// microsoftgraph/msgraph-sdk-powershell#2743.
func exchangePath(rt *route) string {
	tmpl := rt.template[strings.IndexByte(rt.template, ' ')+1:]
	parts := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	keys := make([]string, 0, 1+len(rt.ids))
	keys = append(keys, rt.user)
	for _, id := range rt.ids {
		if id != "" {
			keys = append(keys, id)
		}
	}
	var b strings.Builder
	k := 0
	for i := 0; i < len(parts); i++ {
		b.WriteByte('/')
		b.WriteString(parts[i])
		if i+1 < len(parts) && parts[i+1] == "{id}" && k < len(keys) {
			b.WriteString("('")
			b.WriteString(keyLiteral(keys[k]))
			b.WriteString("')")
			k++
			i++
		}
	}
	return b.String()
}
