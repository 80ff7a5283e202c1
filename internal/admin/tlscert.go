package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/fsperm"
)

// File names of the generated admin certificate in the data directory.
const (
	CertFileName = "admin-cert.pem"
	KeyFileName  = "admin-key.pem"
)

// generatedLifetime is the validity of a generated server certificate.
// Clients pin its fingerprint, so it must not change under them often; ten
// years is what appliances do. Delete the two files to get a new one.
const generatedLifetime = 10 * 365 * 24 * time.Hour

// Fingerprint returns the SHA-256 of a DER certificate as 64 lower-case hex
// digits: the form settings.json's pinned lists and --fingerprint use.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint normalises a SHA-256 fingerprint typed by a person:
// upper or lower case, with or without colons or spaces, with or without a
// "sha256:" or "SHA256 Fingerprint=" prefix (openssl's output).
func ParseFingerprint(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if i := strings.LastIndexByte(t, '='); i >= 0 {
		t = t[i+1:]
	}
	t = strings.TrimPrefix(strings.TrimPrefix(t, "cert:"), "sha256:")
	t = strings.NewReplacer(":", "", " ", "").Replace(t)
	if len(t) != 64 {
		return "", fmt.Errorf("fingerprint %q: want a SHA-256 (64 hex digits), got %d digits", s, len(t))
	}
	if _, err := hex.DecodeString(t); err != nil {
		return "", fmt.Errorf("fingerprint %q: not hexadecimal", s)
	}
	return t, nil
}

// StoredFingerprint returns the fingerprint of the certificate generated in
// dataDir without creating one; fs.ErrNotExist if the service has not
// generated it yet. `galmirror status` prints it.
func StoredFingerprint(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, CertFileName))
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s: no PEM certificate", filepath.Join(dataDir, CertFileName))
	}
	return Fingerprint(blk.Bytes), nil
}

// LoadOrCreateCertificate returns the admin server certificate kept in
// dataDir, generating a self-signed ECDSA P-256 one on first use. hosts are
// the DNS names and IP addresses it is valid for (the machine's host name is
// always added). The key file is written with mode 0600 and never replaced:
// clients pin the certificate. dataDir is created private if missing and
// refused if it is not private (package fsperm): a key someone else could
// have planted there is never served.
func LoadOrCreateCertificate(dataDir string, hosts []string) (tls.Certificate, error) {
	if err := fsperm.MkdirPrivate(dataDir); err != nil {
		return tls.Certificate{}, fmt.Errorf("data directory: %w", err)
	}
	certPath := filepath.Join(dataDir, CertFileName)
	keyPath := filepath.Join(dataDir, KeyFileName)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		return cert, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("load admin certificate from %s: %w", dataDir, err)
	}
	if _, statErr := os.Stat(certPath); statErr == nil {
		// Half a pair: refuse rather than silently replacing a pinned cert.
		return tls.Certificate{}, fmt.Errorf("load admin certificate: %s exists but %s does not; delete both to generate a new certificate", certPath, keyPath)
	}
	certPEM, keyPEM, err := generateCertificate(hosts, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	// O_EXCL: two starting processes never overwrite each other's key.
	if err := writeExclusive(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write admin key: %w", err)
	}
	if err := writeExclusive(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write admin certificate: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func writeExclusive(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func generateCertificate(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate admin key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generate serial: %w", err)
	}
	hostname, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "galmirror admin " + hostname},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(generatedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range append([]string{hostname, "localhost"}, hosts...) {
		if h == "" || seen[strings.ToLower(h)] {
			continue
		}
		seen[strings.ToLower(h)] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create admin certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal admin key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
