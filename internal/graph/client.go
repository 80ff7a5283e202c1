// Package graph is galmirror's thin Microsoft Graph client: wire types,
// requests with retries, paging, delta rounds, JSON batching, and the one
// classification of Graph errors (Classify). It uses no SDK.
//
// Every request runs under a pacer scope (MailboxScope or DirectoryScope):
// it takes a unit of that scope's concurrency, waits for the scope's
// Retry-After gate, and on a 429/503 with Retry-After closes the gate so no
// other request in the scope starts before the deadline the server named.
//
// The Graph root (for example https://graph.microsoft.com/v1.0, or a
// national cloud's or graphsim's) always comes from the caller.
package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/galmirror/galmirror/internal/pacer"
)

// TokenSource supplies bearer tokens for Graph. Implementations cache and
// must be safe for concurrent use.
type TokenSource interface {
	// Token returns a valid access token (from cache when possible).
	Token(ctx context.Context) (string, error)
	// Refresh is called after Graph rejected the token rejected with 401:
	// it returns a different, freshly acquired token, or the current one
	// if another caller has already replaced rejected.
	Refresh(ctx context.Context, rejected string) (string, error)
}

// StaticToken is a TokenSource that always returns the same token (tools
// and tests). Refresh returns it again.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// Refresh returns the token again: a static token cannot be renewed.
func (t StaticToken) Refresh(context.Context, string) (string, error) { return string(t), nil }

// Defaults for Options.
const (
	DefaultMaxBodyBytes   = 64 << 20
	DefaultAttemptTimeout = 100 * time.Second
)

// Options configure a Client.
type Options struct {
	// BaseURL is the Graph root with its version, without a trailing slash:
	// https://graph.microsoft.com/v1.0, https://graph.microsoft.us/v1.0,
	// or a graphsim URL + /v1.0. Required.
	BaseURL string
	// Tokens supplies access tokens. Required.
	Tokens TokenSource
	// HTTP sends the requests; nil uses NewHTTPClient(nil).
	HTTP *http.Client
	// Pacer limits concurrency and holds Retry-After gates; nil makes one
	// from PacerConfig. Share one Pacer among all Clients of a tenant run.
	Pacer *pacer.Pacer
	// PacerConfig tunes back-off and retry budgets of a pacer New makes.
	PacerConfig PacerConfig
	// Logger receives debug lines for retries; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes bounds a response body; larger responses fail.
	// Default 64 MiB.
	MaxBodyBytes int64
	// AttemptTimeout bounds one HTTP attempt (a hung connection becomes a
	// retryable transport error). Default 100 s.
	AttemptTimeout time.Duration
	// UserAgent is sent with every request; default "galmirror".
	UserAgent string
	// AppRate and AppBurst pace the requests and $batch items of the
	// Client under Graph's global per-app limit; defaults DefaultAppRate
	// and DefaultAppBurst.
	AppRate, AppBurst int
}

// Client is safe for concurrent use.
type Client struct {
	base     string // BaseURL without trailing slash
	origin   string // scheme://host[:port], lower-case
	basePath string // "/v1.0"
	tokens   TokenSource
	hc       *http.Client
	pacer    *pacer.Pacer
	log      *slog.Logger
	maxBody  int64
	timeout  time.Duration
	ua       string
	app      *appLimiter

	stats counters
}

type counters struct {
	get, post, patch, put, del, other, batch atomic.Int64
	batchItems, retries, s429, s503          atomic.Int64
	bytesSent, bytesReceived                 atomic.Int64
}

// Stats are cumulative counters of a Client. Requests count every HTTP
// request put on the wire (retries included); Status429/Status503 include
// $batch items answered with those statuses.
type Stats struct {
	Requests      int64 // all HTTP requests
	GET           int64
	POST          int64 // excluding $batch
	PATCH         int64
	PUT           int64
	DELETE        int64
	Batch         int64 // POST /$batch
	BatchItems    int64 // items sent inside $batch requests
	Retries       int64 // requests and batches resent after a failure
	Status429     int64
	Status503     int64
	BytesSent     int64 // request bodies
	BytesReceived int64 // response bodies
	// Waited is the time spent waiting on Retry-After and back-off.
	Waited time.Duration
	// AppWaited is the time requests waited to keep under the global
	// per-app limit (summed over requests waiting at once).
	AppWaited time.Duration
}

