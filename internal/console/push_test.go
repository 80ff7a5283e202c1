package console

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/galmirror/galmirror/internal/admin"
)

// pushSource stands in for package tunnel's server: it hands out a client
// to a real admin server while "connected".
type pushSource struct {
	connected atomic.Bool
	hc        *http.Client
	base      string
}

func (p *pushSource) Client(customer string) (*http.Client, string, bool) {
	if customer != "pushed" || !p.connected.Load() {
		return nil, "", false
	}
	return p.hc, p.base, true
}

// A pushed customer is polled through the PushSource by the same code as
// a polled one, shown with its tag, and unreachable with the age of its
// data while its service is not connected.
func TestPushedCustomerThroughPushSource(t *testing.T) {
	dir := t.TempDir()
	clientFP := writeClientCert(t, filepath.Join(dir, "console.pem"))
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "console.pem"), filepath.Join(dir, "console.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b := newCannedBackend("pushed", false, 12)
	s, err := admin.New(admin.Options{Backend: b, DataDir: filepath.Join(dir, "svc"), PinnedClientCertificates: []string{clientFP},
		Roles: []admin.RoleBinding{{Principal: "cert:" + clientFP, Role: admin.RoleViewer}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	// The tunnel's connection is authenticated at its own layer; this
	// client stands for it.
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	ps := &pushSource{hc: &http.Client{Transport: tr}, base: "https://" + ln.Addr().String()}
	ps.connected.Store(true)

	cfgPath := filepath.Join(dir, "console.json")
	writeConfig(t, cfgPath, map[string]any{"listen": "127.0.0.1:0", "pushListen": "127.0.0.1:0",
		"customers": []any{map[string]any{"name": "pushed", "push": map[string]any{"clientCertFingerprint": fpHex}}}})
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := NewFleet(cfg, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Config: cfg, Fleet: fl})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(path string) string {
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Body.String()
	}
	fl.PollOnce(t.Context(), "pushed")
	body := get("/")
	if !strings.Contains(body, `data-customer="pushed" data-tenant="pushed" data-health="ok"`) || !strings.Contains(body, `title="the service dials in">push</span>`) {
		t.Fatalf("connected pushed customer:\n%s", body)
	}
	ps.connected.Store(false)
	fl.PollOnce(t.Context(), "pushed")
	body = get("/")
	if !strings.Contains(body, `data-health="unreachable"`) || !strings.Contains(body, "the service is not connected to the console; last seen 0s ago") {
		t.Errorf("disconnected pushed customer:\n%s", body)
	}
	if body := get("/c/pushed"); !strings.Contains(body, "pushed: the service dials in") {
		t.Errorf("customer page does not say it is pushed")
	}
}
