package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Directory endpoints: users, users/delta, groups and their members, org
// contacts.

func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 16<<10 {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func (g *greq) advanced() bool {
	return strings.EqualFold(g.header("ConsistencyLevel"), "eventual") && strings.EqualFold(g.q.Get("$count"), "true")
}

// pageSize parses $top for directory collections (default 100, 1-999).
func (g *greq) dirPageSize() (int, *gresp) {
	v, ok := g.q["$top"]
	if !ok {
		return 100, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 1 || n > 999 {
		r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", v[0]))
		return 0, &r
	}
	return n, nil
}

// selectList parses $select against known property names.
func (g *greq) selectList(known func(string) bool, typeName string) ([]string, *gresp) {
	v := g.q.Get("$select")
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !known(p) {
			r := g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Could not find a property named '%s' on type '%s'.", p, typeName))
			return nil, &r
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func isUserProp(p string) bool { _, ok := userPropIndex[p]; return ok }

// userFilterRules lists filterable user properties and their operators
// without advanced query parameters (aad-advanced-queries).
var userFilterRules = map[string]string{
	"accountEnabled": "eq in", "userType": "eq in", "id": "eq in",
	"mail": "eq ge le in startswith", "userPrincipalName": "eq ge le in startswith",
	"displayName": "eq ge le in startswith", "givenName": "eq ge le in startswith", "surname": "eq ge le in startswith",
	"jobTitle": "eq ge le in startswith", "department": "eq ge le in startswith", "companyName": "eq ge le in startswith",
	"employeeId": "eq ge le in startswith", "mailNickname": "eq ge le in startswith", "city": "eq ge le in startswith",
	"country": "eq ge le in startswith", "officeLocation": "eq ge le in startswith", "state": "eq ge le in startswith",
	"usageLocation": "eq ge le in startswith", "preferredLanguage": "eq ge le in startswith", "postalCode": "eq ge le in startswith",
	"streetAddress": "eq ge le in startswith", "mobilePhone": "eq ge le in startswith", "faxNumber": "eq ge le in startswith",
	"createdDateTime": "eq ge le in",
	"proxyAddresses":  "any", "otherMails": "any", "businessPhones": "any",
}

// checkDirFilter validates a directory $filter against rules; advanced
// enables ne, not, endswith and null comparisons.
func (g *greq) checkDirFilter(f *fnode, rules map[string]string, resource, typeName string, advanced bool) *gresp {
	c := dirFilterCheck{g: g, rules: rules, resource: resource, typeName: typeName, advanced: advanced}
	return c.check(f, "")
}

// dirFilterCheck is the validation of one directory $filter (see
// checkDirFilter).
type dirFilterCheck struct {
	g                  *greq
	rules              map[string]string
	resource, typeName string
	advanced           bool
}

func (c *dirFilterCheck) unsupported(prop string) *gresp {
	r := c.g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, c.resource))
	return &r
}

func (c *dirFilterCheck) unknown(prop string) *gresp {
	r := c.g.graphErr(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Could not find a property named '%s' on type '%s'.", prop, c.typeName))
	return &r
}

func (c *dirFilterCheck) unsupportedQuery() *gresp {
	r := c.g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query.")
	return &r
}

// dirFilterProp is the property a path operand names: the lambda variable
// (lambdaVar) or one property; ok is false for anything else (prop is then
// the joined path, or "" for an operand that is not a path).
func dirFilterProp(n *fnode, lambdaVar string) (prop string, ok bool) {
	if n.kind != nPath {
		return "", false
	}
	if lambdaVar != "" && len(n.path) == 1 && n.path[0] == lambdaVar {
		return lambdaVar, true
	}
	if len(n.path) != 1 {
		return strings.Join(n.path, "/"), false
	}
	return n.path[0], true
}

// allowed reports whether op may compare prop (lambdaVar, a lambda's
// variable).
func (c *dirFilterCheck) allowed(prop, op, lambdaVar string) bool {
	if prop == lambdaVar {
		return op == "eq" || op == "startswith" || (c.advanced && (op == "ne" || op == "endswith"))
	}
	r, ok := c.rules[prop]
	if !ok || r == "any" {
		return false
	}
	if slices.Contains(strings.Fields(r), op) {
		return true
	}
	return c.advanced && (op == "ne" || op == "endswith" || op == "in" || op == "eq")
}

// check validates node n; lv is the variable of the enclosing lambda.
func (c *dirFilterCheck) check(n *fnode, lv string) *gresp {
	switch n.kind {
	case nAnd, nOr:
		if e := c.check(n.args[0], lv); e != nil {
			return e
		}
		return c.check(n.args[1], lv)
	case nNot:
		if !c.advanced {
			return c.unsupportedQuery()
		}
		return c.check(n.args[0], lv)
	case nCmp, nIn:
		return c.checkCmp(n, lv)
	case nFunc:
		return c.checkFunc(n, lv)
	case nLambda:
		if len(n.path) != 1 || c.rules[n.path[0]] != "any" || n.op != "any" {
			return c.unsupported(strings.Join(n.path, "/"))
		}
		return c.check(n.args[0], n.v)
	}
	return c.unsupportedQuery()
}

// checkCmp validates a comparison or in: a property against literals.
func (c *dirFilterCheck) checkCmp(n *fnode, lv string) *gresp {
	prop, ok := dirFilterProp(n.args[0], lv)
	if !ok {
		if n.args[0].kind == nPath {
			return c.unknown(prop)
		}
		return c.unsupportedQuery()
	}
	if _, known := c.rules[prop]; !known && prop != lv {
		return c.unknown(prop)
	}
	for _, a := range n.args[1:] {
		if a.kind != nLit {
			return c.unsupportedQuery()
		}
		if a.lk == lNull && !c.advanced {
			return c.unsupported(prop)
		}
	}
	op := n.op
	if n.kind == nIn {
		op = "in"
	}
	if !c.allowed(prop, op, lv) {
		return c.unsupported(prop)
	}
	return nil
}

// checkFunc validates a function call: startswith, or endswith with
// advanced queries.
func (c *dirFilterCheck) checkFunc(n *fnode, lv string) *gresp {
	if n.op == "endswith" && !c.advanced {
		r := c.g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information")
		return &r
	}
	if n.op != "startswith" && n.op != "endswith" || len(n.args) != 2 || n.args[1].kind != nLit || n.args[1].lk != lString {
		r := c.g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported Query. The function '%s' is not supported.", n.op))
		return &r
	}
	prop, ok := dirFilterProp(n.args[0], lv)
	if !ok {
		return c.unknown(prop)
	}
	if _, known := c.rules[prop]; !known && prop != lv {
		return c.unknown(prop)
	}
	if !c.allowed(prop, n.op, lv) {
		return c.unsupported(prop)
	}
	return nil
}

// parseDirFilter parses and validates $filter if present.
func (g *greq) parseDirFilter(rules map[string]string, resource, typeName string) (*fnode, *gresp) {
	src, ok := g.q["$filter"]
	if !ok {
		return nil, nil
	}
	f, err := parseFilter(src[0])
	if err != nil {
		r := g.graphErr(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
		return nil, &r
	}
	if e := g.checkDirFilter(f, rules, resource, typeName, g.advanced()); e != nil {
		return nil, e
	}
	return f, nil
}

// renderUser renders the selected (or default) properties.
func renderUser(u *User, sel []string, typed bool) obj {
	if sel == nil {
		sel = userDefaultSelect
	}
	o := make(obj, 0, len(sel)+2)
	if typed {
		o = append(o, kv{"@odata.type", "#microsoft.graph.user"})
	}
	hasID := false
	for _, p := range sel {
		if p == "id" {
			hasID = true
		}
		o = append(o, kv{p, userProps[userPropIndex[p]].get(u)})
	}
	if !hasID {
		o = append(o, kv{"id", u.ID})
	}
	return o
}

func (g *greq) base() string {
	return "https://" + g.header("X-Graphsim-Host") + "/v1.0"
}

// contextURL builds @odata.context.
func (s *Server) contextURL(frag string) string { return s.url + "/v1.0/$metadata#" + frag }

func selSuffix(sel []string) string {
	if len(sel) == 0 {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}

// nextLinkWith rebuilds the request URL with a new $skiptoken.
func (s *Server) nextLinkWith(g *greq, name, tok string) string {
	q := url.Values{}
	for k, v := range g.q {
		if k == "$skiptoken" || k == "$skip" {
			continue
		}
		q[k] = v
	}
	q.Set(name, tok)
	return s.url + "/v1.0" + g.rawPath + "?" + odataQuery(q)
}

// odataQuery encodes a query keeping '$', ',' and '\” readable as Graph does.
func odataQuery(q url.Values) string {
	enc := q.Encode()
	r := strings.NewReplacer("%24", "$", "%2C", ",", "%27", "'", "%28", "(", "%29", ")", "%3A", ":", "%2F", "/")
	return r.Replace(enc)
}

type listToken struct {
	After string `json:"a,omitempty"`
	Off   int    `json:"o,omitempty"`
}

func (s *Server) listUsers(g *greq, rt *route, _ *mailbox) gresp {
	sel, e := g.selectList(isUserProp, "microsoft.graph.user")
	if e != nil {
		return *e
	}
	top, e := g.dirPageSize()
	if e != nil {
		return *e
	}
	if _, ok := g.q["$search"]; ok && !strings.EqualFold(g.header("ConsistencyLevel"), "eventual") {
		return g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
	}
	if _, ok := g.q["$skip"]; ok {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "'$skip' is not supported by the service.")
	}
	f, e := g.parseDirFilter(userFilterRules, "User", "microsoft.graph.user")
	if e != nil {
		return *e
	}
	if _, ok := g.q["$orderby"]; ok && f != nil && !g.advanced() {
		return g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Sorting not supported for current query.")
	}
	var tok listToken
	if st, ok := g.q["$skiptoken"]; ok && !decodeToken(st[0], &tok) {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")
	}
	search := strings.Trim(g.q.Get("$search"), "\"")
	t := g.t
	t.mu.RLock()
	var page []obj
	count := 0
	more := false
	for _, id := range t.userOrder() {
		u := &t.users[id].u
		if f != nil && !evalFilter(f, userObject{u}) {
			continue
		}
		if search != "" && !matchSearch(search, userObject{u}) {
			continue
		}
		count++
		if id <= tok.After {
			continue
		}
		if len(page) < top {
			page = append(page, renderUser(u, sel, false))
			continue
		}
		more = true
		if !g.advanced() {
			break
		}
	}
	t.mu.RUnlock()
	next := ""
	if more {
		next = t.lastID(page)
	}
	out := obj{{"@odata.context", s.contextURL("users" + selSuffix(sel))}}
	if g.advanced() && tok.After == "" {
		out = append(out, kv{"@odata.count", count})
	}
	if next != "" {
		out = append(out, kv{"@odata.nextLink", s.nextPage(g, s.nextLinkWith(g, "$skiptoken", encodeToken(listToken{After: next})))})
	}
	if page == nil {
		page = []obj{}
	}
	out = append(out, kv{"value", page})
	return okJSON(http.StatusOK, out)
}

func (t *tenantState) lastID(page []obj) string { return page[len(page)-1].id() }

func matchSearch(search string, o fobject) bool {
	prop, val, ok := strings.Cut(search, ":")
	if !ok {
		prop, val = "displayName", search
	}
	v, _ := o.prop(prop)
	s, _ := v.(string)
	return strings.Contains(strings.ToLower(s), strings.ToLower(val))
}

func (s *Server) getUser(g *greq, rt *route, _ *mailbox) gresp {
	sel, e := g.selectList(isUserProp, "microsoft.graph.user")
	if e != nil {
		return *e
	}
	t := g.t
	t.mu.RLock()
	o := t.resolveUserLocked(rt.ids[0])
	var body obj
	if o != nil {
		body = append(obj{{"@odata.context", s.contextURL("users" + selSuffix(sel) + "/$entity")}}, renderUser(&o.u, sel, false)...)
	}
	t.mu.RUnlock()
	if o == nil {
		return g.graphErr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", rt.ids[0]))
	}
	return okJSON(http.StatusOK, body)
}

// deltaToken is the state a users/delta link carries.
type deltaToken struct {
	Epoch uint64   `json:"e"`
	Base  uint64   `json:"b"`           // changes after this sequence
	High  uint64   `json:"h,omitempty"` // up to this sequence (nextLinks)
	After string   `json:"a,omitempty"` // last id served (nextLinks)
	Sel   []string `json:"s,omitempty"`
	IDs   []string `json:"i,omitempty"`
	Next  bool     `json:"n,omitempty"`
	Stale uint64   `json:"g,omitempty"` // the tenant's stale generation at issue
	// Issued is when the link was made (Unix seconds, graphsim's clock):
	// directory delta state lives 7 days.
	Issued int64 `json:"t,omitempty"`
	// Res is the collection the link belongs to: "" users/delta,
	// "contacts" contacts/delta (org contacts); a link of one is refused
	// by the other.
	Res string `json:"r,omitempty"`
}

// deltaStateLife is how long users/delta state lives: a link older than
// this answers 400 syncStateNotFound (devblogs.microsoft.com/microsoft365dev/
// duration-of-change-tracking-tokens-for-identity-and-education-resources).
const deltaStateLife = 7 * 24 * time.Hour

func (s *Server) usersDelta(g *greq, rt *route, _ *mailbox) gresp {
	return s.dirDelta(g, &usersDeltaKind)
}

// usersDeltaPage is users/delta's page of tok's round (dirDelta.page).
func (t *tenantState) usersDeltaPage(tok *deltaToken, size int, minimal bool) ([]obj, string, bool) {
	var entries []deltaEntry[*userObj]
	for _, id := range t.userOrder() {
		if id <= tok.After {
			continue
		}
		o := t.users[id]
		if o.seq > tok.High || !tok.wantID(id) {
			continue
		}
		if tok.Base > 0 && !tok.changedSince(o) {
			continue
		}
		entries = append(entries, deltaEntry[*userObj]{id: id, live: o})
	}
	if tok.Base > 0 {
		entries = addDeltaTombs(entries, t.tombs, tok, func(id string) uint64 {
			if o := t.users[id]; o != nil {
				return o.seq
			}
			return 0
		})
	}
	return renderDeltaPage(entries, size, func(o *userObj) obj { return renderDeltaUser(o, tok.Sel, tok.Base, minimal) })
}

func (s *Server) usersDeltaPageSize() int {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.deltaPS
}

func preferMinimal(prefer []string) bool {
	for _, v := range prefer {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "return=minimal") {
				return true
			}
		}
	}
	return false
}

func (tok *deltaToken) wantID(id string) bool {
	return len(tok.IDs) == 0 || slices.Contains(tok.IDs, id)
}

// changedSince reports whether a tracked property changed after Base.
func (tok *deltaToken) changedSince(o *userObj) bool {
	if o.seq <= tok.Base {
		return false
	}
	if len(tok.Sel) == 0 {
		return true
	}
	for _, p := range tok.Sel {
		if o.propSeq[p] > tok.Base {
			return true
		}
	}
	return false
}

func renderDeltaUser(o *userObj, sel []string, base uint64, minimal bool) obj {
	if sel == nil {
		sel = userDefaultSelect
	}
	out := make(obj, 0, len(sel)+1)
	for _, p := range sel {
		if p == "id" {
			continue
		}
		v := userProps[userPropIndex[p]].get(&o.u)
		if minimal {
			if o.propSeq[p] <= base {
				continue
			}
		} else if v == nil {
			continue
		} else if l, ok := v.([]string); ok && len(l) == 0 {
			continue
		}
		out = append(out, kv{p, v})
	}
	return append(out, kv{"id", o.u.ID})
}

// deltaIDFilterOf parses a directory delta's $filter (resource names the
// collection in errors): id eq '...' OR-ed, at most 50.
func (g *greq) deltaIDFilterOf(resource string) ([]string, *gresp) {
	src, ok := g.q["$filter"]
	if !ok {
		return nil, nil
	}
	f, err := parseFilter(src[0])
	if err != nil {
		r := g.graphErr(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
		return nil, &r
	}
	var ids []string
	var walk func(n *fnode) bool
	walk = func(n *fnode) bool {
		switch n.kind {
		case nOr:
			return walk(n.args[0]) && walk(n.args[1])
		case nCmp:
			if n.op == "eq" && n.args[0].kind == nPath && len(n.args[0].path) == 1 && n.args[0].path[0] == "id" && n.args[1].kind == nLit && n.args[1].lk == lString {
				ids = append(ids, strings.ToLower(n.args[1].s))
				return true
			}
		}
		return false
	}
	if !walk(f) {
		r := g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for change tracking over the '"+resource+"' resource: only id eq '{id}' clauses joined with 'or' are supported.")
		return nil, &r
	}
	if len(ids) > 50 {
		r := g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "The number of ids in the filter clause exceeds the maximum of 50.")
		return nil, &r
	}
	return ids, nil
}

// groups

var groupProps = []string{"id", "displayName", "description", "mail", "mailNickname", "mailEnabled", "securityEnabled", "groupTypes"}

func groupValue(g *Group, p string) (any, bool) {
	switch p {
	case "id":
		return g.ID, true
	case "displayName":
		return str(g.DisplayName), true
	case "description":
		return str(g.Description), true
	case "mail":
		return str(g.Mail), true
	case "mailNickname":
		return str(g.MailNickname), true
	case "mailEnabled":
		return g.MailEnabled, true
	case "securityEnabled":
		return g.SecurityEnabled, true
	case "groupTypes":
		return strs(g.GroupTypes), true
	case "hideFromAddressLists":
		if !slices.Contains(g.GroupTypes, "Unified") {
			return nil, true
		}
		return g.HideFromAddressLists, true
	}
	return nil, false
}

type groupObject struct{ g *Group }

func (o groupObject) prop(name string) (any, bool) { return groupValue(o.g, name) }

var groupFilterRules = map[string]string{
	"id": "eq in", "displayName": "eq ge le in startswith", "mail": "eq ge le in startswith",
	"mailNickname": "eq ge le in startswith", "mailEnabled": "eq", "securityEnabled": "eq in", "groupTypes": "any",
}

func renderGroup(gr *Group, sel []string, typed bool) obj {
	o := obj{}
	if typed {
		o = append(o, kv{"@odata.type", "#microsoft.graph.group"})
	}
	if sel == nil {
		sel = groupProps
	}
	hasID := false
	for _, p := range sel {
		v, ok := groupValue(gr, p)
		if !ok {
			continue
		}
		if p == "id" {
			hasID = true
		}
		o = append(o, kv{p, v})
	}
	if !hasID {
		o = append(o, kv{"id", gr.ID})
	}
	return o
}

func isGroupProp(p string) bool { return slices.Contains(groupProps, p) }

func (s *Server) listGroups(g *greq, rt *route, _ *mailbox) gresp {
	sel, e := g.selectList(isGroupProp, "microsoft.graph.group")
	if e != nil {
		return *e
	}
	top, e := g.dirPageSize()
	if e != nil {
		return *e
	}
	f, e := g.parseDirFilter(groupFilterRules, "Group", "microsoft.graph.group")
	if e != nil {
		return *e
	}
	var tok listToken
	if st, ok := g.q["$skiptoken"]; ok && !decodeToken(st[0], &tok) {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")
	}
	t := g.t
	t.mu.RLock()
	ids := make([]string, 0, len(t.groups))
	for id := range t.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var page []obj
	next := ""
	for _, id := range ids {
		gr := t.groups[id]
		if id <= tok.After || f != nil && !evalFilter(f, groupObject{gr}) {
			continue
		}
		if len(page) == top {
			next = page[len(page)-1].id()
			break
		}
		page = append(page, renderGroup(gr, sel, false))
	}
	t.mu.RUnlock()
	out := obj{{"@odata.context", s.contextURL("groups" + selSuffix(sel))}}
	if next != "" {
		out = append(out, kv{"@odata.nextLink", s.nextPage(g, s.nextLinkWith(g, "$skiptoken", encodeToken(listToken{After: next})))})
	}
	if page == nil {
		page = []obj{}
	}
	return okJSON(http.StatusOK, append(out, kv{"value", page}))
}

func (o obj) id() string {
	for _, m := range o {
		if m.k == "id" {
			s, _ := m.v.(string)
			return s
		}
	}
	return ""
}

func (s *Server) getGroup(g *greq, rt *route, _ *mailbox) gresp {
	// hideFromAddressLists: only here, only on $select (group.md).
	sel, e := g.selectList(func(p string) bool { return isGroupProp(p) || p == "hideFromAddressLists" }, "microsoft.graph.group")
	if e != nil {
		return *e
	}
	t := g.t
	t.mu.RLock()
	gr := t.groups[strings.ToLower(rt.ids[0])]
	var body obj
	if gr != nil {
		body = append(obj{{"@odata.context", s.contextURL("groups" + selSuffix(sel) + "/$entity")}}, renderGroup(gr, sel, false)...)
	}
	t.mu.RUnlock()
	if gr == nil {
		return g.graphErr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", rt.ids[0]))
	}
	return okJSON(http.StatusOK, body)
}

func (s *Server) listMembers(g *greq, rt *route, _ *mailbox) gresp {
	gid, kind, cast := strings.ToLower(rt.ids[0]), rt.ids[1], rt.ids[2]
	adv := g.advanced()
	if cast != "" && !adv {
		return g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "The requested OData cast is only supported with the 'ConsistencyLevel: eventual' header and the '$count=true' query parameter.")
	}
	top, e := g.dirPageSize()
	if e != nil {
		return *e
	}
	sel, e := g.selectList(func(p string) bool { return isUserProp(p) || isGroupProp(p) || isOrgContactProp(p) }, "microsoft.graph.directoryObject")
	if e != nil {
		return *e
	}
	f, e := g.membersFilter(adv)
	if e != nil {
		return *e
	}
	var tok listToken
	if st, ok := g.q["$skiptoken"]; ok && !decodeToken(st[0], &tok) {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")
	}
	t := g.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	gr := t.groups[gid]
	if gr == nil {
		return g.graphErr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", rt.ids[0]))
	}
	all := t.renderMembers(t.memberIDs(gr, gid, kind == "transitivemembers"), cast, f, sel)
	out := obj{{"@odata.context", s.contextURL(membersCollection(cast) + selSuffix(sel))}}
	if adv && tok.Off == 0 {
		out = append(out, kv{"@odata.count", len(all)})
	}
	start := min(tok.Off, len(all))
	end := min(start+top, len(all))
	if end < len(all) {
		out = append(out, kv{"@odata.nextLink", s.nextPage(g, s.nextLinkWith(g, "$skiptoken", encodeToken(listToken{Off: end})))})
	}
	page := all[start:end]
	if page == nil {
		page = []obj{}
	}
	return okJSON(http.StatusOK, append(out, kv{"value", page}))
}

// membersFilter parses a members listing's $filter (advanced queries
// only): users' properties.
func (g *greq) membersFilter(adv bool) (*fnode, *gresp) {
	src, ok := g.q["$filter"]
	if !ok {
		return nil, nil
	}
	if !adv {
		r := g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Filter on members is only supported with the 'ConsistencyLevel: eventual' header and the '$count=true' query parameter.")
		return nil, &r
	}
	f, err := parseFilter(src[0])
	if err != nil {
		r := g.graphErr(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
		return nil, &r
	}
	if e := g.checkDirFilter(f, userFilterRules, "User", "microsoft.graph.user", true); e != nil {
		return nil, e
	}
	return f, nil
}

// memberIDs are the ids of group gr's (gid's) members, lower-case: direct,
// or transitive (breadth first, each once). t.mu is held.
func (t *tenantState) memberIDs(gr *Group, gid string, transitive bool) []string {
	var ids []string
	if !transitive {
		for _, m := range gr.Members {
			ids = append(ids, strings.ToLower(m))
		}
		return ids
	}
	seen := map[string]bool{gid: true}
	queue := slices.Clone(gr.Members)
	for len(queue) > 0 {
		id := strings.ToLower(queue[0])
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		if sub := t.groups[id]; sub != nil {
			queue = append(queue, sub.Members...)
		}
	}
	return ids
}

// renderMembers renders the members ids of the OData cast ("" for all
// kinds) that match f (users only), with sel. t.mu is held.
func (t *tenantState) renderMembers(ids []string, cast string, f *fnode, sel []string) []obj {
	var all []obj
	for _, id := range ids {
		var o obj
		switch {
		case t.users[id] != nil:
			if cast != "" && cast != "microsoft.graph.user" {
				continue
			}
			u := &t.users[id].u
			if f != nil && !evalFilter(f, userObject{u}) {
				continue
			}
			o = renderUser(u, filterSel(sel, isUserProp), cast == "")
		case t.groups[id] != nil:
			if cast != "" && cast != "microsoft.graph.group" || f != nil {
				continue
			}
			o = renderGroup(t.groups[id], filterSel(sel, isGroupProp), cast == "")
		case t.orgContacts[id] != nil:
			if cast != "" && cast != "microsoft.graph.orgcontact" || f != nil {
				continue
			}
			o = renderOrgContact(t.orgContacts[id], filterSel(sel, isOrgContactProp), cast == "")
		default:
			continue
		}
		all = append(all, o)
	}
	return all
}

// membersCollection is the @odata.context collection of a members listing
// with an OData cast ("" for none).
func membersCollection(cast string) string {
	switch cast {
	case "microsoft.graph.user":
		return "users"
	case "microsoft.graph.group":
		return "groups"
	case "microsoft.graph.orgcontact":
		return "contacts"
	}
	return "directoryObjects"
}

func filterSel(sel []string, ok func(string) bool) []string {
	if sel == nil {
		return nil
	}
	out := []string{}
	for _, p := range sel {
		if ok(p) {
			out = append(out, p)
		}
	}
	return out
}

// org contacts

var orgContactProps = []string{"id", "companyName", "department", "displayName", "givenName", "jobTitle", "mail", "mailNickname", "surname", "addresses", "phones", "proxyAddresses"}

// orgContactDefault are the properties returned without $select.
var orgContactDefault = orgContactProps[:len(orgContactProps)-1]

func isOrgContactProp(p string) bool { return slices.Contains(orgContactProps, p) }

func orgContactValue(c *OrgContact, p string) any {
	switch p {
	case "id":
		return c.ID
	case "companyName":
		return str(c.CompanyName)
	case "department":
		return str(c.Department)
	case "displayName":
		return str(c.DisplayName)
	case "givenName":
		return str(c.GivenName)
	case "jobTitle":
		return str(c.JobTitle)
	case "mail":
		return str(c.Mail)
	case "mailNickname":
		return str(c.MailNickname)
	case "surname":
		return str(c.Surname)
	case "addresses":
		if c.Addresses == nil {
			return []any{}
		}
		return c.Addresses
	case "phones":
		if c.Phones == nil {
			return []any{}
		}
		return c.Phones
	case "proxyAddresses":
		return strs(c.ProxyAddresses)
	}
	return nil
}

func renderOrgContact(c *OrgContact, sel []string, typed bool) obj {
	o := obj{}
	if typed {
		o = append(o, kv{"@odata.type", "#microsoft.graph.orgContact"})
	}
	if sel == nil {
		sel = orgContactDefault
	}
	hasID := false
	for _, p := range sel {
		if p == "id" {
			hasID = true
		}
		o = append(o, kv{p, orgContactValue(c, p)})
	}
	if !hasID {
		o = append(o, kv{"id", c.ID})
	}
	return o
}

func (s *Server) listOrgContacts(g *greq, rt *route, _ *mailbox) gresp {
	sel, e := g.selectList(isOrgContactProp, "microsoft.graph.orgContact")
	if e != nil {
		return *e
	}
	top, e := g.dirPageSize()
	if e != nil {
		return *e
	}
	if _, ok := g.q["$filter"]; ok {
		return g.graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query.")
	}
	var tok listToken
	if st, ok := g.q["$skiptoken"]; ok && !decodeToken(st[0], &tok) {
		return g.graphErr(http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")
	}
	t := g.t
	t.mu.RLock()
	ids := make([]string, 0, len(t.orgContacts))
	for id := range t.orgContacts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var page []obj
	next := ""
	for _, id := range ids {
		if id <= tok.After {
			continue
		}
		if len(page) == top {
			next = page[len(page)-1].id()
			break
		}
		page = append(page, renderOrgContact(t.orgContacts[id], sel, false))
	}
	t.mu.RUnlock()
	out := obj{{"@odata.context", s.contextURL("contacts" + selSuffix(sel))}}
	if next != "" {
		out = append(out, kv{"@odata.nextLink", s.nextPage(g, s.nextLinkWith(g, "$skiptoken", encodeToken(listToken{After: next})))})
	}
	if page == nil {
		page = []obj{}
	}
	return okJSON(http.StatusOK, append(out, kv{"value", page}))
}

func (s *Server) getOrgContact(g *greq, rt *route, _ *mailbox) gresp {
	sel, e := g.selectList(isOrgContactProp, "microsoft.graph.orgContact")
	if e != nil {
		return *e
	}
	t := g.t
	t.mu.RLock()
	c := t.orgContacts[strings.ToLower(rt.ids[0])]
	var body obj
	if c != nil {
		body = append(obj{{"@odata.context", s.contextURL("contacts" + selSuffix(sel) + "/$entity")}}, renderOrgContact(c, sel, false)...)
	}
	t.mu.RUnlock()
	if c == nil {
		return g.graphErr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", rt.ids[0]))
	}
	return okJSON(http.StatusOK, body)
}
