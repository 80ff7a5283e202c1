package entrasim

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// accessTokenClaims are the claims of a v1.0 app-only Graph token, in the
// order Entra writes them (graph-examples/graph-app-token-claims-decoded.json).
type accessTokenClaims struct {
	Aud            string   `json:"aud"`
	Iss            string   `json:"iss"`
	Iat            int64    `json:"iat"`
	Nbf            int64    `json:"nbf"`
	Exp            int64    `json:"exp"`
	Aio            string   `json:"aio"`
	AppDisplayName string   `json:"app_displayname,omitempty"`
	AppID          string   `json:"appid"`
	AppIDACR       string   `json:"appidacr"`
	Idp            string   `json:"idp"`
	Idtyp          string   `json:"idtyp"`
	Oid            string   `json:"oid"`
	Rh             string   `json:"rh"`
	Roles          []string `json:"roles,omitempty"`
	Sub            string   `json:"sub"`
	TenantRegion   string   `json:"tenant_region_scope"`
	Tid            string   `json:"tid"`
	Uti            string   `json:"uti"`
	Ver            string   `json:"ver"`
}

// backdate is how far Entra moves iat/nbf into the past to absorb clock
// skew (a one-hour token has exp - iat = 65 minutes).
const backdate = 5 * time.Minute

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// mint signs an access token for an app that has authenticated.
func (s *Server) mint(tenantID string, app *App) (string, error) {
	now := s.now()
	iss := "https://sts.windows.net/" + tenantID + "/"
	sp := servicePrincipalID(tenantID, app)
	c := accessTokenClaims{
		Aud:            s.graphRoot(),
		Iss:            iss,
		Iat:            now.Add(-backdate).Unix(),
		Nbf:            now.Add(-backdate).Unix(),
		Exp:            now.Add(s.lifetime()).Unix(),
		Aio:            randomB64(24),
		AppDisplayName: app.DisplayName,
		AppID:          app.ClientID,
		AppIDACR:       "2", // certificate
		Idp:            iss,
		Idtyp:          "app",
		Oid:            sp,
		Rh:             "0." + randomB64(33) + ".",
		Sub:            sp,
		TenantRegion:   "EU",
		Tid:            tenantID,
		Uti:            randomB64(16),
		Ver:            "1.0",
	}
	if len(app.Roles) > 0 {
		c.Roles = append([]string(nil), app.Roles...)
	}
	h := map[string]string{"typ": "JWT", "nonce": randomB64(32), "alg": "RS256", "x5t": s.key.kid, "kid": s.key.kid}
	return signRS256(s.key.priv, h, c)
}

// delegatedTokenClaims are the claims of a v1.0 delegated Graph token
// (access-token-claims-reference: scp, upn, wids, idtyp "user").
type delegatedTokenClaims struct {
	Aud            string   `json:"aud"`
	Iss            string   `json:"iss"`
	Iat            int64    `json:"iat"`
	Nbf            int64    `json:"nbf"`
	Exp            int64    `json:"exp"`
	Acr            string   `json:"acr"`
	Aio            string   `json:"aio"`
	Amr            []string `json:"amr"`
	AppDisplayName string   `json:"app_displayname,omitempty"`
	AppID          string   `json:"appid"`
	AppIDACR       string   `json:"appidacr"`
	Idtyp          string   `json:"idtyp"`
	Name           string   `json:"name,omitempty"`
	Oid            string   `json:"oid"`
	Rh             string   `json:"rh"`
	Scp            string   `json:"scp"`
	Sub            string   `json:"sub"`
	TenantRegion   string   `json:"tenant_region_scope"`
	Tid            string   `json:"tid"`
	UniqueName     string   `json:"unique_name"`
	Upn            string   `json:"upn"`
	Uti            string   `json:"uti"`
	Ver            string   `json:"ver"`
	Wids           []string `json:"wids,omitempty"`
}

