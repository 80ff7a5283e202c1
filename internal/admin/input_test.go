package admin

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
