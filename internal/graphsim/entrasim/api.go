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
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"sync"
	"time"
)

// App is an application registration (with its service principal) in a
// simulated tenant.
type App struct {
	ClientID    string `json:"clientId"`
	DisplayName string `json:"displayName,omitempty"`
	// ServicePrincipalID is the object id of the app's service principal in
	// the tenant (the tokens' oid and sub). Empty means one derived from the
	// tenant and client ids, stable across restarts.
	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
	// Certificates are the public certificates registered on the app; a
	// client assertion must be signed by one of their keys.
	Certificates []*x509.Certificate `json:"-"`
	// Roles are the application permissions granted by admin consent
	// (User.Read.All, Group.Read.All, Contacts.ReadWrite, ...). Empty means
	// consent was revoked or never given: Entra still issues a token, with
	// no roles claim, and Graph answers 403.
	Roles    []string `json:"roles"`
	Disabled bool     `json:"disabled,omitempty"`

	// Keys are key credentials added through Graph (application create or
	// update, addKey); the token service honours each from its VisibleAt
	// (Config.Propagation after it was added). Certificates above are
	// honoured at once.
	Keys []Key `json:"-"`
	// Grants are app role assignments made through Graph; a token carries
	// a grant's role from its VisibleAt. Roles above are carried at once.
	Grants []Grant `json:"-"`
	// VisibleAt is when the token service learnt of an app created through
	// Graph: before it, token requests answer AADSTS700016. Zero: always.
	VisibleAt time.Time `json:"-"`
	// NoServicePrincipal says the app has no service principal in the
	// tenant yet: token requests answer AADSTS7000229.
	NoServicePrincipal bool `json:"-"`

	// Web sign-in (the authorization code flow, authorize.go).
	// RedirectURIs are the app's Web platform redirect URIs; the authorize
	// endpoint accepts exactly these.
	RedirectURIs []string `json:"-"`
	// Secrets are client secret values that authenticate the app at the
	// token endpoint in the authorization code grant.
	Secrets []string `json:"-"`
	// UserRoles are the app roles (their values, e.g. Console.Operator)
	// assigned to users, by user object id or user principal name
	// (case-insensitive); an ID token carries the signed-in user's.
	UserRoles map[string][]string `json:"-"`
}

// Key is a key credential of an app (an application object's
// keyCredentials entry of type AsymmetricX509Cert, usage Verify).
type Key struct {
	ID          string // keyId, a GUID
	DisplayName string
	Cert        *x509.Certificate
	// VisibleAt is when the token service honours the key.
	VisibleAt time.Time
}

// Grant is an app role assignment to the app's service principal.
type Grant struct {
	ID        string // the appRoleAssignment's id
	AppRoleID string // the app role's id on the resource (Microsoft Graph)
	Role      string // its value, as tokens carry it (User.Read.All)
	Created   time.Time
	// VisibleAt is when tokens start carrying the role.
	VisibleAt time.Time
}

// PublicClient is a multi-tenant public client application known in every
// tenant (Microsoft's first-party tools, or an MSP's own registration),
// which may use the device code flow.
type PublicClient struct {
	ClientID    string
	DisplayName string
}

// SignedInUser is the user who approves a device code: their object id,
// user principal name and the template ids of their directory roles.
type SignedInUser struct {
	ID          string
	UPN         string
	DisplayName string
	// RoleTemplateIDs are the template ids of the user's Entra directory
	// roles (Global Administrator is 62e90394-69f5-4237-9190-012177145e10).
	RoleTemplateIDs []string
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
	// SigningKey signs the access tokens; nil means a fresh 2048-bit key.
	// Pass a persisted key so tokens stay valid across restarts.
	SigningKey *rsa.PrivateKey
	// PublicClients may sign users in with the device code flow in any
	// tenant. Microsoft Graph Command Line Tools is always known.
	PublicClients []PublicClient
	// DeviceCodeInterval is the polling interval of device codes; zero
	// means Entra's 5 s (DefaultDeviceCodeInterval), at least 1 s.
	DeviceCodeInterval time.Duration
	// Users lists the users of a tenant (by tenant id) who may sign in
	// interactively (the authorize endpoint's sign-in page); nil means
	// none.
	Users func(tenantID string) []SignedInUser
}

// Claims are what Graph learns from a verified access token.
type Claims struct {
	TenantID  string
	AppID     string
	Roles     []string
	ExpiresAt time.Time
	// ObjectID is the service principal's object id (oid) of an app-only
	// token, or the signed-in user's object id of a delegated token.
	ObjectID string
	// Delegated tokens (a signed-in user): the granted scopes (scp), the
	// user's principal name and the template ids of their directory roles
	// (wids). Scopes is empty for an app-only token.
	Scopes          []string
	UPN             string
	RoleTemplateIDs []string
}

// Delegated reports whether the token was issued to a signed-in user.
func (c *Claims) Delegated() bool { return len(c.Scopes) > 0 || c.UPN != "" }

// ErrInvalidToken is wrapped by every VerifyAccessToken failure; the
// wrapping error's text is what Graph puts in its 401 message.
var ErrInvalidToken = errors.New("invalid access token")

// Faults are injected failures of the token service.
type Faults struct {
	// Outage makes every token request fail with 503 (temporarily_unavailable).
	Outage bool
	// Throttle makes every token request fail with 429 AADSTS90055 and a
	// Retry-After of ThrottleRetryAfter (default 5s).
	Throttle           bool
	ThrottleRetryAfter time.Duration
}

// Server is the Entra emulator. It is safe for concurrent use.
type Server struct {
	cfg Config
	key *signingKey

	mu      sync.RWMutex
	tenants map[string]*Tenant // by lower-case tenant id
	byName  map[string]string  // lower-case verified domain -> tenant id key
	faults  Faults
	// propagation delays keys, role grants and new apps (SetPropagation).
	propagation time.Duration
	// devices are the device codes issued, by device_code.
	devices map[string]*deviceCode
	// codes are the authorization codes issued, by code.
	codes map[string]*authCode
}
