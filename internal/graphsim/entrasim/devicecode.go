package entrasim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The device authorization grant
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code):
// POST /{tenant}/oauth2/v2.0/devicecode issues a device_code and a
// user_code; the client polls the token endpoint with grant_type
// urn:ietf:params:oauth:grant-type:device_code until the user has signed in
// (here: until the control API approves the user code as a named user).

const deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

// GraphCommandLineToolsID is the client id of Microsoft Graph Command Line
// Tools (the first-party public client of Connect-MgGraph), known in every
// tenant.
const GraphCommandLineToolsID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

// DefaultDeviceCodeInterval is the polling interval Entra sends (5 s);
// Config.DeviceCodeInterval shortens it for tests (at least 1 s, the
// field is whole seconds).
const DefaultDeviceCodeInterval = 5 * time.Second

// deviceCodeLifetime is expires_in: "the user has 15 minutes to sign in".
const deviceCodeLifetime = 15 * time.Minute

// maxDeviceCodes bounds the codes kept; the oldest expired ones go first.
const maxDeviceCodes = 1000

// Errors of the device code control methods.
var (
	ErrUnknownUserCode   = errors.New("entrasim: no pending device code with that user code")
	ErrNeedsAdminConsent = errors.New("entrasim: the requested permissions need admin consent, and the user holds no role that may grant it")
	ErrWrongTenant       = errors.New("entrasim: the user does not belong to the tenant the device code was issued for")
)

type deviceStatus int

const (
	devicePending deviceStatus = iota
	deviceApproved
	deviceDeclined
	deviceBlocked
	deviceRedeemed
)

type deviceCode struct {
	code, userCode string
	clientID       string
	clientName     string
	tenantSeg      string // as the client named it (a tenant id, a domain, organizations)
	tenantID       string // resolved; "" for organizations and common until approval
	scopes         []string
	offline        bool
	expires        time.Time
	interval       time.Duration
	lastPoll       time.Time
	status         deviceStatus
	user           SignedInUser
}

// delegatedScope is a Microsoft Graph delegated permission graphsim knows,
// and whether it needs admin consent (microsoft-graph-devx-content
// permissions/new/permissions.json, requiresAdminConsent).
var delegatedScopes = map[string]bool{
	"Application.Read.All":            true,
	"Application.ReadWrite.All":       true,
	"AppRoleAssignment.ReadWrite.All": true,
	"Directory.Read.All":              true,
	"Group.Read.All":                  true,
	"GroupMember.Read.All":            true,
	"User.Read":                       false,
	"User.Read.All":                   true,
}

// Directory roles that may grant admin consent to delegated permissions
// (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference:
// Global Administrator, Privileged Role Administrator, Cloud Application
// Administrator, Application Administrator), by template id.
var consentRoles = []string{
	RoleGlobalAdministrator, RolePrivilegedRoleAdministrator,
	RoleCloudApplicationAdministrator, RoleApplicationAdministrator,
}

// Template ids of the directory roles graphsim models
// (permissions-reference.md, "Role template IDs").
const (
	RoleGlobalAdministrator           = "62e90394-69f5-4237-9190-012177145e10"
	RolePrivilegedRoleAdministrator   = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleApplicationAdministrator      = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	RoleCloudApplicationAdministrator = "158c047a-c907-4556-b7ef-446551a6b5f7"
)

func (s *Server) publicClient(clientID string) (PublicClient, bool) {
	if strings.EqualFold(clientID, GraphCommandLineToolsID) {
		return PublicClient{ClientID: GraphCommandLineToolsID, DisplayName: "Microsoft Graph Command Line Tools"}, true
	}
	for _, c := range s.cfg.PublicClients {
		if strings.EqualFold(c.ClientID, clientID) {
			return c, true
		}
	}
	return PublicClient{}, false
}

func (s *Server) deviceInterval() time.Duration {
	if d := s.cfg.DeviceCodeInterval; d > 0 {
		return max(d.Truncate(time.Second), time.Second)
	}
	return DefaultDeviceCodeInterval
}

