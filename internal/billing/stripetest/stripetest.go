// Package stripetest runs Stripe's own API mock, stripe-mock, for the
// billing tests, behind a TLS proxy on loopback that records every request
// and adds what stripe-mock leaves out:
//
//   - Stripe's idempotency (docs.stripe.com/api/idempotent_requests):
//     stripe-mock keeps no state, so the proxy saves the status and body of
//     the first request with an Idempotency-Key (per API key) and answers a
//     later request with that key from the saved answer, with the header
//     Idempotent-Replayed: true, without passing it on; a reuse with other
//     parameters gets Stripe's 400 idempotency_error. A write the tests
//     count as "reached Stripe" is one stripe-mock carried out.
//   - Distinct ids: stripe-mock answers every create with its fixture's id
//     (every customer is the same cus_...); the proxy gives each created
//     customer, product, price, subscription and subscription item an id
//     of its own, as Stripe does.
//   - Faults: an answer lost after Stripe acted (the connection closed, or
//     held until the client gives up), for retries and interrupted runs.
//
// stripe-mock validates each request's parameters against Stripe's OpenAPI
// specification and answers with fixtures; the tests assert quantities,
// prices and keys on the recorded requests. It is a Go program: .ci/run
// installs it with go install github.com/stripe/stripe-mock@version; a
// test that needs it and cannot find it skips and says so.
package stripetest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the stripe-mock version .ci/run installs.
const Version = "v0.203.0"

// Binary finds stripe-mock: on PATH, or where go install puts it ($GOBIN,
// $GOPATH/bin, ~/go/bin).
func Binary() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && lines[0] != "" {
			dirs = append(dirs, lines[0])
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("stripe-mock not found")
}

// Request is one request the proxy received.
type Request struct {
	Method string
	Path   string
	// Form is the request's parameters: the form body of a POST, the
	// query of a GET.
	Form           url.Values
	IdempotencyKey string
	// APIKey is the bearer token the request carried.
	APIKey string
	// Replayed: answered from the saved answer of its idempotency key;
	// stripe-mock did not see it.
	Replayed bool
	// Status is the answer's status (0: the answer was lost on purpose).
	Status int
}

// Write reports a request that changes something in Stripe.
func (r Request) Write() bool { return r.Method == http.MethodPost || r.Method == http.MethodDelete }

// Fault is what happens to the answer of a request a test picks.
type Fault int

// Faults.
const (
	// DropAnswer: stripe-mock carries the request out (and its answer is
	// saved under its idempotency key), then the client's connection is
	// closed without an answer: a network error after Stripe acted.
	DropAnswer Fault = iota + 1
	// HoldAnswer: stripe-mock carries the request out, and the answer
	// never comes; the client waits until it gives up or is killed.
	HoldAnswer
	// Refuse: the request is answered by the test (InjectError,
	// InjectAnswer) and not carried out.
	Refuse
)

type fault struct {
	f     Fault
	match func(Request) bool
	err   *saved // Refuse's answer
}

type saved struct {
	method, path, params string
	status               int
	header               http.Header
	body                 []byte
}

// Mock is stripe-mock behind the recording TLS proxy.
type Mock struct {
	// URL is the proxy's https URL (https://127.0.0.1:port): the Stripe
	// endpoint of the tests.
	URL string
	// CertPEM is the proxy's certificate: trust it (SSL_CERT_FILE, or
	// Client).
	CertPEM []byte
	// Client is an http.Client that trusts the proxy.
	Client *http.Client

	srv     *httptest.Server
	backend *http.Client
	cancel  context.CancelFunc
	held    chan struct{} // closed when the mock stops: held answers end

	mu     sync.Mutex
	log    []Request
	saved  map[string]*saved
	faults []fault
	ids    int
}

// Start runs stripe-mock on a Unix socket of its own and the proxy on
// 127.0.0.1, both stopped when t ends; it skips t, saying so, when
// stripe-mock is not installed.
func Start(t testing.TB) *Mock {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Skipf("SKIP (not a pass): stripe-mock is not installed; go install github.com/stripe/stripe-mock@%s (as .ci/run does) to run the Stripe tests", Version)
	}
	dir, err := os.MkdirTemp("", "stripe-mock-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "http.sock")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-http-unix", sock)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start stripe-mock: %v", err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	m := &Mock{cancel: cancel, held: make(chan struct{}), saved: map[string]*saved{}}
	m.backend = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	t.Cleanup(func() {
		m.srv.Close()
		cancel()
		<-waited
		os.RemoveAll(dir)
	})
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(m.serve))
	m.srv.StartTLS()
	t.Cleanup(func() { close(m.held) }) // runs first: held answers end before the server closes
	m.URL = m.srv.URL
	m.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.srv.Certificate().Raw})
	m.Client = m.srv.Client()
	m.waitReady(t, waited, &out)
	return m
}

// waitReady waits until stripe-mock answers on its socket.
func (m *Mock) waitReady(t testing.TB, exited <-chan struct{}, out *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://stripe-mock/v1/products", nil)
		req.Header.Set("Authorization", "Bearer sk_test_ready")
		if resp, err := m.backend.Do(req); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("stripe-mock exited at start:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not answer within 30 s:\n%s", out.String())
		}
	}
}

// Inject makes the next request match picks suffer f (once).
func (m *Mock) Inject(f Fault, match func(Request) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, fault{f: f, match: match})
}

// InjectError makes the next request match picks get a Stripe error in
// Stripe's shape (docs.stripe.com/api/errors: {"error": {"type", "code",
// "message"}} and a Request-Id header) instead of being carried out.
func (m *Mock) InjectError(status int, typ, code, message string, match func(Request) bool) {
	m.InjectAnswer(status, map[string]any{"error": map[string]any{"type": typ, "code": code, "message": message}}, match)
}

