package admin

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/admin/negotiate"
)

// Method names a principal was authenticated by.
const (
	MethodKerberos    = "kerberos"
	MethodCertificate = "certificate"
	MethodLocal       = "local"
	// MethodConsole: the fleet console, calling through the connection
	// the service dialled out to (push mode, package tunnel). The service
	// proved the console by its pinned certificate or CA.
	MethodConsole = "console"
)

// Principal is an authenticated caller.
type Principal struct {
	// Name is what role bindings and the audit trail use:
	// "alice@EXAMPLE.COM", "cert:<sha256 hex>", or for the local socket
	// "local:uid=0(root)" / "local:NT AUTHORITY\SYSTEM".
	Name string
	// Method is MethodKerberos, MethodCertificate or MethodLocal.
	Method string
	// Aliases are further names bindings may match (DOMAIN\user, group
	// SIDs and names, from Active Directory).
	Aliases []string
	// Source is the caller's address (IP, or "local").
	Source string
}

type principalKey struct{}

// PrincipalFrom returns the caller authenticated for ctx's request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

type localPeerKey struct{}

type consolePeerKey struct{}

// ConsoleContext marks ctx as the base context of the requests the fleet
// console sends through the service's push connection: they are
// authenticated as the principal "console:" + the SHA-256 fingerprint of
// the console's server certificate, from source host, with
// Options.ConsoleRole. Only the service's own tunnel sets it; nothing a
// network caller sends can.
func ConsoleContext(ctx context.Context, fingerprint, host string) context.Context {
	return context.WithValue(ctx, consolePeerKey{}, consolePeer{fingerprint, host})
}

type consolePeer struct{ fingerprint, host string }

// connContext is the http.Server ConnContext of the local listener: it puts
// the socket or pipe peer into every request's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if p, ok := localipc.PeerOf(c); ok {
		return context.WithValue(ctx, localPeerKey{}, p)
	}
	return ctx
}

// authenticator is the HTTP middleware that establishes the Principal of
// every request; nothing behind it is reachable anonymously.
type authenticator struct {
	acceptor  negotiate.Acceptor // nil: Kerberos off
	pinned    map[string]bool    // client certificate fingerprints
	clientCAs *x509.CertPool     // nil: only pinned certificates
	limiter   *failureLimiter
	errw      *connect.ErrorWriter
	lockouts  *auditDigest // records lock-outs (event 602)
	log       *slog.Logger
	now       func() time.Time
}

// authError is a refused authentication: the message is for the client.
type authError struct {
	msg     string
	counted bool // counts towards the per-address failure limit
}

func (e *authError) Error() string { return e.msg }

func (a *authenticator) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, out, err := a.authenticate(r)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		if len(out) > 0 {
			// RFC 4559 section 5: the final token authenticates the server.
			w.Header().Set("WWW-Authenticate", negotiate.FormatAuthorization(out))
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (a *authenticator) authenticate(r *http.Request) (Principal, []byte, error) {
	if peer, ok := r.Context().Value(localPeerKey{}).(localipc.Peer); ok {
		// The local listener admitted only root, the service's user,
		// SYSTEM and administrators.
		return Principal{Name: "local:" + peer.Name, Method: MethodLocal, Source: "local"}, nil, nil
	}
	if c, ok := r.Context().Value(consolePeerKey{}).(consolePeer); ok {
		return Principal{Name: "console:" + c.fingerprint, Method: MethodConsole, Source: c.host}, nil, nil
	}
	src := sourceAddr(r.RemoteAddr)
	// A client certificate is checked before the failure limit: TLS has
	// proven the key, checking the pin or chain costs nothing more, and an
	// operator with a valid certificate must get in from an address that
	// others behind the same NAT or jump host have locked out. An invalid
	// one counts as a failure like a bad ticket.
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		p, err := a.certificate(r.TLS.PeerCertificates)
		if err == nil {
			p.Source = src
			return p, nil, nil
		}
		if wait := a.limiter.blocked(limiterKey(src), a.now()); wait > 0 {
			return Principal{}, nil, &rateLimitedError{wait: wait}
		}
		return Principal{}, nil, &authError{msg: err.Error(), counted: true}
	}
	if wait := a.limiter.blocked(limiterKey(src), a.now()); wait > 0 {
		return Principal{}, nil, &rateLimitedError{wait: wait}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, nil, &authError{msg: a.howTo()}
	}
	token, isNegotiate, err := negotiate.ParseAuthorization(h)
	switch {
	case errors.Is(err, negotiate.ErrNTLM):
		return Principal{}, nil, &authError{msg: err.Error()}
	case err != nil:
		return Principal{}, nil, &authError{msg: err.Error(), counted: true}
	case !isNegotiate:
		scheme, _, _ := strings.Cut(h, " ")
		return Principal{}, nil, &authError{msg: fmt.Sprintf("authorization scheme %q is not supported: %s", truncate(scheme, 32), a.howTo()), counted: true}
	case a.acceptor == nil:
		return Principal{}, nil, &authError{msg: "Kerberos is not enabled on this server (admin.kerberos is not set); use a client certificate"}
	}
	id, out, err := a.acceptor.Accept(r.Context(), token)
	if err != nil {
		if errors.Is(err, negotiate.ErrNTLM) || errors.Is(err, negotiate.ErrContinueNeeded) {
			return Principal{}, nil, &authError{msg: err.Error()}
		}
		a.log.Info("admin: Kerberos authentication failed", "source", src, "err", cleanText(err.Error(), maxDetailLen))
		msg := err.Error()
		if !errors.Is(err, negotiate.ErrRejected) {
			msg = "the Kerberos token could not be checked (see the service log)"
		}
		return Principal{}, nil, &authError{msg: msg, counted: true}
	}
	return Principal{Name: id.Principal, Method: MethodKerberos, Aliases: id.Aliases, Source: src}, out, nil
}

