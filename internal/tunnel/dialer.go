package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/galmirror/galmirror/internal/events"
)

// Service-side defaults.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultUnreachableAfter: event 771 after this long without a
	// connection.
	DefaultUnreachableAfter = 5 * time.Minute
	// stableAfter: a connection that lasted this long resets the back-off.
	stableAfter = 30 * time.Second
)

// Config configures the service end of the tunnel.
type Config struct {
	// URL is the console's push address (https://host:port[/prefix]).
	URL string
	// ServerFingerprint pins the console's server certificate (SHA-256,
	// 64 hex digits, optionally "sha256:"). Empty: the certificate is
	// verified against RootCAs (nil: the system's roots) and the URL's host.
	ServerFingerprint string
	RootCAs           *x509.CertPool
	// Certificate is the service's client certificate.
	Certificate tls.Certificate
	// Proxy picks the proxy for the console URL; nil uses the environment
	// (HTTPS_PROXY, NO_PROXY). Only http:// proxies (CONNECT) are supported.
	Proxy func(*http.Request) (*url.URL, error)
	// ConnContext returns the base context of the requests served through
	// one connection, given the SHA-256 fingerprint of the console's
	// certificate: the service marks them as the console's.
	ConnContext func(ctx context.Context, consoleFingerprint string) context.Context
	// Emit receives events 770-772; nil drops them.
	Emit func(context.Context, events.Event)
	Log  *slog.Logger
	// OnState is called with the new state after each change (a
	// connection, its end, a failed attempt), on Run's goroutine.
	OnState func(State)
	// UserAgent is sent with the upgrade request.
	UserAgent string

	// Timing; zero values take the defaults above.
	PingInterval, PingTimeout time.Duration
	MinBackoff, MaxBackoff    time.Duration
	UnreachableAfter          time.Duration
}

// State is the tunnel's state as `galmirror status` shows it.
type State struct {
	// Connected reports whether a tunnel is up now; Since is when it came
	// up, or when the service last lost it (or started trying).
	Connected bool
	Since     time.Time
	// LastError is the latest failure to connect, or why the last
	// connection ended; LastErrorAt when.
	LastError   string
	LastErrorAt time.Time
	// Connects counts successful connections since start.
	Connects int
}

// Dialer is the service end: it keeps one tunnel to the console up.
type Dialer struct {
	cfg    Config
	target *url.URL
	pin    string
	log    *slog.Logger
	certFP string

	mu    sync.Mutex
	state State
}

// NewDialer checks cfg.
func NewDialer(cfg Config) (*Dialer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("tunnel: console URL %q: want https://host:port", cfg.URL)
	}
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, errors.New("tunnel: no client certificate")
	}
	pin := ""
	if cfg.ServerFingerprint != "" {
		p, ok := normFingerprint(cfg.ServerFingerprint)
		if !ok {
			return nil, fmt.Errorf("tunnel: console fingerprint %q: want 64 hex digits", cfg.ServerFingerprint)
		}
		pin = p
	}
	if cfg.Proxy == nil {
		cfg.Proxy = http.ProxyFromEnvironment
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Emit == nil {
		cfg.Emit = func(context.Context, events.Event) {}
	}
	if cfg.ConnContext == nil {
		cfg.ConnContext = func(ctx context.Context, _ string) context.Context { return ctx }
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PingInterval, DefaultPingInterval)
	def(&cfg.PingTimeout, DefaultPingTimeout)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.UnreachableAfter, DefaultUnreachableAfter)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "galmirror"
	}
	return &Dialer{cfg: cfg, target: u, pin: pin, log: cfg.Log, certFP: Fingerprint(cfg.Certificate.Certificate[0])}, nil
}

// Run keeps a tunnel to the console up and serves handler through it until
// ctx ends; it returns nil then. Failures are retried with back-off.
func Run(ctx context.Context, cfg Config, handler http.Handler) error {
	d, err := NewDialer(cfg)
	if err != nil {
		return err
	}
	return d.Run(ctx, handler)
}

// State returns the tunnel's current state.
func (d *Dialer) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

func (d *Dialer) setState(f func(*State)) {
	d.mu.Lock()
	f(&d.state)
	st := d.state
	d.mu.Unlock()
	if d.cfg.OnState != nil {
		d.cfg.OnState(st)
	}
}

