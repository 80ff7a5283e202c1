package webauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/galmirror/galmirror/internal/entra"
)

// Env is what the console tells an authenticator about itself.
type Env struct {
	// PublicURL is the console's address as browsers reach it
	// (https://console.msp.example:8443); the redirect URI registered on
	// the app is PublicURL + "/auth/callback".
	PublicURL string
	// HTTPClient reaches Entra ID (discovery, keys, token); nil means
	// http.DefaultClient (trust from the system store).
	HTTPClient *http.Client
	// BaseDir resolves relative file names in the config (console.json's
	// directory); empty means the working directory.
	BaseDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Record, if set, is told of every sign-in, refused sign-in and
	// sign-out (the console audits them: events 760-762). It must not
	// block.
	Record func(AuthEvent)
}

// AuthEvent is a sign-in, a refused sign-in or a sign-out.
type AuthEvent struct {
	// Kind is "sign_in", "sign_in_refused" or "sign_out".
	Kind string
	// User is who signed in or out; for a refusal as much as is known
	// (nothing before the ID token is verified).
	User User
	// Reason says why a sign-in was refused (no secrets, no tokens).
	Reason string
	// Source is the browser's address (the request's RemoteAddr).
	Source string
	// Count, when above zero, makes a refusal a summary of that many
	// refusals held back (docs/events.md, Not flooding: the first refusal
	// of a source comes at once, then one summary per source and
	// RefusalWindow at most).
	Count int
}

func (e Env) record(ev AuthEvent) {
	if e.Record != nil {
		e.Record(ev)
	}
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e Env) path(p string) string {
	if p == "" || filepath.IsAbs(p) || e.BaseDir == "" {
		return p
	}
	return filepath.Join(e.BaseDir, p)
}

// Cookie names. __Host- cookies are Secure, host-only and for path /.
const (
	SessionCookie = "__Host-galmirror-session"
	loginCookie   = "__Host-galmirror-login"
)

// Paths the authenticators serve (under /auth/).
const (
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
	LogoutPath   = "/auth/logout"
)

// loginLifetime bounds a sign-in in progress (Entra's codes live about ten
// minutes).
const loginLifetime = 10 * time.Minute

// exchangeTimeout bounds the code redemption.
const exchangeTimeout = 30 * time.Second

// OIDC signs engineers in with OpenID Connect (authorization code flow
// with PKCE) against one Entra ID tenant and keeps them signed in with a
// signed session cookie.
type OIDC struct {
	cfg      OIDCConfig
	tenantID string
	env      Env
	client   *http.Client
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	cert     *entra.Certificate
	tokenURL string
	seal     sealer
	lifetime time.Duration
	appRoles map[string]Role
	users    map[string]Role // lower-case keys
	digest   *refusalDigest
}

// NewOIDC parses auth.oidc, reads the client credential and the session
// key, and discovers the issuer's endpoints (the only network call; ctx
// bounds it).
func NewOIDC(ctx context.Context, raw json.RawMessage, publicURL string, httpClient *http.Client) (*OIDC, error) {
	return NewOIDCEnv(ctx, raw, Env{PublicURL: publicURL, HTTPClient: httpClient})
}

