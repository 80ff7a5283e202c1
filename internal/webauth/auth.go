package webauth

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Auth is the console's sign-in: OpenID Connect, client certificates or
// both (a listed certificate signs in at once; anybody else signs in with
// Entra ID).
type Auth struct {
	OIDC  *OIDC
	Certs *ClientCerts
}

// ErrNoMethod is returned by New when console.json's auth names no method.
var ErrNoMethod = errors.New("auth: no sign-in method: set auth.oidc or auth.clientCertificates (the console listens beyond loopback)")

// New builds the authenticators console.json's "auth" object configures;
// an absent (nil) raw object is a method not configured.
func New(ctx context.Context, oidcRaw, certsRaw json.RawMessage, env Env) (*Auth, error) {
	a := &Auth{}
	if len(oidcRaw) > 0 {
		o, err := NewOIDCEnv(ctx, oidcRaw, env)
		if err != nil {
			return nil, err
		}
		a.OIDC = o
	}
	if len(certsRaw) > 0 {
		c, err := NewClientCertsEnv(ctx, certsRaw, env)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.Certs = c
	}
	if a.OIDC == nil && a.Certs == nil {
		return nil, ErrNoMethod
	}
	return a, nil
}

// Close releases what the authenticators hold.
func (a *Auth) Close() {
	if a.OIDC != nil {
		a.OIDC.Close()
	}
}

// ConfigureTLS sets the console server's client certificate request.
func (a *Auth) ConfigureTLS(cfg *tls.Config) {
	if a.Certs != nil {
		a.Certs.ConfigureTLS(cfg, a.OIDC != nil)
	}
}

// Middleware puts the signed-in user in the request context or refuses
// the request (a browser is sent to sign in when OpenID Connect is on).
func (a *Auth) Middleware(next http.Handler) http.Handler {
	var oidcMW http.Handler
	if a.OIDC != nil {
		oidcMW = a.OIDC.Middleware(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Certs != nil {
			u, ok, why := a.Certs.User(r)
			if ok {
				next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
				return
			}
			if oidcMW == nil {
				if strings.HasPrefix(r.URL.Path, "/auth/") {
					next.ServeHTTP(w, r)
					return
				}
				page(w, http.StatusForbidden, "No access to the console", why, "")
				return
			}
		}
		oidcMW.ServeHTTP(w, r)
	})
}

// Handler serves the authenticators' routes under /auth/.
func (a *Auth) Handler() http.Handler {
	if a.OIDC != nil {
		return a.OIDC.Handler()
	}
	return http.NotFoundHandler()
}
