package tunnel_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/galmirror/galmirror/internal/admin"
	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/admin/svcbackend"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/tunnel"
)

// instantRunner stands in for the sync engine (exercised end to end in
// cmd/galmirror): each run records one mailbox synced.
type instantRunner struct{}

func (instantRunner) RunTenant(ctx context.Context, t config.Tenant, run service.RunInfo) (service.Result, error) {
	return service.Result{Status: store.RunOK, Counts: store.Counts{MailboxesSynced: 1, Created: 3}}, nil
}

// customerService is a real service with its real admin server (store,
// scheduler, backend, authentication, roles, audit), not listening
// anywhere: the console reaches it only through the tunnel.
type customerService struct {
	svc  *service.Service
	srv  *admin.Server
	stop func()
}

func startService(t *testing.T, role admin.Role) *customerService {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	doc := `{"dataDir": "state", "tenants": [{"name": "contoso", "tenantId": "11111111-1111-1111-1111-111111111111",
		"clientId": "22222222-2222-2222-2222-222222222222", "certificate": {"file": "contoso.pem"},
		"schedule": {"every": "24h", "jitter": "0s"}}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), cfg.DataDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := service.New(service.Options{Config: cfg, Runner: instantRunner{}, State: st, Logger: log, PollInterval: -1, Bus: events.NewBus(log)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svcbackend.New(svcbackend.Options{Service: svc, Store: st, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Options{Backend: b, DataDir: cfg.DataDir, Hosts: []string{"localhost"}, ConsoleRole: role})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	cs := &customerService{svc: svc, srv: srv}
	cs.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service: %v", err)
			}
			st.Close()
		})
	}
	t.Cleanup(cs.stop)
	return cs
}

// selfSigned makes a certificate like the generated ones: ECDSA, for
// 127.0.0.1 and localhost.
func selfSigned(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// console is the console end on a real TLS listener.
type console struct {
	srv  *tunnel.Server
	addr string
	cert tls.Certificate
	stop func()
}

func startConsole(t *testing.T, addr string, cert tls.Certificate, customers map[string]string) *console {
	t.Helper()
	srv, err := tunnel.NewServer(tunnel.ServerOptions{Customers: customers, PingInterval: time.Second, PingTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // a restarted console takes its old port back
		if ln, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, cert) }()
	var once sync.Once
	c := &console{srv: srv, addr: ln.Addr().String(), cert: cert}
	c.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("console: %v", err)
			}
		})
	}
	t.Cleanup(c.stop)
	return c
}

type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) emit(_ context.Context, e events.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) find(id events.ID) (events.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.evs {
		if e.ID == id {
			return e, true
		}
	}
	return events.Event{}, false
}

// dial runs the service end of the tunnel until the test ends.
func dial(t *testing.T, cs *customerService, c *console, pin string, cert tls.Certificate, rec *recorder, opts ...func(*tunnel.Config)) (*tunnel.Dialer, func()) {
	t.Helper()
	cfg := tunnel.Config{
		URL:               "https://" + c.addr,
		ServerFingerprint: pin,
		Certificate:       cert,
		Proxy:             func(*http.Request) (*url.URL, error) { return nil, nil },
		ConnContext: func(ctx context.Context, fp string) context.Context {
			return admin.ConsoleContext(ctx, fp, c.addr)
		},
		Emit:         rec.emit,
		PingInterval: time.Second, PingTimeout: time.Second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := tunnel.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, cs.srv.Handler()) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("tunnel: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("the tunnel did not stop with its context")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func client(t *testing.T, c *console, customer string) adminv1connect.AdminServiceClient {
	t.Helper()
	var hc *http.Client
	var base string
	waitFor(t, customer+" to connect", func() bool {
		var ok bool
		hc, base, ok = c.srv.Client(customer)
		return ok
	})
	return adminv1connect.NewAdminServiceClient(hc, base)
}

func fp(c tls.Certificate) string { return tunnel.Fingerprint(c.Certificate[0]) }

func TestAdminAPIThroughTheTunnel(t *testing.T) {
	cs := startService(t, admin.RoleOperator)
	consoleCert := selfSigned(t, "console")
	svcCert := cs.srv.Certificate()
	c := startConsole(t, "127.0.0.1:0", consoleCert, map[string]string{"contoso": "sha256:" + fp(svcCert)})
	rec := &recorder{}
	d, _ := dial(t, cs, c, fp(consoleCert), svcCert, rec)
	api := client(t, c, "contoso")
	ctx := t.Context()

	info, err := api.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
	if err != nil {
		t.Fatalf("GetServiceInfo through the tunnel: %v", err)
	}
	if info.Msg.GetVersion() != "1.2.3" {
		t.Errorf("version = %q", info.Msg.GetVersion())
	}
	if p, r := info.Msg.GetCallerPrincipal(), info.Msg.GetCallerRole(); p != "console:"+fp(consoleCert) || r != adminv1.Role_ROLE_OPERATOR {
		t.Errorf("caller = %s %v, want the console's certificate as an operator", p, r)
	}
	if e, ok := rec.find(events.ConsoleConnected); !ok || !strings.Contains(fieldsOf(e), fp(svcCert)) {
		t.Errorf("event 770 with the client certificate: %v (%v)", e, ok)
	}
	if st := d.State(); !st.Connected || st.Connects != 1 {
		t.Errorf("state = %+v", st)
	}

	// A live event stream, then an action whose run shows in it and in the
	// run list.
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	stream, err := api.WatchEvents(sctx, connect.NewRequest(&adminv1.WatchEventsRequest{Tenant: "contoso"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	got := make(chan *adminv1.Event, 16)
	go func() {
		defer close(got)
		for stream.Receive() {
			got <- stream.Msg().GetEvent()
		}
	}()
	time.Sleep(200 * time.Millisecond) // the stream subscribes
	sync, err := api.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
	if err != nil {
		t.Fatalf("SyncNow through the tunnel: %v", err)
	}
	deadline := time.After(15 * time.Second)
	for done := false; !done; {
		select {
		case e, ok := <-got:
			if !ok {
				t.Fatalf("the event stream ended: %v", stream.Err())
			}
			if e.GetEventId() == int32(events.RunSucceeded) && e.GetRunId() == sync.Msg.GetRunId() {
				done = true
			}
		case <-deadline:
			t.Fatal("the run's event did not come through the stream")
		}
	}
	runs, err := api.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "contoso"}))
	if err != nil {
		t.Fatal(err)
	}
	if rs := runs.Msg.GetRuns(); len(rs) == 0 || rs[0].GetId() != sync.Msg.GetRunId() || rs[0].GetRequestedBy() != "console:"+fp(consoleCert) {
		t.Errorf("runs = %v, want first the run SyncNow started (%s), requested by the console", rs, sync.Msg.GetRunId())
	}
}

func fieldsOf(e events.Event) string {
	var b strings.Builder
	for _, f := range e.Fields {
		b.WriteString(f.Key + "=" + f.Value + " ")
	}
	return b.String()
}

func TestViewerConsoleCannotAct(t *testing.T) {
	cs := startService(t, admin.RoleViewer)
	consoleCert := selfSigned(t, "console")
	c := startConsole(t, "127.0.0.1:0", consoleCert, map[string]string{"contoso": fp(cs.srv.Certificate())})
	dial(t, cs, c, fp(consoleCert), cs.srv.Certificate(), &recorder{})
	api := client(t, c, "contoso")
	if _, err := api.ListRuns(t.Context(), connect.NewRequest(&adminv1.ListRunsRequest{Tenant: "contoso"})); err != nil {
		t.Fatalf("a viewer reads: %v", err)
	}
	_, err := api.SyncNow(t.Context(), connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "operator") {
		t.Fatalf("SyncNow by a viewer console = %v, want permission_denied naming the operator role", err)
	}
}

func TestUnknownClientCertificateRefused(t *testing.T) {
	cs := startService(t, admin.RoleOperator)
	consoleCert := selfSigned(t, "console")
	c := startConsole(t, "127.0.0.1:0", consoleCert, map[string]string{"contoso": fp(selfSigned(t, "another service"))})
	rec := &recorder{}
	d, _ := dial(t, cs, c, fp(consoleCert), cs.srv.Certificate(), rec)
	waitFor(t, "event 772", func() bool { _, ok := rec.find(events.ConsoleRefused); return ok })
	e, _ := rec.find(events.ConsoleRefused)
	if !strings.Contains(e.Detail, "403") || !strings.Contains(e.Detail, fp(cs.srv.Certificate())) {
		t.Errorf("772 detail = %q, want the 403 naming the service's fingerprint", e.Detail)
	}
	if st := d.State(); st.Connected || !strings.Contains(st.LastError, "not listed") {
		t.Errorf("state = %+v", st)
	}
	if _, _, ok := c.srv.Client("contoso"); ok {
		t.Error("the console has a client for a refused service")
	}
	if _, ok := rec.find(events.ConsoleConnected); ok {
		t.Error("770 raised for a refused connection")
	}
}

func TestWrongConsoleFingerprintRefused(t *testing.T) {
	cs := startService(t, admin.RoleOperator)
	consoleCert := selfSigned(t, "console")
	c := startConsole(t, "127.0.0.1:0", consoleCert, map[string]string{"contoso": fp(cs.srv.Certificate())})
	rec := &recorder{}
	other := fp(selfSigned(t, "impostor"))
	d, _ := dial(t, cs, c, other, cs.srv.Certificate(), rec)
	waitFor(t, "event 772", func() bool { _, ok := rec.find(events.ConsoleRefused); return ok })
	if st := d.State(); st.Connected || !strings.Contains(st.LastError, "console.serverFingerprint is sha256:"+other) ||
		!strings.Contains(st.LastError, fp(consoleCert)) {
		t.Errorf("state = %+v, want the mismatch with both fingerprints", st)
	}
	if _, _, ok := c.srv.Client("contoso"); ok {
		t.Error("the service connected to a console it does not trust")
	}
}

func TestTunnelRecoversAfterConsoleRestart(t *testing.T) {
	cs := startService(t, admin.RoleOperator)
	consoleCert := selfSigned(t, "console")
	customers := map[string]string{"contoso": fp(cs.srv.Certificate())}
	c := startConsole(t, "127.0.0.1:0", consoleCert, customers)
	d, _ := dial(t, cs, c, fp(consoleCert), cs.srv.Certificate(), &recorder{})
	client(t, c, "contoso")
	c.stop()
	waitFor(t, "the service to notice", func() bool { return !d.State().Connected })
	restarted := time.Now()
	c2 := startConsole(t, c.addr, consoleCert, customers)
	api := client(t, c2, "contoso")
	t.Logf("reconnected %s after the console was back", time.Since(restarted).Round(time.Millisecond))
	if _, err := api.GetServiceInfo(t.Context(), connect.NewRequest(&adminv1.GetServiceInfoRequest{})); err != nil {
		t.Fatalf("after the console's restart: %v", err)
	}
	if st := d.State(); st.Connects != 2 {
		t.Errorf("connects = %d, want 2", st.Connects)
	}
}

// TestDeadTunnelDetected: a console that stops answering (its host froze,
// a NAT forgot the flow) is noticed by the service's pings.
func TestDeadTunnelDetected(t *testing.T) {
	cs := startService(t, admin.RoleOperator)
	consoleCert := selfSigned(t, "console")
	// A proxy between the two that can freeze the connection.
	c := startConsole(t, "127.0.0.1:0", consoleCert, map[string]string{"contoso": fp(cs.srv.Certificate())})
	fr := startFreezer(t, c.addr)
	front := &console{srv: c.srv, addr: fr.addr}
	d, _ := dial(t, cs, front, fp(consoleCert), cs.srv.Certificate(), &recorder{})
	client(t, c, "contoso")
	start := time.Now()
	fr.freeze()
	waitFor(t, "the service to notice the dead tunnel", func() bool { return !d.State().Connected })
	took := time.Since(start)
	t.Logf("dead tunnel noticed after %s (pings after 1s quiet, 1s timeout)", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("noticed after %s with 1s pings", took)
	}
	waitFor(t, "the console to drop the customer", func() bool { _, _, ok := c.srv.Client("contoso"); return !ok })
}

// freezer is a TCP relay that can stop forwarding without closing.
type freezer struct {
	addr   string
	mu     sync.Mutex
	frozen bool
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var conns []net.Conn
	var cmu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, a, b)
			cmu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						dst.Close()
						return
					}
					f.mu.Lock()
					frozen := f.frozen
					f.mu.Unlock()
					if frozen {
						continue // dropped on the floor
					}
					if _, err := dst.Write(buf[:n]); err != nil {
						src.Close()
						return
					}
				}
			}
			wg.Go(func() { pipe(a, b) })
			wg.Go(func() { pipe(b, a) })
		}
	})
	return f
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

func TestNoGoroutineLeftAfterShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		cs := startService(t, admin.RoleOperator)
		consoleCert := selfSigned(t, "console")
		c := startConsole(t, "127.0.0.1:0", consoleCert, map[string]string{"contoso": fp(cs.srv.Certificate())})
		_, stop := dial(t, cs, c, fp(consoleCert), cs.srv.Certificate(), &recorder{})
		api := client(t, c, "contoso")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stream, err := api.WatchEvents(ctx, connect.NewRequest(&adminv1.WatchEventsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for stream.Receive() {
			}
		}()
		time.Sleep(200 * time.Millisecond)
		// The service shuts down first, with a stream open; then the
		// console.
		stop()
		cs.stop()
		c.stop()
		cancel()
		stream.Close()
	}()
	var after int
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		after = runtime.NumGoroutine()
		if after <= before || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("%d goroutines before, %d after shutdown:\n%s", before, after, buf[:n])
	}
}

// TestThroughAnHTTPSProxy: a customer whose only way out is a proxy
// (HTTPS_PROXY) reaches the console with CONNECT, with the proxy's
// credentials.
func TestThroughAnHTTPSProxy(t *testing.T) {
	cs := startService(t, admin.RoleOperator)
	consoleCert := selfSigned(t, "console")
	c := startConsole(t, "127.0.0.1:0", consoleCert, map[string]string{"contoso": fp(cs.srv.Certificate())})
	px := startConnectProxy(t)
	proxyURL, _ := url.Parse("http://gal:s3cret@" + px.addr)
	dial(t, cs, c, fp(consoleCert), cs.srv.Certificate(), &recorder{}, func(cfg *tunnel.Config) { cfg.Proxy = http.ProxyURL(proxyURL) })
	api := client(t, c, "contoso")
	start := time.Now()
	const n = 200
	for range n {
		if _, err := api.GetServiceInfo(t.Context(), connect.NewRequest(&adminv1.GetServiceInfoRequest{})); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d GetServiceInfo calls through proxy and tunnel: %s each", n, (time.Since(start) / n).Round(time.Microsecond))
	px.mu.Lock()
	defer px.mu.Unlock()
	if len(px.connects) == 0 || px.connects[0] != c.addr || px.auth[0] != "Basic Z2FsOnMzY3JldA==" {
		t.Errorf("proxy saw CONNECT %v with %v, want %s with the URL's credentials", px.connects, px.auth, c.addr)
	}
}

type connectProxy struct {
	addr     string
	mu       sync.Mutex
	connects []string
	auth     []string
}

func startConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				br := bufio.NewReader(a)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					a.Close()
					return
				}
				p.mu.Lock()
				p.connects = append(p.connects, req.Host)
				p.auth = append(p.auth, req.Header.Get("Proxy-Authorization"))
				p.mu.Unlock()
				b, err := net.Dial("tcp", req.Host)
				if err != nil {
					io.WriteString(a, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					a.Close()
					return
				}
				cmu.Lock()
				conns = append(conns, a, b)
				cmu.Unlock()
				io.WriteString(a, "HTTP/1.1 200 Connection established\r\n\r\n")
				wg.Go(func() { io.Copy(b, br); b.Close() })
				io.Copy(a, b)
				a.Close()
			})
		}
	})
	return p
}

// TestUnreachableConsoleWarns: a service that cannot reach its console
// for UnreachableAfter raises 771 once, and 770 when it connects at last.
func TestUnreachableConsoleWarns(t *testing.T) {
	cs := startService(t, admin.RoleOperator)
	consoleCert := selfSigned(t, "console")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	rec := &recorder{}
	d, _ := dial(t, cs, &console{addr: addr}, fp(consoleCert), cs.srv.Certificate(), rec,
		func(cfg *tunnel.Config) { cfg.UnreachableAfter = 300 * time.Millisecond })
	waitFor(t, "event 771", func() bool { _, ok := rec.find(events.ConsoleUnreachable); return ok })
	time.Sleep(500 * time.Millisecond)
	rec.mu.Lock()
	n := 0
	for _, e := range rec.evs {
		if e.ID == events.ConsoleUnreachable {
			n++
			if !strings.Contains(fieldsOf(e), "refused") {
				t.Errorf("771 without the reason: %s", fieldsOf(e))
			}
		}
	}
	rec.mu.Unlock()
	if n != 1 {
		t.Errorf("771 raised %d times in one outage", n)
	}
	if st := d.State(); st.Connected || st.LastError == "" {
		t.Errorf("state = %+v", st)
	}
	c := startConsole(t, addr, consoleCert, map[string]string{"contoso": fp(cs.srv.Certificate())})
	client(t, c, "contoso")
	waitFor(t, "event 770", func() bool { _, ok := rec.find(events.ConsoleConnected); return ok })
}
