package graph

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/pacer"
)

// newServer starts an HTTP/2 TLS server on 127.0.0.1.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// fastPacer retries in milliseconds.
func fastPacer(cfg pacer.Config) *pacer.Pacer {
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
	}
	if cfg.BackoffCap == 0 {
		cfg.BackoffCap = 10 * time.Millisecond
	}
	return pacer.New(cfg)
}

func newClient(t *testing.T, srv *httptest.Server, tokens TokenSource, p *pacer.Pacer) *Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc := NewHTTPClient(&tls.Config{RootCAs: pool})
	t.Cleanup(hc.CloseIdleConnections)
	if tokens == nil {
		tokens = StaticToken("tok-secret")
	}
	if p == nil {
		p = fastPacer(pacer.Config{})
	}
	c, err := New(Options{BaseURL: srv.URL + "/v1.0", Tokens: tokens, HTTP: hc, Pacer: p})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeErr writes a Graph error envelope.
func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "rid-"+code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"innerError":{"date":"2026-11-26T12:00:00","request-id":"rid-%s"}}}`, code, msg, code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestShape(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		writeJSON(w, 201, map[string]string{"id": "new"})
	}))
	c := newClient(t, srv, nil, nil)
	var out struct{ ID string }
	err := c.DoJSON(t.Context(), &Request{
		Method: http.MethodPost, URL: "/users/u1/contactFolders?$filter=" + escapeQueryValue("displayName eq 'A B'"),
		Body: map[string]string{"displayName": "Zoë"}, Eventual: true,
		Header: http.Header{"Prefer": {"odata.maxpagesize=50"}},
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != "new" {
		t.Fatalf("decoded %+v", out)
	}
	if got.ProtoMajor != 2 {
		t.Errorf("proto %s; want HTTP/2", got.Proto)
	}
	checks := map[string]string{
		"Authorization":    "Bearer tok-secret",
		"Accept":           "application/json",
		"Content-Type":     "application/json",
		"Consistencylevel": "eventual",
		"Prefer":           "odata.maxpagesize=50",
		"User-Agent":       "galmirror",
	}
	for k, v := range checks {
		if g := got.Header.Get(k); g != v {
			t.Errorf("header %s = %q; want %q", k, g, v)
		}
	}
	if id := got.Header.Get("client-request-id"); !guidRE.MatchString(id) {
		t.Errorf("client-request-id %q is not a v4 GUID", id)
	}
	if got.URL.Path != "/v1.0/users/u1/contactFolders" || got.URL.Query().Get("$filter") != "displayName eq 'A B'" {
		t.Errorf("URL %s", got.URL)
	}
	if string(body) != `{"displayName":"Zoë"}` {
		t.Errorf("body %s", body)
	}
	st := c.Stats()
	if st.POST != 1 || st.Requests != 1 || st.BytesSent != int64(len(body)) || st.BytesReceived == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRetryAfterFractionalHonoured(t *testing.T) {
	var mu sync.Mutex
	var sent429, second time.Time
	n := 0
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			w.Header().Set("Retry-After", "0.0491")
			writeErr(w, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
			sent429 = time.Now()
			return
		}
		second = time.Now()
		writeJSON(w, 200, map[string]any{"value": []any{}})
	}))
	c := newClient(t, srv, nil, nil)
	if _, err := c.Do(t.Context(), &Request{URL: "/users/u1/contacts"}); err != nil {
		t.Fatal(err)
	}
	// 0.0491 s rounds up to 50 ms; the retry may not arrive earlier.
	if d := second.Sub(sent429); d < 50*time.Millisecond {
		t.Fatalf("retry arrived %v after the 429; want >= 50ms", d)
	}
	st := c.Stats()
	if st.GET != 2 || st.Retries != 1 || st.Status429 != 1 {
		t.Fatalf("stats %+v", st)
	}
	if c.Pacer().Stats().Throttled != 1 {
		t.Fatalf("pacer stats %+v", c.Pacer().Stats())
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	var mu sync.Mutex
	var deadline, second time.Time
	n := 0
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			deadline = time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
			w.Header().Set("Retry-After", deadline.UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
			return
		}
		second = time.Now()
		writeJSON(w, 200, map[string]any{})
	}))
	c := newClient(t, srv, nil, nil)
	if _, err := c.Do(t.Context(), &Request{URL: "/users"}); err != nil {
		t.Fatal(err)
	}
	if second.Before(deadline) {
		t.Fatalf("retry at %v, before the date %v", second, deadline)
	}
}

func TestNonGraphBodiesAreTransient(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(503)
			io.WriteString(w, "<html><body>Service Unavailable</body></html>")
		case 2:
			w.WriteHeader(502) // empty body
		case 3:
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"code":"generalException","mess`) // truncated JSON
		default:
			writeJSON(w, 200, map[string]string{"id": "x"})
		}
	}))
	c := newClient(t, srv, nil, nil)
	if _, err := c.Do(t.Context(), &Request{URL: "/users/x"}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 4 {
		t.Fatalf("%d requests; want 4", n.Load())
	}

	// When the attempts run out, the error still says what happened.
	srv2 := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("request-id", "rid-html")
		w.WriteHeader(500)
		io.WriteString(w, "<html>oops</html>")
	}))
	c2 := newClient(t, srv2, nil, fastPacer(pacer.Config{MaxAttempts: 2}))
	_, err := c2.Do(t.Context(), &Request{URL: "/users/x"})
	var ge *Error
	if !errors.As(err, &ge) || !ge.NotGraph || ge.Status != 500 || ge.RequestID != "rid-html" {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, pacer.ErrTooManyAttempts) || Classify(err) != Retryable {
		t.Fatalf("err = %v, class %v", err, Classify(err))
	}
	if !strings.Contains(err.Error(), "no Graph error body") || !strings.Contains(err.Error(), "rid-html") {
		t.Fatalf("error text %q", err)
	}
}

