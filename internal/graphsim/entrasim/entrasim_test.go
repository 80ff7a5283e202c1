package entrasim

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

func credOptions(e *env) *azidentity.ClientCertificateCredentialOptions {
	return &azidentity.ClientCertificateCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.ts.URL + "/"},
			Transport: e.ts.Client(),
		},
		DisableInstanceDiscovery: true,
	}
}

// TestAzidentityCertificateCredential proves the real library obtains a
// token from entrasim over TLS and that entrasim saw what MSAL really sends.
func TestAzidentityCertificateCredential(t *testing.T) {
	for _, tenant := range []string{testTenantID, testDomain} {
		t.Run(tenant, func(t *testing.T) {
			e := newEnv(t)
			k, c := regKey()
			cred, err := azidentity.NewClientCertificateCredential(tenant, testClientID, []*x509.Certificate{c}, k, credOptions(e))
			if err != nil {
				t.Fatal(err)
			}
			tro := policy.TokenRequestOptions{Scopes: []string{testGraph + "/.default"}}
			tok, err := cred.GetToken(t.Context(), tro)
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if d := time.Until(tok.ExpiresOn); d < 55*time.Minute || d > 61*time.Minute {
				t.Errorf("ExpiresOn in %v, want about an hour", d)
			}
			claims, err := e.srv.VerifyAccessToken(tok.Token)
			if err != nil {
				t.Fatalf("VerifyAccessToken: %v", err)
			}
			if claims.TenantID != testTenantID || claims.AppID != testClientID || !slices.Equal(claims.Roles, testRoles) {
				t.Errorf("claims = %+v", claims)
			}

			e.mu.Lock()
			seen, forms := e.seen, e.forms
			e.mu.Unlock()
			if len(seen) != 2 {
				t.Fatalf("saw %d requests, want openid-configuration + token", len(seen))
			}
			if seen[0].Method != http.MethodGet || seen[0].URL.Path != "/"+tenant+"/v2.0/.well-known/openid-configuration" {
				t.Errorf("first request %s %s", seen[0].Method, seen[0].URL.Path)
			}
			// Discovery answers with the GUID, so MSAL posts there even when
			// configured with a domain.
			if seen[1].Method != http.MethodPost || seen[1].URL.Path != "/"+testTenantID+"/oauth2/v2.0/token" {
				t.Errorf("second request %s %s", seen[1].Method, seen[1].URL.Path)
			}
			f := forms[1]
			if f.Get("client_info") != "1" || !strings.Contains(f.Get("scope"), "openid offline_access profile") {
				t.Errorf("MSAL form: client_info=%q scope=%q", f.Get("client_info"), f.Get("scope"))
			}
			j, err := parseJWT(f.Get("client_assertion"))
			if err != nil {
				t.Fatal(err)
			}
			// MSAL Go sends PS256 and the SHA-256 thumbprint in standard
			// (padded) base64, not the base64url the documentation shows.
			tp, err := base64.StdEncoding.DecodeString(j.header.X5tS256)
			if sum := sha256.Sum256(c.Raw); j.header.Alg != "PS256" || err != nil || !bytes.Equal(tp, sum[:]) {
				t.Errorf("assertion header %s", j.header.rawHeader)
			}
			if aud := j.audiences(); len(aud) != 1 || aud[0] != e.tokenURL(testTenantID) {
				t.Errorf("assertion aud %v", aud)
			}

			// The second call is served from MSAL's cache.
			if _, err := cred.GetToken(t.Context(), tro); err != nil {
				t.Fatal(err)
			}
			e.mu.Lock()
			n := len(e.seen)
			e.mu.Unlock()
			if n != 2 {
				t.Errorf("second GetToken made %d more requests", n-2)
			}
		})
	}
}

func TestAzidentityUnknownTenantFailsAtDiscovery(t *testing.T) {
	e := newEnv(t)
	k, c := regKey()
	cred, err := azidentity.NewClientCertificateCredential("fabrikam.onmicrosoft.com", testClientID, []*x509.Certificate{c}, k, credOptions(e))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{testGraph + "/.default"}})
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != 400 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "AADSTS90002") {
		t.Errorf("error lacks AADSTS90002: %v", err)
	}
}

