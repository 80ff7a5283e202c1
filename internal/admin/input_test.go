package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/admin/localipc"
)

func TestBadInput(t *testing.T) {
	op := validCert(t, "op")
	var logs bytes.Buffer
	srv, addr := startServer(t, Options{
		Backend: newFakeBackend(), Log: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)),
		PinnedClientCertificates: []string{fp(op)},
		Roles:                    []RoleBinding{{Principal: "cert:" + fp(op), Role: RoleOperator}},
	})
	c := newHTTPTestClient(t, addr, ClientOptions{Fingerprint: srv.Fingerprint(), Certificate: op})
	ctx := t.Context()
	api := c.api
	cases := []struct {
		name string
		call func() error
		code connect.Code
		msg  string // the message must contain this
	}{
		{"unknown tenant", func() error {
			_, err := api.GetTenant(ctx, connect.NewRequest(&adminv1.GetTenantRequest{Name: "nosuch"}))
			return err
		}, connect.CodeNotFound, `"nosuch"`},
		{"empty tenant", func() error {
			_, err := api.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{}))
			return err
		}, connect.CodeInvalidArgument, "tenant name is required"},
		{"malformed tenant", func() error {
			_, err := api.PauseTenant(ctx, connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: "Contoso'; DROP TABLE runs;--"}))
			return err
		}, connect.CodeInvalidArgument, "not a tenant name"},
		{"invalid page token", func() error {
			_, err := api.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "contoso", PageToken: "garbage"}))
			return err
		}, connect.CodeInvalidArgument, "page token"},
		{"page token of another tenant", func() error {
			_, err := api.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "fabrikam", PageToken: "p20:contoso"}))
			return err
		}, connect.CodeInvalidArgument, "page token"},
		{"negative page size", func() error {
			_, err := api.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "contoso", PageSize: -1}))
			return err
		}, connect.CodeInvalidArgument, "page_size"},
		{"bad run id", func() error {
			_, err := api.GetRun(ctx, connect.NewRequest(&adminv1.GetRunRequest{Id: "-3"}))
			return err
		}, connect.CodeInvalidArgument, "not a run id"},
		{"unknown run", func() error {
			_, err := api.GetRun(ctx, connect.NewRequest(&adminv1.GetRunRequest{Id: "424242"}))
			return err
		}, connect.CodeNotFound, "424242"},
		{"bad cursor", func() error {
			s, err := api.WatchEvents(ctx, connect.NewRequest(&adminv1.WatchEventsRequest{Cursor: "yesterday"}))
			if err != nil {
				return err
			}
			defer s.Close()
			for s.Receive() {
			}
			return s.Err()
		}, connect.CodeInvalidArgument, "cursor"},
		{"oversized message", func() error {
			_, err := api.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "contoso", PageToken: strings.Repeat("x", MaxRequestBytes+1)}))
			return err
		}, connect.CodeResourceExhausted, ""},
		{"internal error hides details", func() error {
			_, err := api.CheckTenant(ctx, connect.NewRequest(&adminv1.CheckTenantRequest{Tenant: "fabrikam"}))
			return err
		}, connect.CodeInternal, "service log"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ce := wantCode(t, tc.call(), tc.code)
			if !strings.Contains(ce.Message(), tc.msg) {
				t.Errorf("message %q does not contain %q", ce.Message(), tc.msg)
			}
			if strings.Contains(ce.Message(), "/secret/") {
				t.Errorf("message leaks an internal path: %q", ce.Message())
			}
		})
	}
	t.Run("malformed protobuf", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+adminv1connect.AdminServiceGetTenantProcedure,
			bytes.NewReader([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}))
		req.Header.Set("Content-Type", "application/proto")
		res, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400 (invalid_argument)", res.StatusCode)
		}
	})
	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("a handler panicked:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// FuzzHandlers sends arbitrary bytes as the request message of every
// procedure, as an authenticated operator, and checks that nothing panics
// and that every answer is a deliberate one.
func FuzzHandlers(f *testing.F) {
	procs := []string{
		adminv1connect.AdminServiceGetServiceInfoProcedure, adminv1connect.AdminServiceListTenantsProcedure,
		adminv1connect.AdminServiceGetTenantProcedure, adminv1connect.AdminServiceListRunsProcedure,
		adminv1connect.AdminServiceGetRunProcedure, adminv1connect.AdminServiceSyncNowProcedure,
		adminv1connect.AdminServicePauseTenantProcedure, adminv1connect.AdminServiceResumeTenantProcedure,
		adminv1connect.AdminServiceCheckTenantProcedure,
	}
	seed := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	f.Add(uint8(3), seed(&adminv1.ListRunsRequest{Tenant: "contoso", PageSize: 5, PageToken: "p5:contoso"}))
	f.Add(uint8(4), seed(&adminv1.GetRunRequest{Id: "7"}))
	f.Add(uint8(2), seed(&adminv1.GetTenantRequest{Name: "contoso"}))
	f.Add(uint8(5), seed(&adminv1.SyncNowRequest{Tenant: "fabrikam"}))
	f.Add(uint8(6), seed(&adminv1.PauseTenantRequest{Tenant: "contoso", Reason: strings.Repeat("r", 600)}))
	f.Add(uint8(3), []byte{0x0a, 0x80})
	var logs bytes.Buffer
	s, err := New(Options{Backend: newFakeBackend(), Log: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		proc := procs[int(which)%len(procs)]
		req := httptest.NewRequestWithContext(
			context.WithValue(t.Context(), localPeerKey{}, localipc.Peer{Name: "uid=0(root)"}),
			http.MethodPost, proc, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/proto")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict,
			http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		case http.StatusInternalServerError:
			if !strings.Contains(rec.Body.String(), "CheckTenant failed inside the service") {
				t.Fatalf("%s: unexpected internal error %s", proc, rec.Body)
			}
		default:
			t.Fatalf("%s: status %d %s", proc, rec.Code, rec.Body)
		}
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("%s panicked: %s", proc, logs.String())
		}
	})
}

