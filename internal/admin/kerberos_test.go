//go:build !windows

package admin

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

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

// TestKerberosClientRealmFromTicket: a user of a trusted realm whose short
// name is that of a user of the service's realm is herself, never that
// user. The KDC serves GALMIRROR.TEST (the service HTTP/localhost, and
// alice, an operator) and TRUSTED.TEST (another alice), which trust each
// other; alice@TRUSTED.TEST gets a real ticket for HTTP/localhost across
// the trust with MIT's kvno.
func TestKerberosClientRealmFromTicket(t *testing.T) {
	kdc := kdctest.StartWithTrust(t)
	kdc.AddUser("alice", "alice-pw")
	kdc.AddUser("alice@"+kdctest.TrustedRealm, "trusted-alice-pw")
	keytab := kdc.AddService("HTTP/localhost")
	t.Setenv("KRB5_CONFIG", kdc.Krb5Conf)

	acc, err := negotiate.NewAcceptor(negotiate.AcceptorConfig{Keytab: keytab, SPN: "HTTP/localhost"})
	if err != nil {
		t.Fatal(err)
	}
	b := newFakeBackend()
	srv, addr := startServer(t, Options{
		Backend:  b,
		Acceptor: acc,
		Roles:    []RoleBinding{{Principal: "alice@" + kdctest.Realm, Role: RoleOperator}},
	})
	endpoint := strings.Replace(addr, "127.0.0.1", "localhost", 1)
	ctx := t.Context()

	trustedCC := kdc.Kinit("alice@"+kdctest.TrustedRealm, "trusted-alice-pw")
	kdc.ServiceTicket(trustedCC, "HTTP/localhost@"+kdctest.Realm)
	t.Setenv("KRB5CCNAME", "FILE:"+trustedCC)

	t.Run("trusted realm user is herself, without a role", func(t *testing.T) {
		// The CLI's own client, with the cross-realm ticket kvno left in
		// the credential cache.
		c := newClient(t, endpoint, ClientOptions{Fingerprint: srv.Fingerprint(), Kerberos: true})
		_, err := c.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
		ce := wantCode(t, err, connect.CodePermissionDenied)
		if !strings.Contains(ce.Message(), "alice@"+kdctest.TrustedRealm) {
			t.Errorf("message %q does not name alice@%s", ce.Message(), kdctest.TrustedRealm)
		}
	})
	t.Run("authenticator claiming the service's realm is refused", func(t *testing.T) {
		// Her real ticket and session key, with an authenticator she
		// encrypts herself naming alice@GALMIRROR.TEST.
		ts := newClaimingTokenSource(t, trustedCC, "HTTP/localhost", "alice", kdctest.Realm)
		c := newClient(t, endpoint, ClientOptions{Fingerprint: srv.Fingerprint(), Kerberos: true, TokenSource: ts})
		res, err := c.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
		if err == nil {
			t.Fatalf("accepted as %q with role %v", res.Msg.CallerPrincipal, res.Msg.CallerRole)
		}
		_, err = c.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
		ce := wantCode(t, err, connect.CodeUnauthenticated)
		if !strings.Contains(ce.Message(), "alice@"+kdctest.TrustedRealm) {
			t.Errorf("message %q does not name the ticket's client", ce.Message())
		}
		t.Logf("forged authenticator: %s", ce.Message())
		if acts := b.auditsOf(AuditAction); len(acts) != 0 {
			t.Errorf("actions audited: %+v", acts)
		}
	})
	t.Run("the service realm's alice keeps her role", func(t *testing.T) {
		t.Setenv("KRB5CCNAME", "FILE:"+kdc.Kinit("alice", "alice-pw"))
		c := newClient(t, endpoint, ClientOptions{Fingerprint: srv.Fingerprint(), Kerberos: true})
		res, err := c.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.CallerPrincipal != "alice@"+kdctest.Realm || res.Msg.CallerRole != adminv1.Role_ROLE_OPERATOR {
			t.Fatalf("caller %q role %v", res.Msg.CallerPrincipal, res.Msg.CallerRole)
		}
	})
}

