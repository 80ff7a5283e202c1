package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/admin/negotiate"
)

// Limits of the admin listeners. Requests are small (a tenant name, a page
// token); the largest legitimate header is a Kerberos token with a big PAC.
const (
	MaxRequestBytes   = 64 << 10  // one decoded request message
	maxBodyBytes      = 256 << 10 // the HTTP request body, framing included
	maxResponseBytes  = 16 << 20  // one response message (a run of a huge tenant)
	maxHeaderBytes    = 160 << 10 // a 64 KiB token is 88 KiB in base64
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownGrace     = 5 * time.Second
	maxStreams        = 100 // concurrent HTTP/2 streams per connection

	// Failed-authentication limit per source (an IPv4 address, an IPv6
	// /64): 10 tries, then one more every 6 seconds.
	authBurst  = 10
	authRefill = 6 * time.Second
)

// Options configure a Server. Backend is required; everything else has a
// safe default (no listener, no network authentication).
type Options struct {
	Backend Backend
	// Log receives authentication failures and internal errors.
	Log *slog.Logger

	// Listen is the HTTPS host:port of the remote API ("" for none).
	Listen string
	// Certificate is the server certificate; nil uses (or generates) the
	// one kept in DataDir for Hosts.
	Certificate *tls.Certificate
	DataDir     string
	Hosts       []string

	// Acceptor enables Kerberos (HTTP Negotiate); nil disables it.
	Acceptor negotiate.Acceptor
	// PinnedClientCertificates are SHA-256 fingerprints of accepted client
	// certificates (any format ParseFingerprint takes).
	PinnedClientCertificates []string
	// ClientCAs accepts client certificates issued by these CAs.
	ClientCAs *x509.CertPool
	// Roles bind principals to roles; a principal bound to none is denied.
	Roles []RoleBinding
	// ConsoleRole is the role of the fleet console calling through the
	// push connection (ConsoleContext); RoleNone denies it.
	ConsoleRole Role

	// LocalPath is the Unix socket or named pipe for local administration
	// ("" for none); localipc.DefaultPath gives the conventional one.
	LocalPath string

	// Paths returns the file system paths the service's configuration
	// names (settings file, data directory, certificate, keytab and CA
	// files), asked per call so that a reload counts. Responses to callers
	// over the network name them by what they are instead; any other
	// absolute path is hidden too (see redact.go). nil: only the latter.
	Paths func() []NamedPath

	// AuditWindow is how often repeated denied calls of a principal, or
	// lock-outs of a source, are summed up in one audit event (default
	// DefaultAuditWindow); the first of each is recorded at once.
	AuditWindow time.Duration
}

// Server is the admin API: one http.Handler served on the HTTPS listener
// and on the local socket or pipe.
type Server struct {
	opts        Options
	backend     Backend
	log         *slog.Logger
	roles       []RoleBinding
	cert        tls.Certificate
	fingerprint string
	handler     http.Handler
	auth        *authenticator
	// denied and lockouts keep floods of denied calls and of failed
	// authentication out of the audit trail.
	denied, lockouts *auditDigest

	stopOnce sync.Once
	stopping chan struct{}
}

