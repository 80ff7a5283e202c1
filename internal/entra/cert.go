package entra

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// CertificateSource says where a tenant's certificate lives: a file (PFX or
// PEM), or on Windows a thumbprint in LocalMachine\My.
type CertificateSource struct {
	// File is a PFX/PKCS#12 file (with Password) or a PEM file holding the
	// certificate and an unencrypted private key.
	File string
	// Password decrypts a PFX file. It never appears in an error.
	Password string
	// Thumbprint is the SHA-1 thumbprint (hex, as certlm.msc shows it) of a
	// certificate in LocalMachine\My. Windows only.
	Thumbprint string
}

// Certificate is a loaded client certificate with a way to sign.
type Certificate struct {
	// Leaf is the certificate registered on the app; Chain starts with it.
	Leaf  *x509.Certificate
	Chain []*x509.Certificate

	signer crypto.Signer
	source string
	closer func() error
}

// CertificateError says what is wrong with a certificate and where; it
// never carries a password.
type CertificateError struct {
	Source  string // file path or store location
	Problem string
}

func (e *CertificateError) Error() string { return "certificate " + e.Source + ": " + e.Problem }

// ErrCertificateNotFound is wrapped when a thumbprint names no certificate
// in the store (a missing file wraps fs.ErrNotExist).
var ErrCertificateNotFound = errors.New("certificate not found")

// ErrWrongPassword is wrapped when a PFX password is wrong or missing.
var ErrWrongPassword = errors.New("wrong password")

// CertificateExpiredError reports a certificate outside its validity
// period; it carries the dates so `check` can still show them.
type CertificateExpiredError struct {
	Source     string
	NotBefore  time.Time
	NotAfter   time.Time
	Thumbprint string // SHA-1, upper-case hex
	NotYet     bool   // not valid yet rather than expired
}

func (e *CertificateExpiredError) Error() string {
	if e.NotYet {
		return fmt.Sprintf("certificate %s (thumbprint %s) is not valid before %s", e.Source, e.Thumbprint, e.NotBefore.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("certificate %s (thumbprint %s) expired on %s", e.Source, e.Thumbprint, e.NotAfter.UTC().Format(time.RFC3339))
}

// LoadCertificate loads the certificate a source names and checks it is
// valid at now. Reading a file stops when ctx is done. The caller must
// Close the result (it may hold a store handle).
func LoadCertificate(ctx context.Context, src CertificateSource, now time.Time) (*Certificate, error) {
	switch {
	case src.File != "" && src.Thumbprint != "":
		return nil, errors.New("certificate: give either a file or a thumbprint, not both")
	case src.File != "":
		return LoadCertificateFile(ctx, src.File, src.Password, now)
	case src.Thumbprint != "":
		tp, err := ParseThumbprint(src.Thumbprint)
		if err != nil {
			return nil, err
		}
		c, err := openStoreCertificate(tp)
		if err != nil {
			return nil, err
		}
		if err := c.CheckValidity(now); err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	}
	return nil, errors.New("certificate: neither a file nor a thumbprint given")
}

// LoadCertificateFile loads a PFX (any encryption OpenSSL or Windows
// produce, through go-pkcs12) or a PEM file with certificate and key, and
// checks the key matches and the certificate is valid at now. The file
// must be a regular file of at most MaxCertificateFileSize bytes (see
// ReadFile); reading it stops when ctx is done.
func LoadCertificateFile(ctx context.Context, path, password string, now time.Time) (*Certificate, error) {
	data, err := ReadFile(ctx, path, MaxCertificateFileSize)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, &CertificateError{path, fe.Problem}
		}
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	var c *Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		c, err = parsePEM(path, data)
	} else {
		c, err = parsePFX(path, data, password)
	}
	if err != nil {
		return nil, err
	}
	if err := c.CheckValidity(now); err != nil {
		return nil, err
	}
	return c, nil
}

func parsePFX(path string, data []byte, password string) (*Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword) && password == "":
			return nil, &wrapped{&CertificateError{path, "PFX password is wrong or missing (is the password environment variable set?)"}, ErrWrongPassword}
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			return nil, &wrapped{&CertificateError{path, "PFX password is wrong"}, ErrWrongPassword}
		case strings.Contains(err.Error(), "private key missing"):
			return nil, &CertificateError{path, "the PFX holds no private key (export it with the private key)"}
		case strings.Contains(err.Error(), "certificate missing"):
			return nil, &CertificateError{path, "the PFX holds no certificate"}
		}
		var nie pkcs12.NotImplementedError
		if errors.As(err, &nie) {
			return nil, &CertificateError{path, "unsupported PFX/PKCS#12 structure: " + strings.TrimPrefix(err.Error(), "pkcs12: ")}
		}
		return nil, &CertificateError{path, "not a PFX/PKCS#12 file, or it is corrupt"}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, &CertificateError{path, fmt.Sprintf("unsupported private key type %T", key)}
	}
	return assemble(path, append([]*x509.Certificate{leaf}, cas...), signer)
}

// wrapped pairs a CertificateError with a sentinel for errors.Is.
type wrapped struct {
	*CertificateError
	sentinel error
}

func (w *wrapped) Unwrap() []error { return []error{w.CertificateError, w.sentinel} }

