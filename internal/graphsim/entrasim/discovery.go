package entrasim

import (
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"strings"
)

// isMultiTenantAlias reports the tenant-independent authority names.
func isMultiTenantAlias(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

// validTenantName reports whether a tenant segment can be a tenant id or a
// DNS name; anything else is AADSTS900023 rather than 90002.
func validTenantName(t string) bool {
	return validUUID(t) || (strings.Contains(t, ".") && !strings.HasPrefix(t, ".") && !strings.HasSuffix(t, ".") && !strings.Contains(t, ".."))
}

// resolveTenant maps a URL tenant segment to a tenant id, writing Entra's
// error when it names no tenant.
func (s *Server) resolveTenant(rc *reqCtx, seg string) (string, bool) {
	s.mu.RLock()
	t := s.lookupLocked(seg)
	var id string
	if t != nil {
		id = t.ID
	}
	s.mu.RUnlock()
	if t != nil {
		return id, true
	}
	if !validTenantName(seg) {
		rc.writeError(errTenantInvalid(seg))
		return "", false
	}
	rc.writeError(errTenantNotFound(seg))
	return "", false
}

// serveOpenID answers /{tenant}/v2.0/.well-known/openid-configuration in the
// shape of MSAL's own fixture (graph-examples/openid-configuration-msalgo-mock-template.json).
func (s *Server) serveOpenID(rc *reqCtx, seg string) {
	if rc.r.Method != http.MethodGet && rc.r.Method != http.MethodHead {
		rc.w.Header().Set("Allow", "GET, HEAD")
		rc.writeJSON(http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
		return
	}
	issuerTenant, pathTenant := "", ""
	if isMultiTenantAlias(seg) {
		issuerTenant, pathTenant = "{tenantid}", strings.ToLower(seg)
	} else {
		id, ok := s.resolveTenant(rc, seg)
		if !ok {
			return
		}
		// Entra answers with the tenant's GUID even when asked by domain.
		issuerTenant, pathTenant = id, id
	}
	base := s.baseURL()
	authority := base + "/" + pathTenant
	graphHost := s.graphRoot()
	if u, err := url.Parse(graphHost); err == nil && u.Host != "" {
		graphHost = u.Host
	}
	instance := base
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		instance = u.Host
	}
	rc.writeJSON(http.StatusOK, map[string]any{
		"token_endpoint":                        authority + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              authority + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/" + issuerTenant + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     s.graphRoot() + "/oidc/userinfo",
		"authorization_endpoint":                authority + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         authority + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  authority + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver",
			"at_hash", "c_hash", "email"},
		"kerberos_endpoint":     authority + "/kerberos",
		"tenant_region_scope":   "EU",
		"cloud_instance_name":   instance,
		"cloud_graph_host_name": "graph.windows.net",
		"msgraph_host":          graphHost,
		"rbac_url":              "https://pas.windows.net",
	})
}

// serveKeys publishes the token-signing key as a JWKS, so a test can verify
// an access token the way a resource server would.
func (s *Server) serveKeys(rc *reqCtx, seg string) {
	if !isMultiTenantAlias(seg) {
		if _, ok := s.resolveTenant(rc, seg); !ok {
			return
		}
	}
	pub := s.key.priv.PublicKey
	rc.writeJSON(http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA",
		"use": "sig",
		"kid": s.key.kid,
		"x5t": s.key.kid,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"x5c": []string{base64.StdEncoding.EncodeToString(s.key.cert.Raw)},
	}}})
}

// serveInstance answers MSAL's instance discovery for this server's own host
// (MSAL calls it only when a test leaves instance discovery on).
func (s *Server) serveInstance(rc *reqCtx) {
	base := s.baseURL()
	host := ""
	if u, err := url.Parse(base); err == nil {
		host = u.Host
	}
	ae := rc.r.URL.Query().Get("authorization_endpoint")
	u, err := url.Parse(ae)
	if ae == "" || err != nil || !strings.EqualFold(u.Host, host) || u.Scheme != "https" {
		rc.writeJSON(http.StatusBadRequest, stsError{
			Error:            "invalid_instance",
			ErrorDescription: "AADSTS50049: Unknown or invalid instance.\r\nTrace ID: " + rc.traceID + "\r\nCorrelation ID: " + rc.correlationID + "\r\nTimestamp: " + rc.at.Format("2006-01-02 15:04:05Z"),
			ErrorCodes:       []int{50049},
			Timestamp:        rc.at.Format("2006-01-02 15:04:05Z"),
			TraceID:          rc.traceID,
			CorrelationID:    rc.correlationID,
			ErrorURI:         "https://login.microsoftonline.com/error?code=50049",
		})
		return
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	authority := base + "/" + tenant
	rc.writeJSON(http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": authority + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}