// parseDelegatedScopes checks a device code request's scope parameter:
// Microsoft Graph delegated permissions named bare (User.Read) or under
// the Graph root ({root}/User.Read), and the OIDC scopes. It returns the
// permission names, whether offline_access was asked for, and the scope
// that is not valid.
func (s *Server) parseDelegatedScopes(scope string) (names []string, offline bool, bad string) {
	root := s.graphRoot() + "/"
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "email":
			continue
		case "offline_access":
			offline = true
			continue
		}
		name := sc
		if rest, ok := cutPrefixFold(sc, root); ok {
			name = rest
		} else if strings.Contains(sc, "/") {
			return nil, false, sc
		}
		canon := ""
		for k := range delegatedScopes {
			if strings.EqualFold(k, name) {
				canon = k
			}
		}
		if canon == "" {
			return nil, false, sc
		}
		if !slices.Contains(names, canon) {
			names = append(names, canon)
		}
	}
	slices.Sort(names)
	return names, offline, ""
}

// serveDeviceCode implements POST /{tenant}/oauth2/v2.0/devicecode.
func (s *Server) serveDeviceCode(rc *reqCtx, seg string) {
	if rc.r.Method != http.MethodPost {
		rc.writeError(errOnlyPost(rc.r.Method))
		return
	}
	tenantID := ""
	switch strings.ToLower(seg) {
	case "organizations", "common":
	case "consumers":
		rc.writeError(errTenantNotFound(seg))
		return
	default:
		id, ok := s.resolveTenant(rc, seg)
		if !ok {
			return
		}
		tenantID = id
	}
	form, err := readForm(rc.w, rc.r)
	if err != nil {
		rc.writeError(errMissingParam("client_id"))
		return
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		rc.writeError(errMissingParam("client_id"))
		return
	}
	pc, ok := s.publicClient(clientID)
	if !ok {
		rc.writeError(errAppNotFound(clientID, seg))
		return
	}
	if form.Get("client_secret") != "" || form.Get("client_assertion") != "" {
		rc.writeError(errPublicClientWithCredential())
		return
	}
	scope := form.Get("scope")
	if strings.TrimSpace(scope) == "" {
		rc.writeError(errMissingParam("scope"))
		return
	}
	names, offline, bad := s.parseDelegatedScopes(scope)
	if bad != "" {
		rc.writeError(errInvalidScope(bad))
		return
	}
	if len(names) == 0 {
		rc.writeError(errInvalidScope(scope))
		return
	}
	now := s.now()
	d := &deviceCode{
		code: randomB64(96), userCode: newUserCode(), clientID: pc.ClientID, clientName: pc.DisplayName,
		tenantSeg: seg, tenantID: tenantID, scopes: names, offline: offline,
		expires: now.Add(deviceCodeLifetime), interval: s.deviceInterval(),
	}
	s.mu.Lock()
	pruneExpired(s.devices, now, maxDeviceCodes, func(d *deviceCode) time.Time { return d.expires })
	s.devices[d.code] = d
	s.mu.Unlock()
	verify := s.baseURL() + "/devicelogin"
	rc.writeJSON(http.StatusOK, map[string]any{
		"user_code":        d.userCode,
		"device_code":      d.code,
		"verification_uri": verify,
		"expires_in":       int(deviceCodeLifetime / time.Second),
		"interval":         int(d.interval / time.Second),
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, d.userCode),
	})
}

// pruneExpired drops the codes of m expired for an hour, and the oldest
// while max or more are kept.
func pruneExpired[T any](m map[string]*T, now time.Time, max int, expires func(*T) time.Time) {
	for k, c := range m {
		if now.After(expires(c).Add(time.Hour)) {
			delete(m, k)
		}
	}
	for len(m) >= max {
		var oldestKey string
		var oldest time.Time
		for k, c := range m {
			if e := expires(c); oldestKey == "" || e.Before(oldest) {
				oldestKey, oldest = k, e
			}
		}
		delete(m, oldestKey)
	}
}

