package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
)

// testCA issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test MSP CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{cert: c, key: key, pool: pool}
}

// clientCert makes a client certificate valid from notBefore to notAfter,
// issued by ca (self-signed when ca is nil).
func clientCert(t testing.TB, ca *testCA, cn string, notBefore, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func validCert(t testing.TB, cn string) *tls.Certificate {
	return clientCert(t, nil, cn, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func fp(c *tls.Certificate) string { return Fingerprint(c.Certificate[0]) }

// startServer serves New(o) over TLS on 127.0.0.1 until the test ends and
// returns its address ("127.0.0.1:port").
func startServer(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	s, err := New(o)
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func newClient(t testing.TB, addr string, o ClientOptions) adminv1connect.AdminServiceClient {
	t.Helper()
	o.Endpoint = "https://" + addr
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantCode(t testing.TB, err error, code connect.Code) *connect.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("got code %v (%v), want %v", got, err, code)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a connect error: %v", err)
	}
	return ce
}

// clientWithHTTP is an API client and the HTTP client under it.
type clientWithHTTP struct {
	api  adminv1connect.AdminServiceClient
	http *http.Client
}

func newHTTPTestClient(t testing.TB, addr string, o ClientOptions) *clientWithHTTP {
	t.Helper()
	o.Endpoint = "https://" + addr
	hc, base, opts, err := newHTTPClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return &clientWithHTTP{api: adminv1connect.NewAdminServiceClient(hc, base, opts...), http: hc}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func netListen(t testing.TB) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