// TestKerberosTicketForAnotherService: a ticket is accepted only for the
// service principal the server is configured with (or, with no SPN, for an
// HTTP/ principal of the keytab), even when the keytab holds the other
// service's key or the other service shares the key, as every SPN of an
// Active Directory account does. The KDC has HTTP/localhost and
// cifs/localhost sharing one key, and host/localhost with its own.
func TestKerberosTicketForAnotherService(t *testing.T) {
	kdc := kdctest.Start(t)
	kdc.AddUser("alice", "alice-pw")
	kdc.AddServicesSharingKey("HTTP/localhost", "cifs/localhost")
	kdc.AddService("host/localhost")
	httpOnly := kdc.Keytab("HTTP/localhost")
	all := kdc.Keytab("HTTP/localhost", "cifs/localhost", "host/localhost")
	t.Setenv("KRB5_CONFIG", kdc.Krb5Conf)
	t.Setenv("KRB5CCNAME", "FILE:"+kdc.Kinit("alice", "alice-pw"))
	ctx := t.Context()

	for _, cfg := range []negotiate.AcceptorConfig{
		{Keytab: httpOnly, SPN: "HTTP/localhost"},
		{Keytab: all, SPN: "HTTP/localhost"},
		{Keytab: all, SPN: "HTTP/localhost@" + kdctest.Realm},
		{Keytab: all}, // no SPN: the keytab's HTTP/ principals
	} {
		t.Run(cfg.SPN+" "+cfg.Keytab[len(kdc.Dir)+1:], func(t *testing.T) {
			acc, err := negotiate.NewAcceptor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			srv, addr := startServer(t, Options{
				Backend:  newFakeBackend(),
				Acceptor: acc,
				Roles:    []RoleBinding{{Principal: "alice@" + kdctest.Realm, Role: RoleOperator}},
			})
			endpoint := strings.Replace(addr, "127.0.0.1", "localhost", 1)
			call := func(spn string) (*connect.Response[adminv1.GetServiceInfoResponse], error) {
				c := newClient(t, endpoint, ClientOptions{Fingerprint: srv.Fingerprint(), Kerberos: true, SPN: spn})
				return c.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
			}
			res, err := call("HTTP/localhost")
			if err != nil {
				t.Fatalf("ticket for HTTP/localhost: %v", err)
			}
			if res.Msg.CallerPrincipal != "alice@"+kdctest.Realm || res.Msg.CallerRole != adminv1.Role_ROLE_OPERATOR {
				t.Fatalf("caller %q role %v", res.Msg.CallerPrincipal, res.Msg.CallerRole)
			}
			for _, other := range []string{"cifs/localhost", "host/localhost"} {
				res, err := call(other)
				if err == nil {
					t.Errorf("ticket for %s accepted as %q with role %v", other, res.Msg.CallerPrincipal, res.Msg.CallerRole)
					continue
				}
				ce := wantCode(t, err, connect.CodeUnauthenticated)
				if !strings.Contains(ce.Message(), "rejected") || !strings.Contains(ce.Message(), other+"@"+kdctest.Realm) {
					t.Errorf("ticket for %s: message %q does not say which service the ticket is for", other, ce.Message())
				}
				t.Logf("ticket for %s: %s", other, ce.Message())
			}
		})
	}
}

// claimingTokenSource makes Negotiate tokens from a real service ticket and
// its session key in a credential cache, with an authenticator that names
// whatever client the holder likes: the holder encrypts the authenticator
// with the session key she was given, so nothing stops her writing another
// realm into it. Only the ticket, encrypted by the KDC for the service,
// says who she is.
type claimingTokenSource struct {
	cl  *client.Client
	tkt messages.Ticket
	key types.EncryptionKey
}

func newClaimingTokenSource(t testing.TB, ccPath, spn, user, realm string) *claimingTokenSource {
	t.Helper()
	cc, err := credentials.LoadCCache(ccPath)
	if err != nil {
		t.Fatal(err)
	}
	cred, ok := cc.GetEntry(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn))
	if !ok {
		t.Fatalf("no ticket for %s in %s", spn, ccPath)
	}
	var tkt messages.Ticket
	if err := tkt.Unmarshal(cred.Ticket); err != nil {
		t.Fatal(err)
	}
	// A client that never logs in: only its name and realm are used, for
	// the authenticator.
	cl := client.NewWithPassword(user, realm, "unused", config.New())
	return &claimingTokenSource{cl: cl, tkt: tkt, key: cred.Key}
}

func (s *claimingTokenSource) Token(_ context.Context, _ string) ([]byte, error) {
	init, err := spnego.NewNegTokenInitKRB5(s.cl, s.tkt, s.key)
	if err != nil {
		return nil, err
	}
	tok := spnego.SPNEGOToken{Init: true, NegTokenInit: init}
	return tok.Marshal()
}