// TestLocalSocket serves the API on a Unix socket: the caller needs no
// credentials, is identified by its uid and is an operator.
func TestLocalSocket(t *testing.T) {
	path := localipc.DefaultPath(t.TempDir())
	b := newFakeBackend()
	s, err := New(Options{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := localipc.Listen(path, nil)
	if err != nil {
		t.Skipf("no local socket on this system: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.ServeLocal(ctx, ln) }()
	defer func() { cancel(); <-done }()

	for _, proto := range []string{"connect", "grpc"} {
		c, err := NewClient(ClientOptions{LocalPath: path, Protocol: proto})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.GetServiceInfo(t.Context(), connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if !strings.HasPrefix(res.Msg.CallerPrincipal, "local:uid=") || res.Msg.CallerRole != adminv1.Role_ROLE_OPERATOR {
			t.Fatalf("caller %q role %v", res.Msg.CallerPrincipal, res.Msg.CallerRole)
		}
		if _, err := c.PauseTenant(t.Context(), connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: "contoso"})); err != nil {
			t.Fatal(err)
		}
	}
	if a := b.auditsOf(AuditAction); len(a) != 2 || !strings.HasPrefix(a[0].Principal, "local:") {
		t.Fatalf("audit %+v", a)
	}
}

// FuzzRequest sends arbitrary requests to the real admin handler: the
// cross-origin check, the authenticator and its failure limit, the role
// gate, connect's Connect, gRPC and gRPC-Web framing and the handlers. It
// checks that nothing panics, that every answer is a deliberate one of
// bounded size, and that what reaches the audit trail is bounded,
// printable, and names a known method or "unknown".
//
// mode picks the caller (bits 0-1: the local socket's operator, a remote
// caller with no certificate, a remote viewer with a pinned certificate, a
// remote caller with an unknown one), the protocol (bits 2-3: Connect
// unary proto or JSON, gRPC, gRPC-Web; header may override the
// Content-Type), whether body goes in one envelope (bit 4, as gRPC and
// streams frame messages), GET (bit 5), HTTP/2 (bit 6) and an IPv6 source
// (bit 7). path may carry a query; header is "Name: value" lines. A remote
// caller has one try left, so a failed authentication is a lock-out and
// its audit event is checked too.
//
// Seeds are in testdata/fuzz/FuzzRequest. Run with
// go test -run '^$' -fuzz '^FuzzRequest$' -fuzztime 10s ./internal/admin
func FuzzRequest(f *testing.F) {
	viewer, stranger := validCert(f, "viewer"), validCert(f, "stranger")
	f.Fuzz(func(t *testing.T, mode uint8, path, header string, body []byte) {
		b := newFakeBackend()
		b.noLive = true
		var logs bytes.Buffer
		s, err := New(Options{Backend: b, Log: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)),
			Acceptor: fakeAcceptor{}, PinnedClientCertificates: []string{fp(viewer)},
			Roles: []RoleBinding{{Principal: "cert:" + fp(viewer), Role: RoleViewer}, {Principal: "alice@EXAMPLE.COM", Role: RoleOperator}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.denied.flush(t.Context())
		defer s.lockouts.flush(t.Context())

		req, timeout := fuzzedRequest(t.Context(), s, mode, path, header, body, viewer, stranger)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("a handler panicked: %s", logs.String())
		}
		checkFuzzedAnswer(t, req, rec, path, header, timeout)
		checkFuzzedAudits(t, b, req.URL)
	})
}

// fuzzedRequest builds FuzzRequest's request from its inputs (see there);
// timeout reports that the caller set a deadline of its own.
func fuzzedRequest(ctx context.Context, s *Server, mode uint8, path, header string, body []byte, viewer, stranger *tls.Certificate) (req *http.Request, timeout bool) {
	contentTypes := [4]string{"application/proto", "application/json", "application/grpc", "application/grpc-web+proto"}
	remote := "192.0.2.7:40000"
	if mode&0x80 != 0 {
		remote = "[2001:db8::7]:40000"
	}
	for range authBurst - 1 {
		s.auth.limiter.fail(limiterKey(sourceAddr(remote)), time.Now())
	}
	var tlsState *tls.ConnectionState
	switch mode & 3 {
	case 0:
		ctx = context.WithValue(ctx, localPeerKey{}, localipc.Peer{Name: "uid=0(root)"})
	case 2:
		tlsState = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{viewer.Leaf}}
	case 3:
		tlsState = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{stranger.Leaf}}
	}
	h := http.Header{"Content-Type": {contentTypes[mode>>2&3]}}
	replaced := map[string]bool{}
	for i, line := range strings.Split(header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || i == 32 {
			continue
		}
		name = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))
		if !replaced[name] {
			h.Del(name)
			replaced[name] = true
		}
		h.Add(name, strings.TrimSpace(value))
		timeout = timeout || name == "Grpc-Timeout" || name == "Connect-Timeout-Ms"
	}
	if mode&0x10 != 0 {
		body = append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body))), body...)
	}
	method := http.MethodPost
	if mode&0x20 != 0 {
		method = http.MethodGet
	}
	u := &url.URL{Path: path}
	u.Path, u.RawQuery, _ = strings.Cut(path, "?")
	req = (&http.Request{
		Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Host: "gm01.example",
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), RemoteAddr: remote,
		RequestURI: u.RequestURI(), TLS: tlsState,
	}).WithContext(ctx)
	if mode&0x40 != 0 {
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
	}
	return req, timeout
}