func (a *authenticator) howTo() string {
	switch {
	case a.acceptor != nil && (len(a.pinned) > 0 || a.clientCAs != nil):
		return "authentication required: use Kerberos (Negotiate) or a client certificate"
	case a.acceptor != nil:
		return "authentication required: use Kerberos (Negotiate)"
	case len(a.pinned) > 0 || a.clientCAs != nil:
		return "authentication required: present a client certificate"
	}
	return "authentication required, but this server accepts no network credentials (configure admin.kerberos or admin.clientCertificates, or use the local socket)"
}

// certificate authenticates a TLS client certificate: pinned by SHA-256, or
// chaining to a configured CA for client authentication. TLS has already
// proven the client holds the key; validity dates are checked here for both
// kinds, so an expired pinned certificate is refused too.
func (a *authenticator) certificate(chain []*x509.Certificate) (Principal, error) {
	leaf := chain[0]
	fp := Fingerprint(leaf.Raw)
	now := a.now()
	switch {
	case now.After(leaf.NotAfter):
		return Principal{}, fmt.Errorf("client certificate %s expired on %s", fp, leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		return Principal{}, fmt.Errorf("client certificate %s is not valid before %s", fp, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	p := Principal{Name: "cert:" + fp, Method: MethodCertificate}
	if a.pinned[fp] {
		return p, nil
	}
	if a.clientCAs != nil {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         a.clientCAs,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err == nil {
			// A CA-issued certificate may also be bound by its subject.
			if cn := leaf.Subject.CommonName; cn != "" {
				p.Aliases = []string{"cn:" + cn}
			}
			return p, nil
		}
		return Principal{}, fmt.Errorf("client certificate %s is not pinned and does not chain to the configured CA: %v", fp, err)
	}
	return Principal{}, fmt.Errorf("client certificate %s is not pinned on this server", fp)
}

// refuse writes the authentication failure in the caller's protocol
// (gRPC, gRPC-Web or Connect; plain HTTP otherwise).
func (a *authenticator) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := connect.CodeUnauthenticated
	status := http.StatusUnauthorized
	var rl *rateLimitedError
	var ae *authError
	switch {
	case errors.As(err, &rl):
		code, status = connect.CodeResourceExhausted, http.StatusTooManyRequests
		w.Header().Set("Retry-After", fmt.Sprint(int(rl.wait.Seconds()+0.999)))
	case errors.As(err, &ae):
		if ae.counted {
			if src, locked := a.limiter.fail(limiterKey(sourceAddr(r.RemoteAddr)), a.now()); locked {
				a.lockouts.record(r.Context(), AuditRecord{
					Kind: AuditAuthFailed, Time: a.now(), Source: src, Method: knownMethod(r.URL.Path),
					Result: "rate-limited", Detail: ae.msg,
				}, src, "")
			}
		}
	}
	if a.acceptor != nil && code == connect.CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", negotiate.Scheme)
	}
	if a.errw.IsSupported(r) {
		_ = a.errw.Write(w, r, connect.NewError(code, err))
		return
	}
	http.Error(w, err.Error(), status)
}

type rateLimitedError struct{ wait time.Duration }

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("too many failed authentication attempts from this address; retry in %s", e.wait.Round(time.Second))
}

func sourceAddr(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// procedureName returns the RPC method of a request path
// ("/galmirror.admin.v1.AdminService/SyncNow" → "SyncNow").
func procedureName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// names returns every name p may be bound by.
func (p Principal) names() []string {
	return append([]string{p.Name}, p.Aliases...)
}

// hasName reports whether p answers to name (case-insensitively: Kerberos
// realms, Windows names and hex fingerprints all compare that way in
// practice).
func (p Principal) hasName(name string) bool {
	return slices.ContainsFunc(p.names(), func(n string) bool { return strings.EqualFold(n, name) })
}
