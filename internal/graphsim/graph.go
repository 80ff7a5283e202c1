package graphsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

// greq is one Graph request: a top-level HTTP request or a $batch item.
type greq struct {
	ctx         context.Context
	method      string
	rawPath     string   // path after /v1.0, escaped as received
	segs        []string // unescaped path segments after /v1.0
	rawQuery    string
	q           url.Values
	hdr         http.Header // the HTTP request's headers (nil for a $batch item)
	itemHdr     []hdrField  // a $batch item's headers
	body        []byte
	claims      *entrasim.Claims
	t           *tenantState
	app         string // lower-case client id
	reqID       string
	clientReqID string
	now         time.Time
	inBatch     bool
	bodyJSON    bool // body is a $batch item's, already checked as JSON
	// The route, matched once (routeOnce).
	rt     *route
	rtResp gresp
	rtOK   bool
	rtDone bool
	rtBuf  route
	// release are buffers (the body, a $batch response) to reuse once the
	// response has been written.
	release [][]byte
	// held collects the Retry-After deadlines of the response (batch items
	// share their batch's), published once the response has been sent.
	held *heldDeadlines
}

// header returns a request header: the HTTP request's, or a $batch
// item's (the last given of a name, as setting them in turn would).
func (g *greq) header(k string) string {
	if g.hdr != nil {
		return g.hdr.Get(k)
	}
	v := ""
	for _, f := range g.itemHdr {
		if strings.EqualFold(f.k, k) {
			v = f.v
		}
	}
	return v
}

// headerValues returns all values of a request header.
func (g *greq) headerValues(k string) []string {
	if g.hdr != nil {
		return g.hdr.Values(k)
	}
	for i := len(g.itemHdr) - 1; i >= 0; i-- {
		if strings.EqualFold(g.itemHdr[i].k, k) {
			return []string{g.itemHdr[i].v}
		}
	}
	return nil
}

// gresp is a Graph response before it is written (or embedded in a
// batch). A contact a write answers with is rendered only then, from a
// view of it (body is nil).
type gresp struct {
	status int
	hdr    respHeader
	body   []byte
	view   *contactView
}

// bytes is the response body.
func (r *gresp) bytes() []byte {
	if r.view != nil {
		return r.view.appendTo(nil)
	}
	return r.body
}

// appendBody appends the response body.
func (r *gresp) appendBody(dst []byte) []byte {
	if r.view != nil {
		return r.view.appendTo(dst)
	}
	return append(dst, r.body...)
}

// hasBody reports whether the response has a body.
func (r *gresp) hasBody() bool { return r.view != nil || len(r.body) > 0 }

// hdrField is one header of a response or of a $batch item.
type hdrField struct{ k, v string }

// respHeader is a response's headers in the order they were set; names
// compare case-insensitively. It is treated as immutable (Set makes a new
// one), so the common header sets below are shared by every response.
type respHeader []hdrField

// Get returns the value of the header named k.
func (h respHeader) Get(k string) string {
	for _, f := range h {
		if strings.EqualFold(f.k, k) {
			return f.v
		}
	}
	return ""
}

// Set replaces (or adds) the header named k.
func (h *respHeader) Set(k, v string) {
	n := make(respHeader, 0, len(*h)+1)
	for _, f := range *h {
		if !strings.EqualFold(f.k, k) {
			n = append(n, f)
		}
	}
	*h = append(n, hdrField{k, v})
}

var (
	okHeaders    = respHeader{{"Content-Type", odataJSON}, {"OData-Version", "4.0"}, {"Cache-Control", "no-cache"}}
	errHeaders   = respHeader{{"Content-Type", "application/json"}, {"Cache-Control", "no-cache"}}
	emptyHeaders = respHeader{{"Cache-Control", "no-cache"}}
)

const (
	odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	maxBody   = 4 << 20
)

// requestID is the request's id, made on first use (a $batch item needs
// one only for an error).
func (g *greq) requestID() string {
	if g.reqID == "" {
		g.reqID = NewGUID()
	}
	return g.reqID
}

// graphErr builds Graph's error envelope.
func (g *greq) graphErr(status int, code, msg string) gresp {
	return errorResp(status, code, msg, g.now, g.requestID(), g.clientReqID)
}

func errorResp(status int, code, msg string, now time.Time, reqID, clientReqID string) gresp {
	b := make([]byte, 0, 160+len(msg)+len(code))
	b = append(b, `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"innerError":{"date":"`...)
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05")
	b = append(b, `","request-id":`...)
	b = appendJSONString(b, reqID)
	b = append(b, `,"client-request-id":`...)
	b = appendJSONString(b, clientReqID)
	b = append(b, "}}}"...)
	return gresp{status: status, hdr: errHeaders, body: b}
}

