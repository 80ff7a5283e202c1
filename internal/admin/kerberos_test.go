//go:build !windows

package admin

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/admin/kdctest"
	"github.com/galmirror/galmirror/internal/admin/negotiate"
)

// TestKerberosEndToEnd runs the whole Negotiate path against a real MIT KDC:
// kinit fills a credential cache, the client reads it as the CLI does, the
// server accepts with a keytab.
func TestKerberosEndToEnd(t *testing.T) {
	kdc := kdctest.Start(t)
	kdc.AddUser("alice", "alice-pw")
	kdc.AddUser("bob", "bob-pw")
	kdc.AddUser("mallory", "mallory-pw")
	keytab := kdc.AddService("HTTP/localhost")
	otherKeytab := kdc.AddService("HTTP/other.galmirror.test")
	t.Setenv("KRB5_CONFIG", kdc.Krb5Conf)

	acc, err := negotiate.NewAcceptor(negotiate.AcceptorConfig{Keytab: keytab, SPN: "HTTP/localhost"})
	if err != nil {
		t.Fatal(err)
	}
	b := newFakeBackend()
	srv, addr := startServer(t, Options{
		Backend:  b,
		Acceptor: acc,
		Roles: []RoleBinding{
			{Principal: "alice@" + kdctest.Realm, Role: RoleOperator},
			{Principal: "bob@" + kdctest.Realm, Role: RoleViewer},
		},
	})
	// The SPN is derived from the endpoint's host, as for a real server.
	endpoint := strings.Replace(addr, "127.0.0.1", "localhost", 1)
	ctx := t.Context()
	client := func(user string) adminv1connect.AdminServiceClient {
		t.Helper()
		t.Setenv("KRB5CCNAME", "FILE:"+kdc.Kinit(user, user+"-pw"))
		return newClient(t, endpoint, ClientOptions{Fingerprint: srv.Fingerprint(), Kerberos: true})
	}

	t.Run("principal with a ticket gets through", func(t *testing.T) {
		c := client("alice")
		res, err := c.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.CallerPrincipal != "alice@"+kdctest.Realm || res.Msg.CallerRole != adminv1.Role_ROLE_OPERATOR {
			t.Fatalf("caller %q role %v", res.Msg.CallerPrincipal, res.Msg.CallerRole)
		}
		// Per request: several calls on one HTTP/2 connection, each with
		// its own authenticator (no replay refusal).
		for range 3 {
			if _, err := c.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{})); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"})); err != nil {
			t.Fatalf("operator SyncNow: %v", err)
		}
		acts := b.auditsOf(AuditAction)
		if len(acts) != 1 || acts[0].Principal != "alice@"+kdctest.Realm {
			t.Errorf("audit %+v", acts)
		}
	})
	t.Run("no ticket gets Unauthenticated with a Negotiate challenge", func(t *testing.T) {
		c := newClient(t, endpoint, ClientOptions{Fingerprint: srv.Fingerprint(), Protocol: "grpc"})
		_, err := c.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		ce := wantCode(t, err, connect.CodeUnauthenticated)
		if got := ce.Meta().Get("WWW-Authenticate"); got != "Negotiate" {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	})
	t.Run("viewer cannot SyncNow", func(t *testing.T) {
		c := client("bob")
		if _, err := c.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{})); err != nil {
			t.Fatal(err)
		}
		_, err := c.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "fabrikam"}))
		wantCode(t, err, connect.CodePermissionDenied)
	})
	t.Run("principal without a role is denied", func(t *testing.T) {
		_, err := client("mallory").ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		ce := wantCode(t, err, connect.CodePermissionDenied)
		if !strings.Contains(ce.Message(), "mallory@"+kdctest.Realm) {
			t.Errorf("message %q", ce.Message())
		}
	})
	t.Run("ticket for another service is rejected", func(t *testing.T) {
		_ = otherKeytab
		t.Setenv("KRB5CCNAME", "FILE:"+kdc.Kinit("alice", "alice-pw"))
		c := newClient(t, endpoint, ClientOptions{Fingerprint: srv.Fingerprint(), Kerberos: true, SPN: "HTTP/other.galmirror.test"})
		_, err := c.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		ce := wantCode(t, err, connect.CodeUnauthenticated)
		if !strings.Contains(ce.Message(), "rejected") {
			t.Errorf("message %q", ce.Message())
		}
	})
}