// checkFuzzedAnswer checks that the answer to a fuzzed request (of path
// and header) is bounded and deliberate.
func checkFuzzedAnswer(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder, path, header string, timeout bool) {
	res := rec.Result()
	asked := len(path) + len(header)
	// Bounded: a few KiB, plus what connect echoes of the request (an
	// unknown encoding or content type, the redirect of a path).
	size := rec.Body.Len()
	var text strings.Builder
	text.Write(rec.Body.Bytes())
	for _, hs := range []http.Header{res.Header, res.Trailer} {
		for k, vs := range hs {
			for _, v := range vs {
				size += len(k) + len(v)
				text.WriteString("\n" + k + ": " + v)
			}
		}
	}
	if most := 16<<10 + 4*asked; size > most {
		t.Fatalf("%d bytes of response to %d bytes of path and headers", size, asked)
	}
	// Deliberate: every server-side error is one the code means.
	code, status := connectCode(res, rec.Body.Bytes()), res.StatusCode
	msg := text.String()
	switch {
	case status < 500 && (code == 0 || code.String() == "" || !serverSide(code)):
	case code == connect.CodeInternal && strings.Contains(msg, "CheckTenant failed inside the service"):
	case code == connect.CodeDeadlineExceeded && timeout: // the caller's own deadline
	case slices.ContainsFunc(connectProtocolErrors[code], func(m string) bool { return strings.Contains(msg, m) }):
	case status == http.StatusHTTPVersionNotSupported && req.ProtoMajor < 2: // reflection is bidirectional: HTTP/2 only
	default:
		t.Fatalf("%s %.200q: status %d, code %v: %.2000s", req.Method, path, status, code, msg)
	}
}