// rotatingTokens issues tok-1, tok-2, ... on Refresh.
type rotatingTokens struct {
	mu        sync.Mutex
	cur       int
	refreshes int
}

func (r *rotatingTokens) Token(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("tok-%d", r.cur), nil
}

func (r *rotatingTokens) Refresh(_ context.Context, rejected string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshes++
	if rejected == fmt.Sprintf("tok-%d", r.cur) {
		r.cur++
	}
	return fmt.Sprintf("tok-%d", r.cur), nil
}

func Test401RefreshesOnce(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.Header().Set("WWW-Authenticate", `Bearer realm=""`)
			writeErr(w, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
			return
		}
		writeJSON(w, 200, map[string]string{"id": "u"})
	}))
	ts := &rotatingTokens{}
	c := newClient(t, srv, ts, nil)
	if _, err := c.Do(t.Context(), &Request{URL: "/users/u"}); err != nil {
		t.Fatal(err)
	}
	if ts.refreshes != 1 || c.Stats().GET != 2 {
		t.Fatalf("refreshes %d, requests %d", ts.refreshes, c.Stats().GET)
	}

	// A fresh token rejected again is an Auth error: one refresh, two requests.
	srv2 := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, 401, "InvalidAuthenticationToken", "Access token validation failure.")
	}))
	ts2 := &rotatingTokens{}
	c2 := newClient(t, srv2, ts2, nil)
	_, err := c2.Do(t.Context(), &Request{URL: "/users/u"})
	if Classify(err) != Auth || ts2.refreshes != 1 || c2.Stats().GET != 2 {
		t.Fatalf("err %v class %v refreshes %d requests %d", err, Classify(err), ts2.refreshes, c2.Stats().GET)
	}
	if strings.Contains(err.Error(), "tok-") {
		t.Fatalf("error leaks the token: %v", err)
	}

	// A token source failure is an Auth error and sends nothing.
	c3 := newClient(t, srv2, failingTokens{}, nil)
	_, err = c3.Do(t.Context(), &Request{URL: "/users/u"})
	var te *TokenError
	if !errors.As(err, &te) || Classify(err) != Auth || c3.Stats().Requests != 0 {
		t.Fatalf("err %v", err)
	}
}

type failingTokens struct{}

func (failingTokens) Token(context.Context) (string, error) {
	return "", errors.New("AADSTS700027: Client assertion contains an invalid signature")
}
func (f failingTokens) Refresh(ctx context.Context, _ string) (string, error) { return f.Token(ctx) }

