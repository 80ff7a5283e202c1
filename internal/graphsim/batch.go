package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// $batch: at most 20 items; ids unique case-insensitively; relative URLs;
// a body needs a Content-Type header; dependsOn orders execution and turns
// dependents of a failed item into 424. Unordered items run at most four
// at a time and each holds a concurrency slot of its mailbox; items beyond
// the free slots of a mailbox get 429 MailboxConcurrency.

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

const maxBatch = 20

func (s *Server) serveBatch(g *greq) gresp {
	s.ctr.add(func(c *Counters) { c.Batches++ })
	resp := s.runBatch(g)
	s.ctr.served("POST /$batch", "", g.method, resp.status)
	return resp
}

func (s *Server) runBatch(g *greq) gresp {
	if g.method != http.MethodPost {
		return g.graphErr(http.StatusMethodNotAllowed, "BadRequest", "Specified HTTP method is not allowed for the request target.")
	}
	items, be := parseBatch(g.body)
	if be != nil {
		return g.badBody(be)
	}
	s.ctr.add(func(c *Counters) { c.BatchItems += int64(len(items)) })

	reqs := make([]*greq, len(items))
	for i, it := range items {
		reqs[i] = s.itemRequest(g, it)
	}
	// Scopes of the items, for throttling and outer-response deadlines.
	mboxOf := make([]string, len(items))
	for i, r := range reqs {
		probe := *r
		if rt, _, ok := s.matchRoute(&probe); ok && rt.perm == permMailbox {
			mboxOf[i] = g.t.mailboxKey(rt.user)
		}
	}
	if resp, ok := s.injectBatchFaults(g, mboxOf); !ok {
		return resp
	}

	out := make([]obj, len(items))
	sequential := false
	for _, it := range items {
		if len(it.DependsOn) > 0 {
			sequential = true
		}
	}
	if sequential {
		status := map[string]int{}
		for _, i := range topoOrder(items) {
			it := items[i]
			failed := false
			for _, d := range it.DependsOn {
				if st, ok := status[strings.ToLower(d)]; !ok || st >= 400 {
					failed = true
				}
			}
			var resp gresp
			if failed {
				resp = g.graphErr(http.StatusFailedDependency, "FailedDependency", "The request could not be executed because a request it depends on failed.")
				s.ctr.served(reqs[i].method+" "+routeTemplateOf(reqs[i].rawPath), mboxOf[i], reqs[i].method, resp.status)
			} else {
				resp = s.serveItem(reqs[i], false)
			}
			status[strings.ToLower(it.ID)] = resp.status
			out[i] = itemResponse(it.ID, resp)
		}
	} else {
		reserved := make([]bool, len(items))
		want := map[string][]int{}
		var order []string
		for i, m := range mboxOf {
			if m == "" {
				continue
			}
			if _, ok := want[m]; !ok {
				order = append(order, m)
			}
			want[m] = append(want[m], i)
		}
		for _, m := range order {
			idx := want[m]
			got := s.lim.reserve(g.app, m, len(idx))
			for k, i := range idx {
				if k < got {
					reserved[i] = true
					continue
				}
				// Arrival is still counted, and the item gets its own 429.
				s.lim.arrive(reqs[i], scopeMailbox(g.app, m), "mailbox:"+m)
				resp := reqs[i].concurrency429(s.lim, m)
				s.ctr.served(reqs[i].method+" "+routeTemplateOf(reqs[i].rawPath), m, reqs[i].method, resp.status)
				out[i] = itemResponse(items[i].ID, resp)
			}
		}
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for i := range items {
			if out[i] != nil {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				if reserved[i] {
					defer s.lim.release(g.app, mboxOf[i])
				}
				defer func() {
					if v := recover(); v != nil {
						s.logf("graphsim: recovered panic in batch item: %v", v)
						out[i] = itemResponse(items[i].ID, g.graphErr(http.StatusInternalServerError, "generalException", "An internal server error occurred."))
					}
				}()
				out[i] = itemResponse(items[i].ID, s.serveItem(reqs[i], reserved[i]))
			}(i)
		}
		wg.Wait()
	}
	if s.Faults().ShuffleBatch {
		s.rngMu.Lock()
		s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		s.rngMu.Unlock()
	}
	return okJSON(http.StatusOK, obj{{"responses", out}})
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

// parseBatch validates a $batch body.
func parseBatch(body []byte) ([]batchItem, *bodyError) {
	m, _, be := parseObject(body)
	if be != nil {
		return nil, be
	}
	raw, ok := m["requests"]
	if !ok || nodeName(raw) != "StartArray" {
		return nil, errBody("BadRequest", "Invalid batch payload format.")
	}
	var elems []json.RawMessage
	splitArray(raw, func(v []byte) bool { elems = append(elems, v); return len(elems) <= maxBatch })
	if len(elems) == 0 {
		return nil, errBody("BadRequest", "Invalid batch payload format.")
	}
	if len(elems) > maxBatch {
		return nil, errBody("BadRequest", "Invalid batch payload format. The number of requests in the batch exceeds the limit of %d.", maxBatch)
	}
	items := make([]batchItem, len(elems))
	seen := map[string]bool{}
	for i, e := range elems {
		if nodeName(e) != "StartObject" {
			return nil, errBody("BadRequest", "Invalid batch payload format.")
		}
		if err := json.Unmarshal(e, &items[i]); err != nil {
			return nil, errBody("BadRequest", "Invalid batch payload format.")
		}
		it := &items[i]
		if it.ID == "" {
			return nil, errBody("BadRequest", "Invalid batch payload format. Request %d has no id.", i)
		}
		if seen[strings.ToLower(it.ID)] {
			return nil, errBody("BadRequest", "Batch request contains duplicate request id '%s'. Request ids are case-insensitive and must be unique.", it.ID)
		}
		seen[strings.ToLower(it.ID)] = true
		if it.Method == "" || it.URL == "" {
			return nil, errBody("BadRequest", "Invalid batch payload format. Request id : %s needs a method and a url.", it.ID)
		}
		switch strings.ToUpper(it.Method) {
		case "GET", "POST", "PATCH", "PUT", "DELETE":
		default:
			return nil, errBody("BadRequest", "Invalid batch payload format. Request id : %s has an invalid method '%s'.", it.ID, it.Method)
		}
		lu := strings.ToLower(it.URL)
		if strings.Contains(lu, "://") || strings.HasPrefix(lu, "//") {
			return nil, errBody("BadRequest", "Invalid URL '%s' in request id : %s. URLs in a batch must be relative to the version root, e.g. /users.", it.URL, it.ID)
		}
		if len(it.Body) > 0 && !isNull(it.Body) && contentType(it.Headers) == "" {
			return nil, errBody("BadRequest", "Write request id : %s does not contain Content-Type header or body.", it.ID)
		}
		if len(it.DependsOn) > 1 {
			return nil, errBody("BadRequest", "Request id : %s depends on more than one request; a request may depend on only one other request.", it.ID)
		}
	}
	for _, it := range items {
		for _, d := range it.DependsOn {
			if !seen[strings.ToLower(d)] || strings.EqualFold(d, it.ID) {
				return nil, errBody("BadRequest", "Request id : %s depends on '%s', which is not a request of this batch.", it.ID, d)
			}
		}
	}
	if topoOrder(items) == nil {
		return nil, errBody("BadRequest", "Invalid batch payload format. The dependsOn chain has a cycle.")
	}
	return items, nil
}

func contentType(h map[string]string) string {
	for k, v := range h {
		if strings.EqualFold(k, "Content-Type") {
			return v
		}
	}
	return ""
}

// topoOrder returns item indexes in dependency order (ties in array
// order), or nil on a cycle.
func topoOrder(items []batchItem) []int {
	idx := map[string]int{}
	for i, it := range items {
		idx[strings.ToLower(it.ID)] = i
	}
	state := make([]int, len(items)) // 0 new, 1 visiting, 2 done
	var out []int
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
			if j, ok := idx[strings.ToLower(d)]; ok && !visit(j) {
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
// request's identity.
func (s *Server) itemRequest(outer *greq, it batchItem) *greq {
	g := &greq{
		ctx: outer.ctx, method: strings.ToUpper(it.Method), claims: outer.claims, t: outer.t, app: outer.app,
		reqID: NewGUID(), clientReqID: outer.clientReqID, now: outer.now, inBatch: true, hdr: http.Header{},
		held: outer.held,
	}
	for k, v := range it.Headers {
		g.hdr.Set(k, v)
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
		g.body = it.Body
	}
	return g
}

// itemResponse renders one item of the batch response.
func itemResponse(id string, r gresp) obj {
	h := obj{}
	for _, k := range []string{"Cache-Control", "Retry-After", "x-ms-resource-unit", "x-ms-throttle-scope", "x-ms-throttle-information", "Location", "Preference-Applied", "OData-Version", "Content-Type"} {
		if v := r.hdr.Get(k); v != "" {
			h = append(h, kv{k, v})
		}
	}
	o := obj{{"id", id}, {"status", r.status}, {"headers", h}}
	if len(r.body) > 0 {
		o = append(o, kv{"body", json.RawMessage(r.body)})
	}
	return o
}
