package webauth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

const (
	tenantA = "4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11"
	tenantB = "5b2f8d63-1c9f-4a6f-8d2e-3b7c9f5a1d22"
)

// oidcEnv is graphsim with the MSP's tenant (A) and another (B), both
// holding the console's app, and a console on real TLS whose pages print
// the signed-in user.
type oidcEnv struct {
	t       *testing.T
	sim     *graphsim.Server
	console *httptest.Server
	auth    *OIDC
	client  *http.Client // cookie jar, follows redirects
	appCred graphsim.AppCredential
	secret  string
	dir     string

	mu     sync.Mutex
	now    time.Time
	events []AuthEvent
}

func (e *oidcEnv) record(ev AuthEvent) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
}

func (e *oidcEnv) kinds() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var k []string
	for _, ev := range e.events {
		k = append(k, ev.Kind+":"+ev.User.Name+":"+string(ev.User.Role))
	}
	return strings.Join(k, ",")
}

func (e *oidcEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *oidcEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func simTenant(id, domain string, app graphsim.App) graphsim.Tenant {
	return graphsim.Tenant{ID: id, Name: domain, Domain: domain, Apps: []graphsim.App{app}, Users: []graphsim.User{
		{ID: strings.Replace(id[:24], id[:1], "a", 1) + "00000000000a", UserPrincipalName: "alice@" + domain, DisplayName: "Alice Adams"},
		{ID: strings.Replace(id[:24], id[:1], "b", 1) + "00000000000b", UserPrincipalName: "bob@" + domain, DisplayName: "Bob Brown"},
		{ID: strings.Replace(id[:24], id[:1], "d", 1) + "00000000000d", UserPrincipalName: "dave@" + domain, DisplayName: "Dave Nobody"},
	}}
}

// newOIDCEnv starts it all; cfg edits the auth.oidc object.
func newOIDCEnv(t *testing.T, cfg func(m map[string]any)) *oidcEnv {
	t.Helper()
	e := &oidcEnv{t: t, now: time.Now(), secret: "console~secret.value", dir: t.TempDir()}
	var handler http.Handler = http.NotFoundHandler()
	var hmu sync.RWMutex
	e.console = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.RLock()
		h := handler
		hmu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	e.console.StartTLS()
	t.Cleanup(e.console.Close)

	app, cred, err := graphsim.NewApp("galmirror console")
	if err != nil {
		t.Fatal(err)
	}
	e.appCred = cred
	app.Roles = nil
	app.RedirectURIs = []string{e.console.URL + CallbackPath}
	app.ClientSecrets = []string{e.secret}
	app.UserRoles = map[string][]string{"alice@msp.example": {"Console.Operator"}, "bob@msp.example": {"Console.Viewer"},
		"alice@other.example": {"Console.Operator"}}
	sim, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{simTenant(tenantA, "msp.example", app), simTenant(tenantB, "other.example", app)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e.sim = sim

	secretFile := filepath.Join(e.dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(e.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(e.dir, "console.pem")
	if err := os.WriteFile(pemFile, append(append([]byte{}, cred.CertPEM...), cred.KeyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"issuer": sim.URL() + "/" + tenantA + "/v2.0", "clientId": cred.ClientID, "clientSecretFile": "secret.txt"}
	if cfg != nil {
		cfg(m)
	}
	raw, _ := json.Marshal(m)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CACertPEM())
	pool.AddCert(e.console.Certificate())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	o, err := NewOIDCEnv(context.Background(), raw, Env{PublicURL: e.console.URL, HTTPClient: &http.Client{Transport: tr}, BaseDir: e.dir, Now: e.clock, Record: e.record})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	e.auth = o
	mux := http.NewServeMux()
	mux.Handle("/auth/", o.Handler())
	mux.Handle("/", o.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		fmt.Fprintf(w, "page %s as %s (%s) %s", r.URL.Path, u.Name, u.Role, u.Subject)
	})))
	hmu.Lock()
	handler = mux
	hmu.Unlock()
	jar, _ := cookiejar.New(nil)
	e.client = &http.Client{Transport: tr, Jar: jar}
	return e
}

func (e *oidcEnv) noFollow() *http.Client {
	c := *e.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openSignInPage opens path on the console and follows it to graphsim's
// sign-in page, returning that page's URL.
func (e *oidcEnv) openSignInPage(path string) *url.URL {
	e.t.Helper()
	resp, err := e.client.Get(e.console.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	body := readAll(e.t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.String(), e.sim.URL()+"/"+tenantA+"/oauth2/v2.0/authorize?") || !strings.Contains(body, "Sign in") {
		e.t.Fatalf("expected graphsim's sign-in page, got %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	return resp.Request.URL
}

// pick chooses user on the sign-in page at u and returns the callback URL
// graphsim redirects to (not yet followed).
func (e *oidcEnv) pick(u *url.URL, user string) *url.URL {
	e.t.Helper()
	resp, err := e.noFollow().PostForm(u.String(), url.Values{"user": {user}})
	if err != nil {
		e.t.Fatal(err)
	}
	readAll(e.t, resp)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), e.console.URL+CallbackPath+"?") {
		e.t.Fatalf("pick %s: %d to %s", user, resp.StatusCode, loc)
	}
	return loc
}

func (e *oidcEnv) get(u string) (int, string) {
	e.t.Helper()
	resp, err := e.client.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, readAll(e.t, resp)
}

func (e *oidcEnv) signIn(path, user string) (int, string) {
	e.t.Helper()
	return e.get(e.pick(e.openSignInPage(path), user).String())
}

// loginCookieValue reads the sign-in in progress (the test plays an
// attacker who can read, not forge, it).
func (e *oidcEnv) pendingLogin() pending {
	e.t.Helper()
	cu, _ := url.Parse(e.console.URL)
	for _, c := range e.client.Jar.Cookies(cu) {
		if c.Name == loginCookie {
			p, _, _ := strings.Cut(c.Value, ".")
			b, _ := base64.RawURLEncoding.DecodeString(p)
			var v pending
			if err := json.Unmarshal(b, &v); err != nil {
				e.t.Fatal(err)
			}
			return v
		}
	}
	e.t.Fatal("no sign-in in progress")
	return pending{}
}

func TestOIDCSignInRolesAndLogout(t *testing.T) {
	e := newOIDCEnv(t, nil)
	st, body := e.signIn("/customers/contoso?tab=runs", "alice@msp.example")
	if st != 200 || body != "page /customers/contoso as Alice Adams <alice@msp.example> (operator) "+e.sim.URL()+"/"+tenantA+"/v2.0#"+strings.Replace(tenantA[:24], "4", "a", 1)+"00000000000a" {
		t.Fatalf("alice lands where she was going, signed in as operator: %d %q", st, body)
	}
	// Signed in: the next page needs no trip to Entra.
	if st, body = e.get(e.console.URL + "/"); st != 200 || !strings.Contains(body, "(operator)") {
		t.Fatalf("second page: %d %q", st, body)
	}
	// Logout ends the session.
	resp, err := e.client.PostForm(e.console.URL+LogoutPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(b, "Signed out") {
		t.Fatalf("logout: %d %s", resp.StatusCode, b)
	}
	e.openSignInPage("/")
	if k := e.kinds(); k != "sign_in:Alice Adams <alice@msp.example>:operator,sign_out:Alice Adams <alice@msp.example>:operator" {
		t.Fatalf("recorded %s", k)
	}
	// bob is a viewer.
	if st, body = e.signIn("/", "bob@msp.example"); st != 200 || !strings.Contains(body, "Bob Brown <bob@msp.example> (viewer)") {
		t.Fatalf("bob: %d %q", st, body)
	}
	// An API call without a session is refused, not redirected.
	bare := e.noFollow()
	bare.Jar = nil
	resp, err = bare.Post(e.console.URL+"/customers/contoso/sync", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 401 {
		t.Fatalf("POST without session: %d", resp.StatusCode)
	}
}

func TestOIDCMissingRoleIsRefused(t *testing.T) {
	e := newOIDCEnv(t, nil)
	st, body := e.signIn("/", "dave@msp.example")
	if st != 403 || !strings.Contains(body, "Dave Nobody &lt;dave@msp.example&gt; signed in, but holds no console role") || !strings.Contains(body, "Console.Viewer") {
		t.Fatalf("dave: %d %s", st, body)
	}
	if k := e.kinds(); k != "sign_in_refused:Dave Nobody <dave@msp.example>:" {
		t.Fatalf("recorded %s", k)
	}
	// And he is not signed in.
	resp, err := e.noFollow().Get(e.console.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after refusal: %d", resp.StatusCode)
	}
}

func TestOIDCUsersMapGivesRole(t *testing.T) {
	e := newOIDCEnv(t, func(m map[string]any) { m["users"] = map[string]string{"DAVE@msp.example": "viewer"} })
	if st, body := e.signIn("/", "dave@msp.example"); st != 200 || !strings.Contains(body, "(viewer)") {
		t.Fatalf("dave by the users map: %d %s", st, body)
	}
}

func TestOIDCWrongStateIsRefused(t *testing.T) {
	e := newOIDCEnv(t, nil)
	cb := e.pick(e.openSignInPage("/"), "alice@msp.example")
	q := cb.Query()
	q.Set("state", "forged")
	cb.RawQuery = q.Encode()
	st, body := e.get(cb.String())
	if st != 400 || !strings.Contains(body, "state mismatch") {
		t.Fatalf("forged state: %d %s", st, body)
	}
	// No login cookie at all (a link sent by an attacker).
	e2 := newOIDCEnv(t, nil)
	if st, body = e2.get(e2.console.URL + CallbackPath + "?code=x&state=y"); st != 400 || !strings.Contains(body, "Sign-in expired") {
		t.Fatalf("no sign-in in progress: %d %s", st, body)
	}
}

func TestOIDCReplayedCodeIsRefused(t *testing.T) {
	e := newOIDCEnv(t, nil)
	cb := e.pick(e.openSignInPage("/"), "alice@msp.example")
	if st, _ := e.get(cb.String()); st != 200 {
		t.Fatal("first use signs in")
	}
	// Somebody who saw the code starts their own sign-in and replays it.
	e.client.Jar, _ = cookiejar.New(nil)
	e.openSignInPage("/")
	p := e.pendingLogin()
	q := cb.Query()
	q.Set("state", p.State)
	cb.RawQuery = q.Encode()
	st, body := e.get(cb.String())
	if st != 502 || !strings.Contains(body, "AADSTS54005") {
		t.Fatalf("replayed code: %d %s", st, body)
	}
}

// codeFor asks graphsim's tenant for a code bound to the browser's
// sign-in in progress (its state and PKCE verifier) but with nonce.
func (e *oidcEnv) codeFor(tenant, user, nonce string) string {
	e.t.Helper()
	p := e.pendingLogin()
	d := sha256.Sum256([]byte(p.Verifier))
	q := url.Values{"client_id": {e.appCred.ClientID}, "response_type": {"code"}, "redirect_uri": {e.console.URL + CallbackPath},
		"scope": {"openid profile"}, "state": {p.State}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(d[:])}, "code_challenge_method": {"S256"}}
	u, _ := url.Parse(e.sim.URL() + "/" + tenant + "/oauth2/v2.0/authorize?" + q.Encode())
	return e.pick(u, user).Query().Get("code")
}

func TestOIDCWrongNonceIsRefused(t *testing.T) {
	e := newOIDCEnv(t, nil)
	e.openSignInPage("/")
	code := e.codeFor(tenantA, "alice@msp.example", "another-sign-in")
	st, body := e.get(e.console.URL + CallbackPath + "?" + url.Values{"code": {code}, "state": {e.pendingLogin().State}}.Encode())
	if st != 401 || !strings.Contains(body, "nonce mismatch") {
		t.Fatalf("wrong nonce: %d %s", st, body)
	}
}

func TestOIDCOtherTenantIsRefused(t *testing.T) {
	e := newOIDCEnv(t, nil)
	e.openSignInPage("/")
	p := e.pendingLogin()
	code := e.codeFor(tenantB, "alice@other.example", p.Nonce)
	st, body := e.get(e.console.URL + CallbackPath + "?" + url.Values{"code": {code}, "state": {p.State}}.Encode())
	if st != 502 || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("code of another tenant: %d %s", st, body)
	}
	// A verified token of another tenant (a multi-tenant issuer) is
	// refused by the pin, whatever its roles.
	_, err := e.auth.userOf(e.sim.URL()+"/"+tenantB+"/v2.0", idClaims{Tid: tenantB, Oid: "x", Name: "Mallory", Roles: []string{"Console.Operator"}})
	if se, ok := err.(*SignInError); !ok || se.Status != 403 || !strings.Contains(se.Detail, "admits only tenant "+tenantA) {
		t.Fatalf("other tenant's claims: %v", err)
	}
}

func TestOIDCSessionExpires(t *testing.T) {
	e := newOIDCEnv(t, func(m map[string]any) { m["sessionLifetime"] = "1h" })
	if st, _ := e.signIn("/", "alice@msp.example"); st != 200 {
		t.Fatal("sign-in")
	}
	e.advance(59 * time.Minute)
	if st, _ := e.get(e.console.URL + "/"); st != 200 {
		t.Fatal("within the lifetime the session holds")
	}
	e.advance(2 * time.Minute)
	e.openSignInPage("/") // sent to sign in again
	// A session cookie from another console's key is worth nothing.
	other := sealer{key: []byte("0123456789abcdef0123456789abcdef")}
	v, _ := other.seal("session", session{Subject: "x", Name: "Mallory", Role: Operator, Expires: e.clock().Add(time.Hour).Unix()})
	cu, _ := url.Parse(e.console.URL)
	e.client.Jar.SetCookies(cu, []*http.Cookie{{Name: SessionCookie, Value: v, Path: "/", Secure: true}})
	e.openSignInPage("/")
}

func TestOIDCSessionKeyFileKeepsSessions(t *testing.T) {
	e := newOIDCEnv(t, func(m map[string]any) { m["sessionKeyFile"] = "session.key" })
	if st, _ := e.signIn("/", "alice@msp.example"); st != 200 {
		t.Fatal("sign-in")
	}
	fi, err := os.Stat(filepath.Join(e.dir, "session.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	// A restarted console with the same key file knows the session.
	raw, _ := json.Marshal(map[string]any{"issuer": e.sim.URL() + "/" + tenantA + "/v2.0", "clientId": e.appCred.ClientID,
		"clientSecretFile": "secret.txt", "sessionKeyFile": "session.key"})
	o2, err := NewOIDCEnv(context.Background(), raw, Env{PublicURL: e.console.URL, HTTPClient: e.client, BaseDir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	cu, _ := url.Parse(e.console.URL)
	for _, c := range e.client.Jar.Cookies(cu) {
		r.AddCookie(c)
	}
	if u, ok := o2.User(r); !ok || u.Role != Operator {
		t.Fatalf("restarted console: %+v %v", u, ok)
	}
}

func TestOIDCClientCertificateCredential(t *testing.T) {
	e := newOIDCEnv(t, func(m map[string]any) {
		delete(m, "clientSecretFile")
		m["clientCertificateFile"] = "console.pem"
	})
	if st, body := e.signIn("/", "bob@msp.example"); st != 200 || !strings.Contains(body, "(viewer)") {
		t.Fatalf("sign-in with a certificate assertion: %d %s", st, body)
	}
}
