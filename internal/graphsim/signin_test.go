package graphsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// signInEnv is smallTenant plus a console-like web app with a secret, a
// redirect URI and app roles assigned to alice (operator) and bob (viewer).
type signInEnv struct {
	t        *testing.T
	srv      *Server
	tid      string
	clientID string
	redirect string
	secret   string
	http     *http.Client
	now      time.Time
}

func newSignInEnv(t *testing.T) *signInEnv {
	t.Helper()
	ten, _ := smallTenant(t)
	web := App{ClientID: NewGUID(), DisplayName: "galmirror console", RedirectURIs: []string{"https://console.example/auth/callback"},
		ClientSecrets: []string{"s3cret~value"},
		UserRoles:     map[string][]string{"alice@contoso.onmicrosoft.com": {"Console.Operator"}, ten.Users[1].ID: {"Console.Viewer"}}}
	ten.Apps = append(ten.Apps, web)
	e := &signInEnv{t: t, tid: ten.ID, clientID: web.ClientID, redirect: web.RedirectURIs[0], secret: "s3cret~value", now: time.Now()}
	srv, err := Start(Options{Tenants: []Tenant{ten}, Throttle: ptr(NoThrottle()), Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.srv = srv
	e.http = srv.Client()
	e.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return e
}

const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123"

func challengeOf(v string) string {
	d := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(d[:])
}

func (e *signInEnv) authorizeURL(mod func(url.Values)) string {
	q := url.Values{"client_id": {e.clientID}, "response_type": {"code"}, "redirect_uri": {e.redirect},
		"scope": {"openid profile"}, "state": {"st4te"}, "nonce": {"n0nce"},
		"code_challenge": {challengeOf(testVerifier)}, "code_challenge_method": {"S256"}}
	if mod != nil {
		mod(q)
	}
	return e.srv.URL() + "/" + e.tid + "/oauth2/v2.0/authorize?" + q.Encode()
}

func (e *signInEnv) get(u string) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.http.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// signIn picks user on the sign-in page and returns the code.
func (e *signInEnv) signIn(user string) string {
	e.t.Helper()
	resp, err := e.http.PostForm(e.authorizeURL(nil), url.Values{"user": {user}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("sign-in POST: %s", resp.Status)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if !strings.HasPrefix(loc.String(), e.redirect+"?") || loc.Query().Get("state") != "st4te" {
		e.t.Fatalf("redirect %s", loc)
	}
	return loc.Query().Get("code")
}

func (e *signInEnv) redeem(code string, mod func(url.Values)) (int, map[string]any) {
	e.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "client_id": {e.clientID}, "client_secret": {e.secret},
		"code": {code}, "redirect_uri": {e.redirect}, "code_verifier": {testVerifier}}
	if mod != nil {
		mod(f)
	}
	resp, err := e.http.PostForm(e.srv.URL()+"/"+e.tid+"/oauth2/v2.0/token", f)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func idClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantAADSTS(t *testing.T, status int, m map[string]any, wantStatus int, wantErr, wantCode string) {
	t.Helper()
	d, _ := m["error_description"].(string)
	if status != wantStatus || m["error"] != wantErr || !strings.HasPrefix(d, "AADSTS"+wantCode+":") {
		t.Fatalf("got %d %v %q, want %d %s AADSTS%s", status, m["error"], d, wantStatus, wantErr, wantCode)
	}
}

func TestSignInCodeFlow(t *testing.T) {
	e := newSignInEnv(t)
	resp, page := e.get(e.authorizeURL(func(q url.Values) { q.Set("login_hint", "bob@contoso.onmicrosoft.com") }))
	if resp.StatusCode != 200 || !strings.Contains(page, "Alice Zoë Adams") || strings.Contains(page, "Carol Guest") {
		t.Fatalf("sign-in page %d lists the enabled users, not the disabled guest:\n%s", resp.StatusCode, page)
	}
	if i, j := strings.Index(page, "Bob Brown"), strings.Index(page, "Alice"); i < 0 || i > j || !strings.Contains(page, "autofocus") {
		t.Fatal("login_hint's user comes first, focused")
	}
	code := e.signIn("alice@contoso.onmicrosoft.com")
	st, m := e.redeem(code, nil)
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, m)
	}
	c := idClaims(t, m["id_token"].(string))
	if c["iss"] != e.srv.URL()+"/"+e.tid+"/v2.0" || c["aud"] != e.clientID || c["tid"] != e.tid || c["nonce"] != "n0nce" ||
		c["preferred_username"] != "alice@contoso.onmicrosoft.com" || c["name"] != "Alice Zoë Adams" || c["ver"] != "2.0" {
		t.Fatalf("claims %v", c)
	}
	if r, _ := c["roles"].([]any); len(r) != 1 || r[0] != "Console.Operator" {
		t.Fatalf("roles %v", c["roles"])
	}
	// The code is one-time.
	st, m = e.redeem(code, nil)
	wantAADSTS(t, st, m, 400, "invalid_grant", "54005")
	// The issuer in discovery is the token's.
	_, disc := e.get(e.srv.URL() + "/" + e.tid + "/v2.0/.well-known/openid-configuration")
	if !strings.Contains(disc, `"issuer":"`+e.srv.URL()+"/"+e.tid+`/v2.0"`) {
		t.Fatalf("discovery: %s", disc)
	}
	// bob's token carries the viewer role by id assignment; dave none.
	st, m = e.redeem(e.signIn("bob@contoso.onmicrosoft.com"), nil)
	if r, _ := idClaims(t, m["id_token"].(string))["roles"].([]any); st != 200 || len(r) != 1 || r[0] != "Console.Viewer" {
		t.Fatalf("bob: %d %v", st, m)
	}
	_, m = e.redeem(e.signIn("dave@contoso.onmicrosoft.com"), nil)
	if _, has := idClaims(t, m["id_token"].(string))["roles"]; has {
		t.Fatal("a user with no app role gets no roles claim")
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newSignInEnv(t)
	// Client and redirect URI errors stay on graphsim's page.
	resp, page := e.get(e.authorizeURL(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }))
	if resp.StatusCode != 400 || !strings.Contains(page, "AADSTS50011") {
		t.Fatalf("redirect mismatch: %d %s", resp.StatusCode, page)
	}
	resp, page = e.get(e.authorizeURL(func(q url.Values) { q.Set("client_id", NewGUID()) }))
	if resp.StatusCode != 400 || !strings.Contains(page, "AADSTS700016") {
		t.Fatalf("unknown client: %d %s", resp.StatusCode, page)
	}
	// Other errors go back to the app with the state.
	for name, tc := range map[string]struct {
		mod  func(url.Values)
		want string
	}{
		"no PKCE":     {func(q url.Values) { q.Del("code_challenge") }, "AADSTS9002325"},
		"plain PKCE":  {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "AADSTS50146"},
		"no openid":   {func(q url.Values) { q.Set("scope", "profile") }, "AADSTS70011"},
		"no nonce":    {func(q url.Values) { q.Del("nonce") }, "AADSTS900144"},
		"token flow":  {func(q url.Values) { q.Set("response_type", "token") }, "AADSTS70005"},
		"form_post":   {func(q url.Values) { q.Set("response_mode", "form_post") }, "AADSTS70007"},
		"other scope": {func(q url.Values) { q.Set("scope", "openid User.Read") }, "AADSTS70011"},
	} {
		resp, _ := e.get(e.authorizeURL(tc.mod))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || loc.Query().Get("state") != "st4te" || !strings.HasPrefix(loc.Query().Get("error_description"), tc.want+":") {
			t.Errorf("%s: %d %s", name, resp.StatusCode, loc)
		}
	}
	// Token endpoint: wrong verifier (and the code is spent), wrong
	// redirect URI, wrong secret, expiry.
	st, m := e.redeem(e.signIn("alice@contoso.onmicrosoft.com"), func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 43)) })
	wantAADSTS(t, st, m, 400, "invalid_grant", "501481")
	st, m = e.redeem(e.signIn("alice@contoso.onmicrosoft.com"), func(f url.Values) { f.Set("redirect_uri", "https://console.example/other") })
	wantAADSTS(t, st, m, 400, "invalid_grant", "500112")
	st, m = e.redeem(e.signIn("alice@contoso.onmicrosoft.com"), func(f url.Values) { f.Set("client_secret", "wrong") })
	wantAADSTS(t, st, m, 401, "invalid_client", "7000215")
	code := e.signIn("alice@contoso.onmicrosoft.com")
	e.now = e.now.Add(11 * time.Minute)
	st, m = e.redeem(code, nil)
	wantAADSTS(t, st, m, 400, "invalid_grant", "70008")
	st, m = e.redeem("1.Anot-a-code", nil)
	wantAADSTS(t, st, m, 400, "invalid_grant", "9002313")
	// A user of no tenant cannot be picked.
	resp2, err := e.http.PostForm(e.authorizeURL(nil), url.Values{"user": {"mallory@fabrikam.com"}})
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 400 {
		t.Fatalf("unknown user: %s", resp2.Status)
	}
}