// okJSON builds a JSON success response.
func okJSON(status int, v any) gresp {
	return gresp{status: status, hdr: okHeaders, body: mustJSON(v)}
}

// okBody is a JSON success response with a body already encoded.
func okBody(status int, body []byte) gresp {
	return gresp{status: status, hdr: okHeaders, body: body}
}

func noContent() gresp {
	return gresp{status: http.StatusNoContent, hdr: emptyHeaders}
}

// writeGraphError writes a Graph error outside the item pipeline.
func writeGraphError(w http.ResponseWriter, r *http.Request, now time.Time, status int, code, msg string) {
	reqID := NewGUID()
	crid := r.Header.Get("client-request-id")
	if crid == "" {
		crid = reqID
	}
	writeResp(w, errorResp(status, code, msg, now, reqID, crid), reqID, crid)
}

// writeResp writes a response; it reports whether the body was written.
func writeResp(w http.ResponseWriter, resp gresp, reqID, crid string) bool {
	h := w.Header()
	for _, f := range resp.hdr {
		h.Set(f.k, f.v)
	}
	h.Set("request-id", reqID)
	h.Set("client-request-id", crid)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"graphsim","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"GRAPHSIM0001"}}`)
	h.Set("Strict-Transport-Security", "max-age=31536000")
	body := resp.bytes()
	if body != nil {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(resp.status)
	if body != nil {
		_, err := w.Write(body)
		return err == nil
	}
	return true
}

// serveGraph serves /v1.0/...: authentication, then $batch or one item.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	reqID := NewGUID()
	crid := r.Header.Get("client-request-id")
	if crid == "" {
		crid = reqID
	}
	s.ctr.add(func(c *Counters) { c.Requests++ })
	g := &greq{ctx: r.Context(), method: r.Method, hdr: r.Header, reqID: reqID, clientReqID: crid, now: now, held: &heldDeadlines{}}
	body, err := readBody(r.Body, r.ContentLength)
	g.release = append(g.release, body)
	if err != nil {
		resp := g.graphErr(http.StatusBadRequest, "BadRequest", "The request body could not be read.")
		s.ctr.served("? "+r.URL.Path, "", r.Method, resp.status)
		writeResp(w, resp, reqID, crid)
		return
	}
	if len(body) > maxBody {
		resp := g.graphErr(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request size exceeds the maximum limit.")
		s.ctr.served("? "+r.URL.Path, "", r.Method, resp.status)
		writeResp(w, resp, reqID, crid)
		return
	}
	g.body = body
	g.rawPath = strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0")
	g.rawQuery = r.URL.RawQuery
	if resp, ok := s.authenticate(g); !ok {
		s.ctr.served(r.Method+" "+routeTemplateOf(g.rawPath), "", r.Method, resp.status)
		writeResp(w, resp, reqID, crid)
		return
	}
	var resp gresp
	if strings.EqualFold(strings.Trim(g.rawPath, "/"), "$batch") {
		resp = s.serveBatch(g)
		// A batch carried out in full whose connection then drops: the
		// client cannot know which items happened. Undocumented: graphsim
		// is stricter than a network that never fails mid-response.
		if f := s.Faults(); f.BatchDropRate > 0 && s.random() < f.BatchDropRate {
			s.ctr.add(func(c *Counters) { c.DroppedBatches++ })
			if s.opts.Logf != nil {
				s.logf("graphsim: %s %s -> %d, connection dropped", r.Method, r.URL.Path, resp.status)
			}
			panic(http.ErrAbortHandler)
		}
	} else {
		resp = s.serveItem(g, false)
	}
	if s.opts.Logf != nil {
		s.logf("graphsim: %s %s -> %d", r.Method, r.URL.Path, resp.status)
	}
	if writeResp(w, resp, reqID, crid) {
		// Written: the server holds no reference to the bytes any more.
		for _, b := range g.release {
			putBuf(b)
		}
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	g.held.release(s.lim, s.now())
}

// bufPool keeps request bodies and $batch responses for the next request.
var bufPool = sync.Pool{}

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, max(n, 16<<10))
}

// putBuf keeps b for reuse (not the largest ones).
func putBuf(b []byte) {
	if cap(b) >= 16<<10 && cap(b) <= 1<<20 {
		bufPool.Put(&b)
	}
}

