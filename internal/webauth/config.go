package webauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// OIDCConfig is console.json's "auth": {"oidc": {...}}: the console's app
// registration in the MSP's own Entra ID tenant.
type OIDCConfig struct {
	// Issuer is the tenant's v2.0 issuer,
	// https://login.microsoftonline.com/{tenant id}/v2.0. It must name the
	// tenant by its id: only that tenant's users may sign in.
	Issuer string `json:"issuer"`
	// ClientID is the app registration's Application (client) ID.
	ClientID string `json:"clientId"`
	// PublicURL is the console's address as browsers reach it
	// (https://console.msp.example:8443); the redirect URI registered on
	// the app is PublicURL + "/auth/callback". Empty means the address the
	// console listens on, which suits only a listen address with a name
	// browsers resolve.
	PublicURL string `json:"publicUrl,omitempty"`
	// ClientSecretFile holds the client secret's value (one line); or
	// ClientCertificateFile a PEM or PFX certificate with its key,
	// registered on the app (the assertion is signed as the service's is).
	// Exactly one of the two.
	ClientSecretFile      string `json:"clientSecretFile,omitempty"`
	ClientCertificateFile string `json:"clientCertificateFile,omitempty"`
	// ClientCertificatePassword opens a PFX (never logged).
	ClientCertificatePassword string `json:"clientCertificatePassword,omitempty"`
	// AppRoles maps the values of app roles defined on the app (the ID
	// token's roles claim) to console roles. Empty means
	// {"Console.Operator": "operator", "Console.Viewer": "viewer"}.
	AppRoles map[string]Role `json:"appRoles,omitempty"`
	// Users gives console roles to users by object id or user principal
	// name, besides app roles. A user with both gets the higher role.
	Users map[string]Role `json:"users,omitempty"`
	// SessionKeyFile keeps the key that signs session cookies (created,
	// mode 0600, when missing), so a restart keeps users signed in. Empty
	// means a new key at every start: a restart signs everybody out.
	SessionKeyFile string `json:"sessionKeyFile,omitempty"`
	// SessionLifetime bounds a sign-in (Go duration, 5m to 24h); empty
	// means 8h.
	SessionLifetime string `json:"sessionLifetime,omitempty"`
}

// ClientCertsConfig is console.json's "auth": {"clientCertificates":
// {...}}: engineers presenting a TLS client certificate.
type ClientCertsConfig struct {
	// CAFile is a PEM bundle of the CAs whose certificates may be matched
	// by subject (Certificates[].Subject). Optional when every entry is a
	// fingerprint.
	CAFile string `json:"caFile,omitempty"`
	// Certificates map certificates to roles.
	Certificates []CertEntry `json:"certificates"`
}

// CertEntry is one certificate (by SHA-256 fingerprint, any issuer, self-
// signed included) or a subject (issued by a CA of CAFile) and its role.
type CertEntry struct {
	// SHA256 is the certificate's SHA-256 fingerprint in hex, colons and
	// spaces allowed.
	SHA256 string `json:"sha256,omitempty"`
	// Subject is the certificate's subject distinguished name as Go and
	// OpenSSL -nameopt RFC2253 print it ("CN=Ann Lee,O=MSP"); or just the
	// common name ("Ann Lee").
	Subject string `json:"subject,omitempty"`
	Role    Role   `json:"role"`
	// Name is what the console shows; empty means the common name.
	Name string `json:"name,omitempty"`
}

// DefaultAppRoles are the app role values the console understands without
// configuration.
var DefaultAppRoles = map[string]Role{"Console.Operator": Operator, "Console.Viewer": Viewer}