// refusedError is a failure that retrying does not fix (event 772).
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// Run is Run for d.
func (d *Dialer) Run(ctx context.Context, handler http.Handler) error {
	backoff := d.cfg.MinBackoff
	downSince := time.Now()
	d.setState(func(s *State) { s.Since = downSince })
	warned := false              // 771 raised in this outage
	refused := map[string]bool{} // 772 raised in this outage, by message
	announce := true             // raise 770 at the next connect
	console := events.F("console", d.target.Redacted())
	certField := events.F("certificate_sha256", d.certFP)
	for {
		conn, err := d.dial(ctx)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return nil
		}
		if err == nil {
			up := time.Now()
			d.setState(func(s *State) { s.Connected, s.Since = true, up; s.Connects++ })
			d.log.Info("connected to the fleet console", "console", d.target.Redacted(), "certificate_sha256", d.certFP)
			if announce {
				d.cfg.Emit(ctx, events.Event{ID: events.ConsoleConnected, Fields: []events.Field{console, certField}})
				announce = false
			}
			warned, refused = false, map[string]bool{}
			err = d.serve(ctx, conn, handler)
			down := time.Now()
			d.setState(func(s *State) { s.Connected, s.Since = false, down })
			if ctx.Err() != nil {
				return nil
			}
			downSince = down
			if down.Sub(up) >= stableAfter {
				backoff = d.cfg.MinBackoff
			}
			d.log.Warn("the fleet console connection ended; connecting again", "console", d.target.Redacted(), "err", err, "lasted", down.Sub(up).Round(time.Second))
		} else {
			d.log.Warn("cannot connect to the fleet console", "console", d.target.Redacted(), "err", err, "retry_in", backoff)
		}
		msg := err.Error()
		d.setState(func(s *State) { s.LastError, s.LastErrorAt = msg, time.Now() })
		if re := (*refusedError)(nil); errors.As(err, &re) && !refused[msg] {
			refused[msg] = true
			announce = true
			d.cfg.Emit(ctx, events.Event{ID: events.ConsoleRefused, Detail: msg, Fields: []events.Field{console, events.F("error", msg), certField}})
		}
		if !warned && time.Since(downSince) >= d.cfg.UnreachableAfter {
			warned, announce = true, true
			d.cfg.Emit(ctx, events.Event{ID: events.ConsoleUnreachable, Detail: msg, Fields: []events.Field{
				console, events.F("since", downSince.UTC().Format(time.RFC3339)), events.F("error", msg)}})
		}
		// Full jitter over the upper half: a fleet restarted at once does
		// not come back in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, d.cfg.MaxBackoff)
	}
}

// serve serves handler on an upgraded connection until it ends or ctx
// does. It returns why the connection ended.
func (d *Dialer) serve(ctx context.Context, conn *bufConn, handler http.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http2.Server{
		MaxConcurrentStreams: maxStreams,
		ReadIdleTimeout:      d.cfg.PingInterval,
		PingTimeout:          d.cfg.PingTimeout,
		IdleTimeout:          0, // the console keeps the tunnel; pings find it dead
		MaxReadFrameSize:     1 << 20,
	}
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		select {
		case <-ctx.Done():
			conn.Close() // the handlers' contexts end with ctx
		case <-conn.done():
		}
	}()
	// ServeConn returns when the connection ends, possibly before the
	// handlers it started: they are waited for (their contexts are done),
	// so that nothing serves after Run has returned.
	// One that would start after that is refused without running.
	var (
		mu     sync.Mutex
		idle   = sync.NewCond(&mu)
		calls  int
		closed bool
	)
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		calls++
		mu.Unlock()
		defer func() {
			mu.Lock()
			calls--
			idle.Broadcast()
			mu.Unlock()
		}()
		handler.ServeHTTP(w, r)
	})
	srv.ServeConn(conn, &http2.ServeConnOpts{Context: d.cfg.ConnContext(ctx, conn.peerFingerprint), Handler: counted})
	conn.Close()
	cancel()
	<-stop
	mu.Lock()
	closed = true
	for calls > 0 {
		idle.Wait()
	}
	mu.Unlock()
	return errors.New("the connection closed (the console stopped or restarted, the network dropped it, or keepalive pings went unanswered)")
}

