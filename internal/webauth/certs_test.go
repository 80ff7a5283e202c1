package webauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func makeCert(t *testing.T, cn string, parent *testCert, isCA bool, notAfter time.Time) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"MSP"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true}
	if isCA {
		tmpl.IsCA, tmpl.KeyUsage, tmpl.ExtKeyUsage = true, x509.KeyUsageCertSign, nil
	}
	pc, pk := tmpl, key
	if parent != nil {
		pc, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pc, &key.PublicKey, pk)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCert{c, key}
}

func (c *testCert) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
}

// certConsole serves the page behind a ClientCerts on real TLS.
func certConsole(t *testing.T, cfg string, dir string) *httptest.Server {
	t.Helper()
	cc, err := NewClientCertsEnv(t.Context(), json.RawMessage(cfg), Env{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(cc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		fmt.Fprintf(w, "%s %s %s %s", u.Name, u.Role, u.Method, u.Subject)
	})))
	srv.TLS = &tls.Config{}
	cc.ConfigureTLS(srv.TLS, false)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func getWithCert(t *testing.T, srv *httptest.Server, c *testCert) (int, string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := &tls.Config{RootCAs: pool}
	if c != nil {
		cfg.Certificates = []tls.Certificate{c.tls()}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/")
	if err != nil {
		if c == nil {
			return 0, err.Error()
		}
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := makeCert(t, "MSP Engineers CA", nil, true, time.Now().AddDate(1, 0, 0))
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ann := makeCert(t, "Ann Lee", nil, false, time.Now().AddDate(1, 0, 0)) // self-signed, pinned
	ben := makeCert(t, "Ben Ode", ca, false, time.Now().AddDate(1, 0, 0))  // by the CA, by subject
	cid := makeCert(t, "Cid Roe", ca, false, time.Now().AddDate(1, 0, 0))  // by the CA, not listed
	old := makeCert(t, "Old Key", nil, false, time.Now().Add(-time.Minute))
	eve := makeCert(t, "Ben Ode", nil, false, time.Now().AddDate(1, 0, 0)) // Ben's subject, self-signed
	cfg := fmt.Sprintf(`{"caFile":"ca.pem","certificates":[
		{"sha256":%q,"role":"operator"},
		{"sha256":%q,"role":"operator"},
		{"subject":"CN=Ben Ode,O=MSP","role":"viewer","name":"Ben (NOC)"}]}`,
		strings.ToUpper(Fingerprint(ann.cert)), Fingerprint(old.cert))
	srv := certConsole(t, cfg, dir)
	if st, body := getWithCert(t, srv, ann); st != 200 || body != "Ann Lee operator certificate sha256:"+Fingerprint(ann.cert) {
		t.Fatalf("ann: %d %q", st, body)
	}
	if st, body := getWithCert(t, srv, ben); st != 200 || !strings.HasPrefix(body, "Ben (NOC) viewer certificate") {
		t.Fatalf("ben: %d %q", st, body)
	}
	for name, c := range map[string]*testCert{"unlisted subject": cid, "expired pin": old, "same subject, other issuer": eve} {
		if st, body := getWithCert(t, srv, c); st != 403 || !strings.Contains(body, Fingerprint(c.cert)) {
			t.Errorf("%s: %d %q", name, st, body)
		}
	}
	if st, body := getWithCert(t, srv, nil); st != 0 || !strings.Contains(body, "certificate") {
		t.Errorf("no certificate: the handshake fails: %d %q", st, body)
	}
}
