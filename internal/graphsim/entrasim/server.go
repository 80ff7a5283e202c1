package entrasim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// signingKey is the emulator's own token-signing key with its self-signed
// certificate (published in the JWKS, as Entra does).
type signingKey struct {
	priv *rsa.PrivateKey
	cert *x509.Certificate
	kid  string // base64url SHA-1 thumbprint, Entra's kid and x5t
}

func newSigningKey(priv *rsa.PrivateKey) (*signingKey, error) {
	if priv == nil {
		var err error
		if priv, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "accounts.graphsim.invalid"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	tp := sha1.Sum(der)
	return &signingKey{priv: priv, cert: cert, kid: base64.RawURLEncoding.EncodeToString(tp[:])}, nil
}

// New returns a Server with no tenants. It panics only if the system's
// random source fails or Config.SigningKey is unusable, both programming or
// platform errors in a test tool.
func New(cfg Config) *Server {
	k, err := newSigningKey(cfg.SigningKey)
	if err != nil {
		panic("entrasim: signing key: " + err.Error())
	}
	return &Server{cfg: cfg, key: k, tenants: map[string]*Tenant{}, byName: map[string]string{}, devices: map[string]*deviceCode{}, codes: map[string]*authCode{}}
}

// SigningKey returns the key that signs access tokens, so a caller can
// persist it (Config.SigningKey) and keep tokens valid across restarts.
func (s *Server) SigningKey() *rsa.PrivateKey { return s.key.priv }

// PutTenant adds a tenant or replaces the tenant with the same ID. The
// tenant is copied; later changes to t do not affect the server.
func (s *Server) PutTenant(t Tenant) {
	c := cloneTenant(t)
	id := strings.ToLower(c.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.tenants[id]; ok {
		for _, d := range old.Domains {
			delete(s.byName, strings.ToLower(d))
		}
	}
	s.tenants[id] = c
	for _, d := range c.Domains {
		s.byName[strings.ToLower(d)] = id
	}
}

// RemoveTenant deletes a tenant; its tokens stop verifying.
func (s *Server) RemoveTenant(tenantID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.ToLower(tenantID)
	if old, ok := s.tenants[id]; ok {
		for _, d := range old.Domains {
			delete(s.byName, strings.ToLower(d))
		}
		delete(s.tenants, id)
	}
}

// Tenant returns a copy of a tenant by id or verified domain.
func (s *Server) Tenant(idOrDomain string) (Tenant, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.lookupLocked(idOrDomain)
	if t == nil {
		return Tenant{}, false
	}
	return *cloneTenant(*t), true
}

// SetRoles replaces an app's granted roles (nil revokes consent), app role
// assignments made through Graph included. Tokens already issued keep
// their roles until they expire, as with Entra.
func (s *Server) SetRoles(tenantID, clientID string, roles []string) error {
	return s.updateApp(tenantID, clientID, func(a *App) { a.Roles, a.Grants = slices.Clone(roles), nil })
}

// UpdateApp changes an app under the server's lock (graphsim's Graph side
// uses it for keys and role grants). f must not keep a.
func (s *Server) UpdateApp(tenantID, clientID string, f func(a *App) error) error {
	var ferr error
	err := s.updateApp(tenantID, clientID, func(a *App) { ferr = f(a) })
	if err != nil {
		return err
	}
	return ferr
}

// AddApp registers an app created through Graph (or replaces the app with
// its client id).
func (s *Server) AddApp(tenantID string, a App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.lookupLocked(tenantID)
	if t == nil {
		return fmt.Errorf("entrasim: tenant %q not found", tenantID)
	}
	c := cloneApp(a)
	for i := range t.Apps {
		if strings.EqualFold(t.Apps[i].ClientID, a.ClientID) {
			t.Apps[i] = c
			return nil
		}
	}
	t.Apps = append(t.Apps, c)
	return nil
}

// RemoveApp deletes an app; its tokens stop verifying and it can no longer
// sign in.
func (s *Server) RemoveApp(tenantID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.lookupLocked(tenantID)
	if t == nil {
		return fmt.Errorf("entrasim: tenant %q not found", tenantID)
	}
	for i := range t.Apps {
		if strings.EqualFold(t.Apps[i].ClientID, clientID) {
			t.Apps = slices.Delete(t.Apps, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("entrasim: app %q not found in tenant %s", clientID, t.ID)
}

// App returns a copy of an app as registered (keys and grants not yet
// visible included).
func (s *Server) App(tenantID, clientID string) (App, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.lookupLocked(tenantID)
	if t == nil {
		return App{}, false
	}
	a := findApp(t, clientID)
	if a == nil {
		return App{}, false
	}
	return cloneApp(*a), true
}

// SetPropagation sets how long after a change through Graph (a new app,
// service principal, key or role grant) the token service honours it.
// Entra's replication takes seconds to minutes; zero means at once.
func (s *Server) SetPropagation(d time.Duration) {
	s.mu.Lock()
	s.propagation = max(d, 0)
	s.mu.Unlock()
}

// Propagation returns the delay SetPropagation set.
func (s *Server) Propagation() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.propagation
}

// Now is the server's clock.
func (s *Server) Now() time.Time { return s.now() }

// SetDisabled enables or disables an app's sign-in.
func (s *Server) SetDisabled(tenantID, clientID string, disabled bool) error {
	return s.updateApp(tenantID, clientID, func(a *App) { a.Disabled = disabled })
}

// AppRoles returns the roles a token of the app carries now (not those in
// tokens already issued).
func (s *Server) AppRoles(tenantID, clientID string) ([]string, bool) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.lookupLocked(tenantID)
	if t == nil {
		return nil, false
	}
	a := findApp(t, clientID)
	if a == nil {
		return nil, false
	}
	return effectiveApp(a, now).Roles, true
}

// effectiveApp is an app as the token service sees it at now: its
// certificates and roles plus the keys and grants made through Graph that
// have propagated.
func effectiveApp(a *App, now time.Time) App {
	e := cloneApp(*a)
	for _, k := range a.Keys {
		if !now.Before(k.VisibleAt) && k.Cert != nil {
			e.Certificates = append(e.Certificates, k.Cert)
		}
	}
	for _, g := range a.Grants {
		if !now.Before(g.VisibleAt) && !slices.Contains(e.Roles, g.Role) {
			e.Roles = append(e.Roles, g.Role)
		}
	}
	return e
}

func cloneApp(a App) App {
	a.Certificates = slices.Clone(a.Certificates)
	a.Roles = slices.Clone(a.Roles)
	a.Keys = slices.Clone(a.Keys)
	a.Grants = slices.Clone(a.Grants)
	a.RedirectURIs = slices.Clone(a.RedirectURIs)
	a.Secrets = slices.Clone(a.Secrets)
	if a.UserRoles != nil {
		m := make(map[string][]string, len(a.UserRoles))
		for k, v := range a.UserRoles {
			m[strings.ToLower(k)] = slices.Clone(v)
		}
		a.UserRoles = m
	}
	return a
}

func (s *Server) updateApp(tenantID, clientID string, f func(*App)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.lookupLocked(tenantID)
	if t == nil {
		return fmt.Errorf("entrasim: tenant %q not found", tenantID)
	}
	a := findApp(t, clientID)
	if a == nil {
		return fmt.Errorf("entrasim: app %q not found in tenant %s", clientID, t.ID)
	}
	f(a)
	return nil
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

func (s *Server) currentFaults() Faults {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.faults
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

func (s *Server) baseURL() string {
	if s.cfg.BaseURL == nil {
		return ""
	}
	return strings.TrimRight(s.cfg.BaseURL(), "/")
}

func (s *Server) graphRoot() string {
	if s.cfg.GraphRoot == nil {
		return "https://graph.microsoft.com"
	}
	return strings.TrimRight(s.cfg.GraphRoot(), "/")
}

func (s *Server) lifetime() time.Duration {
	if s.cfg.TokenLifetime > 0 {
		return s.cfg.TokenLifetime
	}
	return time.Hour
}

// lookupLocked finds a tenant by id or verified domain (case-insensitive).
func (s *Server) lookupLocked(idOrDomain string) *Tenant {
	k := strings.ToLower(idOrDomain)
	if t, ok := s.tenants[k]; ok {
		return t
	}
	if id, ok := s.byName[k]; ok {
		return s.tenants[id]
	}
	return nil
}

func findApp(t *Tenant, clientID string) *App {
	for i := range t.Apps {
		if strings.EqualFold(t.Apps[i].ClientID, clientID) {
			return &t.Apps[i]
		}
	}
	return nil
}

func cloneTenant(t Tenant) *Tenant {
	c := t
	c.Domains = slices.Clone(t.Domains)
	c.Apps = make([]App, len(t.Apps))
	for i, a := range t.Apps {
		c.Apps[i] = cloneApp(a)
	}
	return &c
}

// servicePrincipalID returns the app's service principal object id, derived
// from tenant and client ids when not set.
func servicePrincipalID(tenantID string, a *App) string {
	if a.ServicePrincipalID != "" {
		return a.ServicePrincipalID
	}
	h := sha256.Sum256([]byte("sp:" + strings.ToLower(tenantID) + ":" + strings.ToLower(a.ClientID)))
	h[6] = h[6]&0x0f | 0x50 // name-based UUID layout
	h[8] = h[8]&0x3f | 0x80
	return formatUUID(h[:16])
}

func formatUUID(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b[:])
}

// tenantSegment is what MSAL accepts as a tenant in an authority URL.
var tenantSegment = regexp.MustCompile(`^[0-9a-zA-Z.-]{1,256}$`)

// route classifies a request path.
type route int

const (
	routeNone route = iota
	routeOpenID
	routeToken
	routeKeys
	routeInstance
	routeDeviceCode
	routeAuthorize
)

func classify(path string) (route, string) {
	if path == "/common/discovery/instance" {
		return routeInstance, "common"
	}
	seg, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || seg == "" || !tenantSegment.MatchString(seg) {
		return routeNone, ""
	}
	switch rest {
	case "v2.0/.well-known/openid-configuration":
		return routeOpenID, seg
	case "oauth2/v2.0/token":
		return routeToken, seg
	case "discovery/v2.0/keys":
		return routeKeys, seg
	case "oauth2/v2.0/devicecode":
		return routeDeviceCode, seg
	case "oauth2/v2.0/authorize":
		return routeAuthorize, seg
	}
	return routeNone, ""
}

// Handles reports whether the request's path belongs to the token service
// (/{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/oauth2/v2.0/token, /{tenant}/oauth2/v2.0/devicecode,
// /{tenant}/oauth2/v2.0/authorize,
// /{tenant}/discovery/v2.0/keys, /common/discovery/instance).
func (s *Server) Handles(r *http.Request) bool {
	rt, _ := classify(r.URL.Path)
	return rt != routeNone
}

// ServeHTTP serves the token service endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, tenant := classify(r.URL.Path)
	rc := s.newReqCtx(w, r)
	switch rt {
	case routeOpenID:
		s.serveOpenID(rc, tenant)
	case routeToken:
		s.serveToken(rc, tenant)
	case routeKeys:
		s.serveKeys(rc, tenant)
	case routeInstance:
		s.serveInstance(rc)
	case routeDeviceCode:
		s.serveDeviceCode(rc, tenant)
	case routeAuthorize:
		s.serveAuthorize(rc, tenant)
	default:
		http.NotFound(w, r)
	}
}