const (
	defaultSessionLifetime = 8 * time.Hour
	minSessionLifetime     = 5 * time.Minute
	maxSessionLifetime     = 24 * time.Hour
)

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// decodeStrict decodes one JSON object, refusing unknown keys and
// trailing data, with errors naming the key.
func decodeStrict(raw json.RawMessage, where string, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return fmt.Errorf("%s: missing", where)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("%s.%s: %s is not a %s", where, te.Field, te.Value, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("%s: unknown key %s", where, strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: data after the object", where)
	}
	return nil
}

// ParseOIDCConfig parses and checks auth.oidc; it returns the config and
// the tenant id taken from the issuer.
func ParseOIDCConfig(raw json.RawMessage) (OIDCConfig, string, error) {
	const where = "auth.oidc"
	var c OIDCConfig
	if err := decodeStrict(raw, where, &c); err != nil {
		return c, "", err
	}
	if c.Issuer == "" {
		return c, "", fmt.Errorf("%s.issuer: missing (https://login.microsoftonline.com/{your tenant id}/v2.0)", where)
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return c, "", fmt.Errorf("%s.issuer: %q is not an https URL (https://login.microsoftonline.com/{your tenant id}/v2.0)", where, c.Issuer)
	}
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(seg) != 2 || seg[1] != "v2.0" {
		return c, "", fmt.Errorf("%s.issuer: %q is not a v2.0 issuer: want https://%s/{tenant id}/v2.0", where, c.Issuer, u.Host)
	}
	tenant := seg[0]
	if !guidRE.MatchString(tenant) {
		return c, "", fmt.Errorf("%s.issuer: %q names the tenant %q; give the tenant id (a GUID) so that only your tenant's users can sign in", where, c.Issuer, tenant)
	}
	if c.PublicURL != "" {
		pu, err := url.Parse(c.PublicURL)
		if err != nil || pu.Scheme != "https" || pu.Host == "" || (pu.Path != "" && pu.Path != "/") || pu.RawQuery != "" || pu.Fragment != "" {
			return c, "", fmt.Errorf("%s.publicUrl: %q is not an https origin like https://console.msp.example:8443", where, c.PublicURL)
		}
	}
	if c.ClientID == "" {
		return c, "", fmt.Errorf("%s.clientId: missing (the console app registration's Application (client) ID)", where)
	}
	if !guidRE.MatchString(c.ClientID) {
		return c, "", fmt.Errorf("%s.clientId: %q is not a GUID", where, c.ClientID)
	}
	switch {
	case c.ClientSecretFile == "" && c.ClientCertificateFile == "":
		return c, "", fmt.Errorf("%s: give clientSecretFile or clientCertificateFile (the console app's credential)", where)
	case c.ClientSecretFile != "" && c.ClientCertificateFile != "":
		return c, "", fmt.Errorf("%s: give clientSecretFile or clientCertificateFile, not both", where)
	case c.ClientCertificatePassword != "" && c.ClientCertificateFile == "":
		return c, "", fmt.Errorf("%s.clientCertificatePassword: set without clientCertificateFile", where)
	}
	for k, r := range c.AppRoles {
		if k == "" {
			return c, "", fmt.Errorf("%s.appRoles: an empty app role value", where)
		}
		if !r.Valid() {
			return c, "", fmt.Errorf("%s.appRoles[%q]: role %q is not viewer or operator", where, k, r)
		}
	}
	for k, r := range c.Users {
		if k == "" {
			return c, "", fmt.Errorf("%s.users: an empty user", where)
		}
		if !r.Valid() {
			return c, "", fmt.Errorf("%s.users[%q]: role %q is not viewer or operator", where, k, r)
		}
	}
	if _, err := c.sessionLifetime(); err != nil {
		return c, "", err
	}
	return c, strings.ToLower(tenant), nil
}

func (c OIDCConfig) sessionLifetime() (time.Duration, error) {
	if c.SessionLifetime == "" {
		return defaultSessionLifetime, nil
	}
	d, err := time.ParseDuration(c.SessionLifetime)
	if err != nil || d < minSessionLifetime || d > maxSessionLifetime {
		return 0, fmt.Errorf("auth.oidc.sessionLifetime: %q is not a duration from 5m to 24h (e.g. \"8h\")", c.SessionLifetime)
	}
	return d, nil
}

// ParseClientCertsConfig parses and checks auth.clientCertificates.
func ParseClientCertsConfig(raw json.RawMessage) (ClientCertsConfig, error) {
	const where = "auth.clientCertificates"
	var c ClientCertsConfig
	if err := decodeStrict(raw, where, &c); err != nil {
		return c, err
	}
	if len(c.Certificates) == 0 {
		return c, fmt.Errorf("%s.certificates: empty; list each engineer's certificate (sha256 or subject) with a role", where)
	}
	for i, e := range c.Certificates {
		at := fmt.Sprintf("%s.certificates[%d]", where, i)
		switch {
		case e.SHA256 == "" && e.Subject == "":
			return c, fmt.Errorf("%s: give sha256 or subject", at)
		case e.SHA256 != "" && e.Subject != "":
			return c, fmt.Errorf("%s: give sha256 or subject, not both", at)
		case e.SHA256 != "":
			if _, err := normFingerprint(e.SHA256); err != nil {
				return c, fmt.Errorf("%s.sha256: %w", at, err)
			}
		case e.Subject != "" && c.CAFile == "":
			return c, fmt.Errorf("%s.subject: a subject is matched only in certificates issued by a CA of caFile, and caFile is not set", at)
		}
		if e.Role == "" {
			return c, fmt.Errorf("%s.role: missing (viewer or operator)", at)
		}
		if !e.Role.Valid() {
			return c, fmt.Errorf("%s.role: %q is not viewer or operator", at, e.Role)
		}
	}
	return c, nil
}

// normFingerprint returns a SHA-256 fingerprint as lower-case hex.
func normFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(s))
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	return h, nil
}
