package admin

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/admin/negotiate"
)

func TestClientCertificates(t *testing.T) {
	ca := newTestCA(t)
	operator := validCert(t, "operator")
	viewer := validCert(t, "viewer")
	unknown := validCert(t, "stranger")
	expired := clientCert(t, nil, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	fromCA := clientCert(t, ca, "console.msp.example", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	expiredFromCA := clientCert(t, ca, "old.msp.example", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	b := newFakeBackend()
	srv, addr := startServer(t, Options{
		Backend:                  b,
		PinnedClientCertificates: []string{fp(operator), strings.ToUpper(fp(viewer)), fp(expired)},
		ClientCAs:                ca.pool,
		Roles: []RoleBinding{
			{Principal: "cert:" + fp(operator), Role: RoleOperator},
			{Principal: "cert:" + fp(viewer), Role: RoleViewer},
			{Principal: "cert:" + fp(expired), Role: RoleOperator},
			{Principal: "cn:console.msp.example", Role: RoleViewer},
			{Principal: "cn:old.msp.example", Role: RoleOperator},
		},
	})
	ctx := t.Context()
	call := func(c *tls.Certificate) error {
		_, err := newClient(t, addr, ClientOptions{Fingerprint: srv.Fingerprint(), Certificate: c}).
			ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		return err
	}

	t.Run("pinned accepted", func(t *testing.T) {
		res, err := newClient(t, addr, ClientOptions{Fingerprint: srv.Fingerprint(), Certificate: operator}).
			GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Msg.CallerPrincipal, "cert:"+fp(operator); got != want {
			t.Errorf("caller %q, want %q", got, want)
		}
		if res.Msg.CallerRole != adminv1.Role_ROLE_OPERATOR || res.Msg.ServerCertificateSha256 != srv.Fingerprint() {
			t.Errorf("role %v fingerprint %q", res.Msg.CallerRole, res.Msg.ServerCertificateSha256)
		}
	})
	t.Run("issued by CA accepted", func(t *testing.T) {
		if err := call(fromCA); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown refused", func(t *testing.T) {
		ce := wantCode(t, call(unknown), connect.CodeUnauthenticated)
		if !strings.Contains(ce.Message(), fp(unknown)) || !strings.Contains(ce.Message(), "not pinned") {
			t.Errorf("message %q does not say which certificate and why", ce.Message())
		}
	})
	t.Run("expired pinned refused", func(t *testing.T) {
		ce := wantCode(t, call(expired), connect.CodeUnauthenticated)
		if !strings.Contains(ce.Message(), "expired") {
			t.Errorf("message %q does not say expired", ce.Message())
		}
	})
	t.Run("expired from CA refused", func(t *testing.T) {
		wantCode(t, call(expiredFromCA), connect.CodeUnauthenticated)
	})
	t.Run("no credentials refused", func(t *testing.T) {
		ce := wantCode(t, call(nil), connect.CodeUnauthenticated)
		if !strings.Contains(ce.Message(), "client certificate") {
			t.Errorf("message %q does not say how to authenticate", ce.Message())
		}
	})
	client := func(c *tls.Certificate) adminv1connect.AdminServiceClient {
		return newClient(t, addr, ClientOptions{Fingerprint: srv.Fingerprint(), Certificate: c})
	}
	certificateRoles(t, b, client, operator, viewer)
	t.Run("wrong server pin refused by client", func(t *testing.T) {
		_, err := newClient(t, addr, ClientOptions{Fingerprint: strings.Repeat("ab", 32), Certificate: operator}).
			ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		if err == nil || !strings.Contains(err.Error(), "not the pinned") {
			t.Fatalf("got %v, want a pin mismatch", err)
		}
	})
}

// certificateRoles checks what the roles of TestClientCertificates'
// certificates allow: a viewer reads but cannot sync (and is audited), an
// operator syncs (audited, and refused politely while the run is in
// progress or the tenant paused).
func certificateRoles(t *testing.T, b *fakeBackend, client func(*tls.Certificate) adminv1connect.AdminServiceClient, operator, viewer *tls.Certificate) {
	ctx := t.Context()
	t.Run("viewer cannot SyncNow", func(t *testing.T) {
		c := client(viewer)
		_, err := c.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
		ce := wantCode(t, err, connect.CodePermissionDenied)
		if !strings.Contains(ce.Message(), "operator") {
			t.Errorf("message %q does not name the role needed", ce.Message())
		}
		denied := b.auditsOf(AuditDenied)
		if len(denied) != 1 || denied[0].Method != "SyncNow" || denied[0].Principal != "cert:"+fp(viewer) {
			t.Errorf("denied audit events: %+v", denied)
		}
		if _, err := c.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{})); err != nil {
			t.Errorf("viewer ListTenants: %v", err)
		}
	})
	t.Run("operator SyncNow audited", func(t *testing.T) {
		c := client(operator)
		res, err := c.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "fabrikam"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.RunId == "" {
			t.Error("no run id")
		}
		// A second SyncNow while it runs refuses politely.
		_, err = c.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "fabrikam"}))
		ce := wantCode(t, err, connect.CodeAborted)
		if !strings.Contains(ce.Message(), res.Msg.RunId) {
			t.Errorf("busy message %q does not name run %s", ce.Message(), res.Msg.RunId)
		}
		acts := b.auditsOf(AuditAction)
		if len(acts) != 2 || acts[0].Principal != "cert:"+fp(operator) || acts[0].Result != "ok" || acts[1].Result != "aborted" {
			t.Errorf("action audit events: %+v", acts)
		}
	})
	t.Run("paused tenant refuses SyncNow", func(t *testing.T) {
		c := client(operator)
		res, err := c.PauseTenant(ctx, connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: "contoso", Reason: "ticket 4711"}))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Msg.Tenant.Paused {
			t.Error("tenant not paused")
		}
		_, err = c.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		if _, err := c.ResumeTenant(ctx, connect.NewRequest(&adminv1.ResumeTenantRequest{Tenant: "contoso"})); err != nil {
			t.Fatal(err)
		}
	})
}

