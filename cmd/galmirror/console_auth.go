package main

import (
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/galmirror/galmirror/internal/console"
)

// consoleAuth is how the console's users sign in: middleware that puts a
// webauth.User in each request's context (or answers the request itself),
// the handler of its own routes under /auth/, and what it needs of the TLS
// listener (client certificates asked for).
type consoleAuth struct {
	middleware func(http.Handler) http.Handler
	routes     http.Handler
	tlsConfig  func(*tls.Config)
}

// consoleAuthenticator builds the sign-in methods cfg.Auth names; none
// (nil middleware) means the loopback user, which serveConsole allows on
// loopback only. Package webauth's OpenID Connect and client-certificate
// authenticators plug in here.
func consoleAuthenticator(cfg *console.Config) (consoleAuth, error) {
	if cfg.Auth == nil {
		return consoleAuth{}, nil
	}
	if len(cfg.Auth.OIDC) > 0 {
		return consoleAuth{}, errors.New(cfg.File() + ": auth.oidc: OpenID Connect sign-in is not in this build yet")
	}
	return consoleAuth{}, errors.New(cfg.File() + ": auth.clientCertificates: client-certificate sign-in is not in this build yet")
}