// PacerConfig tunes the pacer: back-off, attempts, retry budgets (tests
// shorten them). The zero value is Graph's defaults.
type PacerConfig = pacer.Config

// New returns a Client.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("graph: Options.BaseURL is empty")
	}
	if opts.Tokens == nil {
		return nil, errors.New("graph: Options.Tokens is nil")
	}
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("graph: Options.BaseURL %q: %w", opts.BaseURL, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("graph: Options.BaseURL %q: want https://host[/version]", opts.BaseURL)
	}
	c := &Client{
		base:     u.Scheme + "://" + u.Host + u.EscapedPath(),
		origin:   strings.ToLower(u.Scheme + "://" + u.Host),
		basePath: u.EscapedPath(),
		tokens:   opts.Tokens,
		hc:       opts.HTTP,
		pacer:    opts.Pacer,
		log:      opts.Logger,
		maxBody:  opts.MaxBodyBytes,
		timeout:  opts.AttemptTimeout,
		ua:       opts.UserAgent,
		app:      newAppLimiter(opts.AppRate, opts.AppBurst),
	}
	if c.hc == nil {
		c.hc = NewHTTPClient(nil)
	}
	if c.pacer == nil {
		c.pacer = pacer.New(opts.PacerConfig)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.timeout <= 0 {
		c.timeout = DefaultAttemptTimeout
	}
	if c.ua == "" {
		c.ua = "galmirror"
	}
	return c, nil
}

// NewHTTPClient returns an HTTP client suited to Graph: HTTP/2 when the
// server offers it, connection reuse across many mailboxes, and timeouts
// on dialling, TLS and response headers. tlsConfig (cloned; nil for the
// system roots) adds, for example, a private CA for graphsim or a custom
// cloud. There is no overall timeout: Client bounds each attempt with
// Options.AttemptTimeout and the caller's context.
func NewHTTPClient(tlsConfig *tls.Config) *http.Client {
	var tc *tls.Config
	if tlsConfig != nil {
		tc = tlsConfig.Clone()
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 90 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		// HTTP/2 carries many requests per connection, but while every
		// connection is at the server's stream limit net/http dials one
		// more per waiting request: a run's burst of 1,600 batches made
		// thousands of TLS handshakes. 16 connections carry 1,600 streams
		// at the usual limit of 100; requests beyond wait for a stream.
		MaxConnsPerHost: MaxConnsPerHost,
	}
	return &http.Client{Transport: tr}
}

// MaxConnsPerHost bounds the connections NewHTTPClient opens to one host.
const MaxConnsPerHost = 16

// BaseURL returns the Graph root requests are sent to.
func (c *Client) BaseURL() string { return c.base }

// Pacer returns the client's pacer.
func (c *Client) Pacer() *pacer.Pacer { return c.pacer }

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	st := Stats{
		GET: s.get.Load(), POST: s.post.Load(), PATCH: s.patch.Load(), PUT: s.put.Load(),
		DELETE: s.del.Load(), Batch: s.batch.Load(), BatchItems: s.batchItems.Load(),
		Retries: s.retries.Load(), Status429: s.s429.Load(), Status503: s.s503.Load(),
		BytesSent: s.bytesSent.Load(), BytesReceived: s.bytesReceived.Load(),
		Waited: c.pacer.Stats().Waited, AppWaited: c.app.stats(),
	}
	st.Requests = st.GET + st.POST + st.PATCH + st.PUT + st.DELETE + st.Batch + s.other.Load()
	return st
}

// DirectoryScope is the pacer scope of directory calls (users, groups,
// org contacts): one per tenant, and a Pacer serves one tenant.
const DirectoryScope = "directory"

// MailboxScope returns the pacer scope of a mailbox. Use the same
// identifier (the user's object id) for every call to one mailbox: the
// pacer cannot know that an id and a UPN name the same mailbox.
func MailboxScope(user string) string { return "mailbox:" + strings.ToLower(user) }

// IsMailboxScope reports whether scope is a MailboxScope.
func IsMailboxScope(scope string) bool { return strings.HasPrefix(scope, "mailbox:") }

