package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
)

// fromAddress sends ListTenants with a Negotiate token straight to the
// server's handler as if from remote (an address the loopback listener
// cannot give), and returns the HTTP status.
func fromAddress(t testing.TB, s *Server, remote, token string) int {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, adminv1connect.AdminServiceListTenantsProcedure, strings.NewReader("{}"))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Negotiate "+b64(token))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// stillClock stops the authenticator's clock, so that however slow the
// test runs no source earns a try back.
func stillClock(s *Server) {
	start := time.Now()
	s.auth.now = func() time.Time { return start }
}

// A jump host shared by many: others' bad tickets or certificates lock the
// address out, but an operator with a valid client certificate still gets
// in from it; an invalid certificate still counts and is still refused.
func TestLockedOutAddressAdmitsValidCertificate(t *testing.T) {
	op := validCert(t, "operator")
	stranger := validCert(t, "stranger")
	s, addr, _ := serveFor(t, Options{
		Backend:                  newFakeBackend(),
		Acceptor:                 fakeAcceptor{},
		PinnedClientCertificates: []string{fp(op)},
		Roles:                    []RoleBinding{{Principal: "cert:" + fp(op), Role: RoleOperator}, {Principal: "alice@EXAMPLE.COM", Role: RoleViewer}},
	}, stillClock)
	ctx := t.Context()
	list := func(o ClientOptions) error {
		o.Fingerprint = s.Fingerprint()
		_, err := newClient(t, addr, o).ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		return err
	}
	// Invalid certificates count towards the limit.
	for range authBurst {
		wantCode(t, list(ClientOptions{Certificate: stranger}), connect.CodeUnauthenticated)
	}
	wantCode(t, list(ClientOptions{Kerberos: true, TokenSource: staticTokens("good:alice@EXAMPLE.COM")}), connect.CodeResourceExhausted)
	wantCode(t, list(ClientOptions{Certificate: stranger}), connect.CodeResourceExhausted)
	if err := list(ClientOptions{Certificate: op}); err != nil {
		t.Fatalf("valid certificate from a locked-out address: %v", err)
	}
	// Bad tickets keep it locked; the certificate still works.
	for range 3 {
		wantCode(t, list(ClientOptions{Kerberos: true, TokenSource: staticTokens("bad")}), connect.CodeResourceExhausted)
	}
	if err := list(ClientOptions{Certificate: op}); err != nil {
		t.Fatalf("valid certificate after more failures: %v", err)
	}
}

// Tens of thousands of failing addresses do not make the limiter forget
// one it has locked out, and its table stays bounded.
func TestLimiterFloodKeepsLockOut(t *testing.T) {
	s, addr, _ := serveFor(t, Options{Backend: newFakeBackend(), Acceptor: fakeAcceptor{},
		Roles: []RoleBinding{{Principal: "alice@EXAMPLE.COM", Role: RoleViewer}}}, stillClock)
	ctx := t.Context()
	good := newClient(t, addr, ClientOptions{Fingerprint: s.Fingerprint(), Kerberos: true, TokenSource: staticTokens("good:alice@EXAMPLE.COM")})
	bad := newClient(t, addr, ClientOptions{Fingerprint: s.Fingerprint(), Kerberos: true, TokenSource: staticTokens("bad")})
	for range authBurst {
		_, err := bad.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
	}
	_, err := good.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
	wantCode(t, err, connect.CodeResourceExhausted)

	// A hundred addresses lock themselves out, then 3x the table's size
	// of addresses fail once each.
	for i := range 100 {
		for range authBurst {
			fromAddress(t, s, fmt.Sprintf("192.0.2.%d:40000", i), "bad")
		}
	}
	for i := range 3 * limiterSources {
		if code := fromAddress(t, s, fmt.Sprintf("10.%d.%d.%d:40000", i>>16, i>>8&255, i&255), "bad"); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("flood request %d: status %d", i, code)
		}
	}
	if n := s.auth.limiter.size(); n > limiterSources {
		t.Fatalf("the limiter tracks %d sources, more than %d", n, limiterSources)
	}
	_, err = good.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
	wantCode(t, err, connect.CodeResourceExhausted)
	for i := range 100 {
		if code := fromAddress(t, s, fmt.Sprintf("192.0.2.%d:40000", i), "good:alice@EXAMPLE.COM"); code != http.StatusTooManyRequests {
			t.Fatalf("locked-out 192.0.2.%d forgotten after the flood: status %d", i, code)
		}
	}
}

// The addresses of one IPv6 /64 share one allowance; another /64 has its
// own.
func TestLimiterIPv6SharesSlash64(t *testing.T) {
	s, err := New(Options{Backend: newFakeBackend(), Acceptor: fakeAcceptor{},
		Roles: []RoleBinding{{Principal: "alice@EXAMPLE.COM", Role: RoleViewer}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range authBurst {
		if code := fromAddress(t, s, fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "bad"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, code)
		}
	}
	if code := fromAddress(t, s, "[2001:db8:1:2:ffff:ffff:ffff:ffff]:443", "good:alice@EXAMPLE.COM"); code != http.StatusTooManyRequests {
		t.Fatalf("another address of the locked-out /64: status %d, want 429", code)
	}
	if code := fromAddress(t, s, "[2001:db8:1:3::1]:443", "good:alice@EXAMPLE.COM"); code != http.StatusOK {
		t.Fatalf("an address in the next /64: status %d, want 200", code)
	}
}

func TestLimiterKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::/64",
		"fe80::1%eth0":              "fe80::/64",
		"::1":                       "::/64",
		"local":                     "local",
		strings.Repeat("x", 100000): strings.Repeat("x", maxSourceLen) + "...",
	} {
		if got := limiterKey(in); got != want {
			t.Errorf("limiterKey(%.20q) = %.80q, want %.80q", in, got, want)
		}
	}
}

// A full table of locked-out sources keeps every one of them; new sources
// share one allowance meanwhile.
func TestLimiterFullOfLockedOutSources(t *testing.T) {
	l := newFailureLimiter(3, 10*time.Second)
	l.max = 100
	now := time.Unix(1000, 0)
	for i := range l.max {
		for range 3 {
			l.fail(fmt.Sprint("locked", i), now)
		}
	}
	for i := range 3 {
		if src, _ := l.fail(fmt.Sprint("new", i), now); src != overflowSource {
			t.Fatalf("new source %d charged to %q", i, src)
		}
	}
	if l.blocked("another", now) == 0 {
		t.Fatal("a new source is not blocked once the shared allowance is used up")
	}
	for i := range l.max {
		if l.blocked(fmt.Sprint("locked", i), now) == 0 {
			t.Fatalf("locked-out source %d forgotten", i)
		}
	}
	// As they earn tries back, the least-failing make room again.
	later := now.Add(15 * time.Second)
	if src, _ := l.fail("new", later); src != "new" {
		t.Fatalf("charged to %q after room was made", src)
	}
	if n := l.size(); n > l.max {
		t.Fatalf("table grew to %d", n)
	}
}