// checkFuzzedAudits checks that the audit trail of a fuzzed request is
// bounded, printable, and names a known method or "unknown".
func checkFuzzedAudits(t *testing.T, b *fakeBackend, u *url.URL) {
	for _, a := range b.audits {
		for name, v := range map[string]string{"principal": a.Principal, "role": a.Role, "method": a.Method, "source": a.Source, "result": a.Result, "detail": a.Detail} {
			if len(v) > maxDetailLen || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
				t.Fatalf("%s audit record: %s is %d bytes: %.100q", a.Kind, name, len(v), v)
			}
		}
		if _, known := requiredRole[u.Path]; a.Kind != AuditAction && a.Method != "unknown" && (!known || a.Method != procedureName(u.Path)) {
			t.Fatalf("%s audit record names method %.100q for path %.100q", a.Kind, a.Method, u.Path)
		}
	}
}

// connectProtocolErrors are connect's answers to a request that breaks
// the protocol, with the codes gRPC prescribes for them, told apart from
// the server's own errors by their messages.
var connectProtocolErrors = map[connect.Code][]string{
	connect.CodeUnimplemented: {"unknown compression", "unary request has zero messages", "unary request has multiple messages"},
	connect.CodeInternal:      {"protocol error: ", "corrupt response: "}, // broken framing; trailing bytes after the end of stream
}

// serverSide reports whether code is an error of the server's making.
func serverSide(code connect.Code) bool {
	switch code {
	case connect.CodeUnknown, connect.CodeInternal, connect.CodeDataLoss, connect.CodeUnavailable, connect.CodeUnimplemented, connect.CodeDeadlineExceeded:
		return true
	}
	return false
}

// connectCode is the RPC outcome of a response: grpc-status in the
// headers, trailers or a gRPC-Web trailer frame, else the Connect error
// code in the body of an error status (0 for success or no RPC answer).
func connectCode(res *http.Response, body []byte) connect.Code {
	status := res.Header.Get("Grpc-Status")
	if status == "" {
		status = res.Trailer.Get("Grpc-Status")
	}
	for b := body; status == "" && len(b) >= 5; {
		n := int(binary.BigEndian.Uint32(b[1:5]))
		if n > len(b)-5 {
			break
		}
		switch {
		case b[0]&0x80 != 0: // gRPC-Web trailers
			for line := range strings.SplitSeq(string(b[5:5+n]), "\r\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "grpc-status") {
					status = strings.TrimSpace(v)
				}
			}
		case b[0]&0x02 != 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/connect+"): // Connect end of stream
			var end struct{ Error *struct{ Code string } }
			if json.Unmarshal(b[5:5+n], &end) != nil {
				return connect.CodeUnknown
			}
			if end.Error == nil {
				return 0
			}
			var c connect.Code
			if c.UnmarshalText([]byte(end.Error.Code)) != nil {
				return connect.CodeUnknown
			}
			return c
		}
		b = b[5+n:]
	}
	if status != "" {
		n, _ := strconv.Atoi(status)
		return connect.Code(n)
	}
	if res.StatusCode >= 400 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		var e struct{ Code string }
		if json.Unmarshal(body, &e) == nil {
			var c connect.Code
			if c.UnmarshalText([]byte(e.Code)) == nil {
				return c
			}
		}
		return connect.CodeUnknown
	}
	return 0
}
