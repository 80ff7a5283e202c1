package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxBatchItems is Graph's limit of requests in one $batch.
const MaxBatchItems = 20

// BatchItem is one request inside a $batch.
type BatchItem struct {
	// ID identifies the item (unique in the batch, case-insensitively).
	ID string
	// Method defaults to GET.
	Method string
	// URL is relative to the Graph root ("/users/{id}/contactFolders/{f}/contacts");
	// an absolute link under the root is made relative (RelativeURL).
	URL string
	// Header is sent in the item's "headers" (ConsistencyLevel, Prefer,
	// If-Match). Content-Type: application/json is added when there is a
	// body and none is given.
	Header http.Header
	// Body is the item's JSON body: []byte and json.RawMessage as they are,
	// any other value marshalled; nil for none.
	Body any
	// DependsOn names an earlier item that must succeed first (Graph allows
	// one). A chained batch counts as one unit against its mailbox.
	DependsOn []string
	// Scope is the item's pacer scope; empty derives it with ScopeOf
	// from a relative URL. An item following an absolute link must name it.
	Scope string
}

// BatchResult is the outcome of one item, correlated by ID.
type BatchResult struct {
	ID     string
	Status int
	Header http.Header
	Body   json.RawMessage
	// Err is set for a status >= 400, or when Graph returned no response
	// for the item (Status 0, classified Retryable).
	Err *Error
	// RetryAfter is the item's Retry-After (429/503 items), zero when absent.
	RetryAfter time.Duration
}

