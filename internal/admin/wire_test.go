package admin

import (
	"context"
	"crypto/tls"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
)

// grpcConn dials the server with google.golang.org/grpc, pinning its
// certificate and presenting cert.
func grpcConn(t *testing.T, srv *Server, addr string, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	tc := &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if Fingerprint(cs.PeerCertificates[0].Raw) != srv.Fingerprint() {
				t.Error("server fingerprint mismatch")
			}
			return nil
		},
	}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestWireCompatibility(t *testing.T) {
	viewer := validCert(t, "viewer")
	b := newFakeBackend()
	srv, addr := startServer(t, Options{
		Backend:                  b,
		PinnedClientCertificates: []string{fp(viewer)},
		Roles:                    []RoleBinding{{Principal: "cert:" + fp(viewer), Role: RoleViewer}},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	t.Run("grpc-go unary", func(t *testing.T) {
		conn := grpcConn(t, srv, addr, viewer)
		var res adminv1.ListTenantsResponse
		if err := conn.Invoke(ctx, adminv1connect.AdminServiceListTenantsProcedure, &adminv1.ListTenantsRequest{}, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Tenants) != 2 || res.Tenants[0].Name != "contoso" {
			t.Fatalf("tenants %v", res.Tenants)
		}
		var run adminv1.GetRunResponse
		err := conn.Invoke(ctx, adminv1connect.AdminServiceGetRunProcedure, &adminv1.GetRunRequest{Id: "999999"}, &run)
		if status.Code(err) != codes.NotFound {
			t.Fatalf("unknown run: %v, want NotFound", err)
		}
	})
	t.Run("grpc-go unauthenticated", func(t *testing.T) {
		conn := grpcConn(t, srv, addr, nil)
		var hdr metadata.MD
		err := conn.Invoke(ctx, adminv1connect.AdminServiceListTenantsProcedure, &adminv1.ListTenantsRequest{}, &adminv1.ListTenantsResponse{}, grpc.Header(&hdr))
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("got %v, want Unauthenticated", err)
		}
	})
	t.Run("grpc-go health", func(t *testing.T) {
		res, err := healthpb.NewHealthClient(grpcConn(t, srv, addr, viewer)).Check(ctx, &healthpb.HealthCheckRequest{Service: adminv1connect.AdminServiceName})
		if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v %v", res, err)
		}
	})
	t.Run("grpc-go server stream with resume", func(t *testing.T) {
		grpcStreamResumes(t, ctx, grpcConn(t, srv, addr, viewer), b)
	})
	for _, proto := range []string{"connect", "grpc", "grpcweb"} {
		t.Run("connect-go "+proto, func(t *testing.T) {
			connectGoPagesAndStreams(t, ctx, newClient(t, addr, ClientOptions{Fingerprint: srv.Fingerprint(), Certificate: viewer, Protocol: proto}))
		})
	}
}

// grpcStreamResumes watches events through grpc-go from cursor 3: the
// stored events after it, then a live one.
func grpcStreamResumes(t *testing.T, ctx context.Context, conn *grpc.ClientConn, b *fakeBackend) {
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	stream, err := conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true}, adminv1connect.AdminServiceWatchEventsProcedure)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&adminv1.WatchEventsRequest{Cursor: "3"}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		var ev adminv1.WatchEventsResponse
		if err := stream.RecvMsg(&ev); err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev.Event.Cursor)
		if len(got) == 2 {
			b.live <- Event{Seq: 6, ID: 301, Level: LevelWarning, Tenant: "contoso", Message: "live"}
		}
	}
	if want := []string{"4", "5", "6"}; !slices.Equal(got, want) {
		t.Fatalf("cursors %v, want %v", got, want)
	}
}

// connectGoPagesAndStreams pages through the runs and watches the stored
// events with connect-go.
func connectGoPagesAndStreams(t *testing.T, ctx context.Context, c adminv1connect.AdminServiceClient) {
	res, err := c.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "contoso", PageSize: 20}))
	if err != nil {
		t.Fatal(err)
	}
	// Newest first, 45 runs in pages of 20.
	if len(res.Msg.Runs) != 20 || res.Msg.Runs[0].Id != "45" || res.Msg.NextPageToken == "" {
		t.Fatalf("page 1: %d runs, first %s, next %q", len(res.Msg.Runs), res.Msg.Runs[0].Id, res.Msg.NextPageToken)
	}
	seen := len(res.Msg.Runs)
	for tok := res.Msg.NextPageToken; tok != ""; {
		res, err = c.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "contoso", PageSize: 20, PageToken: tok}))
		if err != nil {
			t.Fatal(err)
		}
		seen += len(res.Msg.Runs)
		tok = res.Msg.NextPageToken
	}
	if seen != 45 {
		t.Fatalf("%d runs over all pages, want 45", seen)
	}
	stream, err := c.WatchEvents(ctx, connect.NewRequest(&adminv1.WatchEventsRequest{Cursor: "0", Tenant: "contoso"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	for i := 1; i <= 5; i++ {
		if !stream.Receive() {
			t.Fatalf("stream ended: %v", stream.Err())
		}
		if c := stream.Msg().Event.Cursor; c != strconv.Itoa(i) {
			t.Fatalf("event %d has cursor %s", i, c)
		}
	}
}

// TestWatchEventsEndsOnShutdown: a stream does not hold up the server's
// shutdown.
func TestWatchEventsEndsOnShutdown(t *testing.T) {
	viewer := validCert(t, "viewer")
	s, err := New(Options{Backend: newFakeBackend(), DataDir: t.TempDir(), PinnedClientCertificates: []string{fp(viewer)},
		Roles: []RoleBinding{{Principal: "cert:" + fp(viewer), Role: RoleViewer}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := netListen(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c := newClient(t, ln.Addr().String(), ClientOptions{Fingerprint: s.Fingerprint(), Certificate: viewer})
	stream, err := c.WatchEvents(t.Context(), connect.NewRequest(&adminv1.WatchEventsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	cancel()
	start := time.Now()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > shutdownGrace {
		t.Fatalf("shutdown took %v", d)
	}
	for stream.Receive() {
	}
	if err := stream.Err(); err != nil && err != io.EOF && connect.CodeOf(err) == connect.CodeUnknown {
		t.Logf("stream ended with %v", err)
	}
}
