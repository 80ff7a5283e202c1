package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/console"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/webauth"
)

// consoleAuth is how the console's users sign in: middleware that puts a
// webauth.User in each request's context (or answers the request itself),
// the handler of its own routes under /auth/, and what it needs of the TLS
// listener (client certificates asked for).
type consoleAuth struct {
	middleware func(http.Handler) http.Handler
	routes     http.Handler
	tlsConfig  func(*tls.Config)
	close      func()
}

// consoleAuthenticator builds the sign-in methods cfg.Auth names (package
// webauth); none (nil middleware) means the loopback user, which
// serveConsole allows on loopback only. OpenID Connect discovers the
// issuer's endpoints here, trusting the system store; sign-ins, refusals
// and sign-outs are events 760-762 (the Event Log where the source is
// registered, and log lines with event_id).
func consoleAuthenticator(ctx context.Context, cfg *console.Config, log *slog.Logger) (consoleAuth, error) {
	if cfg.Auth == nil {
		return consoleAuth{close: func() {}}, nil
	}
	bus, closeBus := cliEvents(log, nil)
	env := webauth.Env{
		PublicURL:  consolePublicURL(cfg.Listen),
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
		BaseDir:    filepath.Dir(cfg.File()),
		Record:     func(ev webauth.AuthEvent) { bus.Emit(context.WithoutCancel(ctx), authEvent(ev)) },
	}
	a, err := webauth.New(ctx, cfg.Auth.OIDC, cfg.Auth.ClientCertificates, env)
	if err != nil {
		closeBus()
		return consoleAuth{}, fmt.Errorf("%s: %w", cfg.File(), err)
	}
	if a.OIDC != nil {
		log.Info("console sign-in with OpenID Connect", "tenant", a.OIDC.TenantID(), "redirect_uri", a.OIDC.RedirectURL())
	}
	return consoleAuth{middleware: a.Middleware, routes: a.Handler(), tlsConfig: a.ConfigureTLS,
		close: func() { a.Close(); closeBus() }}, nil
}

// consolePublicURL is the console's own address when auth.oidc gives no
// publicUrl.
func consolePublicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	return "https://" + net.JoinHostPort(host, port)
}

func authEvent(ev webauth.AuthEvent) events.Event {
	e := events.Event{Detail: ev.User.Name}
	switch ev.Kind {
	case "sign_in":
		e.ID = events.ConsoleSignIn
	case "sign_out":
		e.ID = events.ConsoleSignOut
	default:
		e.ID, e.Detail = events.ConsoleSignInRefused, ev.Reason
	}
	e.Fields = append(e.Fields, events.F("user", ev.User.Name), events.F("subject", ev.User.Subject),
		events.F("method", ev.User.Method), events.F("role", string(ev.User.Role)), events.F("source", ev.Source))
	if ev.Count > 0 {
		e.Fields = append(e.Fields, events.FInt("count", int64(ev.Count)))
	}
	return e
}
