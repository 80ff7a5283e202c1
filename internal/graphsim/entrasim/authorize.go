package entrasim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The authorization code flow with OpenID Connect
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow,
// v2-protocols-oidc): GET /{tenant}/oauth2/v2.0/authorize shows a sign-in
// page listing the tenant's users; picking one (a POST of the same URL)
// redirects to the app's redirect URI with a one-time code, which the app
// redeems at the token endpoint (grant_type=authorization_code) for an ID
// token and an access token.
//
// Where graphsim is stricter than Entra (EVIDENCE.md): PKCE with S256 is
// required (Entra recommends it for web apps and accepts plain), a nonce
// is required with the openid scope, response_mode must be query, and a
// code is spent by any redemption attempt that names it with the right
// client, a failed code_verifier check included.

// authCodeLifetime: "Authorization codes are short lived. Typically, they
// expire after about 10 minutes."
const authCodeLifetime = 10 * time.Minute

// maxAuthCodes bounds the codes kept.
const maxAuthCodes = 1000

type authCode struct {
	code        string
	tenantID    string
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scopes      []string
	user        SignedInUser
	expires     time.Time
	redeemed    bool
}

// authorizeRequest is a validated authorize request.
type authorizeRequest struct {
	tenantID    string
	app         App
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	loginHint   string
}

