package entra

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// TokenClaims are the parts of an access token galmirror reports on.
type TokenClaims struct {
	TenantID  string
	AppID     string
	ObjectID  string
	Audience  string
	Issuer    string
	Roles     []string
	ExpiresAt time.Time
}

// ParseAccessToken reads an access token's claims WITHOUT verifying it:
// the token came from Entra over TLS and Graph verifies it; galmirror only
// reads the roles to explain a missing consent before Graph answers 403.
func ParseAccessToken(raw string) (*TokenClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("access token: not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("access token: payload is not base64url")
	}
	var c struct {
		Tid   string          `json:"tid"`
		AppID string          `json:"appid"`
		Azp   string          `json:"azp"` // v2.0 tokens
		Oid   string          `json:"oid"`
		Aud   json.RawMessage `json:"aud"`
		Iss   string          `json:"iss"`
		Roles []string        `json:"roles"`
		Exp   json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("access token: claims: %w", err)
	}
	out := &TokenClaims{TenantID: c.Tid, AppID: c.AppID, ObjectID: c.Oid, Issuer: c.Iss, Roles: c.Roles}
	if out.AppID == "" {
		out.AppID = c.Azp
	}
	var aud string
	if json.Unmarshal(c.Aud, &aud) == nil {
		out.Audience = aud
	}
	if c.Exp != "" {
		f, err := c.Exp.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
			return nil, errors.New("access token: exp is not a time")
		}
		out.ExpiresAt = time.Unix(int64(f), 0)
	}
	return out, nil
}

// Application permissions galmirror uses (graph-protocol.md §1.7).
const (
	RoleUserReadAll        = "User.Read.All"
	RoleGroupMemberReadAll = "GroupMember.Read.All"
	RoleContactsReadWrite  = "Contacts.ReadWrite"
	RoleOrgContactReadAll  = "OrgContact.Read.All"
	// RoleMailboxSettingsRead reads a mailbox's userPurpose (shared, room
	// and equipment mailboxes as sources).
	RoleMailboxSettingsRead = "MailboxSettings.Read"
)

// RequiredRoles lists the Entra application permissions a sync cannot do
// without: reading the directory, and OrgContact.Read.All when
// organisational contacts are mirrored. Contacts.ReadWrite is not among
// them: an admin who scopes mailbox access with Exchange RBAC for
// Applications must remove the tenant-wide Entra grant (grants add up), so
// the token then carries no Contacts role and Exchange decides per mailbox
// (MailboxAccessOf).
func RequiredRoles(orgContacts bool) []string {
	r := []string{RoleUserReadAll, RoleGroupMemberReadAll}
	if orgContacts {
		r = append(r, RoleOrgContactReadAll)
	}
	return r
}

// Mailbox access models (MailboxAccessOf).
const (
	// MailboxAccessTenantWide: the token holds Contacts.ReadWrite, granted
	// in Entra for every mailbox (an Exchange application access policy
	// may still exclude some).
	MailboxAccessTenantWide = "tenant-wide"
	// MailboxAccessRBAC: no Contacts role in the token; Exchange RBAC for
	// Applications grants the app the mailboxes in its management scope,
	// and every other mailbox answers 403 ErrorAccessDenied.
	MailboxAccessRBAC = "rbac-scoped"
)

// MailboxAccessOf tells the mailbox access model from a token's roles.
func MailboxAccessOf(roles []string) string {
	if slices.ContainsFunc(roles, func(r string) bool { return strings.EqualFold(r, RoleContactsReadWrite) }) {
		return MailboxAccessTenantWide
	}
	return MailboxAccessRBAC
}

// satisfiedBy lists, per needed role, the broader roles Graph also accepts
// for the calls galmirror makes (the "higher privileged" column of each
// API's permission table).
var satisfiedBy = map[string][]string{
	RoleUserReadAll:        {"User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	RoleGroupMemberReadAll: {"Group.Read.All", "Directory.Read.All", "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"},
	RoleOrgContactReadAll:  {"Directory.Read.All", "Directory.ReadWrite.All"},
}

// MissingRoles returns the roles in need that have grants neither directly
// nor through a broader role, sorted.
func MissingRoles(have, need []string) []string {
	has := func(r string) bool {
		return slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, r) })
	}
	var missing []string
	for _, n := range need {
		if has(n) || slices.ContainsFunc(satisfiedBy[n], has) {
			continue
		}
		missing = append(missing, n)
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// MissingConsentError names each application permission the token lacks.
type MissingConsentError struct {
	TenantID string
	AppID    string
	Missing  []string
}

func (e *MissingConsentError) Error() string {
	return "missing consent: " + strings.Join(e.Missing, ", ")
}

// CheckConsent returns a *MissingConsentError when the token's roles do not
// cover need.
func CheckConsent(c *TokenClaims, need []string) error {
	if m := MissingRoles(c.Roles, need); len(m) > 0 {
		return &MissingConsentError{TenantID: c.TenantID, AppID: c.AppID, Missing: m}
	}
	return nil
}