// ScopeOf derives the pacer scope of a URL galmirror built (relative to
// the Graph root, slash form): mailbox content paths map to MailboxScope
// of the user segment, everything else to DirectoryScope. Links Graph
// returns are opaque: a request following one names its scope.
func ScopeOf(rel string) string {
	p := rel
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if isMailboxPath(p) {
		seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
		if len(seg) >= 2 && strings.EqualFold(seg[0], "users") {
			user, err := url.PathUnescape(seg[1])
			if err != nil {
				user = seg[1]
			}
			return MailboxScope(user)
		}
	}
	return DirectoryScope
}

// Request is one Graph call.
type Request struct {
	// Method defaults to GET.
	Method string
	// URL is relative to the Graph root ("/users/{id}/contactFolders?..."),
	// or an absolute link Graph returned (a nextLink or deltaLink). An
	// absolute URL must be under the client's Graph root: the token is
	// never sent elsewhere.
	URL string
	// Scope is the pacer scope; empty derives it with ScopeOf from a
	// relative URL. A request following an absolute link must name it.
	Scope string
	// Body is sent as JSON: []byte and json.RawMessage as they are, any
	// other value marshalled. nil sends no body.
	Body any
	// Header adds request headers (Prefer, If-Match, ...).
	Header http.Header
	// Eventual sends ConsistencyLevel: eventual (advanced directory
	// queries: $count, $search, OData casts). Paging resends it on every page.
	Eventual bool
	// Idempotent marks a POST safe to resend after an ambiguous failure
	// (a 5xx, a network error), for example a folder create whose
	// duplicate answers 409. Other methods are always idempotent; a
	// non-idempotent POST is resent only after a 429 (NotExecuted).
	Idempotent bool
	// HoldsUnit says the caller already holds a pacer unit of Scope: Do
	// then only waits for the scope's gate instead of acquiring a unit.
	HoldsUnit bool
}

// Response is a successful (status < 400) Graph response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends r with retries and returns the response, or an error: an
// *Error for a Graph failure (wrapped with a *pacer.GiveUpError when the
// retries ran out), a *TransportError, a *TokenError, or the context's
// error. Use Classify on it.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	full, rel, err := c.resolve(r.URL)
	if err != nil {
		return nil, err
	}
	path := stripQuery(rel)
	scope, err := scopeFor(r.Scope, r.URL, rel)
	if err != nil {
		return nil, err
	}
	body, err := encodeBody(r.Body)
	if err != nil {
		return nil, fmt.Errorf("graph: %s %s: encode body: %w", method, path, err)
	}
	idempotent := method != http.MethodPost || r.Idempotent
	a := &attempt{
		method: method, url: full, path: path, body: body, header: r.Header,
		eventual: r.Eventual, clientRequestID: newGUID(), kind: kindOf(method),
	}
	a.gate = func(ctx context.Context) error { return c.pacer.Wait(ctx, scope) }
	retry := c.pacer.Retry(scope)
	authRetried := false // a 401 gets one fresh token, never two
	fresh := false       // token was just refreshed: use it as is
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
		var release func()
		if r.HoldsUnit {
			err = c.pacer.Wait(ctx, scope)
		} else {
			release, err = c.pacer.Acquire(ctx, scope, 1)
		}
		if err != nil {
			return nil, err
		}
		// send closes the gate as soon as a Retry-After arrives, before the
		// body is read and while this request still holds its unit: a
		// request queued for the unit must not slip out before the deadline.
		a.onRetryAfter = retry.Throttled
		resp, err := c.send(ctx, a, token)
		var ge *Error
		if err == nil && resp.Status >= 400 {
			ge = c.parseError(resp, method, path, scope)
		}
		if release != nil {
			release()
		}
		fresh = false
		if err == nil && ge == nil {
			return resp, nil
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
			fail = ge
			ra = ge.RetryAfter
			if ge.Status == http.StatusUnauthorized && !authRetried {
				authRetried, fresh = true, true
				if token, err = c.refresh(ctx, token); err != nil {
					return nil, err
				}
				c.stats.retries.Add(1)
				c.log.DebugContext(ctx, "graph: token rejected, retrying with a fresh one",
					"method", method, "path", path, "request_id", ge.RequestID)
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
		c.log.DebugContext(ctx, "graph: retrying", "method", method, "path", path,
			"attempt", retry.Attempts(), "error", fail.Error())
	}
}

