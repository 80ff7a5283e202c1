package entra

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Key types `cert new` makes. Microsoft Entra ID accepts only RSA keys for
// app certificates ("Microsoft Entra ID currently supports only RSA",
// https://learn.microsoft.com/entra/identity-platform/howto-create-self-signed-certificate)
// and refuses RSA keys under 2048 bits (AADSTS700027).
const (
	KeyRSA2048 = "rsa2048"
	KeyRSA3072 = "rsa3072"
	KeyRSA4096 = "rsa4096"
)

// DefaultKeyType is the key `cert new` and renewal make.
const DefaultKeyType = KeyRSA3072

// DefaultCertificateValidity is the validity of a new certificate (two
// years).
const DefaultCertificateValidity = 2 * 365 * 24 * time.Hour

// Validity bounds of a new certificate: renewal starts 30 days before the
// end by default, so a shorter one would renew at once.
const (
	MinCertificateValidity = 60 * 24 * time.Hour
	MaxCertificateValidity = 5 * 366 * 24 * time.Hour
)

// ErrKeyTypeUnsupported is wrapped by NewSelfSigned for a key type Entra
// does not accept or galmirror does not make.
var ErrKeyTypeUnsupported = errors.New("unsupported key type")

// ErrStoreUnavailable is returned by ImportToMachineStore on systems
// without the Windows certificate store.
var ErrStoreUnavailable = errors.New("the LocalMachine certificate store is only available on Windows; write a PFX or PEM file instead")

// KeyBits returns the RSA modulus size of a key type.
func KeyBits(keyType string) (int, error) {
	switch strings.ToLower(keyType) {
	case KeyRSA2048:
		return 2048, nil
	case KeyRSA3072, "":
		return 3072, nil
	case KeyRSA4096:
		return 4096, nil
	case "ecdsa", "ecdsa-p256", "p256", "ec", "ecdsa-p384", "ed25519":
		return 0, fmt.Errorf("key type %q: %w: Microsoft Entra ID accepts only RSA keys for application certificates (use %s, %s or %s)",
			keyType, ErrKeyTypeUnsupported, KeyRSA2048, KeyRSA3072, KeyRSA4096)
	}
	return 0, fmt.Errorf("key type %q: %w (use %s, %s or %s)", keyType, ErrKeyTypeUnsupported, KeyRSA2048, KeyRSA3072, KeyRSA4096)
}

// NewCertificateRequest describes a self-signed app certificate.
type NewCertificateRequest struct {
	// CommonName is the subject's CN ("galmirror contoso").
	CommonName string
	// KeyType is one of the Key* constants; empty means DefaultKeyType.
	KeyType string
	// Validity is how long the certificate is valid from now; zero means
	// DefaultCertificateValidity.
	Validity time.Duration
	// Now is the clock; zero means time.Now().
	Now time.Time
}

// NewSelfSigned makes a key pair and a self-signed certificate for app
// authentication: SHA-256 with RSA, digital signature usage, client
// authentication, valid from five minutes ago (clock skew) for Validity.
func NewSelfSigned(req NewCertificateRequest) (*x509.Certificate, *rsa.PrivateKey, error) {
	bits, err := KeyBits(req.KeyType)
	if err != nil {
		return nil, nil, err
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultCertificateValidity
	}
	if validity < MinCertificateValidity || validity > MaxCertificateValidity {
		return nil, nil, fmt.Errorf("validity %s: must be between %d and %d days", validity, MinCertificateValidity/(24*time.Hour), MaxCertificateValidity/(24*time.Hour))
	}
	cn := strings.TrimSpace(req.CommonName)
	if cn == "" || len(cn) > 64 {
		return nil, nil, errors.New("certificate subject: a common name of 1 to 64 characters is required")
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("generate an RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	ski := sha256.Sum256(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-5 * time.Minute).UTC().Truncate(time.Second),
		NotAfter:              now.Add(validity).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski[:20],
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// EncodePFX encodes a certificate and its key as a PKCS#12 file with
// modern algorithms: keys and certificates under PBES2 (PBKDF2-HMAC-SHA-256,
// AES-256-CBC) and an HMAC-SHA-256 MAC, which OpenSSL 1.1.1 and 3 and
// Windows Server 2019 and later read. An empty password is refused.
func EncodePFX(cert *x509.Certificate, key crypto.PrivateKey, password string) ([]byte, error) {
	if password == "" {
		return nil, errors.New("PFX: an empty password is not allowed")
	}
	return pkcs12.Modern2023.WithIterations(100_000).Encode(key, cert, nil, password)
}

// EncodePEM encodes a certificate and its unencrypted key (PKCS#8) as one
// PEM file, the form LoadCertificateFile reads.
func EncodePEM(cert *x509.Certificate, key crypto.PrivateKey) ([]byte, error) {
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})...), nil
}

// NewPassword returns a random PFX password: 32 hex digits (128 bits).
func NewPassword() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b[:])
}

// KeyIDFor derives the keyId galmirror gives a certificate it registers on
// an app through application create or update: a GUID (version 8, RFC
// 9562) from the certificate's SHA-256 hash, so that any installation
// holding the certificate knows its keyId without reading the app.
func KeyIDFor(cert *x509.Certificate) string {
	h := sha256.Sum256(append([]byte("galmirror key id\x00"), cert.Raw...))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Thumbprints returns a certificate's SHA-1 and SHA-256 thumbprints in
// upper-case hex.
func Thumbprints(cert *x509.Certificate) (sha1Hex, sha256Hex string) {
	c := &Certificate{Leaf: cert}
	return c.ThumbprintSHA1(), c.ThumbprintSHA256()
}

// CerPath returns the path of the public certificate (.cer, DER) beside a
// PFX or PEM file.
func CerPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".cer"
}

// WriteCertificateFiles writes a certificate with its key to path, as a
// PFX (EncodePFX with password) or, when path ends in .pem, as PEM, and
// its public part as DER to CerPath(path), for upload to the app
// registration. Both are created with mode 0600 and never overwrite a
// file (the previous key would be lost).
func WriteCertificateFiles(path string, cert *x509.Certificate, key crypto.PrivateKey, password string) error {
	var data []byte
	var err error
	if strings.EqualFold(filepath.Ext(path), ".pem") {
		data, err = EncodePEM(cert, key)
	} else {
		data, err = EncodePFX(cert, key, password)
	}
	if err != nil {
		return err
	}
	cer := CerPath(path)
	if cer == path {
		return fmt.Errorf("%s: name the key file .pfx or .pem, not .cer", path)
	}
	if err := writeNewFile(path, data); err != nil {
		return err
	}
	if err := writeNewFile(cer, cert.Raw); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// writeNewFile creates path with mode 0600 (on Windows, in a folder whose
// ACL it inherits) and fails when it exists.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: choose another name, or move it away first (galmirror never overwrites a key)", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