// readBody reads a request body of at most maxBody bytes (one more tells
// it is too large), in one allocation when its length is announced.
func readBody(r io.Reader, length int64) ([]byte, error) {
	var b []byte
	switch {
	case length > 4<<10 && length <= maxBody:
		b = getBuf(int(length) + 1)
	case length > 0 && length <= maxBody:
		b = make([]byte, 0, length+1)
	default:
		b = make([]byte, 0, 512)
	}
	lr := io.LimitReader(r, maxBody+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// authenticate verifies the bearer token and finds the tenant.
func (s *Server) authenticate(g *greq) (gresp, bool) {
	fail := func(msg string) (gresp, bool) {
		resp := g.graphErr(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		resp.hdr.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		return resp, false
	}
	auth := g.header("Authorization")
	if auth == "" {
		return fail("Access token is empty.")
	}
	scheme, tok, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return fail("Access token is empty.")
	}
	claims, err := s.verifyToken(strings.TrimSpace(tok))
	if err != nil || claims == nil {
		msg := "Access token validation failure. Invalid audience."
		if err != nil {
			msg = strings.TrimSuffix(err.Error(), ": "+entrasim.ErrInvalidToken.Error())
			if errors.Is(err, entrasim.ErrInvalidToken) && msg == entrasim.ErrInvalidToken.Error() {
				msg = "CompactToken parsing failed with error code: 80049217"
			}
		}
		return fail(msg)
	}
	t, terr := s.tenant(claims.TenantID)
	if terr != nil {
		return fail("Access token validation failure. Invalid tenant.")
	}
	g.claims, g.t, g.app = claims, t, strings.ToLower(claims.AppID)
	return gresp{}, true
}

func (g *greq) hasRole(roles ...string) bool {
	for _, r := range g.claims.Roles {
		if slices.ContainsFunc(roles, func(x string) bool { return strings.EqualFold(x, r) }) {
			return true
		}
	}
	return false
}

// permission classes of routes.
type perm int

const (
	permNone perm = iota
	permUsers
	permGroups
	permOrgContacts
	permMailbox
	// permApps: applications and service principals; the handlers
	// authorise (delegated scopes and the signed-in user's roles, or
	// application permissions, apps.go).
	permApps
	// permPhotos: users' photos (profilephoto-get.md: application
	// User.Read.All, higher User.ReadWrite.All).
	permPhotos
)

func (p perm) roles(write bool) []string {
	switch p {
	case permUsers:
		return []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	case permGroups:
		return []string{"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	case permPhotos:
		return []string{"User.Read.All", "User.ReadWrite.All"}
	case permOrgContacts:
		return []string{"OrgContact.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	case permMailbox:
		if write {
			return []string{"Contacts.ReadWrite"}
		}
		return []string{"Contacts.ReadWrite", "Contacts.Read"}
	}
	return nil
}

// outlook reports whether the route is throttled by Exchange's limits of
// its user's mailbox: mailbox routes, and user photos ("The Outlook limits
// apply to contact, contactFolder, outlookCategory, profile photo, mail
// and calendar resources", https://learn.microsoft.com/graph/throttling-limits;
// graph-protocol.md §9). A user photo needs no mailbox (Graph falls back to
// Entra ID's photo), only its throttling scope is the mailbox's.
func (rt *route) outlook() bool { return rt.perm == permMailbox || rt.perm == permPhotos }

// route is a matched Graph route.
type route struct {
	template string // "GET /users/{id}/contacts"
	perm     perm
	user     string // user ref of a mailbox route
	ids      []string
	ru       int      // directory resource units
	roles    []string // the route's own roles (routeSpec.roles)
	h        func(s *Server, g *greq, rt *route, mb *mailbox) gresp
	idBuf    [3]string
}

// serveItem runs one request through routing, Retry-After accounting,
// permissions, mailbox state, throttling, fault injection and its handler.
// reserved means a $batch already holds a mailbox concurrency slot for it.
func (s *Server) serveItem(g *greq, reserved bool) gresp {
	rt, resp, ok := s.route(g)
	mailboxID := ""
	if ok && rt.outlook() {
		mailboxID = g.t.mailboxKey(rt.user)
	}
	record := func(resp gresp) gresp {
		tmpl := g.method + " " + routeTemplateOf(g.rawPath)
		if rt != nil {
			tmpl = rt.template
		}
		s.ctr.served(tmpl, mailboxID, g.method, resp.status)
		if rt != nil && !rt.outlook() && rt.perm != permNone && resp.hdr != nil && resp.hdr.Get("x-ms-resource-unit") == "" {
			resp.hdr.Set("x-ms-resource-unit", strconv.Itoa(ruCost(g, rt.ru)))
		}
		return resp
	}
	if !ok {
		return record(resp)
	}
	// Arrival: a request in a scope before its Retry-After deadline.
	var violated bool
	if rt.outlook() {
		violated = s.lim.arrive(g, scopeMailbox(g.app, mailboxID))
	} else {
		violated = s.lim.arrive(g, scopeDirectory(g.app, g.t.id))
	}
	if !violated {
		s.lim.arriveApp(g)
	}
	if resp, ok := s.lim.appQuota(g); !ok {
		return record(resp)
	}
	roles := rt.perm.roles(g.method != http.MethodGet)
	if rt.roles != nil {
		roles = rt.roles
	}
	if rt.perm != permApps && !g.hasRole(roles...) {
		// Exchange RBAC for Applications: a management role assignment
		// grants the app mailboxes without an Entra role; grants and roles
		// add up (https://learn.microsoft.com/exchange/permissions-exo/application-rbac).
		// graphsim's grants are Application Contacts.ReadWrite: they do
		// not open a route with its own roles (mailboxSettings).
		if rt.perm == permMailbox && (rt.roles != nil || !g.t.granted(g.app, rt.user)) {
			return record(g.graphErr(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again."))
		}
		if rt.perm != permMailbox {
			return record(g.graphErr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."))
		}
	}
	var mb *mailbox
	if rt.perm == permMailbox {
		var eresp *gresp
		if mb, eresp = s.openMailbox(g, rt.user); eresp != nil {
			return record(*eresp)
		}
	}
	if rt.outlook() {
		if !reserved {
			if resp, ok := s.lim.acquire(g, mailboxID); !ok {
				return record(resp)
			}
			defer s.lim.release(g.app, mailboxID)
		}
		if resp, ok := s.lim.mailboxQuota(g, mailboxID); !ok {
			return record(resp)
		}
		if resp, ok := s.lim.uploadQuota(g, mailboxID); !ok {
			return record(resp)
		}
	} else if resp, ok := s.lim.directory(g, rt.ru); !ok {
		return record(resp)
	}
	if resp, ok := s.injectFaults(g, rt, mailboxID); !ok {
		return record(resp)
	}
	resp = rt.h(s, g, rt, mb)
	if rt.perm == permMailbox && g.method != http.MethodGet && resp.status < 300 {
		if f := s.Faults(); f.AfterCommitRate > 0 && s.random() < f.AfterCommitRate {
			resp = s.afterCommitFault(g, mailboxID, f)
		}
	}
	return record(resp)
}

// route matches the request's route once.
func (s *Server) route(g *greq) (*route, gresp, bool) {
	if !g.rtDone {
		g.rt, g.rtResp, g.rtOK = s.matchRoute(g)
		g.rtDone = true
	}
	return g.rt, g.rtResp, g.rtOK
}

// afterCommitFault replaces the answer of a write already carried out by a
// 5xx, as Graph's gateway may after the mailbox committed it. Undocumented:
// graphsim is stricter than a service whose 5xx always means "not done";
// https://learn.microsoft.com/graph/errors lists 500, 502, 503 (with
// Retry-After) and 504, and Corso met a folder create answered 5xx that had
// succeeded (https://github.com/alcionai/corso/pull/3278). Codes and
// messages of 500 and 502 are guesses.
func (s *Server) afterCommitFault(g *greq, mailboxID string, f Faults) gresp {
	s.ctr.add(func(c *Counters) { c.AfterCommitFaults++ })
	switch int(s.random() * 4) {
	case 0:
		return g.graphErr(http.StatusInternalServerError, "generalException", "An internal server error occurred.")
	case 1:
		return g.graphErr(http.StatusBadGateway, "UnknownError", "The gateway received an invalid response from the upstream server.")
	case 2:
		ra := f.RetryAfter503
		if ra <= 0 {
			ra = 2 * time.Second
		}
		h := formatRetryAfter(s.lim.scaled(ra))
		resp := g.graphErr(http.StatusServiceUnavailable, "serviceNotAvailable", "Service is temporarily unavailable. Please retry later.")
		resp.hdr.Set("Retry-After", h)
		s.lim.setDeadline(g, scopeMailbox(g.app, mailboxID), g.now.Add(parseRetryAfterDur(h)))
		return resp
	}
	return g.graphErr(http.StatusGatewayTimeout, "UnknownError", "The gateway did not receive a timely response from the upstream server.")
}

// nextPage is the nextLink a response carries: link, or with
// Faults.RepeatNextLink the request's own URL (the same page forever).
// Undocumented: a misbehaving pager for clients' loop guards; nothing in
// delta-query-overview promises a nextLink makes progress.
func (s *Server) nextPage(g *greq, link string) string {
	if !s.Faults().RepeatNextLink {
		return link
	}
	u := s.url + "/v1.0" + g.rawPath
	if g.rawQuery != "" {
		u += "?" + g.rawQuery
	}
	return u
}

// openMailbox resolves a mailbox route's user and checks its state.
func (s *Server) openMailbox(g *greq, ref string) (*mailbox, *gresp) {
	t := g.t
	t.mu.RLock()
	o := t.resolveUserLocked(ref)
	var st MailboxState
	var id string
	if o != nil {
		st, id = o.u.Mailbox, o.u.ID
	}
	t.mu.RUnlock()
	if o == nil {
		r := g.graphErr(http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", ref))
		return nil, &r
	}
	switch st {
	case MailboxNone:
		r := g.graphErr(http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox.")
		return nil, &r
	case MailboxOutOfScope:
		r := g.graphErr(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return nil, &r
	}
	t.mu.Lock()
	mb := t.mailboxLocked(id)
	t.mu.Unlock()
	return mb, nil
}

// mailboxKey is the user id a mailbox route addresses (the lower-case ref
// when the user is unknown), the key of its throttling scope.
func (t *tenantState) mailboxKey(ref string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if o := t.resolveUserLocked(ref); o != nil {
		return o.u.ID
	}
	return strings.ToLower(ref)
}

// injectFaults applies latency and random 503/504.
func (s *Server) injectFaults(g *greq, rt *route, mailboxID string) (gresp, bool) {
	f := s.Faults()
	if f.Latency > 0 || f.Jitter > 0 {
		d := f.Latency
		if f.Jitter > 0 {
			d += time.Duration(s.random() * float64(f.Jitter))
		}
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-g.ctx.Done():
			tm.Stop()
		}
	}
	if f.Rate503 > 0 && s.random() < f.Rate503 {
		ra := f.RetryAfter503
		if ra <= 0 {
			ra = 2 * time.Second
		}
		ra = s.lim.scaled(ra)
		resp := g.graphErr(http.StatusServiceUnavailable, "serviceNotAvailable", "Service is temporarily unavailable. Please retry later.")
		resp.hdr.Set("Retry-After", formatRetryAfter(ra))
		until := g.now.Add(parseRetryAfterDur(formatRetryAfter(ra)))
		if rt.perm == permMailbox {
			s.lim.setDeadline(g, scopeMailbox(g.app, mailboxID), until)
		} else {
			s.lim.setDeadline(g, scopeDirectory(g.app, g.t.id), until)
		}
		return resp, false
	}
	if f.Rate504 > 0 && s.random() < f.Rate504 {
		return g.graphErr(http.StatusGatewayTimeout, "UnknownError", "The gateway did not receive a timely response from the upstream server."), false
	}
	return gresp{}, true
}

// formatRetryAfter renders seconds as Graph does: an integer, or a decimal
// like "0.249" for fractions.
func formatRetryAfter(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	ms := d.Milliseconds()
	if ms == 0 {
		ms = 1
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
}

// parseRetryAfterDur parses what formatRetryAfter writes.
func parseRetryAfterDur(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// routeTemplateOf replaces ids in a raw path for counters of unmatched routes.
func routeTemplateOf(raw string) string {
	segs := strings.Split(strings.Trim(raw, "/"), "/")
	for i, s := range segs {
		if i%2 == 1 && !strings.EqualFold(s, "delta") && !strings.EqualFold(s, "contacts") {
			segs[i] = "{id}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

// itemURL parses a request target (path and query) relative to /v1.0.
func (g *greq) setTarget(rawPath, rawQuery string) error {
	g.rawPath, g.rawQuery = rawPath, rawQuery
	return nil
}

// verifyToken verifies an access token, caching valid tokens' claims until
// they expire: a token's roles are fixed, and RSA verification per request
// would make graphsim, not the client, the bottleneck of a benchmark.
func (s *Server) verifyToken(raw string) (*entrasim.Claims, error) {
	now := s.now()
	if v, ok := s.tokens.Load(raw); ok {
		c := v.(*entrasim.Claims)
		if now.Before(c.ExpiresAt) {
			return c, nil
		}
		s.tokens.Delete(raw)
	}
	c, err := s.entra.VerifyAccessToken(raw)
	if err != nil || c == nil {
		return c, err
	}
	if s.tokenCount.Add(1) > 10000 {
		s.tokens.Clear()
		s.tokenCount.Store(0)
	}
	s.tokens.Store(raw, c)
	return c, nil
}