func parsePEM(path string, data []byte) (*Certificate, error) {
	var certs []*x509.Certificate
	var key crypto.Signer
	rest := data
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, &CertificateError{path, fmt.Sprintf("PEM block %d is not a valid certificate: %v", n, err)}
			}
			certs = append(certs, c)
		case "ENCRYPTED PRIVATE KEY":
			return nil, &CertificateError{path, "the private key is encrypted, which galmirror does not read from PEM; use a PFX file with passwordEnv, or decrypt the key (openssl pkey -in KEY -out PLAIN)"}
		case "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY":
			if key != nil {
				return nil, &CertificateError{path, "the PEM file holds more than one private key"}
			}
			if b.Headers["Proc-Type"] != "" || b.Headers["DEK-Info"] != "" {
				return nil, &CertificateError{path, "the private key is encrypted, which galmirror does not read from PEM; use a PFX file with passwordEnv, or decrypt the key (openssl pkey -in KEY -out PLAIN)"}
			}
			k, err := parsePEMKey(b)
			if err != nil {
				return nil, &CertificateError{path, fmt.Sprintf("PEM block %d (%s) is not a valid private key: %v", n, b.Type, err)}
			}
			key = k
		}
	}
	switch {
	case len(certs) == 0 && key == nil:
		return nil, &CertificateError{path, "no PEM certificate or private key found"}
	case len(certs) == 0:
		return nil, &CertificateError{path, "the PEM file holds no certificate"}
	case key == nil:
		return nil, &CertificateError{path, "the PEM file holds no private key (put the certificate and its key in one file)"}
	}
	return assemble(path, certs, key)
}

func parsePEMKey(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return s, nil
}

// assemble picks the certificate matching the key as the leaf (PFX files
// exported with their chain do not always list the leaf first) and checks
// the key is RSA, as Entra's certificate credentials require.
func assemble(source string, certs []*x509.Certificate, key crypto.Signer) (*Certificate, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, &CertificateError{source, fmt.Sprintf("the key is %s; Entra app certificates need an RSA key", keyKind(key.Public()))}
	}
	leafAt := -1
	for i, c := range certs {
		if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(key.Public()) {
			leafAt = i
			break
		}
	}
	if leafAt < 0 {
		return nil, &CertificateError{source, "the private key does not match the certificate"}
	}
	chain := append([]*x509.Certificate{certs[leafAt]}, certs[:leafAt]...)
	chain = append(chain, certs[leafAt+1:]...)
	return &Certificate{Leaf: chain[0], Chain: chain, signer: key, source: source}, nil
}

func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// NewCertificateFromSigner builds a Certificate whose key is reachable only
// through a crypto.Signer (a Windows store key, an HSM, a test signer).
// The signer must be RSA and match chain[0].
func NewCertificateFromSigner(source string, chain []*x509.Certificate, signer crypto.Signer) (*Certificate, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, &CertificateError{source, "no certificate"}
	}
	if signer == nil {
		return nil, &CertificateError{source, "no private key"}
	}
	c, err := assemble(source, chain, signer)
	if err != nil {
		return nil, err
	}
	if c.Leaf != chain[0] {
		return nil, &CertificateError{source, "the private key does not match the certificate"}
	}
	return c, nil
}

// Source is where the certificate was loaded from (a file path or the
// store location), for messages.
func (c *Certificate) Source() string { return c.source }

// Signer signs with the certificate's private key.
func (c *Certificate) Signer() crypto.Signer { return c.signer }

// NotAfter is the end of the certificate's validity, for expiry warnings.
func (c *Certificate) NotAfter() time.Time { return c.Leaf.NotAfter }

// Subject is the certificate's subject, for `check`.
func (c *Certificate) Subject() string { return c.Leaf.Subject.String() }

// ThumbprintSHA1 is the SHA-1 thumbprint in upper-case hex, as the Entra
// portal and certlm.msc show it.
func (c *Certificate) ThumbprintSHA1() string {
	s := sha1.Sum(c.Leaf.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// ThumbprintSHA256 is the SHA-256 thumbprint in upper-case hex.
func (c *Certificate) ThumbprintSHA256() string {
	s := sha256.Sum256(c.Leaf.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// CheckValidity returns a *CertificateExpiredError when now is outside the
// certificate's validity period.
func (c *Certificate) CheckValidity(now time.Time) error {
	l := c.Leaf
	if now.After(l.NotAfter) || now.Before(l.NotBefore) {
		return &CertificateExpiredError{Source: c.source, NotBefore: l.NotBefore, NotAfter: l.NotAfter,
			Thumbprint: c.ThumbprintSHA1(), NotYet: now.Before(l.NotBefore)}
	}
	return nil
}

// Close releases a store-backed key; it is a no-op for files.
func (c *Certificate) Close() error {
	if c == nil || c.closer == nil {
		return nil
	}
	f := c.closer
	c.closer = nil
	return f()
}

// ParseThumbprint normalises a SHA-1 thumbprint as users paste it: hex with
// optional spaces or colons, and the invisible left-to-right mark that
// copying from the Windows certificate dialog adds. It returns 20 bytes.
func ParseThumbprint(s string) ([]byte, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == ':' || r == '\t' || r == '\u200e' || r == '\u200f' || r == '\ufeff':
			continue
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f', 'A' <= r && r <= 'F':
			b.WriteRune(r)
		default:
			return nil, fmt.Errorf("certificate thumbprint: %q is not a hex digit", r)
		}
	}
	tp, err := hex.DecodeString(b.String())
	if err != nil || len(tp) != sha1.Size {
		return nil, fmt.Errorf("certificate thumbprint: want 40 hex digits (SHA-1), got %d", b.Len())
	}
	return tp, nil
}
