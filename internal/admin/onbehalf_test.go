package admin

import (
	"strings"
	"testing"
	"unicode"

	"connectrpc.com/connect"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
)

// A caller acting for someone (the fleet console) names the person in
// Galmirror-On-Behalf-Of: the operator action's audit record keeps it
// beside the authenticated principal, bounded like any caller text; a
// call without it records none.
func TestOperatorActionRecordsOnBehalfOf(t *testing.T) {
	b := newFakeBackend()
	op := validCert(t, "console")
	s, addr := startServer(t, Options{Backend: b, PinnedClientCertificates: []string{fp(op)},
		Roles: []RoleBinding{{Principal: "cert:" + fp(op), Role: RoleOperator}}})
	c := newClient(t, addr, ClientOptions{Fingerprint: s.Fingerprint(), Certificate: op})

	req := connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"})
	req.Header().Set(OnBehalfOfHeader, "Alice Example (https://login.example/t/v2.0#alice via console oidc)")
	if _, err := c.SyncNow(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	pr := connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: "contoso", Reason: "ticket 7"})
	pr.Header().Set(OnBehalfOfHeader, "Mallory\u00e9\u202e"+strings.Repeat("m", 4000))
	if _, err := c.PauseTenant(t.Context(), pr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResumeTenant(t.Context(), connect.NewRequest(&adminv1.ResumeTenantRequest{Tenant: "contoso"})); err != nil {
		t.Fatal(err)
	}
	recs := b.auditsOf(AuditAction)
	if len(recs) != 3 {
		t.Fatalf("%d action records, want 3: %+v", len(recs), recs)
	}
	if r := recs[0]; r.OnBehalfOf != "Alice Example (https://login.example/t/v2.0#alice via console oidc)" || r.Principal != "cert:"+fp(op) || r.Method != "SyncNow" {
		t.Errorf("sync record %+v", r)
	}
	if o := recs[1].OnBehalfOf; len(o) > maxPrincipalLen || strings.ContainsFunc(o, unicode.IsControl) || !strings.HasPrefix(o, "Mallory") {
		t.Errorf("pause record's on-behalf-of not bounded: %d bytes %.60q", len(o), o)
	}
	if o := recs[2].OnBehalfOf; o != "" {
		t.Errorf("resume without the header recorded %q", o)
	}
}