// Batch sends the items as one POST /$batch and returns one result per item,
// in the order of items, whatever order Graph answered in.
//
// Pacing: the caller holds the pacer units of every item's scope (one per
// independent item, one per dependsOn chain) from before the call until it
// returns; Batch takes none itself. Before every attempt Batch waits for the
// Retry-After gates of all item scopes. An outer 429/503 closes those gates
// until its Retry-After and the whole batch is resent; an outer 5xx other
// than 503, or a network failure, is resent only when every item is a GET
// (otherwise items may already have run: the error is returned, classified
// Retryable, and the caller reconciles). A per-item 429/503 with
// Retry-After closes that item's scope gate; Batch does not resend items:
// the caller re-queues failed ones (and should stop when
// Pacer().Exhausted(scope)).
//
// The error is non-nil only when the batch as a whole failed (invalid
// items, outer failure after retries, context); item failures are in the
// results. Batch clears the items' Body once encoded: a thousand batches
// in flight hold their encoded requests, not the values they came from.
func (c *Client) Batch(ctx context.Context, items []BatchItem) ([]BatchResult, error) {
	body, scopes, idempotent, err := c.encodeBatch(items)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i].Body = nil
	}
	a := &attempt{
		method: http.MethodPost, url: c.base + "/$batch", path: "/$batch", body: body,
		clientRequestID: newGUID(), kind: kindBatch, items: len(items),
	}
	a.gate = func(ctx context.Context) error {
		for _, s := range scopes {
			if err := c.pacer.Wait(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	retry := c.pacer.Retry(scopes...)
	authRetried, fresh := false, false
	token := ""
	for {
		if !fresh {
			if token, err = c.tokens.Token(ctx); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, &TokenError{Err: err}
			}
		}
		c.stats.batchItems.Add(int64(len(items)))
		a.onRetryAfter = retry.Throttled
		resp, err := c.send(ctx, a, token)
		fresh = false
		if err == nil && resp.Status < 400 {
			return c.decodeBatch(items, resp)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var fail error
		var ra time.Duration
		retryable := false
		if err != nil {
			fail = err
			retryable = idempotent
		} else {
			ge := c.parseError(resp, http.MethodPost, "/$batch", "")
			fail = ge
			ra = ge.RetryAfter
			if ge.Status == http.StatusUnauthorized && !authRetried {
				authRetried, fresh = true, true
				if token, err = c.refresh(ctx, token); err != nil {
					return nil, err
				}
				c.stats.retries.Add(1)
				continue
			}
			switch ge.Class() {
			case Retryable, Throttled:
				retryable = idempotent || NotExecuted(ge.Status)
			}
		}
		if !retryable {
			return nil, fail
		}
		if err := waitRetry(ctx, retry, ra, fail); err != nil {
			return nil, err
		}
		c.stats.retries.Add(1)
		c.log.DebugContext(ctx, "graph: resending batch", "items", len(items),
			"attempt", retry.Attempts(), "error", fail.Error())
	}
}

// encodeBatch validates the items and builds the request body. It returns
// the distinct scopes of the items and whether every item may be resent
// without harm (none is a POST: GET, PATCH, PUT and DELETE give the same
// result twice; a create would make a second contact).
func (c *Client) encodeBatch(items []BatchItem) (body []byte, scopes []string, idempotent bool, err error) {
	if len(items) == 0 || len(items) > MaxBatchItems {
		return nil, nil, false, fmt.Errorf("graph: batch of %d items: want 1..%d", len(items), MaxBatchItems)
	}
	var idBuf [MaxBatchItems]string
	ids := idBuf[:0]
	seen := func(id string) bool {
		for _, x := range ids {
			if strings.EqualFold(x, id) {
				return true
			}
		}
		return false
	}
	idempotent = true
	b := make([]byte, 0, 1280*len(items)) // a full contact create is about 1.1 KB
	b = append(b, `{"requests":[`...)
	for i := range items {
		it := &items[i]
		if it.ID == "" {
			return nil, nil, false, fmt.Errorf("graph: batch item %d has no id", i)
		}
		if seen(it.ID) {
			return nil, nil, false, fmt.Errorf("graph: batch item id %q is not unique (ids compare case-insensitively)", it.ID)
		}
		for _, d := range it.DependsOn {
			if !seen(d) {
				return nil, nil, false, fmt.Errorf("graph: batch item %q depends on %q, which is not an earlier item", it.ID, d)
			}
		}
		ids = append(ids, it.ID)
		method := it.Method
		if method == "" {
			method = http.MethodGet
		}
		if method == http.MethodPost {
			idempotent = false
		}
		rel, err := c.RelativeURL(it.URL)
		if err != nil {
			return nil, nil, false, fmt.Errorf("graph: batch item %q: %w", it.ID, err)
		}
		scope, err := scopeFor(it.Scope, it.URL, rel)
		if err != nil {
			return nil, nil, false, fmt.Errorf("graph: batch item %q: %w", it.ID, err)
		}
		if !slices.Contains(scopes, scope) {
			scopes = append(scopes, scope)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, it.ID)
		b = append(b, `,"method":`...)
		b = appendJSONString(b, method)
		b = append(b, `,"url":`...)
		b = appendJSONString(b, rel)
		if len(it.Header) > 0 || it.Body != nil {
			b = append(b, `,"headers":{`...)
			first := true
			keys := make([]string, 0, len(it.Header))
			for k, v := range it.Header {
				if len(v) > 0 {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendJSONString(b, k)
				b = append(b, ':')
				b = appendJSONString(b, strings.Join(it.Header[k], ", "))
			}
			if it.Body != nil && it.Header.Get("Content-Type") == "" {
				if !first {
					b = append(b, ',')
				}
				b = append(b, `"Content-Type":"application/json"`...)
			}
			b = append(b, '}')
		}
		if it.Body != nil {
			b = append(b, `,"body":`...)
			if b, err = appendBody(b, it.Body); err != nil {
				return nil, nil, false, fmt.Errorf("graph: batch item %q: encode body: %w", it.ID, err)
			}
		}
		if len(it.DependsOn) > 0 {
			b = append(b, `,"dependsOn":`...)
			b = appendStrings(b, it.DependsOn)
		}
		b = append(b, '}')
	}
	b = append(b, ']', '}')
	return b, scopes, idempotent, nil
}

// rawBody is a batch item body galmirror encoded itself: valid JSON by
// construction, copied without a validation pass.
type rawBody []byte

// appendBody appends a batch item's JSON body.
func appendBody(b []byte, body any) ([]byte, error) {
	switch v := body.(type) {
	case rawBody:
		return append(b, v...), nil
	case *ContactPatch:
		return v.appendJSON(b), nil
	case []byte:
		if !json.Valid(v) {
			return nil, errors.New("body is not valid JSON")
		}
		return append(b, v...), nil
	case json.RawMessage:
		if !json.Valid(v) {
			return nil, errors.New("body is not valid JSON")
		}
		return append(b, v...), nil
	}
	enc, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// decodeBatch correlates the responses with the items by id. It walks the
// response with the scanner instead of decoding it: an item's body is a
// slice of the response (not a copy) and its headers are read only for a
// failed item, which is most of a first sync's CPU saved.
func (c *Client) decodeBatch(items []BatchItem, resp *Response) ([]BatchResult, error) {
	bad := func(err error) error {
		return &Error{Status: resp.Status, Method: http.MethodPost, Path: "/$batch", NotGraph: true,
			Message:         "invalid $batch response: " + err.Error(),
			RequestID:       resp.Header.Get("request-id"),
			ClientRequestID: resp.Header.Get("client-request-id")}
	}
	got := make([]scannedItem, 0, len(items))
	var ierr error
	err := eachMember(resp.Body, func(k, v []byte) bool {
		if !keyIs(k, "responses") {
			return true
		}
		ierr = eachElement(v, func(el []byte) bool {
			it, err := scanBatchItem(el)
			if err != nil {
				ierr = err
				return false
			}
			got = append(got, it)
			return true
		})
		return false
	})
	if err == nil {
		err = ierr
	}
	if err != nil {
		return nil, bad(err)
	}
	outerRID := resp.Header.Get("request-id")
	outerCRID := resp.Header.Get("client-request-id")
	now := time.Now()
	results := make([]BatchResult, len(items))
	for i := range items {
		results[i] = c.itemResult(&items[i], got, outerRID, outerCRID, now)
	}
	return results, nil
}

// scannedItem is one item of a $batch response as the scanner found it.
type scannedItem struct {
	id      string
	status  int
	headers []byte // raw JSON object, or nil
	body    []byte // raw JSON value, or nil
}

func scanBatchItem(el []byte) (scannedItem, error) {
	var it scannedItem
	var serr error
	err := eachMember(el, func(k, v []byte) bool {
		switch {
		case keyIs(k, "id"):
			it.id, _ = rawString(v)
		case keyIs(k, "status"):
			it.status, serr = strconv.Atoi(string(v))
		case keyIs(k, "headers"):
			it.headers = v
		case keyIs(k, "body"):
			it.body = v
		}
		return serr == nil
	})
	if err == nil && serr != nil {
		err = fmt.Errorf("item status: %w", serr)
	}
	return it, err
}

// itemResult builds an item's result from the scanned response items
// (matched by id, case-insensitively; Graph may answer in any order).
func (c *Client) itemResult(it *BatchItem, got []scannedItem, outerRID, outerCRID string, now time.Time) BatchResult {
	method := it.Method
	if method == "" {
		method = http.MethodGet
	}
	rel, _ := c.RelativeURL(it.URL)             // validated by encodeBatch
	scope, _ := scopeFor(it.Scope, it.URL, rel) // likewise
	res := BatchResult{ID: it.ID}
	var ri *scannedItem
	for j := range got {
		if got[j].id == it.ID || strings.EqualFold(got[j].id, it.ID) {
			ri = &got[j]
			break
		}
	}
	if ri == nil {
		res.Err = &Error{Method: method, Path: stripQuery(rel), Code: "MissingBatchResponse",
			Message: "Graph returned no response for this $batch item", NotGraph: true, Mailbox: IsMailboxScope(scope),
			RequestID: outerRID, ClientRequestID: outerCRID}
		return res
	}
	res.Status = ri.status
	if len(ri.body) > 0 && string(ri.body) != "null" {
		res.Body = ri.body
	}
	switch ri.status {
	case http.StatusTooManyRequests:
		c.stats.s429.Add(1)
	case http.StatusServiceUnavailable:
		c.stats.s503.Add(1)
	}
	if ri.status < 400 {
		return res
	}
	res.Header = scanHeaders(ri.headers)
	e := ParseError(ri.status, res.Header, res.Body, now)
	e.Method, e.Path, e.Mailbox = method, stripQuery(rel), IsMailboxScope(scope)
	if e.RequestID == "" {
		e.RequestID = outerRID
	}
	if e.ClientRequestID == "" {
		e.ClientRequestID = outerCRID
	}
	res.Err = e
	res.RetryAfter = e.RetryAfter
	if e.RetryAfter > 0 {
		c.pacer.Block(scope, now.Add(e.RetryAfter))
		if ri.status == http.StatusTooManyRequests && appScoped(res.Header) {
			c.app.block(now.Add(e.RetryAfter))
		}
	}
	return res
}

// scanHeaders reads a batch item's headers object (string values).
func scanHeaders(raw []byte) http.Header {
	h := http.Header{}
	if len(raw) == 0 {
		return h
	}
	_ = eachMember(raw, func(k, v []byte) bool {
		name, ok := rawString(append(append([]byte{'"'}, k...), '"'))
		val, vok := rawString(v)
		if ok && vok {
			h.Set(name, val)
		}
		return true
	})
	return h
}

// Decode unmarshals a successful item's body into out.
func (r *BatchResult) Decode(out any) error {
	if r.Err != nil {
		return r.Err
	}
	if len(r.Body) == 0 {
		return errors.New("graph: batch item " + r.ID + " has no body")
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		return fmt.Errorf("graph: batch item %s: decode body: %w", r.ID, err)
	}
	return nil
}