// NewOIDCEnv is NewOIDC with the whole Env.
func NewOIDCEnv(ctx context.Context, raw json.RawMessage, env Env) (*OIDC, error) {
	cfg, tenant, err := ParseOIDCConfig(raw)
	if err != nil {
		return nil, err
	}
	if cfg.PublicURL != "" {
		env.PublicURL = cfg.PublicURL
	}
	pu, err := url.Parse(env.PublicURL)
	if err != nil || pu.Scheme != "https" || pu.Host == "" {
		return nil, fmt.Errorf("auth.oidc.publicUrl: the console's address %q is not an https URL (Entra sends the sign-in back to it); set publicUrl", env.PublicURL)
	}
	if ip := net.ParseIP(pu.Hostname()); ip != nil && ip.IsUnspecified() {
		return nil, fmt.Errorf("auth.oidc.publicUrl: missing: the console listens on %s, which is no address a browser can be sent back to; set publicUrl to the console's name (https://console.msp.example:%s)", pu.Host, pu.Port())
	}
	o := &OIDC{cfg: cfg, tenantID: tenant, env: env, client: env.HTTPClient, appRoles: cfg.AppRoles, users: map[string]Role{}}
	if o.client == nil {
		o.client = http.DefaultClient
	}
	if len(o.appRoles) == 0 {
		o.appRoles = DefaultAppRoles
	}
	for k, r := range cfg.Users {
		o.users[strings.ToLower(k)] = r
	}
	if rec := env.Record; rec != nil {
		o.digest = newRefusalDigest(RefusalWindow, rec, env.now)
		o.env.Record = func(ev AuthEvent) {
			if ev.Kind == "sign_in_refused" {
				o.digest.record(ev)
				return
			}
			rec(ev)
		}
	}
	o.lifetime, _ = cfg.sessionLifetime()
	key, err := loadSessionKey(env.path(cfg.SessionKeyFile))
	if err != nil {
		return nil, err
	}
	o.seal = sealer{key}
	secret := ""
	switch {
	case cfg.ClientSecretFile != "":
		b, err := entra.ReadFile(ctx, env.path(cfg.ClientSecretFile), 4096)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc.clientSecretFile: %w", err)
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" || strings.ContainsAny(secret, "\r\n") {
			return nil, fmt.Errorf("auth.oidc.clientSecretFile: %s must hold the secret's value on one line", cfg.ClientSecretFile)
		}
	default:
		c, err := entra.LoadCertificateFile(ctx, env.path(cfg.ClientCertificateFile), cfg.ClientCertificatePassword, env.now())
		if err != nil {
			return nil, fmt.Errorf("auth.oidc.clientCertificateFile: %w", err)
		}
		o.cert = c
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.client), 30*time.Second)
	defer cancel()
	// The provider keeps the client (not the deadline) for its key set.
	p, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(dctx), o.client), cfg.Issuer)
	if err == nil && dctx.Err() != nil {
		err = dctx.Err()
	}
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("auth.oidc.issuer: discovery at %s/.well-known/openid-configuration: %w", cfg.Issuer, err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	o.tokenURL = ep.TokenURL
	o.oauth = oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: secret, Endpoint: ep,
		RedirectURL: strings.TrimRight(env.PublicURL, "/") + CallbackPath,
		Scopes:      []string{oidc.ScopeOpenID, "profile"},
	}
	o.verifier = p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: env.now})
	return o, nil
}

// Close releases the client certificate (a store handle on Windows) and
// records the refusals held back.
func (o *OIDC) Close() {
	if o.cert != nil {
		_ = o.cert.Close()
	}
	if o.digest != nil {
		o.digest.close()
	}
}

// TenantID is the pinned tenant.
func (o *OIDC) TenantID() string { return o.tenantID }

// RedirectURL is the redirect URI to register on the app.
func (o *OIDC) RedirectURL() string { return o.oauth.RedirectURL }

// session is the signed session cookie's content.
type session struct {
	Subject string `json:"sub"`
	Name    string `json:"name"`
	Role    Role   `json:"role"`
	Issued  int64  `json:"iat"`
	Expires int64  `json:"exp"`
}

// pending is the signed cookie of a sign-in in progress.
type pending struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"`
	Expires  int64  `json:"exp"`
}

// User returns the signed-in user of a request, if its session cookie is
// valid and current.
func (o *OIDC) User(r *http.Request) (User, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return User{}, false
	}
	var s session
	if o.seal.open("session", c.Value, &s) != nil || !s.Role.Valid() || o.env.now().Unix() >= s.Expires {
		return User{}, false
	}
	return User{Subject: s.Subject, Name: s.Name, Method: "oidc", Role: s.Role}, true
}

// Middleware puts the signed-in user in the request context; a request
// without a valid session is sent to sign in (GET of a page) or refused
// with 401. Requests under /auth/ pass untouched.
func (o *OIDC) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/auth/") {
			next.ServeHTTP(w, r)
			return
		}
		if u, ok := o.User(r); ok {
			next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
			return
		}
		o.challenge(w, r)
	})
}

