package webauth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/galmirror/galmirror/internal/entra"
)

// ClientCerts authenticates engineers by the TLS client certificate their
// browser presents: a listed SHA-256 fingerprint (any issuer, self-signed
// included), or a listed subject in a certificate that chains to a CA of
// caFile for client authentication.
type ClientCerts struct {
	env      Env
	pins     map[string]CertEntry // by lower-case hex SHA-256
	subjects []CertEntry
	pool     *x509.CertPool
}

// NewClientCerts parses auth.clientCertificates and reads its CA file.
func NewClientCerts(raw json.RawMessage) (*ClientCerts, error) {
	return NewClientCertsEnv(context.Background(), raw, Env{})
}

// NewClientCertsEnv is NewClientCerts with the console's Env (BaseDir for
// caFile, the clock).
func NewClientCertsEnv(ctx context.Context, raw json.RawMessage, env Env) (*ClientCerts, error) {
	cfg, err := ParseClientCertsConfig(raw)
	if err != nil {
		return nil, err
	}
	c := &ClientCerts{env: env, pins: map[string]CertEntry{}}
	if cfg.CAFile != "" {
		b, err := entra.ReadFile(ctx, env.path(cfg.CAFile), 1<<20)
		if err != nil {
			return nil, fmt.Errorf("auth.clientCertificates.caFile: %w", err)
		}
		c.pool = x509.NewCertPool()
		if !c.pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("auth.clientCertificates.caFile: %s holds no PEM certificate", cfg.CAFile)
		}
	}
	for i, e := range cfg.Certificates {
		if e.SHA256 != "" {
			fp, _ := normFingerprint(e.SHA256)
			if _, dup := c.pins[fp]; dup {
				return nil, fmt.Errorf("auth.clientCertificates.certificates[%d].sha256: listed twice", i)
			}
			c.pins[fp] = e
			continue
		}
		c.subjects = append(c.subjects, e)
	}
	return c, nil
}

// ConfigureTLS makes the console's TLS server ask browsers for a
// certificate. Verification is the authenticator's (a pinned certificate
// may be self-signed, which the TLS stack's own check would refuse), so
// the handshake requests any certificate: required when client
// certificates are the only sign-in (RequireAnyClientCert), optional when
// OpenID Connect is the other (RequestClientCert).
func (c *ClientCerts) ConfigureTLS(cfg *tls.Config, optional bool) {
	if optional {
		cfg.ClientAuth = tls.RequestClientCert
	} else {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
}

// Fingerprint is a certificate's SHA-256 fingerprint as the config lists
// it (lower-case hex).
func Fingerprint(cert *x509.Certificate) string {
	d := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(d[:])
}

// User returns the user of the request's client certificate. When there
// is none or it is not admitted, the reason says why (for the 403 page).
func (c *ClientCerts) User(r *http.Request) (u User, ok bool, reason string) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return User{}, false, "Your browser presented no client certificate."
	}
	leaf := r.TLS.PeerCertificates[0]
	fp := Fingerprint(leaf)
	now := c.env.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return User{}, false, fmt.Sprintf("Your client certificate (SHA-256 %s) is outside its validity period (%s to %s).", fp, leaf.NotBefore.UTC().Format("2006-01-02"), leaf.NotAfter.UTC().Format("2006-01-02"))
	}
	cn := leaf.Subject.CommonName
	if e, hit := c.pins[fp]; hit {
		return User{Subject: "sha256:" + fp, Name: nameOr(e.Name, cn), Method: "certificate", Role: e.Role}, true, ""
	}
	if c.pool != nil && len(c.subjects) > 0 {
		inter := x509.NewCertPool()
		for _, ic := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			subj := leaf.Subject.String()
			for _, e := range c.subjects {
				if e.Subject == subj || (!strings.Contains(e.Subject, "=") && e.Subject == cn) {
					return User{Subject: "sha256:" + fp, Name: nameOr(e.Name, cn), Method: "certificate", Role: e.Role}, true, ""
				}
			}
		}
	}
	return User{}, false, fmt.Sprintf("Your client certificate %q (SHA-256 %s) is not listed in the console's auth.clientCertificates.", leaf.Subject.String(), fp)
}

// Middleware admits requests with a listed certificate and refuses the
// rest with 403.
func (c *ClientCerts) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, why := c.User(r)
		if !ok {
			page(w, http.StatusForbidden, "No access to the console", why, "")
			return
		}
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
	})
}
