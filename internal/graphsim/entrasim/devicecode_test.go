package entrasim

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

var admin = SignedInUser{ID: "a1b2c3d4-0000-4000-8000-000000000001", UPN: "admin@contoso.onmicrosoft.com", DisplayName: "Ada Admin",
	RoleTemplateIDs: []string{RoleGlobalAdministrator}}

func (e *env) postDevice(t *testing.T, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := e.ts.Client().PostForm(e.ts.URL+"/"+tenant+"/oauth2/v2.0/devicecode", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := jsonDecode(resp.Body, &m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func deviceForm(scope string) url.Values {
	return url.Values{"client_id": {GraphCommandLineToolsID}, "scope": {scope}}
}

func pollForm(code string) url.Values {
	return url.Values{"grant_type": {deviceCodeGrant}, "client_id": {GraphCommandLineToolsID}, "device_code": {code}}
}

const mgmtScopes = testGraph + "/Application.ReadWrite.All " + testGraph + "/AppRoleAssignment.ReadWrite.All offline_access"

// The device code flow as v2-oauth2-device-code.md describes it: the code
// request's fields, authorization_pending until the user signs in,
// slow_down for a client polling faster than the interval, one token, then
// the code is spent.
func TestDeviceCodeFlow(t *testing.T) {
	e := newEnv(t)
	status, m := e.postDevice(t, testDomain, deviceForm(mgmtScopes))
	if status != http.StatusOK {
		t.Fatalf("devicecode: %d %v", status, m)
	}
	code, _ := m["device_code"].(string)
	userCode, _ := m["user_code"].(string)
	if code == "" || len(userCode) != 9 || m["expires_in"] != float64(900) || m["interval"] != float64(5) ||
		!strings.Contains(m["message"].(string), userCode) || m["verification_uri"] == nil {
		t.Fatalf("devicecode response %v", m)
	}
	if _, ok := m["verification_uri_complete"]; ok {
		t.Errorf("Entra sends no verification_uri_complete")
	}

	status, _, body := e.post(t, testDomain, pollForm(code))
	if status != http.StatusBadRequest || body["error"] != "authorization_pending" || aadCode(t, body) != 70016 {
		t.Fatalf("first poll: %d %v", status, body)
	}
	e.clock.Advance(2 * time.Second)
	if _, _, body = e.post(t, testDomain, pollForm(code)); body["error"] != "slow_down" {
		t.Fatalf("early poll: %v", body)
	}
	e.clock.Advance(6 * time.Second) // the interval grew to 10 s
	if _, _, body = e.post(t, testDomain, pollForm(code)); body["error"] != "slow_down" {
		t.Fatalf("poll 6 s after a slow_down: %v", body)
	}
	e.clock.Advance(16 * time.Second) // and to 15 s
	if _, _, body = e.post(t, testDomain, pollForm(code)); body["error"] != "authorization_pending" {
		t.Fatalf("poll after the longer interval: %v", body)
	}

	// A user without an admin role cannot consent to these scopes.
	plain := SignedInUser{ID: "a1b2c3d4-0000-4000-8000-000000000002", UPN: "pat@contoso.onmicrosoft.com"}
	if err := e.srv.ApproveDeviceCode(userCode, testTenantID, plain); !errors.Is(err, ErrNeedsAdminConsent) {
		t.Fatalf("approve by a non-admin: %v", err)
	}
	if err := e.srv.ApproveDeviceCode(strings.ToLower(userCode[:4]+"-"+userCode[4:]), testTenantID, admin); err != nil {
		t.Fatalf("approve: %v", err)
	}
	e.clock.Advance(16 * time.Second)
	status, _, body = e.post(t, testDomain, pollForm(code))
	if status != http.StatusOK || body["token_type"] != "Bearer" || body["refresh_token"] == nil ||
		body["scope"] != "AppRoleAssignment.ReadWrite.All Application.ReadWrite.All" {
		t.Fatalf("token: %d %v", status, body)
	}
	c, err := e.srv.VerifyAccessToken(body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Delegated() || c.TenantID != testTenantID || c.AppID != GraphCommandLineToolsID || c.UPN != admin.UPN ||
		c.ObjectID != admin.ID || !slices.Equal(c.RoleTemplateIDs, admin.RoleTemplateIDs) || len(c.Roles) != 0 ||
		!slices.Equal(c.Scopes, []string{"AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All"}) {
		t.Fatalf("claims %+v", c)
	}
	e.clock.Advance(11 * time.Second)
	if _, _, body = e.post(t, testDomain, pollForm(code)); body["error"] != "invalid_grant" {
		t.Fatalf("second redemption: %v", body)
	}
}

func TestDeviceCodeEnds(t *testing.T) {
	e := newEnv(t)
	start := func() (string, string) {
		_, m := e.postDevice(t, testTenantID, deviceForm(mgmtScopes))
		return m["device_code"].(string), m["user_code"].(string)
	}
	code, _ := start()
	e.clock.Advance(16 * time.Minute)
	if _, _, body := e.post(t, testTenantID, pollForm(code)); body["error"] != "expired_token" || aadCode(t, body) != 70020 {
		t.Errorf("expired: %v", body)
	}
	code, uc := start()
	if err := e.srv.DeclineDeviceCode(uc); err != nil {
		t.Fatal(err)
	}
	if _, _, body := e.post(t, testTenantID, pollForm(code)); body["error"] != "authorization_declined" {
		t.Errorf("declined: %v", body)
	}
	code, uc = start()
	if err := e.srv.BlockDeviceCode(uc); err != nil {
		t.Fatal(err)
	}
	if _, _, body := e.post(t, testTenantID, pollForm(code)); body["error"] != "invalid_grant" || aadCode(t, body) != 53003 {
		t.Errorf("blocked: %v", body)
	}
	if _, _, body := e.post(t, testTenantID, pollForm("no-such-code")); body["error"] != "bad_verification_code" {
		t.Errorf("unknown code: %v", body)
	}
	if err := e.srv.ApproveDeviceCode("ZZZZZZZZZ", testTenantID, admin); !errors.Is(err, ErrUnknownUserCode) {
		t.Errorf("unknown user code: %v", err)
	}
}

func TestDeviceCodeRequestErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		tenant string
		form   url.Values
		code   int
	}{
		{"unknown client", testTenantID, url.Values{"client_id": {testClientID}, "scope": {"User.Read"}}, 700016},
		{"public client with a secret", testTenantID, url.Values{"client_id": {GraphCommandLineToolsID}, "scope": {"User.Read"}, "client_secret": {"x"}}, 700025},
		{"unknown scope", testTenantID, deviceForm("Mail.Send"), 70011},
		{"other resource", testTenantID, deviceForm("https://outlook.office.com/User.Read"), 70011},
		{"only OIDC scopes", testTenantID, deviceForm("openid offline_access"), 70011},
		{"no scope", testTenantID, url.Values{"client_id": {GraphCommandLineToolsID}}, 900144},
		{"unknown tenant", "fabrikam.example", deviceForm("User.Read"), 90002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.postDevice(t, tc.tenant, tc.form)
			if status < 400 || aadCode(t, m) != tc.code {
				t.Errorf("%d %v, want AADSTS%d", status, m, tc.code)
			}
		})
	}
}

// /organizations issues the token in the tenant of the user who signs in.
func TestDeviceCodeOrganizations(t *testing.T) {
	e := newEnv(t)
	_, m := e.postDevice(t, "organizations", deviceForm("User.Read"))
	plain := SignedInUser{ID: "a1b2c3d4-0000-4000-8000-000000000002", UPN: "pat@contoso.onmicrosoft.com"}
	if err := e.srv.ApproveDeviceCode(m["user_code"].(string), testDomain, plain); err != nil {
		t.Fatal(err)
	}
	if _, _, body := e.post(t, testTenantID, pollForm(m["device_code"].(string))); body["error"] != "bad_verification_code" {
		t.Errorf("polled at another authority: %v", body)
	}
	status, _, body := e.post(t, "organizations", pollForm(m["device_code"].(string)))
	if status != http.StatusOK {
		t.Fatalf("%d %v", status, body)
	}
	if c, err := e.srv.VerifyAccessToken(body["access_token"].(string)); err != nil || c.TenantID != testTenantID {
		t.Fatalf("claims %+v %v", c, err)
	}
}

// Keys, grants and apps added through Graph take effect after the
// propagation delay; the certificates and roles of a loaded app at once.
func TestPropagation(t *testing.T) {
	e := newEnv(t)
	e.srv.SetPropagation(30 * time.Second)
	if e.srv.Propagation() != 30*time.Second {
		t.Fatal(e.srv.Propagation())
	}
	const newApp = "11111111-2222-4333-8444-555555555555"
	now := e.clock.Now()
	_, c0 := regKey()
	_, c1 := unregKey()
	if err := e.srv.AddApp(testTenantID, App{ClientID: newApp, VisibleAt: now.Add(30 * time.Second),
		Keys:   []Key{{ID: "k1", Cert: c0, VisibleAt: now.Add(30 * time.Second)}},
		Grants: []Grant{{ID: "g1", Role: "User.Read.All", VisibleAt: now.Add(60 * time.Second)}}}); err != nil {
		t.Fatal(err)
	}
	o := e.defaults()
	o.iss, o.sub, o.aud = newApp, newApp, e.tokenURL(testTenantID)
	form := tokenForm(makeAssertion(t, o))
	form.Set("client_id", newApp)
	if _, _, body := e.post(t, testTenantID, form); aadCode(t, body) != 700016 {
		t.Fatalf("before propagation: %v", body)
	}
	e.clock.Advance(31 * time.Second)
	o.nbf, o.exp = e.clock.Now(), e.clock.Now().Add(10*time.Minute)
	form.Set("client_assertion", makeAssertion(t, o))
	status, _, body := e.post(t, testTenantID, form)
	if status != http.StatusOK {
		t.Fatalf("after the app propagated: %v", body)
	}
	if c, _ := e.srv.VerifyAccessToken(body["access_token"].(string)); len(c.Roles) != 0 {
		t.Errorf("roles before the grant propagated: %v", c.Roles)
	}
	if roles, _ := e.srv.AppRoles(testTenantID, newApp); len(roles) != 0 {
		t.Errorf("AppRoles %v", roles)
	}
	// A key not yet propagated is not found.
	if err := e.srv.UpdateApp(testTenantID, newApp, func(a *App) error {
		a.Keys = append(a.Keys, Key{ID: "k2", Cert: c1, VisibleAt: e.clock.Now().Add(30 * time.Second)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	o2 := o
	o2.key, o2.cert = unregKey()
	form.Set("client_assertion", makeAssertion(t, o2))
	if _, _, body := e.post(t, testTenantID, form); aadCode(t, body) != 700027 {
		t.Fatalf("unpropagated key: %v", body)
	}
	e.clock.Advance(31 * time.Second)
	o2.nbf, o2.exp = e.clock.Now(), e.clock.Now().Add(10*time.Minute)
	form.Set("client_assertion", makeAssertion(t, o2))
	status, _, body = e.post(t, testTenantID, form)
	if status != http.StatusOK {
		t.Fatalf("propagated key: %v", body)
	}
	if c, _ := e.srv.VerifyAccessToken(body["access_token"].(string)); !slices.Equal(c.Roles, []string{"User.Read.All"}) {
		t.Errorf("roles after the grant propagated: %v", c.Roles)
	}
	a, _ := e.srv.App(testTenantID, newApp)
	if len(a.Keys) != 2 || len(a.Certificates) != 0 {
		t.Errorf("App copy %+v", a)
	}
	a.Keys[0].Cert = (*x509.Certificate)(nil)
	if b, _ := e.srv.App(testTenantID, newApp); b.Keys[0].Cert == nil {
		t.Error("App returned shared state")
	}
	if err := e.srv.UpdateApp(testTenantID, newApp, func(a *App) error { a.NoServicePrincipal = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, body := e.post(t, testTenantID, form); aadCode(t, body) != 7000229 {
		t.Errorf("without a service principal: %v", body)
	}
	if err := e.srv.RemoveApp(testTenantID, newApp); err != nil {
		t.Fatal(err)
	}
	if _, _, body := e.post(t, testTenantID, form); aadCode(t, body) != 700016 {
		t.Errorf("removed app: %v", body)
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
