package graphsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

// Server is a running graphsim: the Entra token service, Microsoft Graph
// v1.0 and the /_sim control API on one HTTPS origin. Its methods are safe
// for concurrent use.
type Server struct {
	opts  Options
	now   func() time.Time
	ca    *authority
	ln    net.Listener
	hs    *http.Server
	url   string
	entra *entrasim.Server
	pool  *x509.CertPool
	done  chan struct{}

	mu      sync.RWMutex
	tenants map[string]*tenantState // by lower-case id

	cfgMu    sync.RWMutex
	throttle Throttle
	faults   Faults
	deltaPS  int
	replLag  time.Duration

	rngMu sync.Mutex
	rng   *rand.Rand

	lim *limiter
	ctr *counters

	tokens     sync.Map // access token -> *entrasim.Claims
	tokenCount atomic.Int64
}

// Start listens on opts.Addr (default 127.0.0.1:0), loads opts.Tenants and
// serves HTTPS until Close. The TLS certificate is issued by a CA graphsim
// generates (or opts.CACertPEM); clients trust it through Client or
// CACertPEM.
func Start(opts Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	leaf, err := s.ca.serverCert(opts.Hostnames)
	if err != nil {
		return nil, fmt.Errorf("graphsim: issue server certificate: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("graphsim: listen: %w", err)
	}
	s.ln = ln
	host := ln.Addr().(*net.TCPAddr)
	hostname := host.IP.String()
	if host.IP.IsUnspecified() {
		hostname = "127.0.0.1"
	}
	s.url = "https://" + net.JoinHostPort(hostname, fmt.Sprint(host.Port))
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12},
		ErrorLog:          nil,
		// Graph's limit of concurrent HTTP/2 streams per connection is not
		// documented; graphsim advertises 100, the least RFC 9113 §6.5.2
		// recommends, so a client that opens a connection per waiting
		// request (thousands of TLS handshakes) shows it.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 100},
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.ctr.connection()
			}
		},
	}
	for _, t := range opts.Tenants {
		if err := s.PutTenant(t); err != nil {
			ln.Close()
			return nil, err
		}
	}
	go func() {
		defer close(s.done)
		// ServeTLS negotiates HTTP/2 (as Graph does) or HTTP/1.1 by ALPN.
		_ = s.hs.ServeTLS(ln, "", "")
	}()
	return s, nil
}

// newServer builds a Server without a listener (benchmarks and fuzz targets
// drive its handler directly).
func newServer(opts Options) (*Server, error) {
	ca, err := newAuthority(opts.CACertPEM, opts.CAKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("graphsim: CA: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	th := GraphThrottle()
	if opts.Throttle != nil {
		th = *opts.Throttle
	}
	s := &Server{
		opts:     opts,
		now:      now,
		ca:       ca,
		done:     make(chan struct{}),
		tenants:  map[string]*tenantState{},
		throttle: th,
		faults:   opts.Faults,
		deltaPS:  opts.UsersDeltaPageSize,
		replLag:  max(opts.ReplicationLag, 0),
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15)),
		ctr:      newCounters(),
	}
	s.lim = newLimiter(s)
	if s.deltaPS <= 0 {
		s.deltaPS = 100
	}
	s.pool = x509.NewCertPool()
	s.pool.AddCert(ca.cert)
	var pcs []entrasim.PublicClient
	for _, p := range opts.PublicClients {
		pcs = append(pcs, entrasim.PublicClient{ClientID: p.ClientID, DisplayName: p.DisplayName})
	}
	s.entra = entrasim.New(entrasim.Config{
		BaseURL:            s.URL,
		GraphRoot:          s.URL,
		TokenLifetime:      opts.TokenLifetime,
		Now:                now,
		PublicClients:      pcs,
		DeviceCodeInterval: opts.DeviceCodeInterval,
		Users:              s.signInUsers,
	})
	s.entra.SetFaults(entrasimFaults(opts.Faults))
	s.entra.SetPropagation(opts.Propagation)
	return s, nil
}

// URL is the server's origin, e.g. https://127.0.0.1:41234. It is both the
// Entra authority host (URL()+"/{tenant}/oauth2/v2.0/token") and the Graph
// root (URL()+"/v1.0"), and the audience of the access tokens it issues.
func (s *Server) URL() string { return s.url }

// GraphURL is URL()+"/v1.0".
func (s *Server) GraphURL() string { return s.url + "/v1.0" }

// CACertPEM is the PEM certificate of the CA that issued the server's TLS
// certificate.
func (s *Server) CACertPEM() []byte { return s.ca.certPEM }

// CAKeyPEM is the CA's private key (PKCS#8 PEM), so a restarted graphsim can
// keep the same CA.
func (s *Server) CAKeyPEM() []byte { return s.ca.keyPEM }

// CertPool is a pool holding graphsim's CA.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Client returns a new *http.Client that trusts graphsim's CA.
func (s *Server) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}
}

// Entra is the mounted token service.
func (s *Server) Entra() *entrasim.Server { return s.entra }

// AccessToken issues an access token for an app of a tenant without a
// client assertion (tests that are not about authentication use it).
func (s *Server) AccessToken(tenantID, clientID string) (string, error) {
	return s.entra.IssueAccessToken(tenantID, clientID)
}

// Close stops serving and waits for the serving goroutine to end. In-flight
// requests are given a second to finish.
func (s *Server) Close() error {
	if s.hs == nil {
		return nil
	}
	// HTTP/2 connections close only after a GOAWAY round trip (about a
	// second): give requests in flight a moment, then close the rest.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.hs.Close()
	}
	<-s.done
	return err
}

// ServeHTTP routes a request: token service paths to entrasim, /_sim/ to
// the control API, /v1.0/ to Graph.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logf("graphsim: recovered panic serving %s %s: %v", r.Method, r.URL.Path, v)
			writeGraphError(w, r, s.now(), http.StatusInternalServerError, "generalException", "An internal server error occurred.")
		}
	}()
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_sim/"):
		s.serveControl(w, r)
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
		s.serveGraph(w, r)
	case s.entra.Handles(r):
		s.entra.ServeHTTP(w, r)
	default:
		writeGraphError(w, r, s.now(), http.StatusBadRequest, "BadRequest", "Invalid version: "+strings.SplitN(strings.TrimPrefix(p, "/"), "/", 2)[0])
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// float64 returns a random number in [0,1) from the seeded source.
func (s *Server) random() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}