func TestNoRetryOnClientErrors(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		code         string
		want         Class
	}{
		{"GET", "/users/u1/contactFolders", 404, "MailboxNotEnabledForRESTAPI", MailboxUnavailable},
		{"GET", "/users/u1/contactFolders/f/contacts", 404, "ErrorItemNotFound", NotFound},
		{"GET", "/users/u1/contactFolders", 403, "ErrorAccessDenied", OutOfScope},
		{"GET", "/users", 403, "Authorization_RequestDenied", DirectoryDenied},
		{"POST", "/users/u1/contactFolders", 409, "ErrorFolderExists", Conflict},
		{"PATCH", "/users/u1/contactFolders/f/contacts/c", 412, "ErrorIrresolvableConflict", PreconditionFailed},
		{"GET", "/users/delta", 400, "Request_BadRequest", Permanent},
		{"GET", "/users/delta", 410, "", ResyncRequired},
	}
	for _, tt := range tests {
		var n atomic.Int32
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if tt.code == "" {
				w.WriteHeader(tt.status)
				return
			}
			writeErr(w, tt.status, tt.code, "msg")
		}))
		c := newClient(t, srv, nil, nil)
		_, err := c.Do(t.Context(), &Request{Method: tt.method, URL: tt.path, Body: json.RawMessage(`{}`)})
		if got := Classify(err); got != tt.want {
			t.Errorf("%s %s %d %s: class %v; want %v (err %v)", tt.method, tt.path, tt.status, tt.code, got, tt.want, err)
		}
		if n.Load() != 1 {
			t.Errorf("%d %s: %d requests; want 1", tt.status, tt.code, n.Load())
		}
	}
}

func TestPostNotResentAfterAmbiguousFailure(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 && r.URL.Query().Get("case") == "throttled" {
			w.Header().Set("Retry-After", "0.01")
			writeErr(w, 429, "ApplicationThrottled", "over limit")
			return
		}
		if r.URL.Query().Get("case") == "ambiguous" {
			writeErr(w, 500, "generalException", "boom")
			return
		}
		writeJSON(w, 201, map[string]string{"id": "c"})
	}))
	c := newClient(t, srv, nil, nil)
	_, err := c.Do(t.Context(), &Request{Method: "POST", URL: "/users/u/contactFolders/f/contacts?case=ambiguous", Body: []byte(`{}`)})
	if Classify(err) != Retryable || n.Load() != 1 {
		t.Fatalf("ambiguous: err %v, %d requests; want Retryable after 1", err, n.Load())
	}
	n.Store(0)
	if _, err := c.Do(t.Context(), &Request{Method: "POST", URL: "/users/u/contactFolders/f/contacts?case=throttled", Body: []byte(`{}`)}); err != nil || n.Load() != 2 {
		t.Fatalf("throttled POST: err %v, %d requests; want resent once", err, n.Load())
	}
	n.Store(0)
	_, err = c.Do(t.Context(), &Request{Method: "POST", URL: "/users/u/contactFolders?case=ambiguous", Body: []byte(`{}`), Idempotent: true})
	if n.Load() != int32(c.Pacer().Config().MaxAttempts) || !errors.Is(err, pacer.ErrTooManyAttempts) {
		t.Fatalf("idempotent POST: err %v, %d requests", err, n.Load())
	}
}

func TestCancelDuringRetryAfterReturnsPromptly(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeErr(w, 429, "TooManyRequests", "Please retry again later.")
	}))
	c := newClient(t, srv, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Do(ctx, &Request{URL: "/users/u/contacts"})
	if !errors.Is(err, context.Canceled) || Classify(err) != Canceled {
		t.Fatalf("err %v class %v", err, Classify(err))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("returned after %v", d)
	}
	// The gate stays closed for the whole Retry-After.
	if ok, gate := c.Pacer().Ready(MailboxScope("u")); ok || time.Until(gate) < 25*time.Second {
		t.Fatalf("gate %v ok %v", gate, ok)
	}
}

func TestCancelDuringRequest(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	c := newClient(t, srv, nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, &Request{URL: "/users"})
	if Classify(err) != Canceled {
		t.Fatalf("err %v class %v", err, Classify(err))
	}
}

