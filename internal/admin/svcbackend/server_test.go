package svcbackend

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/config"
)

// selfSigned writes a certificate and its key into one PEM file.
func selfSigned(t *testing.T, path, cn string, isCA bool) []byte {
	t.Helper()
	der, _ := selfSignedUntil(t, path, cn, isCA, time.Now().Add(time.Hour))
	return der
}

func selfSignedUntil(t *testing.T, path, cn string, isCA bool, notAfter time.Time) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter, IsCA: isCA, BasicConstraintsValid: isCA,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	b := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return der, key
}

func loadAdminConfig(t *testing.T, dir, adminJSON string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(path, []byte(`{"dataDir": "state", "admin": `+adminJSON+`, "tenants": [`+tenantJSON("contoso")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestServerOptionsFromSettings(t *testing.T) {
	dir := t.TempDir()
	serverDER := selfSigned(t, filepath.Join(dir, "server.pem"), "gm01.example", false)
	selfSigned(t, filepath.Join(dir, "ca.pem"), "MSP client CA", true)
	pin := strings.Repeat("ab", 32)
	cfg := loadAdminConfig(t, dir, `{"listen": "0.0.0.0:8443", "certificate": {"file": "server.pem"},
		"clientCertificates": {"pinned": ["`+strings.ToUpper(pin)+`"], "caFile": "ca.pem"},
		"roles": [{"principal": "cert:`+pin+`", "role": "viewer"}, {"principal": "alice@EXAMPLE.COM", "role": "operator"}]}`)

	o, release, err := ServerOptions(t.Context(), cfg, &Backend{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if o.Listen != "0.0.0.0:8443" || o.LocalPath != localipc.DefaultPath(cfg.DataDir) || o.DataDir != cfg.DataDir ||
		o.ClientCAs == nil || o.Acceptor != nil || !slices.Equal(o.PinnedClientCertificates, []string{pin}) {
		t.Errorf("options %+v", o)
	}
	want := []admin.RoleBinding{{Principal: "cert:" + pin, Role: admin.RoleViewer}, {Principal: "alice@EXAMPLE.COM", Role: admin.RoleOperator}}
	if !slices.Equal(o.Roles, want) {
		t.Errorf("roles %+v, want %+v", o.Roles, want)
	}
	srv, err := admin.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Fingerprint() != admin.Fingerprint(serverDER) {
		t.Errorf("server uses %s, not the configured certificate", srv.Fingerprint())
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, admin.CertFileName)); err == nil {
		t.Errorf("a certificate was generated although admin.certificate is set")
	}

	// Without admin.certificate the certificate is generated in dataDir,
	// also valid for the listen address and the SPN's host.
	cfg = loadAdminConfig(t, t.TempDir(), `{"localSocket": false, "listen": "192.0.2.7:8443", "clientCertificates": {"pinned": ["`+pin+`"]},
		"roles": [{"principal": "cert:`+pin+`", "role": "viewer"}]}`)
	o, release, err = ServerOptions(t.Context(), cfg, &Backend{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if o.LocalPath != "" || o.Certificate != nil || !slices.Equal(o.Hosts, []string{"192.0.2.7"}) {
		t.Errorf("options %+v", o)
	}
	if got := certHosts(config.Admin{Listen: "[::]:8443", Kerberos: &config.Kerberos{SPN: "HTTP/gm01.contoso.example"}}); !slices.Equal(got, []string{"gm01.contoso.example"}) {
		t.Errorf("certHosts %v", got)
	}
	if got := certHosts(config.Admin{Kerberos: &config.Kerberos{SPN: "HTTP/gm01.contoso.example@CONTOSO.EXAMPLE"}}); !slices.Equal(got, []string{"gm01.contoso.example"}) {
		t.Errorf("certHosts of an SPN with a realm: %v", got)
	}

	// Files that cannot be used are errors naming the setting.
	for name, c := range map[string]struct{ admin, want string }{
		"missing certificate": {`{"certificate": {"file": "nope.pem"}}`, "admin.certificate"},
		"CA without certs":    {`{"clientCertificates": {"caFile": "settings.json"}}`, "admin.clientCertificates.caFile: "},
		"missing CA":          {`{"clientCertificates": {"caFile": "nope.pem"}}`, "admin.clientCertificates.caFile: "},
	} {
		_, release, err := ServerOptions(t.Context(), loadAdminConfig(t, dir, c.admin), &Backend{}, nil)
		release()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error starting %q", name, err, c.want)
		}
	}
}

func TestLoadServerCertificate(t *testing.T) {
	dir := t.TempDir()
	der, key := selfSignedUntil(t, filepath.Join(dir, "tmp.pem"), "gm01", false, time.Now().Add(time.Hour))
	leaf, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, leaf, nil, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	pfxPath := filepath.Join(dir, "server.pfx")
	if err := os.WriteFile(pfxPath, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GM_ADMIN_PFX", "s3cret")
	c, release, err := LoadServerCertificate(t.Context(), config.Certificate{File: pfxPath, PasswordEnv: "GM_ADMIN_PFX"}, time.Now())
	release()
	if err != nil || admin.Fingerprint(c.Certificate[0]) != admin.Fingerprint(der) || c.PrivateKey == nil {
		t.Errorf("PFX: %v", err)
	}
	t.Setenv("GM_ADMIN_PFX", "wrong")
	_, release, err = LoadServerCertificate(t.Context(), config.Certificate{File: pfxPath, PasswordEnv: "GM_ADMIN_PFX"}, time.Now())
	release()
	if err == nil || !strings.Contains(err.Error(), `PFX password is wrong (check the variable GM_ADMIN_PFX)`) || strings.Contains(err.Error(), "wrong\"") {
		t.Errorf("wrong password: %v", err)
	}
	os.Unsetenv("GM_ADMIN_PFX")
	_, release, err = LoadServerCertificate(t.Context(), config.Certificate{File: pfxPath, PasswordEnv: "GM_ADMIN_PFX"}, time.Now())
	release()
	if err == nil || !strings.Contains(err.Error(), "the environment variable GM_ADMIN_PFX (certificate.passwordEnv) that holds the PFX password is not set") {
		t.Errorf("missing variable: %v", err)
	}
	expired := filepath.Join(dir, "expired.pem")
	selfSignedUntil(t, expired, "old", false, time.Now().Add(-time.Hour))
	_, release, err = LoadServerCertificate(t.Context(), config.Certificate{File: expired}, time.Now())
	release()
	if err == nil || !strings.Contains(err.Error(), "expired on") {
		t.Errorf("expired: %v", err)
	}
}