func TestHandMadeAssertions(t *testing.T) {
	e := newEnv(t)
	cases := map[string]func(*assertionOpts){
		"PS256 x5t#S256 std":    func(o *assertionOpts) {},
		"PS256 x5t#S256 url":    func(o *assertionOpts) { o.encoding = base64.RawURLEncoding },
		"RS256 x5t url":         func(o *assertionOpts) { o.alg, o.thumbKey, o.encoding = "RS256", "x5t", base64.RawURLEncoding },
		"RS256 x5t std":         func(o *assertionOpts) { o.alg, o.thumbKey = "RS256", "x5t" },
		"aud by domain":         func(o *assertionOpts) { o.aud = e.tokenURL(testDomain) },
		"aud v1 endpoint":       func(o *assertionOpts) { o.aud = e.ts.URL + "/" + testTenantID + "/oauth2/token" },
		"clock skew tolerated":  func(o *assertionOpts) { o.nbf = o.nbf.Add(2 * time.Minute) },
		"just expired, in skew": func(o *assertionOpts) { o.exp = o.nbf.Add(-time.Minute) },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			o := e.defaults()
			mod(&o)
			status, h, m := e.post(t, testTenantID, tokenForm(makeAssertion(t, o)))
			if status != 200 {
				t.Fatalf("status %d: %v", status, m)
			}
			if m["token_type"] != "Bearer" || m["expires_in"] != float64(3599) || m["ext_expires_in"] != float64(3599) {
				t.Errorf("body %v", m)
			}
			if !strings.Contains(h.Get("Cache-Control"), "no-store") || h.Get("x-ms-request-id") == "" {
				t.Errorf("headers %v", h)
			}
			if _, err := e.srv.VerifyAccessToken(m["access_token"].(string)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAccessTokenClaims(t *testing.T) {
	e := newEnv(t)
	status, _, m := e.post(t, testDomain, tokenForm(makeAssertion(t, e.defaults())))
	if status != 200 {
		t.Fatalf("status %d %v", status, m)
	}
	j, err := parseJWT(m["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if j.header.Alg != "RS256" || j.header.Kid == "" || j.header.X5t != j.header.Kid {
		t.Errorf("header %s", j.header.rawHeader)
	}
	want := map[string]string{
		"aud": testGraph, "iss": "https://sts.windows.net/" + testTenantID + "/", "appid": testClientID,
		"appidacr": "2", "idtyp": "app", "tid": testTenantID, "ver": "1.0", "app_displayname": "galmirror",
	}
	for k, v := range want {
		if got := j.str(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if j.str("oid") == "" || j.str("oid") != j.str("sub") || !validUUID(j.str("oid")) {
		t.Errorf("oid %q sub %q", j.str("oid"), j.str("sub"))
	}
	if !slices.Equal(j.strings("roles"), testRoles) {
		t.Errorf("roles %v", j.strings("roles"))
	}
	iat, _ := j.numericDate("iat")
	exp, _ := j.numericDate("exp")
	if d := exp.Sub(iat); d != 65*time.Minute {
		t.Errorf("exp-iat = %v, want 65m as Entra", d)
	}
}

func TestTokenErrors(t *testing.T) {
	cases := map[string]tokenErrorCase{}
	for _, group := range []map[string]tokenErrorCase{tenantAppErrorCases(), assertionErrorCases(), requestErrorCases(), stateErrorCases()} {
		maps.Copy(cases, group)
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { c.check(t) })
	}
}

// tokenErrorCase is a token request Entra refuses, and how.
type tokenErrorCase struct {
	tenant string // testTenantID if empty
	form   func(t *testing.T, e *env) url.Values
	setup  func(e *env)
	status int
	err    string
	code   int
}

// withAssertion makes a token request with a client assertion, e's
// defaults changed by mod.
func withAssertion(mod func(e *env, o *assertionOpts)) func(t *testing.T, e *env) url.Values {
	return func(t *testing.T, e *env) url.Values {
		o := e.defaults()
		if mod != nil {
			mod(e, &o)
		}
		return tokenForm(makeAssertion(t, o))
	}
}

// tenantAppErrorCases are refusals of the tenant or the app.
func tenantAppErrorCases() map[string]tokenErrorCase {
	return map[string]tokenErrorCase{
		"unknown tenant guid":   {tenant: "11111111-2222-3333-4444-555555555555", form: withAssertion(nil), status: 400, err: "invalid_tenant", code: 90002},
		"unknown tenant domain": {tenant: "fabrikam.com", form: withAssertion(nil), status: 400, err: "invalid_tenant", code: 90002},
		"malformed tenant":      {tenant: "notatenant", form: withAssertion(nil), status: 400, err: "invalid_tenant", code: 900023},
		"common endpoint":       {tenant: "common", form: withAssertion(nil), status: 400, err: "invalid_request", code: 9001023},
		"unknown app": {form: func(t *testing.T, e *env) url.Values {
			f := withAssertion(func(e *env, o *assertionOpts) {
				o.iss, o.sub = "99999999-0000-0000-0000-000000000000", "99999999-0000-0000-0000-000000000000"
			})(t, e)
			f.Set("client_id", "99999999-0000-0000-0000-000000000000")
			return f
		}, status: 400, err: "unauthorized_client", code: 700016},
	}
}

// assertionErrorCases are refusals of the client assertion.
func assertionErrorCases() map[string]tokenErrorCase {
	return map[string]tokenErrorCase{
		"unregistered certificate": {form: withAssertion(func(e *env, o *assertionOpts) { o.key, o.cert = unregKey() }), status: 401, err: "invalid_client", code: 700027},
		"no thumbprint":            {form: withAssertion(func(e *env, o *assertionOpts) { o.thumbKey = "x5u" }), status: 401, err: "invalid_client", code: 700027},
		"bad signature":            {form: withAssertion(func(e *env, o *assertionOpts) { o.tamperSig = true }), status: 401, err: "invalid_client", code: 700027},
		"signed by other key":      {form: withAssertion(func(e *env, o *assertionOpts) { o.key, _ = unregKey() }), status: 401, err: "invalid_client", code: 700027},
		"expired assertion": {form: withAssertion(func(e *env, o *assertionOpts) {
			o.nbf, o.exp = o.nbf.Add(-time.Hour), o.nbf.Add(-50*time.Minute)
		}), status: 401, err: "invalid_client", code: 700024},
		"assertion from the future": {form: withAssertion(func(e *env, o *assertionOpts) {
			o.nbf, o.exp = o.nbf.Add(time.Hour), o.nbf.Add(70*time.Minute)
		}), status: 401, err: "invalid_client", code: 700024},
		"wrong aud": {form: withAssertion(func(e *env, o *assertionOpts) {
			o.aud = "https://login.microsoftonline.com/" + testTenantID + "/oauth2/v2.0/token"
		}), status: 401, err: "invalid_client", code: 700023},
		"aud of other tenant": {form: withAssertion(func(e *env, o *assertionOpts) { o.aud = e.tokenURL("fabrikam.com") }), status: 401, err: "invalid_client", code: 700023},
		"iss differs":         {form: withAssertion(func(e *env, o *assertionOpts) { o.iss = "someone-else" }), status: 401, err: "invalid_client", code: 700021},
		"sub differs":         {form: withAssertion(func(e *env, o *assertionOpts) { o.sub = "someone-else" }), status: 401, err: "invalid_client", code: 700021},
		"no jti":              {form: withAssertion(func(e *env, o *assertionOpts) { o.noJTI = true }), status: 401, err: "invalid_client", code: 50027},
		"unsupported alg":     {form: withAssertion(func(e *env, o *assertionOpts) { o.alg = "HS256" }), status: 401, err: "invalid_client", code: 5002738},
		"garbage assertion":   {form: func(t *testing.T, e *env) url.Values { return tokenForm("not.a.jwt") }, status: 401, err: "invalid_client", code: 50027},
		"missing assertion": {form: func(t *testing.T, e *env) url.Values {
			f := tokenForm("")
			f.Del("client_assertion")
			return f
		}, status: 401, err: "invalid_client", code: 7000218},
		"client secret instead": {form: func(t *testing.T, e *env) url.Values {
			f := tokenForm("")
			f.Del("client_assertion")
			f.Set("client_secret", "s3cr3t")
			return f
		}, status: 401, err: "invalid_client", code: 7000215},
		"wrong assertion type": {form: func(t *testing.T, e *env) url.Values {
			f := withAssertion(nil)(t, e)
			f.Set("client_assertion_type", "urn:x")
			return f
		}, status: 400, err: "invalid_request", code: 900144},
	}
}

// requestErrorCases are refusals of the grant and the scope.
func requestErrorCases() map[string]tokenErrorCase {
	return map[string]tokenErrorCase{
		"missing grant_type": {form: func(t *testing.T, e *env) url.Values { f := withAssertion(nil)(t, e); f.Del("grant_type"); return f }, status: 400, err: "invalid_request", code: 900144},
		"password grant": {form: func(t *testing.T, e *env) url.Values {
			f := withAssertion(nil)(t, e)
			f.Set("grant_type", "password")
			return f
		}, status: 400, err: "unsupported_grant_type", code: 70003},
		"missing scope": {form: func(t *testing.T, e *env) url.Values { f := withAssertion(nil)(t, e); f.Del("scope"); return f }, status: 400, err: "invalid_request", code: 900144},
		"scope of other resource": {form: func(t *testing.T, e *env) url.Values {
			f := withAssertion(nil)(t, e)
			f.Set("scope", "https://graph.microsoft.com/.default")
			return f
		}, status: 400, err: "invalid_resource", code: 500011},
		"scope without .default": {form: func(t *testing.T, e *env) url.Values {
			f := withAssertion(nil)(t, e)
			f.Set("scope", testGraph+"/User.Read.All")
			return f
		}, status: 400, err: "invalid_scope", code: 1002012},
		"two resources": {form: func(t *testing.T, e *env) url.Values {
			f := withAssertion(nil)(t, e)
			f.Set("scope", testGraph+"/.default https://vault.azure.net/.default")
			return f
		}, status: 400, err: "invalid_scope", code: 70011},
	}
}

// stateErrorCases are refusals by the app's or the server's state.
func stateErrorCases() map[string]tokenErrorCase {
	return map[string]tokenErrorCase{
		"disabled app": {form: withAssertion(nil), setup: func(e *env) {
			if err := e.srv.SetDisabled(testTenantID, testClientID, true); err != nil {
				panic(err)
			}
		}, status: 400, err: "unauthorized_client", code: 7000112},
		"registered certificate expired": {form: withAssertion(nil), setup: func(e *env) { e.clock.Advance(48 * time.Hour) }, status: 401, err: "invalid_client", code: 700027},
		"outage":                         {form: withAssertion(nil), setup: func(e *env) { e.srv.SetFaults(Faults{Outage: true}) }, status: 503, err: "temporarily_unavailable", code: 90033},
		"throttled":                      {form: withAssertion(nil), setup: func(e *env) { e.srv.SetFaults(Faults{Throttle: true}) }, status: 429, err: "temporarily_unavailable", code: 90055},
	}
}

// check sends the request and checks the refusal: status, error, AADSTS
// code, trace id and no-store headers, and no token.
func (c tokenErrorCase) check(t *testing.T) {
	e := newEnv(t)
	if c.setup != nil {
		c.setup(e)
	}
	tenant := c.tenant
	if tenant == "" {
		tenant = testTenantID
	}
	status, h, m := e.post(t, tenant, c.form(t, e))
	if status != c.status || m["error"] != c.err {
		t.Errorf("status %d error %v, want %d %s: %v", status, m["error"], c.status, c.err, m["error_description"])
	}
	if got := aadCode(t, m); got != c.code {
		t.Errorf("AADSTS%d, want AADSTS%d: %v", got, c.code, m["error_description"])
	}
	if m["trace_id"] != h.Get("x-ms-request-id") || !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Errorf("headers %v body %v", h, m)
	}
	if _, ok := m["access_token"]; ok {
		t.Error("error response carries a token")
	}
}

func TestGetMethodRejected(t *testing.T) {
	e := newEnv(t)
	resp, err := e.ts.Client().Get(e.tokenURL(testTenantID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 400 || aadCode(t, m) != 900561 {
		t.Errorf("GET token: %d %v", resp.StatusCode, m)
	}
}

func TestCorrelationIDEchoed(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.tokenURL("nope.example"), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "0a1b2c3d-0000-4000-8000-0123456789ab")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if m["correlation_id"] != "0a1b2c3d-0000-4000-8000-0123456789ab" {
		t.Errorf("correlation_id %v", m["correlation_id"])
	}
}

func TestConsentRevokedTokenHasNoRoles(t *testing.T) {
	e := newEnv(t)
	if err := e.srv.SetRoles(testTenantID, testClientID, nil); err != nil {
		t.Fatal(err)
	}
	status, _, m := e.post(t, testTenantID, tokenForm(makeAssertion(t, e.defaults())))
	if status != 200 {
		t.Fatalf("status %d %v", status, m)
	}
	raw := m["access_token"].(string)
	j, _ := parseJWT(raw)
	if _, ok := j.claims["roles"]; ok {
		t.Errorf("token carries roles %s", j.claims["roles"])
	}
	c, err := e.srv.VerifyAccessToken(raw)
	if err != nil || len(c.Roles) != 0 {
		t.Errorf("claims %+v err %v", c, err)
	}
	if err := e.srv.SetRoles(testTenantID, "nope", nil); err == nil {
		t.Error("SetRoles on unknown app succeeded")
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (int, map[string]any) {
		resp, err := e.ts.Client().Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, m
	}
	for _, tn := range []string{testTenantID, testDomain, strings.ToUpper(testDomain)} {
		status, m := get("/" + tn + "/v2.0/.well-known/openid-configuration")
		if status != 200 {
			t.Fatalf("%s: %d %v", tn, status, m)
		}
		auth := e.ts.URL + "/" + testTenantID
		want := map[string]string{
			"issuer": auth + "/v2.0", "token_endpoint": auth + "/oauth2/v2.0/token",
			"authorization_endpoint": auth + "/oauth2/v2.0/authorize", "jwks_uri": auth + "/discovery/v2.0/keys",
			"msgraph_host": "graph.example.test",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s = %v, want %s", tn, k, m[k], v)
			}
		}
	}
	status, m := get("/common/v2.0/.well-known/openid-configuration")
	if status != 200 || m["issuer"] != e.ts.URL+"/{tenantid}/v2.0" {
		t.Errorf("common: %d %v", status, m["issuer"])
	}
	status, m = get("/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration")
	if status != 400 || m["error"] != "invalid_tenant" || aadCode(t, m) != 90002 {
		t.Errorf("unknown tenant: %d %v", status, m)
	}
	if !strings.Contains(m["error_description"].(string), "Tenant 'fabrikam.onmicrosoft.com' not found") {
		t.Errorf("description %q", m["error_description"])
	}

	status, m = get("/" + testTenantID + "/discovery/v2.0/keys")
	keys, _ := m["keys"].([]any)
	if status != 200 || len(keys) != 1 {
		t.Fatalf("jwks: %d %v", status, m)
	}

	status, m = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape(e.ts.URL+"/"+testTenantID+"/oauth2/v2.0/authorize"))
	if status != 200 || m["tenant_discovery_endpoint"] != e.ts.URL+"/"+testTenantID+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("instance discovery: %d %v", status, m)
	}
	status, m = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://evil.example/x/oauth2/v2.0/authorize"))
	if status != 400 || m["error"] != "invalid_instance" {
		t.Errorf("foreign instance: %d %v", status, m)
	}
}

func TestHandles(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]bool{
		"/" + testTenantID + "/oauth2/v2.0/token":            true,
		"/contoso.com/v2.0/.well-known/openid-configuration": true,
		"/common/discovery/instance":                         true,
		"/" + testTenantID + "/discovery/v2.0/keys":          true,
		"/v1.0/users":                     false,
		"/v1.0/users/x/contactFolders":    false,
		"/$batch":                         false,
		"/bad%20tenant/oauth2/v2.0/token": false,
		"/" + testTenantID + "/oauth2/v2.0/token/extra": false,
		"/" + testTenantID + "/oauth2/v2.0/authorize":   true,
		"/" + testTenantID + "/oauth2/v2.0/logout":      false,
	} {
		r, _ := http.NewRequest(http.MethodGet, "https://x"+path, nil)
		if got := e.srv.Handles(r); got != want {
			t.Errorf("Handles(%s) = %v", path, got)
		}
	}
}

func TestVerifyAccessToken(t *testing.T) {
	e := newEnv(t)
	tok, err := e.srv.IssueAccessToken(testDomain, testClientID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.VerifyAccessToken(tok); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if _, err := e.srv.IssueAccessToken(testTenantID, "nope"); err == nil {
		t.Error("IssueAccessToken for unknown app succeeded")
	}
	if _, err := e.srv.IssueAccessToken("nope.example", testClientID); err == nil {
		t.Error("IssueAccessToken for unknown tenant succeeded")
	}

	// A server with another key and another Graph root stands for a
	// foreign token issuer.
	other := New(Config{BaseURL: func() string { return "https://other" }, GraphRoot: func() string { return "https://graph.other" }, SigningKey: testKeys[1]})
	other.PutTenant(Tenant{ID: testTenantID, Apps: []App{{ClientID: testClientID}}})
	foreign, _ := other.IssueAccessToken(testTenantID, testClientID)
	sameKeyOtherAud := New(Config{GraphRoot: func() string { return "https://graph.other" }, SigningKey: testKeys[2]})
	sameKeyOtherAud.PutTenant(Tenant{ID: testTenantID, Apps: []App{{ClientID: testClientID}}})
	wrongAud, _ := sameKeyOtherAud.IssueAccessToken(testTenantID, testClientID)

	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 1
	tampered := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	cases := map[string]struct {
		tok  string
		want string
	}{
		"empty":          {"", "Access token is empty."},
		"opaque":         {"abcdef", "IDX14100: JWT is not well formed, there are no dots (.)."},
		"malformed":      {"a.b.c", "CompactToken parsing failed with error code: 80049217"},
		"tampered":       {tampered, "Access token validation failure. Invalid signature."},
		"foreign issuer": {foreign, "Access token validation failure. Invalid signature."},
		"wrong audience": {wrongAud, "Access token validation failure. Invalid audience."},
	}
	for name, c := range cases {
		_, err := e.srv.VerifyAccessToken(c.tok)
		if !errors.Is(err, ErrInvalidToken) || err.Error() != c.want {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}

	e.clock.Advance(61 * time.Minute)
	if _, err := e.srv.VerifyAccessToken(tok); !errors.Is(err, ErrInvalidToken) || err.Error() != "Access token has expired or is not yet valid." {
		t.Errorf("expired: %v", err)
	}
	e.clock.Advance(-61 * time.Minute)

	e.srv.PutTenant(Tenant{ID: testTenantID, Domains: []string{testDomain}})
	if _, err := e.srv.VerifyAccessToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("app removed: %v", err)
	}
	e.srv.RemoveTenant(testTenantID)
	if _, err := e.srv.VerifyAccessToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("tenant removed: %v", err)
	}
	if _, ok := e.srv.Tenant(testDomain); ok {
		t.Error("domain still resolves after RemoveTenant")
	}
}

func TestShortLifetime(t *testing.T) {
	genKeys(t)
	s := New(Config{TokenLifetime: 2 * time.Minute, SigningKey: testKeys[2]})
	s.PutTenant(Tenant{ID: testTenantID, Apps: []App{{ClientID: testClientID, Roles: []string{"User.Read.All"}}}})
	tok, err := s.IssueAccessToken(testTenantID, testClientID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.VerifyAccessToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(c.ExpiresAt); d > 2*time.Minute || d < 90*time.Second {
		t.Errorf("expires in %v", d)
	}
}
