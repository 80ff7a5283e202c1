package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// BaseURL is the base URL the console's admin client uses for a pushed
// customer; the tunnel carries it to the service, which ignores the host.
const BaseURL = "https://galmirror-push.invalid"

// Server is the console end: it accepts tunnels from services whose client
// certificate console.json lists, and hands the console an HTTP client per
// connected customer (it implements console.PushSource).
type Server struct {
	log          *slog.Logger
	pingInterval time.Duration
	pingTimeout  time.Duration

	mu        sync.Mutex
	customers map[string]string // fingerprint → customer
	conns     map[string]*peer  // customer → its live tunnel
	closed    bool
	wg        sync.WaitGroup // one per accepted tunnel
}

type peer struct {
	conn  *bufConn
	cc    *http2.ClientConn
	since time.Time
	addr  string
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// Customers maps each pushed customer's name to the SHA-256
	// fingerprint of its service's client certificate (any form
	// normFingerprint takes: "sha256:…", colons).
	Customers map[string]string
	Log       *slog.Logger
	// PingInterval and PingTimeout as on the service; zero: defaults.
	PingInterval, PingTimeout time.Duration
}

// NewServer checks o.
func NewServer(o ServerOptions) (*Server, error) {
	s := &Server{log: o.Log, pingInterval: o.PingInterval, pingTimeout: o.PingTimeout,
		customers: map[string]string{}, conns: map[string]*peer{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pingInterval <= 0 {
		s.pingInterval = DefaultPingInterval
	}
	if s.pingTimeout <= 0 {
		s.pingTimeout = DefaultPingTimeout
	}
	for name, f := range o.Customers {
		fp, ok := normFingerprint(f)
		if !ok {
			return nil, fmt.Errorf("tunnel: customer %q: client certificate fingerprint %q: want 64 hex digits", name, f)
		}
		if other, dup := s.customers[fp]; dup {
			return nil, fmt.Errorf("tunnel: customers %q and %q have the same client certificate fingerprint", other, name)
		}
		s.customers[fp] = name
	}
	return s, nil
}

// TLSConfig is the push listener's TLS configuration: cert, TLS 1.2 or
// later, HTTP/1.1 (the upgrade), and a client certificate required; the
// handler checks it against the customers' fingerprints (console
// certificates are self-signed as often as not, so no chain is verified).
func (s *Server) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve accepts tunnels on ln with TLS (TLSConfig(cert)) until ctx ends,
// then closes every tunnel and returns once they are gone.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, s.TLSConfig(cert))) }()
	var err error
	select {
	case err = <-done:
		err = fmt.Errorf("push listener %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		cancel()
		<-done
	}
	s.Close()
	return err
}

// Close closes every tunnel, refuses new ones, and waits for the tunnels'
// goroutines to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for name, p := range s.conns {
		p.conn.Close()
		delete(s.conns, name)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ServeHTTP accepts one tunnel: it must come over TLS with a listed client
// certificate and ask to upgrade to Protocol. It returns when the tunnel
// has ended.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, Path) {
		http.Error(w, "not found: galmirror services connect to "+Path, http.StatusNotFound)
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, "a client certificate is required", http.StatusUnauthorized)
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	fp := Fingerprint(leaf.Raw)
	s.mu.Lock()
	customer, known := s.customers[fp]
	closed := s.closed
	s.mu.Unlock()
	now := time.Now()
	switch {
	case !known:
		s.log.Warn("push: refused a service whose client certificate is listed for no customer", "certificate_sha256", fp, "source", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("client certificate sha256:%s is not listed for any customer in the console's configuration (push.clientCertFingerprint)", fp), http.StatusForbidden)
		return
	case now.After(leaf.NotAfter):
		http.Error(w, fmt.Sprintf("client certificate sha256:%s expired on %s", fp, leaf.NotAfter.UTC().Format(time.DateOnly)), http.StatusForbidden)
		return
	case closed:
		http.Error(w, "the console is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", Protocol) {
		w.Header().Set("Upgrade", Protocol)
		http.Error(w, "upgrade to "+Protocol+" required", http.StatusUpgradeRequired)
		return
	}
	raw, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take over the connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The headers' read deadline of the http.Server must not cut the tunnel.
	raw.SetDeadline(time.Time{})
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + Protocol + "\r\n\r\n"); err == nil {
		err = brw.Flush()
	}
	if err != nil {
		raw.Close()
		return
	}
	conn := newBufConn(raw, brw.Reader)
	t := &http2.Transport{
		ReadIdleTimeout:    s.pingInterval,
		PingTimeout:        s.pingTimeout,
		DisableCompression: true,
		AllowHTTP:          true,
	}
	cc, err := t.NewClientConn(conn)
	if err != nil {
		conn.Close()
		s.log.Warn("push: HTTP/2 over the tunnel failed", "customer", customer, "err", err)
		return
	}
	p := &peer{conn: conn, cc: cc, since: now, addr: r.RemoteAddr}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	if old := s.conns[customer]; old != nil {
		// The service reconnected (the old tunnel is dead but not yet
		// noticed, or the customer runs two services with one certificate):
		// the newest wins.
		s.log.Info("push: a newer tunnel replaces the customer's previous one", "customer", customer, "previous", old.addr)
		old.conn.Close()
	}
	s.conns[customer] = p
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	s.log.Info("push: service connected", "customer", customer, "source", r.RemoteAddr, "certificate_sha256", fp)
	select {
	case <-conn.done():
	case <-r.Context().Done():
	}
	conn.Close()
	cc.Close()
	s.mu.Lock()
	if s.conns[customer] == p {
		delete(s.conns, customer)
	}
	s.mu.Unlock()
	s.log.Info("push: service disconnected", "customer", customer, "source", r.RemoteAddr, "lasted", time.Since(now).Round(time.Second))
}

// Client returns an HTTP client whose requests go to customer's service
// through its tunnel, and the base URL to use with it; ok is false when the
// customer's service is not connected now. Requests made after the tunnel
// drops fail; a reconnected tunnel is used by the same client.
func (s *Server) Client(customer string) (c *http.Client, baseURL string, ok bool) {
	s.mu.Lock()
	_, ok = s.conns[customer]
	s.mu.Unlock()
	if !ok {
		return nil, "", false
	}
	return &http.Client{Transport: roundTripper{s: s, customer: customer}}, BaseURL, true
}

// Connected returns when each connected customer's tunnel came up.
func (s *Server) Connected() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.conns))
	for name, p := range s.conns {
		out[name] = p.since
	}
	return out
}

type roundTripper struct {
	s        *Server
	customer string
}

// ErrNotConnected is returned for requests to a customer whose service has
// no tunnel now.
var ErrNotConnected = errors.New("the customer's service is not connected to the console")

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.s.mu.Lock()
	p := rt.s.conns[rt.customer]
	rt.s.mu.Unlock()
	if p == nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("%s: %w", rt.customer, ErrNotConnected)
	}
	return p.cc.RoundTrip(r)
}

// headerHas reports whether the comma-separated header h holds token.
func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}