func TestAttemptTimeoutIsRetryable(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // hang until the client gives up
			return
		}
		writeJSON(w, 200, map[string]string{})
	}))
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc := NewHTTPClient(&tls.Config{RootCAs: pool})
	defer hc.CloseIdleConnections()
	c, err := New(Options{BaseURL: srv.URL + "/v1.0", Tokens: StaticToken("t"), HTTP: hc,
		Pacer: fastPacer(pacer.Config{}), AttemptTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(t.Context(), &Request{URL: "/users"}); err != nil {
		t.Fatalf("err %v", err)
	}
	if n.Load() != 2 {
		t.Fatalf("%d requests", n.Load())
	}
}

func TestLinksStayUnderRoot(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, 200, map[string]any{"value": []any{}})
	}))
	c := newClient(t, srv, nil, nil)
	for _, link := range []string{
		"https://evil.example/v1.0/users?$skiptoken=x",
		strings.Replace(srv.URL, "https://", "http://", 1) + "/v1.0/users",
		srv.URL + "/beta/users",
		srv.URL + "/v1.0evil/users",
	} {
		if _, err := c.Do(t.Context(), &Request{URL: link}); err == nil {
			t.Errorf("link %s accepted", link)
		}
	}
	if n.Load() != 0 {
		t.Fatalf("%d requests sent", n.Load())
	}
	rel, err := c.RelativeURL(srv.URL + "/v1.0/users/delta?$skiptoken=a%20b")
	if err != nil || rel != "/users/delta?$skiptoken=a%20b" {
		t.Fatalf("RelativeURL = %q, %v", rel, err)
	}
	if rel, _ := c.RelativeURL("/users"); rel != "/users" {
		t.Fatalf("RelativeURL(/users) = %q", rel)
	}
	if _, err := New(Options{BaseURL: "graph.microsoft.com", Tokens: StaticToken("")}); err == nil {
		t.Fatal("New accepted a base URL without scheme")
	}
}

func TestScopeOf(t *testing.T) {
	tests := map[string]string{
		"/users":                                   DirectoryScope,
		"/users/delta?$select=id":                  DirectoryScope,
		"/users/U1":                                DirectoryScope,
		"/users/U1/memberOf":                       DirectoryScope,
		"/groups/g/transitiveMembers":              DirectoryScope,
		"/users/U1/contactFolders":                 MailboxScope("u1"),
		"/users/U1/contactFolders/f/contacts?$x=1": MailboxScope("u1"),
		"/users/a%40b.com/contacts":                MailboxScope("a@b.com"),
		"/users/u1/mailboxSettings":                MailboxScope("u1"),
	}
	for in, want := range tests {
		if got := ScopeOf(in); got != want {
			t.Errorf("ScopeOf(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestHoldsUnitAndInvalidJSON(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(204)
			return
		}
		w.Header().Set("request-id", "rid-bad")
		w.WriteHeader(200)
		io.WriteString(w, "<html>not json</html>")
	}))
	c := newClient(t, srv, nil, nil)
	// The caller holds every unit of the mailbox: HoldsUnit must not deadlock.
	rel, err := c.Pacer().Acquire(t.Context(), MailboxScope("u"), 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := c.Do(ctx, &Request{Method: "DELETE", URL: ContactPath("u", "f", "c"), HoldsUnit: true}); err != nil {
		t.Fatal(err)
	}
	rel()
	if _, err := c.Do(ctx, &Request{Method: "DELETE", URL: ContactPath("u", "f", "c")}); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err = c.DoJSON(ctx, &Request{URL: "/users/u"}, &out)
	var ge *Error
	if !errors.As(err, &ge) || !ge.NotGraph || ge.RequestID != "rid-bad" || Classify(err) != Retryable {
		t.Fatalf("err %v", err)
	}
	// Raw batch bodies are checked before anything is sent.
	if _, err := c.Batch(ctx, []BatchItem{{ID: "1", Method: "POST", URL: "/users/u/contacts", Body: json.RawMessage(`{"a":`)}}); err == nil {
		t.Fatal("invalid raw body accepted")
	}
	if c.BaseURL() != srv.URL+"/v1.0" {
		t.Fatalf("BaseURL %s", c.BaseURL())
	}
}