// DoJSON is Do followed by decoding the body into out (nil: discard). A
// body that is not valid JSON gives an *Error with NotGraph set
// (classified Retryable).
func (c *Client) DoJSON(ctx context.Context, r *Request, out any) error {
	resp, err := c.Do(ctx, r)
	if err != nil {
		return err
	}
	if out == nil || len(resp.Body) == 0 && resp.Status == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		method := r.Method
		if method == "" {
			method = http.MethodGet
		}
		_, rel, _ := c.resolve(r.URL)
		return &Error{
			Status: resp.Status, Method: method, Path: stripQuery(rel), NotGraph: true,
			Message:         "invalid JSON in response: " + err.Error(),
			RequestID:       resp.Header.Get("request-id"),
			ClientRequestID: resp.Header.Get("client-request-id"),
		}
	}
	return nil
}

// NotExecuted reports whether a failed request's status means Graph
// certainly did not carry it out, so that even a create may be sent again:
// only a throttled request (429), and a $batch item whose dependency failed
// (424). A 503 is not among them: a gateway can answer 503 (or 500, 502,
// 504, or nothing) after the write behind it committed, so such a create
// is ambiguous: look for what it would have made before making it again.
func NotExecuted(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusFailedDependency
}

type requestKind int

const (
	kindOther requestKind = iota
	kindGet
	kindPost
	kindPatch
	kindPut
	kindDelete
	kindBatch
)

func kindOf(method string) requestKind {
	switch method {
	case http.MethodGet:
		return kindGet
	case http.MethodPost:
		return kindPost
	case http.MethodPatch:
		return kindPatch
	case http.MethodPut:
		return kindPut
	case http.MethodDelete:
		return kindDelete
	}
	return kindOther
}

// attempt is what send needs to put one request on the wire.
type attempt struct {
	method, url, path string
	body              []byte
	header            http.Header
	eventual          bool
	clientRequestID   string
	kind              requestKind
	contentType       string
	// onRetryAfter, if set, is called with the Retry-After of a failed
	// response (not a 401) as soon as its headers arrive.
	onRetryAfter func(time.Duration)
	// gate, if set, waits for the Retry-After gates of the request's
	// scopes; send calls it right before the request goes out.
	gate func(context.Context) error
	// items is how many requests it counts for under the global limit
	// (a $batch: its items; 0 means 1).
	items int
}

