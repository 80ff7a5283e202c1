package entra

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cert new's files: a PFX with PBES2/AES-256 and an HMAC-SHA-256 MAC that
// galmirror and OpenSSL 3 read back, a DER .cer, both mode 0600, and
// never an overwrite.
func TestNewCertificateFiles(t *testing.T) {
	cert, key, err := NewSelfSigned(NewCertificateRequest{CommonName: "galmirror contoso"})
	if err != nil {
		t.Fatal(err)
	}
	if k := cert.PublicKey.(*rsa.PublicKey); k.N.BitLen() != 3072 || cert.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("key %d bits, %v", k.N.BitLen(), cert.SignatureAlgorithm)
	}
	if d := cert.NotAfter.Sub(time.Now()); d < DefaultCertificateValidity-time.Hour || d > DefaultCertificateValidity+time.Hour {
		t.Errorf("validity %v", d)
	}
	dir := t.TempDir()
	pfx := filepath.Join(dir, "contoso.pfx")
	if err := WriteCertificateFiles(pfx, cert, key, "pässword"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pfx, CerPath(pfx)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", p, st.Mode().Perm())
		}
	}
	got, err := LoadCertificateFile(t.Context(), pfx, "pässword", time.Now())
	if err != nil || got.ThumbprintSHA1() != (&Certificate{Leaf: cert}).ThumbprintSHA1() {
		t.Fatalf("read back: %v", err)
	}
	if der, _ := os.ReadFile(CerPath(pfx)); string(der) != string(cert.Raw) {
		t.Error(".cer is not the DER certificate")
	}
	if err := WriteCertificateFiles(pfx, cert, key, "x"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("overwrite: %v", err)
	}
	if openssl, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command(openssl, "pkcs12", "-in", pfx, "-info", "-nokeys", "-passin", "pass:pässword").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PBES2") || !strings.Contains(string(out), "AES-256-CBC") || !strings.Contains(string(out), "sha256") {
			t.Errorf("openssl pkcs12: %v\n%s", err, out)
		}
	}
	pemPath := filepath.Join(dir, "contoso-pem.pem")
	if err := WriteCertificateFiles(pemPath, cert, key, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCertificateFile(t.Context(), pemPath, "", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// Entra accepts only RSA keys of 2048 bits and more; validity is bounded.
func TestNewCertificateRefusals(t *testing.T) {
	for _, k := range []string{"ecdsa-p256", "ed25519", "rsa1024"} {
		if _, _, err := NewSelfSigned(NewCertificateRequest{CommonName: "x", KeyType: k}); !errors.Is(err, ErrKeyTypeUnsupported) {
			t.Errorf("%s: %v", k, err)
		}
	}
	if _, _, err := NewSelfSigned(NewCertificateRequest{CommonName: "x", Validity: 10 * 24 * time.Hour}); err == nil {
		t.Error("10 days accepted")
	}
	if _, _, err := NewSelfSigned(NewCertificateRequest{CommonName: ""}); err == nil {
		t.Error("empty subject accepted")
	}
	if _, err := EncodePFX(nil, nil, ""); err == nil {
		t.Error("empty PFX password accepted")
	}
}

// KeyIDFor is a stable GUID per certificate.
func TestKeyIDFor(t *testing.T) {
	c1, _, _ := NewSelfSigned(NewCertificateRequest{CommonName: "a", KeyType: KeyRSA2048})
	c2, _, _ := NewSelfSigned(NewCertificateRequest{CommonName: "a", KeyType: KeyRSA2048})
	a, b := KeyIDFor(c1), KeyIDFor(c2)
	if a == b || a != KeyIDFor(c1) || len(a) != 36 || a[14] != '8' {
		t.Errorf("key ids %s %s", a, b)
	}
}