// InjectAnswer makes the next request match picks get body (as JSON) with
// status instead of being passed to stripe-mock: what Stripe holds that
// stateless stripe-mock cannot show, such as a customer a search finds.
func (m *Mock) InjectAnswer(status int, body any, match func(Request) bool) {
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids++
	h := http.Header{"Content-Type": {"application/json"}, "Request-Id": {fmt.Sprintf("req_gm%04d", m.ids)}}
	m.faults = append(m.faults, fault{f: Refuse, match: match, err: &saved{status: status, header: h, body: b}})
}

// Requests returns every request received so far, in order.
func (m *Mock) Requests() []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Request(nil), m.log...)
}

// Writes returns the writes stripe-mock carried out (replays left out),
// optionally only those to paths starting with prefix.
func (m *Mock) Writes(prefix string) []Request {
	var out []Request
	for _, r := range m.Requests() {
		if r.Write() && !r.Replayed && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// WaitFor waits until a request match accepts has been received.
func (m *Mock) WaitFor(t testing.TB, d time.Duration, match func(Request) bool) Request {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, r := range m.Requests() {
			if match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no such request within %s; received: %v", d, m.Requests())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *Mock) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"),
		APIKey: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")}
	req.Form, _ = url.ParseQuery(r.URL.RawQuery)
	if r.Method == http.MethodPost {
		req.Form, _ = url.ParseQuery(string(body))
	}
	i, f := m.record(req)
	if f.f == Refuse {
		m.setStatus(i, f.err.status, false)
		writeSaved(w, f.err, false)
		return
	}
	if req.IdempotencyKey != "" && req.Write() {
		if s, ok := m.replay(req, string(body)); ok {
			m.setStatus(i, s.status, true)
			writeSaved(w, s, true)
			return
		}
	}
	s, err := m.forward(r, body)
	if err != nil {
		m.setStatus(i, http.StatusBadGateway, false)
		http.Error(w, "stripe-mock: "+err.Error(), http.StatusBadGateway)
		return
	}
	if req.IdempotencyKey != "" && req.Write() {
		m.save(req, string(body), s)
	}
	m.answer(w, r, i, f.f, s)
}

// record logs req and takes the fault that matches it, if any.
func (m *Mock) record(req Request) (int, fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, req)
	for j, f := range m.faults {
		if f.match(req) {
			m.faults = append(m.faults[:j], m.faults[j+1:]...)
			return len(m.log) - 1, f
		}
	}
	return len(m.log) - 1, fault{}
}

func (m *Mock) setStatus(i, status int, replayed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log[i].Status, m.log[i].Replayed = status, replayed
}

func idemKey(req Request) string { return req.APIKey + "\x00" + req.IdempotencyKey }

// replay answers a known idempotency key: the saved answer when the
// request is the same, Stripe's idempotency_error when it is not.
func (m *Mock) replay(req Request, params string) (*saved, bool) {
	m.mu.Lock()
	s, ok := m.saved[idemKey(req)]
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	if s.method == req.Method && s.path == req.Path && s.params == params {
		return s, true
	}
	msg := fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", req.IdempotencyKey)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"type": "idempotency_error", "message": msg}})
	return &saved{status: http.StatusBadRequest, header: http.Header{"Content-Type": {"application/json"}}, body: b}, true
}

func (m *Mock) save(req Request, params string, s *saved) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.method, s.path, s.params = req.Method, req.Path, params
	m.saved[idemKey(req)] = s
}

// forward passes the request to stripe-mock and gives created objects ids
// of their own.
func (m *Mock) forward(r *http.Request, body []byte) (*saved, error) {
	u := "http://stripe-mock" + r.URL.RequestURI()
	out, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	resp, err := m.backend.Do(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost && resp.StatusCode == http.StatusOK {
		b = m.newIDs(r.URL.Path, b)
	}
	h := resp.Header.Clone()
	h.Del("Content-Length")
	return &saved{status: resp.StatusCode, header: h, body: b}, nil
}

// created are the collections whose POST creates an object, and the prefix
// of its id.
var created = map[string]string{
	"/v1/customers": "cus", "/v1/products": "prod", "/v1/prices": "price", "/v1/subscriptions": "sub",
}

// newIDs rewrites the id of an object a POST to a collection created (and
// its subscription items' ids), so that each object has its own.
func (m *Mock) newIDs(path string, b []byte) []byte {
	prefix, ok := created[path]
	if !ok {
		return b
	}
	var obj map[string]any
	if json.Unmarshal(b, &obj) != nil {
		return b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := func(p string) string {
		m.ids++
		return fmt.Sprintf("%s_gm%04d", p, m.ids)
	}
	obj["id"] = next(prefix)
	if items, ok := obj["items"].(map[string]any); ok {
		if data, ok := items["data"].([]any); ok {
			for _, it := range data {
				if item, ok := it.(map[string]any); ok {
					item["id"] = next("si")
					item["subscription"] = obj["id"]
				}
			}
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return b
	}
	return out
}

// answer writes s, or loses it as f says.
func (m *Mock) answer(w http.ResponseWriter, r *http.Request, i int, f Fault, s *saved) {
	switch f {
	case DropAnswer:
		m.setStatus(i, 0, false)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case HoldAnswer:
		m.setStatus(i, 0, false)
		// Until the client gives up (its connection closes) or the test
		// ends.
		select {
		case <-m.held:
		case <-r.Context().Done():
		}
		panic(http.ErrAbortHandler)
	}
	m.setStatus(i, s.status, false)
	writeSaved(w, s, false)
}

func writeSaved(w http.ResponseWriter, s *saved, replayed bool) {
	for k, v := range s.header {
		w.Header()[k] = v
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(s.status)
	w.Write(s.body)
}