// send performs one HTTP exchange. It returns a *TransportError when no
// complete response arrived (or the body exceeded the limit).
func (c *Client) send(ctx context.Context, a *attempt, token string) (*Response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if a.body != nil {
		body = bytes.NewReader(a.body)
	}
	req, err := http.NewRequestWithContext(actx, a.method, a.url, body)
	if err != nil {
		return nil, &TransportError{Method: a.method, Path: a.path, Err: err}
	}
	for k, v := range a.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", a.clientRequestID)
	req.Header.Set("User-Agent", c.ua)
	if a.body != nil && req.Header.Get("Content-Type") == "" {
		ct := a.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if a.eventual {
		req.Header.Set("ConsistencyLevel", "eventual")
	}
	if err := c.app.wait(ctx, max(a.items, 1)); err != nil {
		return nil, err
	}
	if a.gate != nil {
		// Re-check the Retry-After gates at the last moment: one may have
		// closed while this request was being prepared.
		if err := a.gate(ctx); err != nil {
			return nil, err
		}
	}
	c.countRequest(a.kind)
	c.stats.bytesSent.Add(int64(len(a.body)))
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &TransportError{Method: a.method, Path: a.path, Err: scrubURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusUnauthorized {
		if d, ok := pacer.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && d > 0 {
			if resp.StatusCode == http.StatusTooManyRequests && appScoped(resp.Header) {
				c.app.block(time.Now().Add(d))
			}
			if a.onRetryAfter != nil {
				a.onRetryAfter(d)
			}
		}
	}
	data, err := readBody(resp.Body, resp.ContentLength, c.maxBody+1)
	c.stats.bytesReceived.Add(int64(len(data)))
	if err != nil {
		return nil, &TransportError{Method: a.method, Path: a.path, Err: fmt.Errorf("read response: %w", err)}
	}
	if int64(len(data)) > c.maxBody {
		return nil, &TransportError{Method: a.method, Path: a.path,
			Err: fmt.Errorf("response body exceeds %d bytes", c.maxBody)}
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		c.stats.s429.Add(1)
	case http.StatusServiceUnavailable:
		c.stats.s503.Add(1)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// readBody reads at most limit bytes of a response body into one buffer
// sized from its Content-Length when the server sent one ($batch answers
// are tens of kilobytes: io.ReadAll's growing from 512 bytes cost a third
// of the client's allocations).
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	size := int64(512)
	if length >= 0 {
		size = min(length, limit) + 1 // +1: see EOF without growing
	}
	buf := make([]byte, 0, size)
	r = io.LimitReader(r, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// scrubURLError drops the URL from a *url.Error: it may hold skip tokens,
// and the path is already in the TransportError.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) countRequest(k requestKind) {
	s := &c.stats
	switch k {
	case kindGet:
		s.get.Add(1)
	case kindPost:
		s.post.Add(1)
	case kindPatch:
		s.patch.Add(1)
	case kindPut:
		s.put.Add(1)
	case kindDelete:
		s.del.Add(1)
	case kindBatch:
		s.batch.Add(1)
	default:
		s.other.Add(1)
	}
}

func (c *Client) parseError(resp *Response, method, path, scope string) *Error {
	e := ParseError(resp.Status, resp.Header, resp.Body, time.Now())
	e.Method = method
	e.Path = path
	e.Mailbox = IsMailboxScope(scope)
	return e
}

// scopeFor returns a request's pacer scope: the one it names, or for a URL
// galmirror built, the one ScopeOf derives. A link Graph returned is
// followed as an opaque URL, so its scope cannot be derived from it.
func scopeFor(scope, url, rel string) (string, error) {
	if scope != "" {
		return scope, nil
	}
	if strings.Contains(url, "://") {
		return "", fmt.Errorf("graph: %s: a request following a link must name its scope", stripQuery(rel))
	}
	return ScopeOf(rel), nil
}

// resolve turns a request URL into the absolute URL to send and the part
// relative to the Graph root.
func (c *Client) resolve(link string) (full, rel string, err error) {
	if link == "" {
		return "", "", errors.New("graph: request URL is empty")
	}
	if strings.HasPrefix(link, "/") {
		return c.base + link, link, nil
	}
	if !strings.Contains(link, "://") {
		return c.base + "/" + link, "/" + link, nil
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", "", fmt.Errorf("graph: link %q: %w", truncate(link, 120), err)
	}
	if strings.ToLower(u.Scheme+"://"+u.Host) != c.origin {
		return "", "", fmt.Errorf("graph: link to %s is not under the Graph root %s", u.Scheme+"://"+u.Host, c.base)
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, c.basePath+"/") && p != c.basePath {
		return "", "", fmt.Errorf("graph: link path %s is not under the Graph root %s", p, c.base)
	}
	rel = strings.TrimPrefix(p, c.basePath)
	if rel == "" {
		rel = "/"
	}
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	return link, rel, nil
}

// RelativeURL turns an absolute link Graph returned (a nextLink or
// deltaLink under this client's root) into the root-relative form $batch
// items need: https://graph.microsoft.com/v1.0/users/delta?$skiptoken=x
// becomes /users/delta?$skiptoken=x. A relative URL is returned as is.
func (c *Client) RelativeURL(link string) (string, error) {
	_, rel, err := c.resolve(link)
	return rel, err
}

func stripQuery(rel string) string {
	if i := strings.IndexByte(rel, '?'); i >= 0 {
		return rel[:i]
	}
	return rel
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func encodeBody(v any) ([]byte, error) {
	switch b := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	case json.RawMessage:
		return b, nil
	}
	return json.Marshal(v)
}

// newGUID returns a random (version 4) GUID for client-request-id.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// refresh asks the token source for a fresh token after Graph rejected
// token with 401.
func (c *Client) refresh(ctx context.Context, token string) (string, error) {
	fresh, err := c.tokens.Refresh(ctx, token)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &TokenError{Err: err}
	}
	return fresh, nil
}

// waitRetry waits before the next attempt after the failure fail (with the
// server's Retry-After ra, zero when absent); its error ends the retries.
func waitRetry(ctx context.Context, retry *pacer.Retry, ra time.Duration, fail error) error {
	if werr := retry.Wait(ctx, ra); werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", werr, fail)
	}
	return nil
}