// fakeAcceptor accepts the token "good:<principal>" and rejects others.
type fakeAcceptor struct{}

func (fakeAcceptor) Accept(ctx context.Context, token []byte) (negotiate.Identity, []byte, error) {
	if p, ok := strings.CutPrefix(string(token), "good:"); ok {
		return negotiate.Identity{Principal: p, Aliases: []string{`EXAMPLE\MSP Admins`}}, []byte("mutual"), nil
	}
	return negotiate.Identity{}, nil, negotiate.ErrRejected
}
func (fakeAcceptor) Close() error { return nil }

type staticTokens string

func (s staticTokens) Token(ctx context.Context, spn string) ([]byte, error) { return []byte(s), nil }

func TestNegotiateMiddleware(t *testing.T) {
	b := newFakeBackend()
	srv, addr := startServer(t, Options{
		Backend:  b,
		Acceptor: fakeAcceptor{},
		Roles:    []RoleBinding{{Principal: `example\msp admins`, Role: RoleOperator}},
	})
	ctx := t.Context()
	kclient := func(tok string) *clientWithHTTP {
		return newHTTPTestClient(t, addr, ClientOptions{Fingerprint: srv.Fingerprint(), Kerberos: true, TokenSource: staticTokens(tok)})
	}

	t.Run("group binding grants operator", func(t *testing.T) {
		res, err := kclient("good:alice@EXAMPLE.COM").api.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Header().Get("WWW-Authenticate") != "Negotiate "+b64("mutual") {
			t.Errorf("mutual authentication token not returned: %q", res.Header().Get("WWW-Authenticate"))
		}
	})
	for _, proto := range []string{"connect", "grpc", "grpcweb"} {
		t.Run("no header gets Negotiate challenge over "+proto, func(t *testing.T) {
			c := newClient(t, addr, ClientOptions{Fingerprint: srv.Fingerprint(), Protocol: proto})
			_, err := c.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
			ce := wantCode(t, err, connect.CodeUnauthenticated)
			if got := ce.Meta().Get("WWW-Authenticate"); got != "Negotiate" {
				t.Errorf("WWW-Authenticate %q, want Negotiate", got)
			}
		})
	}
	t.Run("NTLM refused with a clear message", func(t *testing.T) {
		_, err := kclient("NTLMSSP\x00\x01\x00\x00\x00").api.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		ce := wantCode(t, err, connect.CodeUnauthenticated)
		if !strings.Contains(ce.Message(), "NTLM is not accepted") {
			t.Errorf("message %q", ce.Message())
		}
	})
	t.Run("plain HTTP gets 401", func(t *testing.T) {
		c := kclient("")
		res, err := c.http.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != "Negotiate" {
			t.Errorf("status %d, WWW-Authenticate %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("failures are rate-limited per address", func(t *testing.T) {
		bad := kclient("bad").api
		var err error
		for i := 0; i < authBurst+1; i++ {
			_, err = bad.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		}
		wantCode(t, err, connect.CodeResourceExhausted)
		// Even good credentials wait now: the address is locked out.
		_, err = kclient("good:alice@EXAMPLE.COM").api.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		wantCode(t, err, connect.CodeResourceExhausted)
		if n := len(b.auditsOf(AuditAuthFailed)); n != 1 {
			t.Errorf("%d auth-failed audit events, want 1 per lock-out", n)
		}
	})
}

func TestFailureLimiter(t *testing.T) {
	l := newFailureLimiter(3, 10*time.Second)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if l.blocked("a", now) != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		_, locked := l.fail("a", now)
		if locked != (i == 2) {
			t.Fatalf("failure %d: lockedOut=%v", i, locked)
		}
	}
	if w := l.blocked("a", now); w != 10*time.Second {
		t.Fatalf("wait %v, want 10s", w)
	}
	if l.blocked("b", now) != 0 {
		t.Fatal("another address is blocked")
	}
	if w := l.blocked("a", now.Add(10*time.Second)); w != 0 {
		t.Fatalf("still blocked after refill: %v", w)
	}
	if _, locked := l.fail("a", now.Add(10*time.Second)); !locked {
		t.Fatal("second lock-out not reported")
	}
}