// serveAuthorize implements GET (the sign-in page) and POST (the user
// picked) of /{tenant}/oauth2/v2.0/authorize.
func (s *Server) serveAuthorize(rc *reqCtx, seg string) {
	if rc.r.Method != http.MethodGet && rc.r.Method != http.MethodPost {
		rc.w.Header().Set("Allow", "GET, POST")
		http.Error(rc.w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if isMultiTenantAlias(seg) {
		// The console signs in to one tenant; graphsim does not model the
		// home-tenant discovery of /common and /organizations.
		s.authorizePage(rc, http.StatusBadRequest, errCommonEndpoint())
		return
	}
	s.mu.RLock()
	t := s.lookupLocked(seg)
	tenantID := ""
	if t != nil {
		tenantID = t.ID
	}
	s.mu.RUnlock()
	if t == nil {
		e := errTenantNotFound(seg)
		if !validTenantName(seg) {
			e = errTenantInvalid(seg)
		}
		s.authorizePage(rc, http.StatusBadRequest, e)
		return
	}
	q := rc.r.URL.Query()
	ar, e, redirect := s.checkAuthorize(q, tenantID)
	if e != nil {
		if redirect {
			// Errors after client and redirect URI are known go back to
			// the app, with the state.
			v := url.Values{"error": {e.err}, "error_description": {fmt.Sprintf("AADSTS%d: %s", e.code, e.msg)}}
			if st := q.Get("state"); st != "" {
				v.Set("state", st)
			}
			http.Redirect(rc.w, rc.r, addQuery(q.Get("redirect_uri"), v), http.StatusFound)
			return
		}
		s.authorizePage(rc, http.StatusBadRequest, *e)
		return
	}
	users := s.signInUsers(tenantID)
	if rc.r.Method == http.MethodGet {
		s.signInPage(rc, ar, users)
		return
	}
	rc.r.Body = http.MaxBytesReader(rc.w, rc.r.Body, maxFormBytes)
	if err := rc.r.ParseForm(); err != nil {
		s.authorizePage(rc, http.StatusBadRequest, errMissingParam("user"))
		return
	}
	pick := rc.r.PostForm.Get("user")
	i := slices.IndexFunc(users, func(u SignedInUser) bool {
		return pick != "" && (strings.EqualFold(u.ID, pick) || strings.EqualFold(u.UPN, pick))
	})
	if i < 0 {
		s.authorizePage(rc, http.StatusBadRequest, errUserNotInTenant(pick, tenantID))
		return
	}
	now := s.now()
	c := &authCode{
		code: "1.A" + randomB64(96), tenantID: tenantID, clientID: ar.app.ClientID, redirectURI: ar.redirectURI,
		challenge: ar.challenge, nonce: ar.nonce, scopes: ar.scopes, user: users[i], expires: now.Add(authCodeLifetime),
	}
	s.mu.Lock()
	pruneExpired(s.codes, now, maxAuthCodes, func(c *authCode) time.Time { return c.expires })
	s.codes[c.code] = c
	s.mu.Unlock()
	v := url.Values{"code": {c.code}, "session_state": {newUUID()}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	http.Redirect(rc.w, rc.r, addQuery(ar.redirectURI, v), http.StatusFound)
}

// checkAuthorize validates an authorize request in Entra's order: the
// client and its redirect URI first (their errors are shown on Entra's own
// page, never sent to an unverified address), then the rest (sent back to
// the redirect URI: redirect is true).
func (s *Server) checkAuthorize(q url.Values, tenantID string) (ar authorizeRequest, e *aadError, redirect bool) {
	fail := func(x aadError, redir bool) (authorizeRequest, *aadError, bool) { return authorizeRequest{}, &x, redir }
	clientID := q.Get("client_id")
	if clientID == "" {
		return fail(errMissingParam("client_id"), false)
	}
	app, ok := s.findClient(tenantID, clientID)
	if !ok {
		return fail(errAppNotFound(clientID, tenantID), false)
	}
	if app.Disabled {
		return fail(errAppDisabled(app.ClientID, app.DisplayName), false)
	}
	ru := q.Get("redirect_uri")
	if ru == "" || !slices.Contains(app.RedirectURIs, ru) {
		return fail(errReplyURLMismatch(ru, app.ClientID, app.DisplayName), false)
	}
	switch rt := q.Get("response_type"); {
	case rt == "":
		return fail(errMissingParam("response_type"), true)
	case rt != "code":
		return fail(errUnsupportedResponseType(rt), true)
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return fail(errUnsupportedResponseMode(rm), true)
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		return fail(errMissingParam("scope"), true)
	}
	if !slices.Contains(scopes, "openid") {
		return fail(errOpenIDScopeRequired(), true)
	}
	for _, sc := range scopes {
		switch sc {
		case "openid", "profile", "email", "offline_access":
		default:
			return fail(errInvalidScope(sc), true)
		}
	}
	nonce := q.Get("nonce")
	if nonce == "" {
		return fail(errMissingParam("nonce"), true)
	}
	ch, m := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case ch == "":
		return fail(errPKCERequired(), true)
	case m != "S256":
		return fail(errChallengeMethod(m), true)
	case len(ch) != 43: // base64url of a SHA-256 digest
		return fail(errChallengeSize(), true)
	}
	return authorizeRequest{
		tenantID: tenantID, app: app, redirectURI: ru, state: q.Get("state"), nonce: nonce,
		challenge: ch, scopes: scopes, loginHint: q.Get("login_hint"),
	}, nil, false
}

func addQuery(base string, v url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + v.Encode()
}

// signInUsers returns the tenant's users who may sign in.
func (s *Server) signInUsers(tenantID string) []SignedInUser {
	if s.cfg.Users == nil {
		return nil
	}
	return s.cfg.Users(tenantID)
}

var signInTmpl = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign in to your account</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
button{display:block;width:100%;text-align:left;padding:.6rem;margin:.3rem 0;font-size:1rem}
.err{color:#a00}</style></head><body>
<h1>Sign in</h1>
{{if .Error}}<p class="err" role="alert" id="error">{{.Error}}</p>{{else}}
<p>to <b id="app">{{.App}}</b> (graphsim, tenant {{.Tenant}})</p>
<form method="post" action="{{.Action}}" id="signin">
{{range .Users}}<button type="submit" name="user" value="{{.ID}}" data-upn="{{.UPN}}"{{if .Hinted}} autofocus{{end}}>{{.DisplayName}} &lt;{{.UPN}}&gt;</button>
{{else}}<p>No user of this tenant can sign in.</p>{{end}}
</form>{{end}}
</body></html>`))

type pageUser struct {
	SignedInUser
	Hinted bool
}

// signInPage lists the tenant's users, the login_hint's first.
func (s *Server) signInPage(rc *reqCtx, ar authorizeRequest, users []SignedInUser) {
	var list []pageUser
	for _, u := range users {
		h := ar.loginHint != "" && (strings.EqualFold(u.UPN, ar.loginHint) || strings.EqualFold(u.ID, ar.loginHint))
		if h {
			list = append([]pageUser{{u, true}}, list...)
		} else {
			list = append(list, pageUser{u, false})
		}
	}
	name := ar.app.DisplayName
	if name == "" {
		name = ar.app.ClientID
	}
	s.renderPage(rc, http.StatusOK, map[string]any{
		"App": name, "Tenant": ar.tenantID, "Users": list, "Action": rc.r.URL.RequestURI(),
	})
}

// authorizePage shows an error on the sign-in page, as Entra does for a
// request it cannot send back to the app.
func (s *Server) authorizePage(rc *reqCtx, status int, e aadError) {
	s.renderPage(rc, status, map[string]any{
		"Error": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s", e.code, e.msg, rc.traceID, rc.correlationID),
	})
}

func (s *Server) renderPage(rc *reqCtx, status int, data map[string]any) {
	h := rc.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	// No form-action: browsers apply it to the redirect after the POST,
	// which goes to the app's own origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	rc.w.WriteHeader(status)
	_ = signInTmpl.Execute(rc.w, data)
}

// serveCodeToken answers grant_type=authorization_code.
func (s *Server) serveCodeToken(rc *reqCtx, form url.Values, seg, tenantID string) {
	clientID, secret, basic := form.Get("client_id"), form.Get("client_secret"), false
	if u, p, ok := rc.r.BasicAuth(); ok {
		// client_secret_basic: the form-urlencoded id and secret.
		cu, err1 := url.QueryUnescape(u)
		cp, err2 := url.QueryUnescape(p)
		if err1 != nil || err2 != nil || (clientID != "" && !strings.EqualFold(clientID, cu)) {
			rc.writeError(errNoCredential())
			return
		}
		clientID, secret, basic = cu, cp, true
	}
	if clientID == "" {
		rc.writeError(errMissingParam("client_id"))
		return
	}
	code := form.Get("code")
	if code == "" {
		rc.writeError(errMissingParam("code"))
		return
	}
	ru := form.Get("redirect_uri")
	if ru == "" {
		rc.writeError(errMissingParam("redirect_uri"))
		return
	}
	app, found := s.findClient(tenantID, clientID)
	if !found {
		rc.writeError(errAppNotFound(clientID, tenantID))
		return
	}
	if e := s.authenticateWebClient(form, secret, basic, &app, seg, tenantID); e != nil {
		rc.writeError(*e)
		return
	}
	now := s.now()
	s.mu.Lock()
	c := s.codes[code]
	var e *aadError
	switch {
	case c == nil || !strings.EqualFold(c.tenantID, tenantID) || !strings.EqualFold(c.clientID, app.ClientID):
		x := errBadCode()
		e = &x
	case c.redeemed:
		x := errCodeRedeemed()
		e = &x
	case now.After(c.expires):
		x := errCodeExpired(c.expires)
		e = &x
	case c.redirectURI != ru:
		x := errCodeRedirectMismatch()
		e = &x
	case !pkceMatches(c.challenge, form.Get("code_verifier")):
		x := errVerifierMismatch()
		e = &x
	}
	var ac authCode
	if c != nil && strings.EqualFold(c.clientID, app.ClientID) {
		// Any attempt by the right client spends the code.
		c.redeemed = true
		ac = *c
	}
	s.mu.Unlock()
	if e != nil {
		rc.writeError(*e)
		return
	}
	idt, err := s.mintIDToken(&ac, &app)
	if err != nil {
		http.Error(rc.w, "token signing failed", http.StatusInternalServerError)
		return
	}
	at, err := s.mintDelegated(ac.tenantID, app.ClientID, app.DisplayName, ac.user, []string{"User.Read"})
	if err != nil {
		http.Error(rc.w, "token signing failed", http.StatusInternalServerError)
		return
	}
	secs := max(int(s.lifetime().Seconds())-1, 0)
	body := map[string]any{
		"token_type":     "Bearer",
		"scope":          strings.Join(append([]string{"User.Read"}, ac.scopes...), " "),
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   at,
		"id_token":       idt,
	}
	if slices.Contains(ac.scopes, "offline_access") {
		// graphsim redeems no refresh token (unsupported_grant_type).
		body["refresh_token"] = randomB64(64)
	}
	rc.writeJSON(http.StatusOK, body)
}

// authenticateWebClient checks a confidential client's credential in the
// authorization code grant: a registered client secret (in the body or
// HTTP Basic) or a certificate client assertion.
func (s *Server) authenticateWebClient(form url.Values, secret string, basic bool, app *App, seg, tenantID string) *aadError {
	fail := func(e aadError) *aadError { return &e }
	assertion := form.Get("client_assertion")
	switch {
	case assertion != "" && (secret != "" || basic):
		return fail(errTwoCredentials())
	case assertion != "":
		if form.Get("client_assertion_type") != jwtBearerType {
			return fail(errMissingParam("client_assertion_type"))
		}
		if e := s.verifyAssertion(assertion, app, seg, tenantID); e != nil {
			return e
		}
	case secret != "":
		ok := false
		for _, sv := range app.Secrets {
			if subtle.ConstantTimeCompare([]byte(sv), []byte(secret)) == 1 {
				ok = true
			}
		}
		if !ok {
			return fail(errBadSecret(app.ClientID))
		}
	default:
		return fail(errNoCredential())
	}
	if app.Disabled {
		return fail(errAppDisabled(app.ClientID, app.DisplayName))
	}
	return nil
}

// pkceMatches checks an S256 code_verifier (RFC 7636 4.6: 43-128
// characters of the unreserved set).
func pkceMatches(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	d := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(d[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// idTokenClaims are the claims of a v2.0 ID token
// (id-token-claims-reference), in Entra's order.
type idTokenClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	Aio               string   `json:"aio"`
	Name              string   `json:"name,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	Oid               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Rh                string   `json:"rh"`
	Roles             []string `json:"roles,omitempty"`
	Sid               string   `json:"sid"`
	Sub               string   `json:"sub"`
	Tid               string   `json:"tid"`
	Uti               string   `json:"uti"`
	Ver               string   `json:"ver"`
}

// Issuer is the v2.0 issuer of a tenant's ID tokens on this server,
// base/{tenant id}/v2.0 (https://login.microsoftonline.com/{tid}/v2.0 at
// Entra).
func (s *Server) Issuer(tenantID string) string {
	return s.baseURL() + "/" + strings.ToLower(tenantID) + "/v2.0"
}

// mintIDToken signs the ID token of a redeemed code: the user's app roles
// for app, the nonce of the authorize request, and sub pairwise per app.
func (s *Server) mintIDToken(c *authCode, app *App) (string, error) {
	now := s.now()
	sub := sha256.Sum256([]byte("sub:" + strings.ToLower(c.user.ID) + ":" + strings.ToLower(app.ClientID)))
	claims := idTokenClaims{
		Aud: app.ClientID, Iss: s.Issuer(c.tenantID),
		Iat: now.Add(-backdate).Unix(), Nbf: now.Add(-backdate).Unix(), Exp: now.Add(time.Hour).Unix(),
		Aio: randomB64(24), Nonce: c.nonce, Oid: c.user.ID, Rh: "0." + randomB64(33) + ".",
		Roles: userAppRoles(app, c.user), Sid: newUUID(),
		Sub: base64.RawURLEncoding.EncodeToString(sub[:]), Tid: c.tenantID, Uti: randomB64(16), Ver: "2.0",
	}
	if slices.Contains(c.scopes, "profile") {
		claims.Name, claims.PreferredUsername = c.user.DisplayName, c.user.UPN
	}
	h := map[string]string{"typ": "JWT", "alg": "RS256", "kid": s.key.kid}
	return signRS256(s.key.priv, h, claims)
}

func userAppRoles(app *App, u SignedInUser) []string {
	var out []string
	for _, k := range []string{u.ID, u.UPN} {
		for _, r := range app.UserRoles[strings.ToLower(k)] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// Authorization code flow errors (reference-error-codes.md).

func errReplyURLMismatch(ru, clientID, name string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'(%s). Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.", ru, clientID, name), false}
}

func errUnsupportedResponseType(rt string) aadError {
	return aadError{http.StatusBadRequest, "unsupported_response_type", 70005, fmt.Sprintf("The application requested an unsupported response type '%s'; graphsim supports 'code' only.", rt), false}
}

func errUnsupportedResponseMode(rm string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 70007, fmt.Sprintf("The application returned an unsupported value '%s' of response_mode; graphsim supports 'query' only.", rm), false}
}

func errOpenIDScopeRequired() aadError {
	return aadError{http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. graphsim's authorize endpoint signs users in with OpenID Connect: the scope must include 'openid'.", false}
}

// errPKCERequired: Entra requires PKCE only for single-page apps
// (AADSTS9002325); graphsim requires it of every client.
func errPKCERequired() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 9002325, "Proof Key for Code Exchange is required: the request must contain 'code_challenge' with code_challenge_method 'S256'.", false}
}

func errChallengeMethod(m string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 50146, fmt.Sprintf("Invalid code_challenge_method '%s': graphsim accepts 'S256' only.", m), false}
}

func errChallengeSize() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 501491, "Invalid size of Code_Challenge parameter.", false}
}

func errUserNotInTenant(user, tenant string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 50034, fmt.Sprintf("The user account '%s' does not exist in the '%s' directory. To sign into this application, the account must be added to the directory.", user, tenant), false}
}

func errBadCode() aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid. - The issue here is because there was something wrong with the request to a certain endpoint: the provided value for the 'code' parameter is not valid.", false}
}

func errCodeRedeemed() aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.", false}
}

func errCodeExpired(at time.Time) aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", 70008, fmt.Sprintf("The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource. The code expired at %s.", at.UTC().Format(time.RFC3339)), false}
}

func errCodeRedirectMismatch() aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", 500112, "The reply address does not match the reply address provided when requesting Authorization code.", false}
}

func errVerifierMismatch() aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.", false}
}

func errTwoCredentials() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 90023, "Only one client credential may be sent: client_secret or client_assertion.", false}
}
