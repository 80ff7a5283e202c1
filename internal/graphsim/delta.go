package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Change tracking, what graphsim's three delta functions share: users/delta
// and contacts/delta (org contacts) of the directory, and a folder's
// contacts/delta in a mailbox. Each refuses the query parameters it does
// not support, reads a $skiptoken (a nextLink, within a round) or a
// $deltatoken (a deltaLink, the next round), and ends a page with a
// nextLink while more pages follow, else with the round's deltaLink.

// refuseQuery answers 400 code on the first of params in the query; msg is
// a format naming it (%s).
func (g *greq) refuseQuery(params []string, code, msg string) *gresp {
	for _, p := range params {
		if _, ok := g.q[p]; ok {
			r := g.graphErr(http.StatusBadRequest, code, fmt.Sprintf(msg, p))
			return &r
		}
	}
	return nil
}

// deltaTokenParam reads a delta request's link token: raw is the
// $deltatoken when one is given, else the $skiptoken ("" for neither).
func (g *greq) deltaTokenParam() (raw string, hasSkip, hasDelta bool) {
	_, hasSkip = g.q["$skiptoken"]
	_, hasDelta = g.q["$deltatoken"]
	raw = g.q.Get("$skiptoken")
	if hasDelta {
		raw = g.q.Get("$deltatoken")
	}
	return raw, hasSkip, hasDelta
}

// appendDeltaLink ends a delta page: a nextLink carrying tok as $skiptoken
// while more pages follow, else the round's deltaLink carrying tok as
// $deltatoken. path is the collection's, after /v1.0.
func (s *Server) appendDeltaLink(g *greq, out obj, path string, more bool, tok any) obj {
	if more {
		return append(out, kv{"@odata.nextLink", s.nextPage(g, s.url+"/v1.0"+path+"?$skiptoken="+encodeToken(tok))})
	}
	return append(out, kv{"@odata.deltaLink", s.url + "/v1.0" + path + "?$deltatoken=" + encodeToken(tok)})
}

// dirDelta is one directory collection's change tracking: users/delta or
// contacts/delta (org contacts). Rounds, links and refusals work alike;
// what differs is here.
type dirDelta struct {
	path      string   // after /v1.0: "/users/delta"
	coll      string   // the collection of @odata.context: "users"
	res       string   // deltaToken.Res of its links
	resource  string   // the resource named in errors: "Users"
	refused   []string // query parameters refused
	refuseMsg string   // the refusal, a format naming the parameter
	isProp    func(string) bool
	selectOf  func(*greq) ([]string, *gresp) // parses $select
	// page collects the round's entries after tok.After, cuts them to
	// size and renders them (t.mu read-locked); last is the last id
	// served, more whether entries were left.
	page func(t *tenantState, tok *deltaToken, size int, minimal bool) (page []obj, last string, more bool)
}

var usersDeltaKind = dirDelta{
	path:      "/users/delta",
	coll:      "users",
	resource:  "Users",
	refused:   []string{"$top", "$expand", "$orderby", "$search", "$count"},
	refuseMsg: "The query parameter '%s' is not supported with change tracking over the 'Users' resource.",
	isProp:    isUserProp,
	selectOf:  func(g *greq) ([]string, *gresp) { return g.selectList(isUserProp, "microsoft.graph.user") },
	page:      (*tenantState).usersDeltaPage,
}

// orgContactsDeltaKind: orgcontact-delta.md documents $select and $filter
// (ids) only.
var orgContactsDeltaKind = dirDelta{
	path:      "/contacts/delta",
	coll:      "contacts",
	res:       "contacts",
	resource:  "OrgContacts",
	refused:   []string{"$top", "$expand", "$orderby", "$search", "$count", "$skip"},
	refuseMsg: "The query parameter '%s' is not supported with change tracking over the 'OrgContacts' resource.",
	isProp:    isOrgContactDeltaProp,
	selectOf:  (*greq).orgContactsDeltaSelect,
	page:      (*tenantState).orgContactsDeltaPage,
}