// mintDelegated signs an access token for a user signed in through a
// public client.
func (s *Server) mintDelegated(tenantID, clientID, clientName string, u SignedInUser, scopes []string) (string, error) {
	now := s.now()
	iss := "https://sts.windows.net/" + tenantID + "/"
	c := delegatedTokenClaims{
		Aud: s.graphRoot(), Iss: iss,
		Iat: now.Add(-backdate).Unix(), Nbf: now.Add(-backdate).Unix(), Exp: now.Add(s.lifetime()).Unix(),
		Acr: "1", Aio: randomB64(24), Amr: []string{"pwd", "mfa"},
		AppDisplayName: clientName, AppID: clientID, AppIDACR: "0", // public client
		Idtyp: "user", Name: u.DisplayName, Oid: u.ID, Rh: "0." + randomB64(33) + ".",
		Scp: strings.Join(scopes, " "), Sub: randomB64(32), TenantRegion: "EU", Tid: tenantID,
		UniqueName: u.UPN, Upn: u.UPN, Uti: randomB64(16), Ver: "1.0",
		Wids: append([]string(nil), u.RoleTemplateIDs...),
	}
	h := map[string]string{"typ": "JWT", "nonce": randomB64(32), "alg": "RS256", "x5t": s.key.kid, "kid": s.key.kid}
	return signRS256(s.key.priv, h, c)
}

// IssueAccessToken mints an access token for an app without a client
// assertion, for tests and the control API. It fails for an unknown tenant
// or app and for a disabled app.
func (s *Server) IssueAccessToken(tenantID, clientID string) (string, error) {
	now := s.now()
	s.mu.RLock()
	t := s.lookupLocked(tenantID)
	var app App
	var tid string
	found := false
	if t != nil {
		tid = t.ID
		if a := findApp(t, clientID); a != nil {
			app, found = effectiveApp(a, now), true
		}
	}
	s.mu.RUnlock()
	switch {
	case t == nil:
		return "", fmt.Errorf("entrasim: tenant %q not found", tenantID)
	case !found:
		return "", fmt.Errorf("entrasim: app %q not found in tenant %s", clientID, tid)
	case app.Disabled:
		return "", fmt.Errorf("entrasim: app %q is disabled", clientID)
	}
	return s.mint(tid, &app)
}

// tokenError is a VerifyAccessToken failure; its text is Graph's 401 message.
type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }
func (e *tokenError) Unwrap() error { return ErrInvalidToken }

func invalid(msg string) error { return &tokenError{msg} }

// VerifyAccessToken checks an access token's signature, audience and
// lifetime (against Config.Now), and that its tenant and app still exist,
// and returns its claims. The roles are those in the token, as Graph
// honours a token's roles until it expires. Every error wraps
// ErrInvalidToken and reads as Graph's 401 message.
func (s *Server) VerifyAccessToken(raw string) (*Claims, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, invalid("Access token is empty.")
	}
	j, err := parseJWT(raw)
	if err != nil {
		if !strings.Contains(raw, ".") {
			return nil, invalid("IDX14100: JWT is not well formed, there are no dots (.).")
		}
		return nil, invalid("CompactToken parsing failed with error code: 80049217")
	}
	if j.header.Alg != "RS256" || (j.header.Kid != "" && j.header.Kid != s.key.kid) ||
		verifyRSA("RS256", j.signingInput, j.signature, &s.key.priv.PublicKey) != nil {
		return nil, invalid("Access token validation failure. Invalid signature.")
	}
	aud := j.audiences()
	if len(aud) != 1 || !(strings.EqualFold(strings.TrimRight(aud[0], "/"), s.graphRoot()) || aud[0] == graphAppID) {
		return nil, invalid("Access token validation failure. Invalid audience.")
	}
	exp, okExp := j.numericDate("exp")
	nbf, okNbf := j.numericDate("nbf")
	now := s.now()
	if !okExp || !okNbf || !now.Before(exp) || now.Before(nbf) {
		return nil, invalid("Access token has expired or is not yet valid.")
	}
	tid, appID := j.str("tid"), j.str("appid")
	if j.str("iss") != "https://sts.windows.net/"+tid+"/" {
		return nil, invalid("Access token validation failure. Invalid issuer.")
	}
	_, delegated := j.claims["scp"]
	s.mu.RLock()
	t := s.lookupLocked(tid)
	appOK := false
	if t != nil && strings.EqualFold(t.ID, tid) {
		if delegated {
			_, appOK = s.publicClient(appID)
		} else {
			appOK = findApp(t, appID) != nil
		}
	}
	s.mu.RUnlock()
	if t == nil {
		return nil, invalid("Access token validation failure. Invalid issuer.")
	}
	if !appOK {
		return nil, invalid("Access token validation failure. The application was not found in the tenant.")
	}
	c := &Claims{TenantID: t.ID, AppID: appID, Roles: j.strings("roles"), ExpiresAt: exp, ObjectID: j.str("oid")}
	if delegated {
		c.Scopes = strings.Fields(j.str("scp"))
		c.UPN = j.str("upn")
		c.RoleTemplateIDs = j.strings("wids")
	}
	return c, nil
}
