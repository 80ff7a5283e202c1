// Package entrasim emulates the Microsoft Entra ID token service (the
// "STS") that galmirror's certificate credential talks to: OpenID discovery,
// the v2.0 token endpoint with client_credentials and a certificate client
// assertion, and access tokens carrying the app's roles. graphsim mounts it
// beside the Graph emulator and uses VerifyAccessToken to authenticate Graph
// calls.
//
// This file is the contract other packages build against; keep its exported
// names stable.
package entrasim

import (
	"crypto/x509"
	"errors"
	"net/http"
	"time"
)

// App is an application registration (with its service principal) in a
// simulated tenant.
type App struct {
	ClientID    string `json:"clientId"`
	DisplayName string `json:"displayName,omitempty"`
	// Certificates are the public certificates registered on the app; a
	// client assertion must be signed by one of their keys.
	Certificates []*x509.Certificate `json:"-"`
	// Roles are the application permissions granted by admin consent
	// (User.Read.All, Group.Read.All, Contacts.ReadWrite, ...). Empty means
	// consent was revoked or never given: Entra still issues a token, with
	// no roles claim, and Graph answers 403.
	Roles    []string `json:"roles"`
	Disabled bool     `json:"disabled,omitempty"`
}

// Tenant is a simulated Entra tenant.
type Tenant struct {
	ID      string   `json:"id"`      // GUID
	Domains []string `json:"domains"` // verified domains; any may stand for the tenant in URLs
	Apps    []App    `json:"apps"`
}

// Config configures a Server.
type Config struct {
	// BaseURL returns the server's own origin, e.g. https://127.0.0.1:4443
	// (a function because the port is known only after listening). Issuer,
	// token endpoint and assertion audience derive from it.
	BaseURL func() string
	// GraphRoot returns the Graph root (the access tokens' audience and the
	// resource of the only accepted scope, GraphRoot()+"/.default").
	GraphRoot func() string
	// TokenLifetime of issued access tokens; zero means 1h (expires_in 3599).
	TokenLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Claims are what Graph learns from a verified access token.
type Claims struct {
	TenantID  string
	AppID     string
	Roles     []string
	ExpiresAt time.Time
}

// ErrInvalidToken is wrapped by every VerifyAccessToken failure; the
// wrapping error's text is what Graph puts in its 401 message.
var ErrInvalidToken = errors.New("invalid access token")

// Faults are injected failures of the token service.
type Faults struct {
	// Outage makes every token request fail with 503 (temporarily_unavailable).
	Outage bool
}

// Server is the Entra emulator. It is safe for concurrent use.
type Server struct {
	cfg Config
}

// New returns a Server with no tenants.
func New(cfg Config) *Server { return &Server{cfg: cfg} }

// PutTenant adds a tenant or replaces the tenant with the same ID.
func (s *Server) PutTenant(t Tenant) { panic("entrasim: not implemented") }

// SetRoles replaces an app's granted roles (nil revokes consent).
func (s *Server) SetRoles(tenantID, clientID string, roles []string) error {
	return errors.New("entrasim: not implemented")
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {}

// Handles reports whether the request's path belongs to the token service
// (/{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/oauth2/v2.0/token, /common/discovery/instance).
func (s *Server) Handles(r *http.Request) bool { return false }

// ServeHTTP serves the token service endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.NotFound(w, r)
}

// IssueAccessToken mints an access token for an app without a client
// assertion, for tests and the control API.
func (s *Server) IssueAccessToken(tenantID, clientID string) (string, error) {
	return "", errors.New("entrasim: not implemented")
}

// VerifyAccessToken checks an access token's signature, audience and
// lifetime and returns its claims.
func (s *Server) VerifyAccessToken(raw string) (*Claims, error) {
	return nil, ErrInvalidToken
}
