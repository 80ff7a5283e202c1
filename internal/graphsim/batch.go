package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// $batch: at most 20 items; ids unique case-insensitively; relative URLs;
// a body needs a Content-Type header; dependsOn orders execution and turns
// dependents of a failed item into 424. Unordered items run at most four
// at a time and each holds a concurrency slot of its mailbox; items beyond
// the free slots of a mailbox get 429 MailboxConcurrency.
//
// The envelope is checked as JSON once and read in place: item bodies are
// slices of it, handed to the handlers as bodies already checked.

type batchItem struct {
	ID        string
	Method    string
	URL       string
	Headers   []hdrField // in the order given
	Body      json.RawMessage
	DependsOn []string
}

const maxBatch = 20

func (s *Server) serveBatch(g *greq) gresp {
	s.ctr.add(func(c *Counters) { c.Batches++ })
	resp := s.runBatch(g)
	s.ctr.served("POST /$batch", "", g.method, resp.status)
	return resp
}

// batchRun is one $batch being carried out.
type batchRun struct {
	g      *greq
	items  []batchItem
	reqs   []*greq
	mboxOf []string // mailbox scope of each item ("" for the directory)
	out    []gresp  // each item's response
	done   []bool
}

func (s *Server) runBatch(g *greq) gresp {
	if g.method != http.MethodPost {
		return g.graphErr(http.StatusMethodNotAllowed, "BadRequest", "Specified HTTP method is not allowed for the request target.")
	}
	items, be := parseBatch(g.body)
	if be != nil {
		return g.badBody(be)
	}
	n := len(items)
	s.ctr.add(func(c *Counters) { c.BatchItems += int64(n) })
	b := &batchRun{g: g, items: items, reqs: make([]*greq, n), mboxOf: make([]string, n), out: make([]gresp, n), done: make([]bool, n)}
	greqs := make([]greq, n)
	for i, it := range items {
		b.reqs[i] = s.itemRequest(g, it, &greqs[i])
	}
	// Scopes of the items, for throttling and outer-response deadlines.
	for i, r := range b.reqs {
		if rt, _, ok := s.route(r); ok && rt.outlook() { // mailbox routes and user photos (serveItem's scope)
			b.mboxOf[i] = g.t.mailboxKey(rt.user)
		}
	}
	if resp, ok := s.injectBatchFaults(g, b.mboxOf); !ok {
		return resp
	}
	if slices.ContainsFunc(items, func(it batchItem) bool { return len(it.DependsOn) > 0 }) {
		s.runOrdered(b)
	} else {
		s.runUnordered(b)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if s.Faults().ShuffleBatch {
		s.rngMu.Lock()
		s.rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		s.rngMu.Unlock()
	}
	body := getBuf(len(g.body) + n*batchItemHint)
	body = b.appendResponses(body, order)
	g.release = append(g.release, body)
	return okBody(http.StatusOK, body)
}

// batchItemHint is room for an item response beyond its request's size:
// a created contact comes back whole, with its server-set properties.
const batchItemHint = 2*contactSizeHint + 1400

// appendResponses appends the batch response, items in the given order.
func (b *batchRun) appendResponses(dst []byte, order []int) []byte {
	dst = append(dst, `{"responses":[`...)
	for k, i := range order {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = appendItemResponse(dst, b.items[i].ID, &b.out[i])
	}
	return append(dst, "]}"...)
}

// runOrdered runs all items one at a time in dependency order; a failed
// item makes its dependents 424.
func (s *Server) runOrdered(b *batchRun) {
	status := make([]int, len(b.items)) // 0: not run
	for _, i := range topoOrder(b.items) {
		failed := false
		for _, d := range b.items[i].DependsOn {
			j := itemIndex(b.items, d)
			if j < 0 || status[j] == 0 || status[j] >= 400 {
				failed = true
			}
		}
		r := b.reqs[i]
		var resp gresp
		if failed {
			resp = b.g.graphErr(http.StatusFailedDependency, "FailedDependency", "The request could not be executed because a request it depends on failed.")
			s.ctr.served(r.method+" "+routeTemplateOf(r.rawPath), b.mboxOf[i], r.method, resp.status)
		} else {
			resp = s.serveItem(r, false)
		}
		status[i] = resp.status
		b.out[i], b.done[i] = resp, true
	}
}

// runUnordered reserves each mailbox's free concurrency slots for its
// items (the rest get 429 at once) and runs the items at most four at a
// time. Without injected latency nothing can be observed between items,
// so they run in turn on the request's goroutine.
func (s *Server) runUnordered(b *batchRun) {
	reserved := s.reserveSlots(b)
	f := s.Faults()
	if f.Latency <= 0 && f.Jitter <= 0 {
		for i := range b.items {
			if !b.done[i] {
				s.runItem(b, i, reserved[i])
			}
		}
		return
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range b.items {
		if b.done[i] {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			s.runItem(b, i, reserved[i])
		}(i)
	}
	wg.Wait()
}

// reserveSlots takes, per mailbox, a concurrency slot for each of its
// items while free ones last; items beyond get their 429 now.
func (s *Server) reserveSlots(b *batchRun) []bool {
	g := b.g
	reserved := make([]bool, len(b.items))
	for i, m := range b.mboxOf {
		if m == "" || slices.Index(b.mboxOf, m) != i {
			continue // the directory, or a mailbox seen before
		}
		var idx []int
		for j := i; j < len(b.mboxOf); j++ {
			if b.mboxOf[j] == m {
				idx = append(idx, j)
			}
		}
		got := s.lim.reserve(g.app, m, len(idx))
		for k, j := range idx {
			if k < got {
				reserved[j] = true
				continue
			}
			// Arrival is still counted, and the item gets its own 429.
			r := b.reqs[j]
			s.lim.arrive(r, scopeMailbox(g.app, m))
			resp := r.concurrency429(s.lim, m)
			s.ctr.served(r.method+" "+routeTemplateOf(r.rawPath), m, r.method, resp.status)
			b.out[j], b.done[j] = resp, true
		}
	}
	return reserved
}

// runItem runs item i of an unordered batch; a panic answers 500.
func (s *Server) runItem(b *batchRun, i int, reserved bool) {
	if reserved {
		defer s.lim.release(b.g.app, b.mboxOf[i])
	}
	defer func() {
		if v := recover(); v != nil {
			s.logf("graphsim: recovered panic in batch item: %v", v)
			b.out[i] = b.g.graphErr(http.StatusInternalServerError, "generalException", "An internal server error occurred.")
		}
	}()
	b.out[i], b.done[i] = s.serveItem(b.reqs[i], reserved), true
}

// injectBatchFaults applies 503/504 to the outer request; a 503's
// Retry-After names a deadline for every scope of its items.
func (s *Server) injectBatchFaults(g *greq, mboxOf []string) (gresp, bool) {
	f := s.Faults()
	if f.Rate503 > 0 && s.random() < f.Rate503 {
		ra := f.RetryAfter503
		if ra <= 0 {
			ra = 2 * time.Second
		}
		h := formatRetryAfter(s.lim.scaled(ra))
		dl := g.now.Add(parseRetryAfterDur(h))
		dir := false
		for _, m := range mboxOf {
			if m != "" {
				s.lim.setDeadline(g, scopeMailbox(g.app, m), dl)
			} else {
				dir = true
			}
		}
		if dir {
			s.lim.setDeadline(g, scopeDirectory(g.app, g.t.id), dl)
		}
		resp := g.graphErr(http.StatusServiceUnavailable, "serviceNotAvailable", "Service is temporarily unavailable. Please retry later.")
		resp.hdr.Set("Retry-After", h)
		return resp, false
	}
	if f.Rate504 > 0 && s.random() < f.Rate504 {
		return g.graphErr(http.StatusGatewayTimeout, "UnknownError", "The gateway did not receive a timely response from the upstream server."), false
	}
	return gresp{}, true
}

var errBadBatch = errBody("BadRequest", "Invalid batch payload format.")

// parseBatch validates a $batch body.
func parseBatch(body []byte) ([]batchItem, *bodyError) {
	elems, be := batchRequests(body)
	if be != nil {
		return nil, be
	}
	items := make([]batchItem, len(elems))
	for i, e := range elems {
		if nodeName(e) != "StartObject" || !decodeBatchItem(e, &items[i]) {
			return nil, errBadBatch
		}
		if be := checkBatchItem(items[:i+1], i); be != nil {
			return nil, be
		}
	}
	for _, it := range items {
		for _, d := range it.DependsOn {
			if itemIndex(items, d) < 0 || strings.EqualFold(d, it.ID) {
				return nil, errBody("BadRequest", "Request id : %s depends on '%s', which is not a request of this batch.", it.ID, d)
			}
		}
	}
	if topoOrder(items) == nil {
		return nil, errBody("BadRequest", "Invalid batch payload format. The dependsOn chain has a cycle.")
	}
	return items, nil
}

// batchRequests checks the envelope as JSON (the only time a batch is)
// and returns the elements of its requests array.
func batchRequests(body []byte) ([][]byte, *bodyError) {
	if be := checkObject(body); be != nil {
		return nil, be
	}
	var raw []byte
	var dup dupKeys
	found := false
	for it := members(body); ; {
		k, v, ok := it.next()
		if !ok {
			break
		}
		key := keyBytes(k)
		if dup.seen(key) {
			if len(key) == 0 {
				break // see dupKeys
			}
			return nil, errDuplicate(key)
		}
		if string(key) == "requests" {
			raw, found = v, true
		}
	}
	if !found || nodeName(raw) != "StartArray" {
		return nil, errBadBatch
	}
	var elems [][]byte
	for it := elements(raw); ; {
		e, ok := it.next()
		if !ok {
			break
		}
		if len(elems) == maxBatch {
			return nil, errBody("BadRequest", "Invalid batch payload format. The number of requests in the batch exceeds the limit of %d.", maxBatch)
		}
		elems = append(elems, e)
	}
	if len(elems) == 0 {
		return nil, errBadBatch
	}
	return elems, nil
}

// checkBatchItem checks item i, the last of items.
func checkBatchItem(items []batchItem, i int) *bodyError {
	it := &items[i]
	if it.ID == "" {
		return errBody("BadRequest", "Invalid batch payload format. Request %d has no id.", i)
	}
	if itemIndex(items[:i], it.ID) >= 0 {
		return errBody("BadRequest", "Batch request contains duplicate request id '%s'. Request ids are case-insensitive and must be unique.", it.ID)
	}
	if it.Method == "" || it.URL == "" {
		return errBody("BadRequest", "Invalid batch payload format. Request id : %s needs a method and a url.", it.ID)
	}
	switch strings.ToUpper(it.Method) {
	case "GET", "POST", "PATCH", "PUT", "DELETE":
	default:
		return errBody("BadRequest", "Invalid batch payload format. Request id : %s has an invalid method '%s'.", it.ID, it.Method)
	}
	if strings.Contains(it.URL, "://") || strings.HasPrefix(it.URL, "//") {
		return errBody("BadRequest", "Invalid URL '%s' in request id : %s. URLs in a batch must be relative to the version root, e.g. /users.", it.URL, it.ID)
	}
	if len(it.Body) > 0 && !isNull(it.Body) && contentType(it.Headers) == "" {
		return errBody("BadRequest", "Write request id : %s does not contain Content-Type header or body.", it.ID)
	}
	if len(it.DependsOn) > 1 {
		return errBody("BadRequest", "Request id : %s depends on more than one request; a request may depend on only one other request.", it.ID)
	}
	return nil
}

// decodeBatchItem reads one request of a batch as encoding/json would
// into batchItem's fields, reporting false where encoding/json fails. The
// usual shape (the six member names exactly, each once, strings without
// escapes) is read in place; anything else goes through encoding/json.
func decodeBatchItem(e []byte, it *batchItem) bool {
	var seen uint8
	for m := members(e); ; {
		k, v, ok := m.next()
		if !ok {
			return true
		}
		if !simpleString(k) {
			return decodeBatchItemSlow(e, it)
		}
		name := k[1 : len(k)-1]
		bit, fast := uint8(0), false
		switch string(name) {
		case "id":
			bit, fast = 1, fastString(v, &it.ID)
		case "method":
			bit, fast = 2, fastString(v, &it.Method)
		case "url":
			bit, fast = 4, fastString(v, &it.URL)
		case "headers":
			bit, fast = 8, fastHeaders(v, &it.Headers)
		case "body":
			bit, fast = 16, true
			it.Body = v
		case "dependsOn":
			bit, fast = 32, fastStrings(v, &it.DependsOn)
		default:
			// encoding/json matches member names case-insensitively.
			for _, f := range []string{"id", "method", "url", "headers", "body", "dependsOn"} {
				if strings.EqualFold(string(name), f) {
					return decodeBatchItemSlow(e, it)
				}
			}
			continue
		}
		if !fast || seen&bit != 0 {
			return decodeBatchItemSlow(e, it)
		}
		seen |= bit
	}
}

// fastString reads a string without escapes.
func fastString(v []byte, dst *string) bool {
	if !simpleString(v) {
		return false
	}
	*dst = string(v[1 : len(v)-1])
	return true
}

// fastStrings reads an array of strings without escapes.
func fastStrings(v []byte, dst *[]string) bool {
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	var out []string
	for it := elements(v); ; {
		el, ok := it.next()
		if !ok {
			break
		}
		var s string
		if !fastString(el, &s) {
			return false
		}
		out = append(out, s)
	}
	if out == nil {
		out = []string{}
	}
	*dst = out
	return true
}

// fastHeaders reads an object of strings without escapes, keys unique.
func fastHeaders(v []byte, dst *[]hdrField) bool {
	if len(v) == 0 || v[0] != '{' {
		return false
	}
	var out []hdrField
	for it := members(v); ; {
		k, val, ok := it.next()
		if !ok {
			break
		}
		var f hdrField
		if !fastString(k, &f.k) || !fastString(val, &f.v) {
			return false
		}
		for _, x := range out {
			if x.k == f.k {
				return false
			}
		}
		out = append(out, f)
	}
	if out == nil {
		out = []hdrField{}
	}
	*dst = out
	return true
}

// decodeBatchItemSlow decodes a request with encoding/json; headers
// appear in key order.
func decodeBatchItemSlow(e []byte, it *batchItem) bool {
	var x struct {
		ID        string            `json:"id"`
		Method    string            `json:"method"`
		URL       string            `json:"url"`
		Headers   map[string]string `json:"headers"`
		Body      json.RawMessage   `json:"body"`
		DependsOn []string          `json:"dependsOn"`
	}
	if json.Unmarshal(e, &x) != nil {
		return false
	}
	*it = batchItem{ID: x.ID, Method: x.Method, URL: x.URL, Body: x.Body, DependsOn: x.DependsOn}
	if x.Headers != nil {
		it.Headers = []hdrField{}
		for _, k := range slices.Sorted(maps.Keys(x.Headers)) {
			it.Headers = append(it.Headers, hdrField{k, x.Headers[k]})
		}
	}
	return true
}

// contentType is an item's Content-Type header (the last given).
func contentType(h []hdrField) string {
	v := ""
	for _, f := range h {
		if strings.EqualFold(f.k, "Content-Type") {
			v = f.v
		}
	}
	return v
}

// itemIndex finds an item by id, case-insensitively (as strings.ToLower
// compares them).
func itemIndex(items []batchItem, id string) int {
	for i := range items {
		if sameID(items[i].ID, id) {
			return i
		}
	}
	return -1
}

func sameID(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return strings.EqualFold(a, b)
	}
	return strings.ToLower(a) == strings.ToLower(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// topoOrder returns item indexes in dependency order (ties in array
// order), or nil on a cycle.
func topoOrder(items []batchItem) []int {
	state := make([]int, len(items)) // 0 new, 1 visiting, 2 done
	out := make([]int, 0, len(items))
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case 1:
			return false
		case 2:
			return true
		}
		state[i] = 1
		for _, d := range items[i].DependsOn {
			if j := itemIndex(items, d); j >= 0 && !visit(j) {
				return false
			}
		}
		state[i] = 2
		out = append(out, i)
		return true
	}
	for i := range items {
		if !visit(i) {
			return nil
		}
	}
	return out
}

// itemRequest builds the request of one batch item; it inherits the outer
// request's identity. Its request id is made when an error needs one.
func (s *Server) itemRequest(outer *greq, it batchItem, g *greq) *greq {
	*g = greq{
		ctx: outer.ctx, method: strings.ToUpper(it.Method), claims: outer.claims, t: outer.t, app: outer.app,
		clientReqID: outer.clientReqID, now: outer.now, inBatch: true, itemHdr: it.Headers,
		held: outer.held,
	}
	u := it.URL
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	p, q, _ := strings.Cut(u, "?")
	g.rawPath, g.rawQuery = p, q
	if len(it.Body) > 0 && !isNull(it.Body) {
		ct := strings.ToLower(contentType(it.Headers))
		if !strings.Contains(ct, "json") && nodeName(it.Body) == "PrimitiveValue" {
			var b64 string
			if json.Unmarshal(it.Body, &b64) == nil {
				if dec, err := base64.StdEncoding.DecodeString(b64); err == nil {
					g.body = dec
					return g
				}
			}
		}
		// A member of the envelope, already checked as JSON.
		g.body, g.bodyJSON = it.Body, true
	}
	return g
}

// itemHeaders are the headers a batch item's response carries, in order.
var itemHeaders = []string{"Cache-Control", "Retry-After", "x-ms-resource-unit", "x-ms-throttle-scope", "x-ms-throttle-information", "Location", "Preference-Applied", "OData-Version", "Content-Type"}

// appendItemResponse appends one item of the batch response.
func appendItemResponse(dst []byte, id string, r *gresp) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(r.status), 10)
	dst = append(dst, `,"headers":{`...)
	n := 0
	for _, k := range itemHeaders {
		if v := r.hdr.Get(k); v != "" {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, v)
		}
	}
	dst = append(dst, '}')
	if r.hasBody() {
		dst = append(dst, `,"body":`...)
		dst = r.appendBody(dst)
	}
	return append(dst, '}')
}
