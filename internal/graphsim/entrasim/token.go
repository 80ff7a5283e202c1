package entrasim

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	jwtBearerType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// maxFormBytes bounds a token request body.
	maxFormBytes = 1 << 20
	// assertionSkew is the clock skew tolerated on an assertion's nbf/exp
	// (Entra's usual five minutes).
	assertionSkew = 5 * time.Minute
)

// serveToken implements POST /{tenant}/oauth2/v2.0/token for
// client_credentials with a certificate client assertion.
func (s *Server) serveToken(rc *reqCtx, seg string) {
	if s.faultToken(rc) {
		return
	}
	if rc.r.Method != http.MethodPost {
		rc.writeError(errOnlyPost(rc.r.Method))
		return
	}
	if isMultiTenantAlias(seg) {
		// Only the device code flow may use /organizations or /common: its
		// token is issued in the signed-in user's tenant.
		if form, err := readForm(rc.w, rc.r); err == nil && form.Get("grant_type") == deviceCodeGrant {
			s.serveDeviceToken(rc, form, seg)
			return
		}
		rc.writeError(errCommonEndpoint())
		return
	}
	tenantID, ok := s.resolveTenant(rc, seg)
	if !ok {
		return
	}
	form, err := readForm(rc.w, rc.r)
	if err != nil {
		rc.writeError(errMissingParam("grant_type"))
		return
	}
	switch form.Get("grant_type") {
	case deviceCodeGrant:
		s.serveDeviceToken(rc, form, seg)
		return
	case "authorization_code":
		s.serveCodeToken(rc, form, seg, tenantID)
		return
	}
	clientID, scope, e := tokenParams(form)
	if e != nil {
		rc.writeError(*e)
		return
	}
	app, found := s.findClient(tenantID, clientID)
	if !found {
		rc.writeError(errAppNotFound(clientID, tenantID))
		return
	}
	if app.NoServicePrincipal {
		rc.writeError(errNoServicePrincipal(app.ClientID, tenantID))
		return
	}
	if e := s.authenticateClient(form, &app, seg, tenantID); e != nil {
		rc.writeError(*e)
		return
	}
	if e := s.checkScope(scope, tenantID); e != nil {
		rc.writeError(*e)
		return
	}
	tok, err := s.mint(tenantID, &app)
	if err != nil {
		http.Error(rc.w, "token signing failed", http.StatusInternalServerError)
		return
	}
	secs := max(int(s.lifetime().Seconds())-1, 0) // Entra reports 3599 for a one-hour token
	rc.writeJSON(http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	})
}

// faultToken answers a token request with the fault set, an outage or
// throttling, if any; it reports whether it did.
func (s *Server) faultToken(rc *reqCtx) bool {
	switch f := s.currentFaults(); {
	case f.Outage:
		rc.writeError(errOutage())
		return true
	case f.Throttle:
		ra := f.ThrottleRetryAfter
		if ra <= 0 {
			ra = 5 * time.Second
		}
		rc.w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		rc.writeError(errThrottled())
		return true
	}
	return false
}

// tokenParams reads a client_credentials request's client_id and scope,
// refusing another grant or a missing parameter.
func tokenParams(form url.Values) (clientID, scope string, e *aadError) {
	fail := func(err aadError) (string, string, *aadError) { return "", "", &err }
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		return fail(errMissingParam("grant_type"))
	case grant != "client_credentials":
		return fail(errUnsupportedGrant(grant))
	}
	clientID = form.Get("client_id")
	if clientID == "" {
		return fail(errMissingParam("client_id"))
	}
	scope = form.Get("scope")
	if strings.TrimSpace(scope) == "" {
		return fail(errMissingParam("scope"))
	}
	return clientID, scope, nil
}

// findClient returns the app clientID registered in tenantID as the token
// service sees it now: an app created through Graph is unknown until it
// has propagated (Config.Propagation), as Entra's replicas learn of it,
// and so are its keys and role grants (effectiveApp).
func (s *Server) findClient(tenantID, clientID string) (App, bool) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.lookupLocked(tenantID); t != nil {
		if a := findApp(t, clientID); a != nil && !now.Before(a.VisibleAt) {
			return effectiveApp(a, now), true
		}
	}
	return App{}, false
}

// authenticateClient checks the request's credential for app: a client
// assertion signed by one of its certificates (a secret is refused), and
// that the app is enabled.
func (s *Server) authenticateClient(form url.Values, app *App, seg, tenantID string) *aadError {
	assertion := form.Get("client_assertion")
	if assertion == "" {
		if form.Get("client_secret") != "" {
			e := errBadSecret(app.ClientID)
			return &e
		}
		e := errNoCredential()
		return &e
	}
	if form.Get("client_assertion_type") != jwtBearerType {
		e := errMissingParam("client_assertion_type")
		return &e
	}
	if e := s.verifyAssertion(assertion, app, seg, tenantID); e != nil {
		return e
	}
	if app.Disabled {
		e := errAppDisabled(app.ClientID, app.DisplayName)
		return &e
	}
	return nil
}