// dirDelta answers a page of a directory delta round.
func (s *Server) dirDelta(g *greq, d *dirDelta) gresp {
	if e := g.refuseQuery(d.refused, "Request_UnsupportedQuery", d.refuseMsg); e != nil {
		return *e
	}
	raw, hasSkip, hasDelta := g.deltaTokenParam()
	if hasSkip && hasDelta {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "Only one of $skiptoken and $deltatoken may be given.")
	}
	t := g.t
	t.mu.RLock()
	epoch, seq, stale := t.epoch, t.seq, t.stale
	t.mu.RUnlock()
	var tok deltaToken
	fresh := true
	switch {
	case hasDelta && strings.EqualFold(raw, "latest"):
		// "Sync from now" for directory resources (delta-query-overview;
		// used on /contacts/delta in microsoftgraph/microsoft-graph-docs#5523).
		return s.dirDeltaLatest(g, d, deltaToken{Epoch: epoch, Base: seq, Stale: stale, Issued: g.now.Unix(), Res: d.res})
	case raw != "":
		var e *gresp
		if tok, e = s.resumeDirDelta(g, d, raw, hasSkip, epoch, stale); e != nil {
			return *e
		}
		fresh = false
	default:
		sel, ids, e := d.query(g)
		if e != nil {
			return *e
		}
		tok = deltaToken{Epoch: epoch, Sel: sel, IDs: ids, Stale: stale, Res: d.res}
	}
	if !tok.Next {
		tok.High = seq
		tok.After = ""
		tok.Next = true
	}
	return s.dirDeltaPage(g, d, tok, fresh)
}

// query parses a fresh round's $select and $filter (ids).
func (d *dirDelta) query(g *greq) (sel, ids []string, e *gresp) {
	if sel, e = d.selectOf(g); e != nil {
		return nil, nil, e
	}
	if ids, e = g.deltaIDFilterOf(d.resource); e != nil {
		return nil, nil, e
	}
	return sel, ids, nil
}

// dirDeltaLatest answers $deltatoken=latest: no entries, and a deltaLink
// for the changes from now on (tok, with the request's query).
func (s *Server) dirDeltaLatest(g *greq, d *dirDelta, tok deltaToken) gresp {
	sel, ids, e := d.query(g)
	if e != nil {
		return *e
	}
	tok.Sel, tok.IDs = sel, ids
	link := s.url + "/v1.0" + d.path + "?$deltatoken=" + encodeToken(tok)
	return okJSON(http.StatusOK, obj{{"@odata.context", s.contextURL(d.coll + selSuffix(sel))}, {"@odata.deltaLink", link}, {"value", []obj{}}})
}