// dial opens TCP (through a proxy if the environment names one), TLS with
// the client certificate, and upgrades to the tunnel protocol.
func (d *Dialer) dial(ctx context.Context) (*bufConn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	host := d.target.Hostname()
	addr := d.target.Host
	if d.target.Port() == "" {
		addr = net.JoinHostPort(host, "443")
	}
	proxy, err := d.cfg.Proxy(&http.Request{Method: http.MethodGet, URL: d.target, Header: http.Header{}})
	if err != nil {
		return nil, fmt.Errorf("proxy settings: %w", err)
	}
	var nd net.Dialer
	var raw net.Conn
	if proxy != nil {
		raw, err = dialProxy(ctx, &nd, proxy, addr)
	} else {
		raw, err = nd.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	// The handshake and upgrade must finish before ctx's deadline.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tc := tls.Client(raw, d.tlsConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		var pe *pinError
		if errors.As(err, &pe) {
			return nil, &refusedError{msg: pe.Error()}
		}
		var ue x509.UnknownAuthorityError
		var he x509.HostnameError
		var ce x509.CertificateInvalidError
		if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) {
			return nil, &refusedError{msg: "the console's certificate is not trusted: " + err.Error()}
		}
		return nil, fmt.Errorf("TLS with %s: %w", addr, err)
	}
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: "https", Host: d.target.Host, Path: strings.TrimSuffix(d.target.Path, "/") + Path},
		Host:       d.target.Host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Connection": {"Upgrade"},
			"Upgrade":    {Protocol},
			"User-Agent": {d.cfg.UserAgent},
		},
	}
	if err := req.Write(tc); err != nil {
		return nil, fmt.Errorf("upgrade request to %s: %w", addr, err)
	}
	br := bufio.NewReader(tc)
	if err := readUpgrade(br, req); err != nil {
		return nil, fmt.Errorf("upgrade with %s: %w", addr, err)
	}
	if !stop() {
		return nil, fmt.Errorf("upgrade with %s: %w", addr, context.Cause(ctx))
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	ok = true
	c := newBufConn(tc, br)
	c.peerFingerprint = Fingerprint(tc.ConnectionState().PeerCertificates[0].Raw)
	return c, nil
}

// readUpgrade reads the console's answer to the upgrade request req: nil
// for 101 Switching Protocols to Protocol; a *refusedError for 401 and
// 403, with the console's reason; another error for anything else. What
// follows the answer stays in br for HTTP/2.
func readUpgrade(br *bufio.Reader, req *http.Request) error {
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		// The error may quote a line of any length: keep the start.
		m := cleanText(err.Error())
		if len(m) > 200 {
			m = strings.ToValidUTF8(m[:200], "") + "…"
		}
		return errors.New("the console's answer is not HTTP: " + m)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols && strings.EqualFold(resp.Header.Get("Upgrade"), Protocol) {
		return nil
	}
	status := cleanText(resp.Status)
	if len(status) > 64 {
		status = strings.ToValidUTF8(status[:64], "")
	}
	msg := "the console answered " + status
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The body of a 101 is the tunnel itself: never read it.
		body := strings.TrimSpace(cleanText(readLimited(resp.Body, 512)))
		if body != "" {
			msg += ": " + body
		}
		resp.Body.Close()
	} else {
		up := cleanText(resp.Header.Get("Upgrade"))
		if len(up) > 64 {
			up = strings.ToValidUTF8(up[:64], "")
		}
		msg += fmt.Sprintf(" to %q, not %s", up, Protocol)
	}
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
		return &refusedError{msg: msg}
	}
	return errors.New(msg)
}

// pinError is a console certificate that does not match the pin.
type pinError struct{ got, want string }

func (e *pinError) Error() string {
	return fmt.Sprintf("the console's certificate is sha256:%s, but console.serverFingerprint is sha256:%s", e.got, e.want)
}

func (d *Dialer) tlsConfig(host string) *tls.Config {
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ServerName:   host,
		Certificates: []tls.Certificate{d.cfg.Certificate},
		RootCAs:      d.cfg.RootCAs,
		// HTTP/1.1 only: the upgrade is an HTTP/1.1 mechanism.
		NextProtos: []string{"http/1.1"},
	}
	if d.pin != "" {
		// The pin replaces chain and name checks: console certificates
		// are commonly self-signed, as the admin API's are.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &pinError{got: "(none)", want: d.pin}
			}
			if got := Fingerprint(cs.PeerCertificates[0].Raw); got != d.pin {
				return &pinError{got: got, want: d.pin}
			}
			return nil
		}
	}
	return c
}

// dialProxy opens a tunnel to addr through an HTTP proxy with CONNECT.
func dialProxy(ctx context.Context, nd *net.Dialer, proxy *url.URL, addr string) (net.Conn, error) {
	if proxy.Scheme != "http" {
		return nil, fmt.Errorf("proxy %s: only http:// proxies (CONNECT) are supported", proxy.Redacted())
	}
	paddr := proxy.Host
	if proxy.Port() == "" {
		paddr = net.JoinHostPort(proxy.Hostname(), "80")
	}
	c, err := nd.DialContext(ctx, "tcp", paddr)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: http.Header{},
	}
	if u := proxy.User; u != nil {
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("proxy %s refused CONNECT %s: %s", proxy.Redacted(), addr, resp.Status)
	}
	if br.Buffered() > 0 {
		c.Close()
		return nil, fmt.Errorf("proxy %s sent data before the TLS handshake", proxy.Redacted())
	}
	if !stop() {
		c.Close()
		return nil, ctx.Err()
	}
	return c, nil
}

// normFingerprint accepts "sha256:" and colons, spaces or dashes.
func normFingerprint(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	s = strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(s))
	if len(s) != 64 {
		return "", false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", false
		}
	}
	return s, true
}

// cleanText keeps printable text of a peer's message for logs and events.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