// readForm parses an application/x-www-form-urlencoded body, ignoring the
// URL query (Entra reads the token request from the body only).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return nil, errors.New("not a form body")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// checkScope accepts exactly one resource scope, GraphRoot()+"/.default",
// plus the OIDC scopes MSAL always appends.
func (s *Server) checkScope(scope, tenantID string) *aadError {
	var res []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "offline_access", "profile", "email":
			continue
		}
		res = append(res, sc)
	}
	if len(res) != 1 {
		e := errInvalidScope(scope)
		return &e
	}
	sc := res[0]
	resource, ok := strings.CutSuffix(sc, "/.default")
	if !ok {
		e := errNoDefaultSuffix(sc)
		return &e
	}
	if strings.EqualFold(strings.TrimRight(resource, "/"), s.graphRoot()) || resource == graphAppID {
		return nil
	}
	if strings.Contains(resource, "://") || validUUID(resource) {
		e := errResourceNotFound(resource, tenantID)
		return &e
	}
	e := errInvalidScope(sc)
	return &e
}

// graphAppID is Microsoft Graph's application id, accepted as a resource name.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// verifyAssertion checks a client assertion JWT against the app's
// registered certificates, in the order Entra reports failures.
func (s *Server) verifyAssertion(raw string, app *App, seg, tenantID string) *aadError {
	fail := func(e aadError) *aadError { return &e }
	j, err := parseJWT(raw)
	if err != nil {
		return fail(errMalformedAssertion(err.Error() + "."))
	}
	if !supportedAlg(j.header.Alg) {
		return fail(errUnsupportedAlg(j.header.Alg))
	}
	cert, thumbHex := findCert(app.Certificates, j.header)
	if cert == nil {
		return fail(errKeyNotFound(app.ClientID, thumbHex))
	}
	now := s.now()
	if now.After(cert.NotAfter) {
		return fail(errKeyExpired(app.ClientID, thumbHex, cert.NotAfter))
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || verifyRSA(j.header.Alg, j.signingInput, j.signature, pub) != nil {
		return fail(errBadSignature(thumbHex))
	}
	iss, sub := j.str("iss"), j.str("sub")
	if !strings.EqualFold(iss, app.ClientID) || !strings.EqualFold(sub, app.ClientID) {
		return fail(errIssuerMismatch())
	}
	if !s.audienceOK(j.audiences(), seg, tenantID) {
		return fail(errAudienceMismatch())
	}
	exp, ok := j.numericDate("exp")
	if !ok {
		return fail(errMalformedAssertion("The 'exp' claim is missing or not a number."))
	}
	nbf, hasNbf := j.numericDate("nbf")
	if _, present := j.claims["nbf"]; present && !hasNbf {
		return fail(errMalformedAssertion("The 'nbf' claim is not a number."))
	}
	if now.After(exp.Add(assertionSkew)) || (hasNbf && now.Before(nbf.Add(-assertionSkew))) {
		return fail(errAssertionTime(now, nbf, exp))
	}
	if j.str("jti") == "" {
		return fail(errMalformedAssertion("The 'jti' claim is missing."))
	}
	return nil
}

// audienceOK accepts the token endpoint of this tenant, named by id or by
// any verified domain, in its v2.0 or v1 form.
func (s *Server) audienceOK(auds []string, seg, tenantID string) bool {
	base := s.baseURL()
	names := []string{seg, tenantID}
	s.mu.RLock()
	if t := s.lookupLocked(tenantID); t != nil {
		names = append(names, t.Domains...)
	}
	s.mu.RUnlock()
	for _, a := range auds {
		rest, ok := cutPrefixFold(a, base+"/")
		if !ok {
			continue
		}
		name, path, _ := strings.Cut(rest, "/")
		if path != "oauth2/v2.0/token" && path != "oauth2/token" {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// findCert finds the registered certificate named by x5t#S256 or x5t. The
// second result is the thumbprint the client named, in Entra's upper-case
// hex, for error messages.
func findCert(certs []*x509.Certificate, h jwtHeader) (*x509.Certificate, string) {
	var s256, s1 []byte
	if h.X5tS256 != "" {
		s256 = decodeThumbprint(h.X5tS256)
	}
	if h.X5t != "" {
		s1 = decodeThumbprint(h.X5t)
	}
	named := ""
	switch {
	case len(s256) > 0:
		named = strings.ToUpper(hex.EncodeToString(s256))
	case len(s1) > 0:
		named = strings.ToUpper(hex.EncodeToString(s1))
	}
	for _, c := range certs {
		if c == nil {
			continue
		}
		if len(s256) == sha256.Size {
			d := sha256.Sum256(c.Raw)
			if subtle.ConstantTimeCompare(d[:], s256) == 1 {
				return c, named
			}
		}
		if len(s1) == sha1.Size {
			d := sha1.Sum(c.Raw)
			if subtle.ConstantTimeCompare(d[:], s1) == 1 {
				return c, named
			}
		}
	}
	return nil, named
}