// newUserCode returns nine characters of A-Z and 2-9, as Entra's codes
// look ("FQK5HW3UF").
func newUserCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// serveDeviceToken answers a token request with the device code grant.
func (s *Server) serveDeviceToken(rc *reqCtx, form url.Values, seg string) {
	clientID := form.Get("client_id")
	if clientID == "" {
		rc.writeError(errMissingParam("client_id"))
		return
	}
	code := form.Get("device_code")
	if code == "" {
		rc.writeError(errMissingParam("device_code"))
		return
	}
	now := s.now()
	s.mu.Lock()
	d := s.devices[code]
	if d == nil || !strings.EqualFold(d.clientID, clientID) || !s.sameTenantSegLocked(d, seg) {
		s.mu.Unlock()
		rc.writeError(errBadVerificationCode())
		return
	}
	var e *aadError
	switch {
	case d.status == deviceRedeemed:
		x := errDeviceCodeUsed()
		e = &x
	case now.After(d.expires):
		x := errDeviceCodeExpired()
		e = &x
	case d.status == deviceDeclined:
		x := errAuthorizationDeclined()
		e = &x
	case d.status == deviceBlocked:
		x := errBlockedByConditionalAccess()
		e = &x
	case d.status == devicePending:
		// A poll sooner than the interval slows the client down for good
		// (RFC 8628 3.5: the interval grows by five seconds).
		if !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < d.interval {
			d.interval += 5 * time.Second
			x := errSlowDown()
			e = &x
		} else {
			x := errAuthorizationPending()
			e = &x
		}
		d.lastPoll = now
	}
	var dc deviceCode
	if e == nil {
		d.status = deviceRedeemed
		dc = *d
	}
	s.mu.Unlock()
	if e != nil {
		rc.writeError(*e)
		return
	}
	tok, err := s.mintDelegated(dc.tenantID, dc.clientID, dc.clientName, dc.user, dc.scopes)
	if err != nil {
		http.Error(rc.w, "token signing failed", http.StatusInternalServerError)
		return
	}
	secs := max(int(s.lifetime().Seconds())-1, 0)
	body := map[string]any{
		"token_type":     "Bearer",
		"scope":          strings.Join(dc.scopes, " "),
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	}
	if dc.offline {
		// graphsim redeems no refresh token: a client that tries gets
		// unsupported_grant_type.
		body["refresh_token"] = randomB64(64)
	}
	rc.writeJSON(http.StatusOK, body)
}

// sameTenantSegLocked reports whether a token request names the tenant
// the device code was issued for.
func (s *Server) sameTenantSegLocked(d *deviceCode, seg string) bool {
	if strings.EqualFold(d.tenantSeg, seg) {
		return true
	}
	if isMultiTenantAlias(seg) || isMultiTenantAlias(d.tenantSeg) {
		return false
	}
	t := s.lookupLocked(seg)
	return t != nil && strings.EqualFold(t.ID, d.tenantID)
}

// normUserCode drops what people type around a code (spaces, dashes) and
// ignores case.
func normUserCode(c string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(c)))
}

func (s *Server) pendingDeviceLocked(userCode string, now time.Time) (*deviceCode, error) {
	uc := normUserCode(userCode)
	for _, d := range s.devices {
		if d.userCode == uc && d.status == devicePending && !now.After(d.expires) {
			return d, nil
		}
	}
	return nil, ErrUnknownUserCode
}

// ApproveDeviceCode completes the sign-in of a pending device code as user,
// a member of tenant tenantID, who consents to the scopes asked for: the
// next poll gets a delegated token. Scopes that need admin consent need a
// user holding Global Administrator, Privileged Role Administrator, Cloud
// Application Administrator or Application Administrator
// (ErrNeedsAdminConsent, and the code stays pending, as Entra's "Need admin
// approval" page leaves it).
func (s *Server) ApproveDeviceCode(userCode, tenantID string, user SignedInUser) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.pendingDeviceLocked(userCode, now)
	if err != nil {
		return err
	}
	t := s.lookupLocked(tenantID)
	if t == nil {
		return fmt.Errorf("entrasim: tenant %q not found", tenantID)
	}
	if d.tenantID != "" && !strings.EqualFold(d.tenantID, t.ID) {
		return ErrWrongTenant
	}
	needsAdmin := slices.ContainsFunc(d.scopes, func(sc string) bool { return delegatedScopes[sc] })
	if needsAdmin && !slices.ContainsFunc(user.RoleTemplateIDs, func(r string) bool { return slices.Contains(consentRoles, strings.ToLower(r)) }) {
		return ErrNeedsAdminConsent
	}
	d.tenantID, d.user, d.status = t.ID, user, deviceApproved
	d.user.RoleTemplateIDs = slices.Clone(user.RoleTemplateIDs)
	return nil
}

// DeclineDeviceCode records that the user refused the sign-in: the next
// poll gets authorization_declined.
func (s *Server) DeclineDeviceCode(userCode string) error {
	return s.setDeviceStatus(userCode, deviceDeclined)
}

// BlockDeviceCode records that a Conditional Access policy blocked the
// sign-in (a policy on the device code flow): the next poll gets
// invalid_grant AADSTS53003.
func (s *Server) BlockDeviceCode(userCode string) error {
	return s.setDeviceStatus(userCode, deviceBlocked)
}

func (s *Server) setDeviceStatus(userCode string, st deviceStatus) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.pendingDeviceLocked(userCode, now)
	if err != nil {
		return err
	}
	d.status = st
	return nil
}