// New checks o and builds the Server; without o.Certificate it loads or
// generates the server certificate in o.DataDir.
func New(o Options) (*Server, error) {
	if o.Backend == nil {
		return nil, errors.New("admin: no backend")
	}
	// Every audit record is bounded on its way to the backend.
	o.Backend = boundedAudit{o.Backend}
	if o.AuditWindow <= 0 {
		o.AuditWindow = DefaultAuditWindow
	}
	s := &Server{opts: o, backend: o.Backend, log: o.Log, roles: o.Roles, stopping: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.denied = newAuditDigest(o.AuditWindow, o.Backend.Audit, deniedSummary)
	s.lockouts = newAuditDigest(o.AuditWindow, o.Backend.Audit, lockoutSummary)
	pinned := map[string]bool{}
	for _, p := range o.PinnedClientCertificates {
		fp, err := ParseFingerprint(p)
		if err != nil {
			return nil, fmt.Errorf("admin: pinned client certificate: %w", err)
		}
		pinned[fp] = true
	}
	switch {
	case o.Certificate != nil:
		s.cert = *o.Certificate
	case o.Listen != "" && o.DataDir == "":
		return nil, errors.New("admin: a data directory is needed to keep the generated server certificate")
	case o.DataDir != "":
		// Also without a network listener, so that the local API can tell
		// an administrator the fingerprint before the listener is enabled.
		c, err := LoadOrCreateCertificate(o.DataDir, o.Hosts)
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		s.cert = c
	}
	if len(s.cert.Certificate) > 0 {
		s.fingerprint = Fingerprint(s.cert.Certificate[0])
	}

	h := &handler{backend: o.Backend, log: s.log, fingerprint: s.fingerprint, roleOf: s.roleOf, stopping: s.stopping}
	opts := connect.WithHandlerOptions(
		connect.WithReadMaxBytes(MaxRequestBytes),
		connect.WithSendMaxBytes(maxResponseBytes),
		connect.WithRequestGate(s.gate),
		connect.WithInterceptors(&redactor{paths: o.Paths}),
		connect.WithRecover(func(_ context.Context, spec connect.Spec, _ http.Header, r any) error {
			s.log.Error("admin: handler panic", "procedure", spec.Procedure, "panic", fmt.Sprint(r))
			return connect.NewError(connect.CodeInternal, errors.New("internal error; the service log has the details"))
		}),
	)
	mux := http.NewServeMux()
	mux.Handle(adminv1connect.NewAdminServiceHandler(h, opts))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(adminv1connect.AdminServiceName), opts))
	reflector := grpcreflect.NewStaticReflector(adminv1connect.AdminServiceName, grpchealth.HealthV1ServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, opts))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, opts))

	auth := &authenticator{
		acceptor:  o.Acceptor,
		pinned:    pinned,
		clientCAs: o.ClientCAs,
		limiter:   newFailureLimiter(authBurst, authRefill),
		errw:      connect.NewErrorWriter(),
		lockouts:  s.lockouts,
		log:       s.log,
		now:       time.Now,
	}
	// Browsers hold Kerberos credentials ambiently, so a web page must not
	// be able to make them call the API: refuse cross-origin browser
	// requests (no CORS is ever granted).
	s.auth = auth
	s.handler = http.NewCrossOriginProtection().Handler(auth.wrap(http.MaxBytesHandler(mux, maxBodyBytes)))
	return s, nil
}

// Handler returns the authenticated API handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Certificate returns the server certificate (loaded, or generated in
// DataDir); push mode presents it as the service's client certificate
// when the settings name no other.
func (s *Server) Certificate() tls.Certificate { return s.cert }

// Fingerprint returns the SHA-256 fingerprint of the server certificate
// ("" if the server has none).
func (s *Server) Fingerprint() string { return s.fingerprint }

// TLSConfig returns the listener's TLS configuration: TLS 1.2 or later, the
// server certificate, HTTP/2, and client certificates requested but not
// required (Kerberos users have none); the authenticator checks them.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.cert},
		ClientAuth:   tls.RequestClientCert,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

func (s *Server) httpServer(ctx context.Context, protocols *http.Protocols) *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		Protocols:         protocols,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxStreams},
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       connContext,
	}
}

// Serve serves the API over TLS on ln until ctx is done, then shuts down
// gracefully (streams are ended, other calls get a few seconds).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if len(s.cert.Certificate) == 0 {
		return errors.New("admin: no server certificate")
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	srv := s.httpServer(ctx, &p)
	return s.serve(ctx, srv, tls.NewListener(ln, s.TLSConfig()))
}

// ServeLocal serves the API without TLS on a listener from localipc.Listen,
// whose connections carry the caller's operating-system identity. HTTP/2
// runs in clear text (gRPC needs it); HTTP/1.1 stays on for Connect and
// gRPC-Web clients and curl --unix-socket.
func (s *Server) ServeLocal(ctx context.Context, ln net.Listener) error {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP1(true)
	srv := s.httpServer(ctx, &p)
	return s.serve(ctx, srv, ln)
}

func (s *Server) serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("admin: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	// What the digests hold back is recorded now rather than lost.
	s.denied.flush(context.WithoutCancel(ctx))
	s.lockouts.flush(context.WithoutCancel(ctx))
	return nil
}

// Run opens the listeners the options name (HTTPS on Listen, the socket or
// pipe on LocalPath) and serves until ctx is done. It returns at once with an
// error if a listener cannot be opened.
func (s *Server) Run(ctx context.Context) error {
	type listener struct {
		ln    net.Listener
		serve func(context.Context, net.Listener) error
	}
	var lns []listener
	if s.opts.Listen != "" {
		ln, err := net.Listen("tcp", s.opts.Listen)
		if err != nil {
			return fmt.Errorf("admin: listen on %s: %w", s.opts.Listen, err)
		}
		lns = append(lns, listener{ln, s.Serve})
	}
	if s.opts.LocalPath != "" {
		ln, err := localipc.Listen(s.opts.LocalPath, s.log)
		if err != nil {
			for _, l := range lns {
				l.ln.Close()
			}
			return fmt.Errorf("admin: %w", err)
		}
		lns = append(lns, listener{ln, s.ServeLocal})
	}
	if len(lns) == 0 {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(lns))
	for _, l := range lns {
		go func() { errs <- l.serve(ctx, l.ln) }()
	}
	var first error
	for range lns {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // one listener failing stops the other
		}
	}
	return first
}
