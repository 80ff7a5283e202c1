package graphsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// AppCredential is what a client needs to authenticate as an app: the
// tenant and client ids and the certificate and private key in PEM.
type AppCredential struct {
	TenantID string `json:"tenantId,omitempty"`
	ClientID string `json:"clientId"`
	// CertPEM is the self-signed certificate registered on the app.
	CertPEM []byte `json:"certPem"`
	// KeyPEM is the RSA private key (PKCS#8, "PRIVATE KEY").
	KeyPEM []byte `json:"keyPem"`
	// Thumbprint is the certificate's SHA-1 thumbprint in upper-case hex,
	// as Entra and the Windows certificate store show it.
	Thumbprint string `json:"thumbprint"`

	Certificate *x509.Certificate `json:"-"`
	Key         *rsa.PrivateKey   `json:"-"`
}

// NewApp creates an app registration with a new client id, granted roles,
// and a fresh self-signed RSA-2048 certificate registered on it; it returns
// the app (for Tenant.Apps) and the matching credential. The credential's
// TenantID is empty until the caller sets it.
func NewApp(displayName string, roles ...string) (App, AppCredential, error) {
	clientID := NewGUID()
	certPEM, keyPEM, cert, key, err := newSelfSigned("CN=" + displayName)
	if err != nil {
		return App{}, AppCredential{}, fmt.Errorf("graphsim: create app certificate: %w", err)
	}
	sum := sha1.Sum(cert.Raw)
	app := App{
		ClientID:        clientID,
		DisplayName:     displayName,
		CertificatesPEM: []string{string(certPEM)},
		Roles:           append([]string(nil), roles...),
	}
	return app, AppCredential{
		ClientID:    clientID,
		CertPEM:     certPEM,
		KeyPEM:      keyPEM,
		Thumbprint:  strings.ToUpper(hex.EncodeToString(sum[:])),
		Certificate: cert,
		Key:         key,
	}, nil
}

func newSelfSigned(subject string) (certPEM, keyPEM []byte, cert *x509.Certificate, key *rsa.PrivateKey, err error) {
	key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cn := strings.TrimPrefix(subject, "CN=")
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	return certPEM, keyPEM, cert, key, nil
}

// NewGUID returns a random lower-case GUID, the form of directory object,
// tenant and client ids.
func NewGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// parseCertificatesPEM decodes every CERTIFICATE block.
func parseCertificatesPEM(pems []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i, p := range pems {
		rest := []byte(p)
		found := false
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %d: %w", i, err)
			}
			out = append(out, c)
			found = true
		}
		if !found {
			return nil, fmt.Errorf("certificate %d: no PEM CERTIFICATE block", i)
		}
	}
	return out, nil
}

// Thumbprint returns the upper-case hex SHA-1 thumbprint of the first
// certificate in PEM, or "" if there is none.
func Thumbprint(certPEM []byte) string {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return ""
	}
	sum := sha1.Sum(b.Bytes)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
