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

// matchRoute parses the request target and finds its handler.
func (s *Server) matchRoute(g *greq) (*route, gresp, bool) {
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
	raw := strings.Trim(g.rawPath, "/")
	var segs []string
	if raw != "" {
		for _, p := range strings.Split(raw, "/") {
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
	notFound := func(seg string) (*route, gresp, bool) {
		return nil, g.graphErr(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg)), false
	}
	if len(segs) == 0 {
		return notFound("v1.0")
	}
	low := make([]string, len(segs))
	for i, x := range segs {
		low[i] = strings.ToLower(x)
	}
	pick := func(tmpl string, p perm, ru int, ms methods, user string, ids ...string) (*route, gresp, bool) {
		h, ok := ms[g.method]
		if !ok {
			code := "Request_BadRequest"
			if p == permMailbox {
				code = "ErrorInvalidRequest"
			}
			return nil, g.graphErr(http.StatusMethodNotAllowed, code, "Specified HTTP method is not allowed for the request target."), false
		}
		return &route{template: g.method + " " + tmpl, perm: p, ru: ru, h: h, user: user, ids: ids}, gresp{}, true
	}
	switch low[0] {
	case "me":
		return nil, g.graphErr(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow."), false
	case "applications", "serviceprincipals":
		return s.matchApps(g, segs, low, pick, notFound)
	case "users":
		switch {
		case len(segs) == 1:
			return pick("/users", permUsers, 2, methods{"GET": (*Server).listUsers}, "")
		case len(segs) == 2 && low[1] == "delta":
			return pick("/users/delta", permUsers, 1, methods{"GET": (*Server).usersDelta}, "")
		case len(segs) == 2:
			return pick("/users/{id}", permUsers, 1, methods{"GET": (*Server).getUser}, "", segs[1])
		}
		user := segs[1]
		rest, lrest := segs[2:], low[2:]
		// permanentDelete exists in the global cloud only
		// (contact-permanentdelete.md, contactfolder-permanentdelete.md:
		// includes/global-only.md); elsewhere it is an unknown segment.
		// contacts delta is not offered by 21Vianet
		// (https://learn.microsoft.com/graph/api/contact-delta: China ❌);
		// graphsim answers it as an unknown segment (guess: 400 BadRequest
		// "Resource not found for the segment 'delta'.").
		switch lrest[0] {
		case "contactfolders":
			switch {
			case len(rest) == 1:
				return pick("/users/{id}/contactFolders", permMailbox, 0, methods{"GET": (*Server).listFolders, "POST": (*Server).createFolder}, user)
			case len(rest) == 2:
				return pick("/users/{id}/contactFolders/{id}", permMailbox, 0, methods{"GET": (*Server).getFolder, "DELETE": (*Server).deleteFolder, "PATCH": (*Server).patchFolder}, user, rest[1])
			case len(rest) == 3 && lrest[2] == "permanentdelete":
				if !g.t.globalCloud() {
					return notFound(rest[2])
				}
				return pick("/users/{id}/contactFolders/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteFolder}, user, rest[1])
			case len(rest) == 3 && lrest[2] == "childfolders":
				return pick("/users/{id}/contactFolders/{id}/childFolders", permMailbox, 0, methods{"GET": (*Server).listFolders, "POST": (*Server).createFolder}, user, rest[1])
			case len(rest) == 4 && lrest[2] == "childfolders":
				return pick("/users/{id}/contactFolders/{id}/childFolders/{id}", permMailbox, 0, methods{"GET": (*Server).getFolder, "DELETE": (*Server).deleteFolder, "PATCH": (*Server).patchFolder}, user, rest[1], rest[3])
			case len(rest) == 5 && lrest[2] == "childfolders" && lrest[4] == "permanentdelete":
				if !g.t.globalCloud() {
					return notFound(rest[4])
				}
				return pick("/users/{id}/contactFolders/{id}/childFolders/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteFolder}, user, rest[1], rest[3])
			case len(rest) == 3 && lrest[2] == "contacts":
				return pick("/users/{id}/contactFolders/{id}/contacts", permMailbox, 0, methods{"GET": (*Server).listContacts, "POST": (*Server).createContact}, user, rest[1])
			case len(rest) == 4 && lrest[2] == "contacts" && lrest[3] == "delta":
				if !g.t.deltaCloud() {
					return notFound(rest[3])
				}
				return pick("/users/{id}/contactFolders/{id}/contacts/delta", permMailbox, 0, methods{"GET": (*Server).contactsDelta}, user, rest[1])
			case len(rest) == 4 && lrest[2] == "contacts":
				return pick("/users/{id}/contactFolders/{id}/contacts/{id}", permMailbox, 0, methods{"GET": (*Server).getContact, "PATCH": (*Server).patchContact, "DELETE": (*Server).deleteContact}, user, rest[1], rest[3])
			case len(rest) == 5 && lrest[2] == "contacts" && lrest[4] == "permanentdelete":
				if !g.t.globalCloud() {
					return notFound(rest[4])
				}
				return pick("/users/{id}/contactFolders/{id}/contacts/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteContact}, user, rest[1], rest[3])
			case len(rest) >= 5 && (lrest[2] == "contacts" || lrest[2] == "childfolders"):
				if len(rest) > 5 && lrest[4] == "permanentdelete" {
					return notFound(rest[5])
				}
				return notFound(rest[4])
			case len(rest) >= 3:
				return notFound(rest[2])
			}
		case "contacts":
			switch {
			case len(rest) == 1:
				return pick("/users/{id}/contacts", permMailbox, 0, methods{"GET": (*Server).listContacts, "POST": (*Server).createContact}, user, "")
			case len(rest) == 2 && lrest[1] == "delta":
				if !g.t.deltaCloud() {
					return notFound(rest[1])
				}
				return pick("/users/{id}/contacts/delta", permMailbox, 0, methods{"GET": (*Server).contactsDelta}, user, "")
			case len(rest) == 2:
				return pick("/users/{id}/contacts/{id}", permMailbox, 0, methods{"GET": (*Server).getContact, "PATCH": (*Server).patchContact, "DELETE": (*Server).deleteContact}, user, "", rest[1])
			case len(rest) == 3 && lrest[2] == "permanentdelete":
				if !g.t.globalCloud() {
					return notFound(rest[2])
				}
				return pick("/users/{id}/contacts/{id}/permanentDelete", permMailbox, 0, methods{"POST": (*Server).permanentDeleteContact}, user, "", rest[1])
			default:
				return notFound(rest[2])
			}
		}
		return notFound(rest[0])
	case "groups":
		switch {
		case len(segs) == 1:
			return pick("/groups", permGroups, 1, methods{"GET": (*Server).listGroups}, "")
		case len(segs) == 2:
			return pick("/groups/{id}", permGroups, 1, methods{"GET": (*Server).getGroup}, "", segs[1])
		case (len(segs) == 3 || len(segs) == 4) && (low[2] == "members" || low[2] == "transitivemembers"):
			name, ru := "members", 3
			if low[2] == "transitivemembers" {
				name, ru = "transitiveMembers", 5
			}
			tmpl := "/groups/{id}/" + name
			cast := ""
			if len(segs) == 4 {
				cast = low[3]
				switch cast {
				case "microsoft.graph.user", "microsoft.graph.group", "microsoft.graph.orgcontact":
				case "$count":
					return nil, g.graphErr(http.StatusBadRequest, "Request_BadRequest", "$count is not currently supported."), false
				default:
					return notFound(segs[3])
				}
				tmpl += "/" + segs[3]
			}
			return pick(tmpl, permGroups, ru, methods{"GET": (*Server).listMembers}, "", segs[1], low[2], cast)
		case len(segs) >= 3:
			return notFound(segs[2])
		}
	case "contacts":
		switch {
		case len(segs) == 1:
			return pick("/contacts", permOrgContacts, 1, methods{"GET": (*Server).listOrgContacts}, "")
		case len(segs) == 2 && low[1] == "delta":
			return pick("/contacts/delta", permOrgContacts, 1, methods{"GET": (*Server).orgContactsDelta}, "")
		case len(segs) == 2:
			return pick("/contacts/{id}", permOrgContacts, 1, methods{"GET": (*Server).getOrgContact}, "", segs[1])
		default:
			return notFound(segs[2])
		}
	}
	return notFound(segs[0])
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