// challenge sends a browser to sign in, or answers 401.
func (o *OIDC) challenge(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		http.Redirect(w, r, LoginPath+"?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="galmirror console"`)
	http.Error(w, "sign in first: "+LoginPath, http.StatusUnauthorized)
}

// Handler serves /auth/login, /auth/callback and /auth/logout.
func (o *OIDC) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LoginPath, o.login)
	mux.HandleFunc("GET "+CallbackPath, o.callback)
	mux.HandleFunc(LogoutPath, o.logout)
	return mux
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// localPath accepts only a path on this console as where to go after
// signing in (no open redirect).
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.HasPrefix(p, "/auth/") {
		return "/"
	}
	if u, err := url.Parse(p); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}

func (o *OIDC) login(w http.ResponseWriter, r *http.Request) {
	p := pending{
		State: randomString(24), Nonce: randomString(24), Verifier: oauth2.GenerateVerifier(),
		Next: localPath(r.URL.Query().Get("next")), Expires: o.env.now().Add(loginLifetime).Unix(),
	}
	v, err := o.seal.seal("login", p)
	if err != nil {
		page(w, http.StatusInternalServerError, "Sign-in failed", "The console could not start the sign-in.", "")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: v, Path: "/", MaxAge: int(loginLifetime / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(p.Nonce)}
	if h := r.URL.Query().Get("login_hint"); h != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", h))
	}
	http.Redirect(w, r, o.oauth.AuthCodeURL(p.State, opts...), http.StatusFound)
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// SignInError says why a callback did not sign the user in.
type SignInError struct {
	Status int
	Title  string
	Detail string
	// User is who the verified ID token names, when it got that far.
	User User
}

func refuse(status int, title, detail string) *SignInError {
	return &SignInError{Status: status, Title: title, Detail: detail}
}

func (e *SignInError) Error() string { return e.Title + ": " + e.Detail }

func (o *OIDC) callback(w http.ResponseWriter, r *http.Request) {
	u, err := o.finish(r)
	clearCookie(w, loginCookie)
	if err != nil {
		var se *SignInError
		if !errors.As(err, &se) {
			se = refuse(http.StatusBadGateway, "Sign-in failed", err.Error())
		}
		o.env.record(AuthEvent{Kind: "sign_in_refused", User: se.User, Reason: se.Title + ": " + se.Detail, Source: r.RemoteAddr})
		page(w, se.Status, se.Title, se.Detail, LoginPath)
		return
	}
	now := o.env.now()
	v, err := o.seal.seal("session", session{Subject: u.Subject, Name: u.Name, Role: u.Role, Issued: now.Unix(), Expires: now.Add(o.lifetime).Unix()})
	if err != nil {
		page(w, http.StatusInternalServerError, "Sign-in failed", "The console could not make the session.", LoginPath)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: v, Path: "/", MaxAge: int(o.lifetime / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	next := "/"
	if c, err := r.Cookie(loginCookie); err == nil {
		var p pending
		if o.seal.open("login", c.Value, &p) == nil {
			next = localPath(p.Next)
		}
	}
	o.env.record(AuthEvent{Kind: "sign_in", User: u, Source: r.RemoteAddr})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// finish checks the callback against the sign-in in progress, redeems
// the code and verifies the ID token.
func (o *OIDC) finish(r *http.Request) (User, error) {
	q := r.URL.Query()
	c, err := r.Cookie(loginCookie)
	var p pending
	if err != nil || o.seal.open("login", c.Value, &p) != nil {
		return User{}, refuse(http.StatusBadRequest, "Sign-in expired", "This sign-in was not started by this browser, or it has expired. Sign in again.")
	}
	if o.env.now().Unix() >= p.Expires {
		return User{}, refuse(http.StatusBadRequest, "Sign-in expired", "The sign-in took longer than 10 minutes. Sign in again.")
	}
	if q.Get("state") == "" || q.Get("state") != p.State {
		return User{}, refuse(http.StatusBadRequest, "Sign-in refused", "The answer from Entra ID does not belong to the sign-in this browser started (state mismatch). Sign in again.")
	}
	if e := q.Get("error"); e != "" {
		return User{}, refuse(http.StatusUnauthorized, "Entra ID refused the sign-in", e+": "+q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		return User{}, refuse(http.StatusBadRequest, "Sign-in refused", "The answer from Entra ID carries no code.")
	}
	ctx, cancel := context.WithTimeout(r.Context(), exchangeTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, o.client)
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(p.Verifier)}
	if o.cert != nil {
		a := entra.Assertion{ClientID: o.cfg.ClientID, TokenEndpoint: o.tokenURL, Cert: o.cert.Leaf, Signer: o.cert.Signer(), Now: o.env.Now}
		tok, err := a.Sign()
		if err != nil {
			return User{}, fmt.Errorf("auth.oidc.clientCertificateFile: %w", err)
		}
		opts = append(opts, oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", tok))
	}
	tok, err := o.oauth.Exchange(ctx, code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return User{}, refuse(http.StatusBadGateway, "Entra ID refused the code", firstLine(re.ErrorCode+": "+re.ErrorDescription))
		}
		return User{}, fmt.Errorf("redeeming the code at %s: %w", o.tokenURL, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return User{}, refuse(http.StatusBadGateway, "Sign-in refused", "Entra ID answered without an ID token.")
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return User{}, refuse(http.StatusUnauthorized, "Sign-in refused", "The ID token is not valid: "+err.Error())
	}
	if idt.Nonce != p.Nonce {
		return User{}, refuse(http.StatusUnauthorized, "Sign-in refused", "The ID token does not belong to this sign-in (nonce mismatch).")
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		return User{}, refuse(http.StatusUnauthorized, "Sign-in refused", "The ID token's claims cannot be read: "+err.Error())
	}
	return o.userOf(idt.Issuer, cl)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\r\n")
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// idClaims are the ID token claims the console reads.
type idClaims struct {
	Tid               string   `json:"tid"`
	Oid               string   `json:"oid"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Roles             []string `json:"roles"`
}

func rank(r Role) int {
	switch r {
	case Operator:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// userOf pins the tenant and gives the user the highest role their app
// roles and the users map grant; no role is a refusal.
func (o *OIDC) userOf(issuer string, c idClaims) (User, error) {
	if !strings.EqualFold(c.Tid, o.tenantID) {
		return User{}, refuse(http.StatusForbidden, "Sign-in refused", fmt.Sprintf("The account belongs to tenant %q; this console admits only tenant %s.", c.Tid, o.tenantID))
	}
	if c.Oid == "" {
		return User{}, refuse(http.StatusForbidden, "Sign-in refused", "The ID token carries no object id (oid).")
	}
	var role Role
	for _, v := range c.Roles {
		if r, ok := o.appRoles[v]; ok && rank(r) > rank(role) {
			role = r
		}
	}
	for _, k := range []string{c.Oid, c.PreferredUsername} {
		if r, ok := o.users[strings.ToLower(k)]; ok && k != "" && rank(r) > rank(role) {
			role = r
		}
	}
	name := c.Name
	if name == "" {
		name = c.PreferredUsername
	}
	if c.PreferredUsername != "" && name != c.PreferredUsername {
		name += " <" + c.PreferredUsername + ">"
	}
	u := User{Subject: issuer + "#" + c.Oid, Name: name, Method: "oidc", Role: role}
	if role == "" {
		return User{}, &SignInError{http.StatusForbidden, "No access to the console",
			fmt.Sprintf("%s signed in, but holds no console role. Ask an administrator of your tenant to assign you the app role Console.Viewer or Console.Operator of the console's app registration (Enterprise applications > Users and groups).", nameOr(name, c.Oid)), u}
	}
	return u, nil
}

func nameOr(n, alt string) string {
	if n != "" {
		return n
	}
	return alt
}

func (o *OIDC) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if u, ok := o.User(r); ok {
		o.env.record(AuthEvent{Kind: "sign_out", User: u, Source: r.RemoteAddr})
	}
	clearCookie(w, SessionCookie)
	page(w, http.StatusOK, "Signed out", "You are signed out of the galmirror console. Entra ID may still remember you: close the browser to end that too.", LoginPath)
}
