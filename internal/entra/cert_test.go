package entra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fixturePassword = "Correct-Horse-9"

func fixture(name string) string { return filepath.Join("testdata", name) }

// opensslFingerprints reads what `openssl x509 -fingerprint` printed when
// the fixtures were made.
func opensslFingerprints(t *testing.T) (sha1, sha256 string) {
	t.Helper()
	b, err := os.ReadFile(fixture("cert.fingerprints"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		v = strings.ReplaceAll(v, ":", "")
		switch {
		case strings.HasPrefix(strings.ToLower(k), "sha1"):
			sha1 = v
		case strings.HasPrefix(strings.ToLower(k), "sha256"):
			sha256 = v
		}
	}
	return sha1, sha256
}

func TestLoadCertificateFiles(t *testing.T) {
	s1, s256 := opensslFingerprints(t)
	for _, name := range []string{"modern.pfx", "legacy-3des.pfx", "combined-pkcs8.pem", "combined-pkcs1.pem"} {
		t.Run(name, func(t *testing.T) {
			c, err := LoadCertificateFile(t.Context(), fixture(name), fixturePassword, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.ThumbprintSHA1() != s1 || c.ThumbprintSHA256() != s256 {
				t.Errorf("thumbprints %s %s, openssl says %s %s", c.ThumbprintSHA1(), c.ThumbprintSHA256(), s1, s256)
			}
			if c.NotAfter().Before(time.Now().AddDate(50, 0, 0)) || c.Subject() != "CN=galmirror test app" {
				t.Errorf("NotAfter %v subject %q", c.NotAfter(), c.Subject())
			}
			if _, ok := c.Signer().(*rsa.PrivateKey); !ok {
				t.Errorf("signer %T", c.Signer())
			}
			if c.Source() != fixture(name) {
				t.Errorf("source %q", c.Source())
			}
		})
	}
}

// writeTemp writes PEM blocks to a file in a temp dir.
func writeTemp(t *testing.T, name string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func selfSigned(t *testing.T, key any, pub any, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "t"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestLoadCertificateErrors(t *testing.T) {
	other := testKey(t)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(other)
	fixtureCert, _ := os.ReadFile(fixture("cert.pem"))
	certBlock, _ := pem.Decode(fixtureCert)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecCert := selfSigned(t, ec, &ec.PublicKey, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	now := time.Now()
	expired := selfSigned(t, other, &other.PublicKey, now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
	future := selfSigned(t, other, &other.PublicKey, now.AddDate(0, 0, 1), now.AddDate(1, 0, 0))
	otherKeyBlock := &pem.Block{Type: "PRIVATE KEY", Bytes: otherDER}
	garbage := filepath.Join(t.TempDir(), "garbage.pfx")
	_ = os.WriteFile(garbage, []byte("this is not a pfx"), 0o600)

	cases := []struct {
		name, path, password string
		want                 string
		is                   error
		expired              bool
	}{
		{"wrong password", fixture("modern.pfx"), "Tr0ub4dor&3", "PFX password is wrong", ErrWrongPassword, false},
		{"wrong password legacy", fixture("legacy-3des.pfx"), "Tr0ub4dor&3", "PFX password is wrong", ErrWrongPassword, false},
		{"missing password", fixture("modern.pfx"), "", "password environment variable", ErrWrongPassword, false},
		{"pfx without key", fixture("nokey.pfx"), fixturePassword, "holds no private key", nil, false},
		{"not a pfx", garbage, "Tr0ub4dor&3", "not a PFX", nil, false},
		{"missing file", filepath.Join(t.TempDir(), "nope.pfx"), "Tr0ub4dor&3", "nope.pfx", os.ErrNotExist, false},
		{"encrypted pkcs8", fixture("combined-encrypted-pkcs8.pem"), fixturePassword, "private key is encrypted", nil, false},
		{"encrypted pkcs1", fixture("combined-encrypted-pkcs1.pem"), fixturePassword, "private key is encrypted", nil, false},
		{"pem without key", fixture("cert.pem"), "", "holds no private key", nil, false},
		{"pem without cert", writeTemp(t, "key.pem", otherKeyBlock), "", "holds no certificate", nil, false},
		{"key does not match", writeTemp(t, "mismatch.pem", certBlock, otherKeyBlock), "", "does not match the certificate", nil, false},
		{"ecdsa key", writeTemp(t, "ec.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ecCert.Raw}, &pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "", "need an RSA key", nil, false},
		{"expired", writeTemp(t, "expired.pem", &pem.Block{Type: "CERTIFICATE", Bytes: expired.Raw}, otherKeyBlock), "", "expired on", nil, true},
		{"not yet valid", writeTemp(t, "future.pem", &pem.Block{Type: "CERTIFICATE", Bytes: future.Raw}, otherKeyBlock), "", "not valid before", nil, true},
		{"corrupt key", writeTemp(t, "corrupt.pem", certBlock, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "", "not a valid private key", nil, false},
		{"empty pem", writeTemp(t, "empty.pem", &pem.Block{Type: "X509 CRL", Bytes: []byte{1}}), "", "no PEM certificate or private key", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadCertificateFile(t.Context(), c.path, c.password, now)
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, filepath.Base(c.path)) {
				t.Errorf("error %q: want it to name the file and say %q", msg, c.want)
			}
			if c.password != "" && strings.Contains(msg, c.password) {
				t.Errorf("error leaks the password: %q", msg)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v) false", c.is)
			}
			var ee *CertificateExpiredError
			if errors.As(err, &ee) != c.expired {
				t.Errorf("CertificateExpiredError: %v", err)
			} else if c.expired && (ee.NotAfter.IsZero() || len(ee.Thumbprint) != 40) {
				t.Errorf("expired error lacks dates or thumbprint: %+v", ee)
			}
		})
	}
}

func TestLoadCertificateSource(t *testing.T) {
	if _, err := LoadCertificate(t.Context(), CertificateSource{}, time.Now()); err == nil {
		t.Error("empty source loaded")
	}
	if _, err := LoadCertificate(t.Context(), CertificateSource{File: "a", Thumbprint: "b"}, time.Now()); err == nil {
		t.Error("file and thumbprint both accepted")
	}
	c, err := LoadCertificate(t.Context(), CertificateSource{File: fixture("modern.pfx"), Password: fixturePassword}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}

func TestParseThumbprint(t *testing.T) {
	want := "EEC2A08C72061C543084C06AC496927C4E1D9DD0"
	for _, in := range []string{
		want, strings.ToLower(want), "\u200eee c2 a0 8c 72 06 1c 54 30 84 c0 6a c4 96 92 7c 4e 1d 9d d0",
		"EE:C2:A0:8C:72:06:1C:54:30:84:C0:6A:C4:96:92:7C:4E:1D:9D:D0",
	} {
		b, err := ParseThumbprint(in)
		if err != nil || strings.ToUpper(hexString(b)) != want {
			t.Errorf("ParseThumbprint(%q) = %x, %v", in, b, err)
		}
	}
	for _, in := range []string{"", "EEC2", want + "00", "ZZ" + want[2:]} {
		if _, err := ParseThumbprint(in); err == nil {
			t.Errorf("ParseThumbprint(%q) accepted", in)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