// resumeDirDelta reads the token of a nextLink or deltaLink (raw), refusing
// one that is not this collection's, is expired, or is of state the
// tenant no longer has.
func (s *Server) resumeDirDelta(g *greq, d *dirDelta, raw string, hasSkip bool, epoch, stale uint64) (deltaToken, *gresp) {
	var tok deltaToken
	invalid := func() (deltaToken, *gresp) {
		r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The specified delta token is invalid.")
		return tok, &r
	}
	if !decodeToken(raw, &tok) || hasSkip != tok.Next || tok.Res != d.res {
		return invalid()
	}
	for _, p := range tok.Sel {
		if !d.isProp(p) {
			return invalid()
		}
	}
	// A link older than directory delta state lives (7 days) answers
	// 400 syncStateNotFound "The sync state generation is not found.
	// The delta token is expired and data must be synchronized again."
	// (https://devblogs.microsoft.com/microsoft365dev/duration-of-change-tracking-tokens-for-identity-and-education-resources/;
	// D2 of docs/graph-fidelity.md).
	if tok.Stale != stale || tok.Issued != 0 && g.now.Sub(time.Unix(tok.Issued, 0)) > deltaStateLife {
		r := g.graphErr(http.StatusBadRequest, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
		return tok, &r
	}
	if tok.Epoch != epoch {
		r := s.dirDeltaGone(g, d, &tok)
		return tok, &r
	}
	return tok, nil
}

// dirDeltaGone answers 410 resyncRequired, its Location a fresh round with
// the query of tok's.
func (s *Server) dirDeltaGone(g *greq, d *dirDelta, tok *deltaToken) gresp {
	q := url.Values{}
	if len(tok.Sel) > 0 {
		q.Set("$select", strings.Join(tok.Sel, ","))
	}
	if len(tok.IDs) > 0 {
		parts := make([]string, 0, len(tok.IDs))
		for _, id := range tok.IDs {
			parts = append(parts, "id eq '"+id+"'")
		}
		q.Set("$filter", strings.Join(parts, " or "))
	}
	q.Set("$deltatoken", "")
	resp := g.graphErr(http.StatusGone, "resyncRequired", "Resync required. Replace any local cached copies of the objects with a full sync using the Location header.")
	resp.hdr.Set("Location", s.url+"/v1.0"+d.path+"?"+odataQuery(q))
	return resp
}

// dirDeltaPage answers the page of tok's round after tok.After, with a
// nextLink or the round's deltaLink.
func (s *Server) dirDeltaPage(g *greq, d *dirDelta, tok deltaToken, fresh bool) gresp {
	minimal := tok.Base > 0 && preferMinimal(g.headerValues("Prefer"))
	size := s.usersDeltaPageSize()
	t := g.t
	t.mu.RLock()
	page, last, more := d.page(t, &tok, size, minimal)
	t.mu.RUnlock()

	ctxFrag := d.coll
	if fresh {
		ctxFrag += selSuffix(tok.Sel)
	}
	out := obj{{"@odata.context", s.contextURL(ctxFrag)}}
	link := deltaToken{Epoch: tok.Epoch, Base: tok.High, Sel: tok.Sel, IDs: tok.IDs, Stale: tok.Stale, Issued: g.now.Unix(), Res: d.res}
	if more {
		link = tok
		link.After = last
		link.Issued = g.now.Unix()
	}
	out = s.appendDeltaLink(g, out, d.path, more, link)
	out = append(out, kv{"value", page})
	resp := okJSON(http.StatusOK, out)
	if minimal {
		resp.hdr.Set("Preference-Applied", "return=minimal")
	}
	return resp
}

// deltaEntry is an entry of a directory delta page: a live object, or a
// tombstone.
type deltaEntry[T any] struct {
	id   string
	live T
	tomb *userTomb
}

// addDeltaTombs adds to entries the objects removed in tok's round (after
// tok.Base up to tok.High, after tok.After, among tok's ids): an id's
// latest tombstone, unless the object came back since (liveSeq: the
// sequence of the live object, 0 for none) or is among entries; sorted by
// id.
func addDeltaTombs[T any](entries []deltaEntry[T], tombs []userTomb, tok *deltaToken, liveSeq func(id string) uint64) []deltaEntry[T] {
	latest := map[string]*userTomb{}
	for i := range tombs {
		tb := &tombs[i]
		if tb.seq > tok.Base && tb.seq <= tok.High && tb.id > tok.After && tok.wantID(tb.id) {
			if ls := liveSeq(tb.id); ls > tb.seq && ls <= tok.High {
				continue // recreated or restored since: reported as live
			}
			latest[tb.id] = tb
		}
	}
	for id, tb := range latest {
		if slices.ContainsFunc(entries, func(e deltaEntry[T]) bool { return e.id == id }) {
			continue
		}
		entries = append(entries, deltaEntry[T]{id: id, tomb: tb})
	}
	slices.SortFunc(entries, func(a, b deltaEntry[T]) int { return strings.Compare(a.id, b.id) })
	return entries
}

// renderDeltaPage cuts entries to size and renders them, a tombstone as
// its id and @removed; last is the last id served, more whether entries
// were left.
func renderDeltaPage[T any](entries []deltaEntry[T], size int, render func(T) obj) (page []obj, last string, more bool) {
	more = len(entries) > size
	if more {
		entries = entries[:size]
	}
	page = make([]obj, 0, len(entries))
	for _, e := range entries {
		if e.tomb != nil {
			page = append(page, obj{{"id", e.id}, {"@removed", obj{{"reason", e.tomb.reason}}}})
			continue
		}
		page = append(page, render(e.live))
	}
	if len(entries) > 0 {
		last = entries[len(entries)-1].id
	}
	return page, last, more
}
