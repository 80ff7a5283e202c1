package entra

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// assertionLifetime is how long a client assertion is valid (MSAL uses the
// same ten minutes).
const assertionLifetime = 10 * time.Minute

// Assertion describes the client assertion JWT galmirror signs itself when
// the key is only reachable through a crypto.Signer (graph-protocol.md §1.2).
type Assertion struct {
	ClientID      string
	TokenEndpoint string // the audience: {authority}/{tenant}/oauth2/v2.0/token
	Cert          *x509.Certificate
	Signer        crypto.Signer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Sign builds and signs a fresh assertion: PS256 with the SHA-256
// thumbprint (x5t#S256), iss = sub = client id, a random jti, nbf now and
// exp ten minutes later. A signer that cannot do RSA-PSS (an old CryptoAPI
// key) gets one retry with RS256 and the SHA-1 thumbprint (x5t), which Entra
// also accepts, as MSAL does.
func (a *Assertion) Sign() (string, error) {
	if a.Cert == nil || a.Signer == nil {
		return "", errors.New("client assertion: no certificate or signer")
	}
	if _, ok := a.Signer.Public().(*rsa.PublicKey); !ok {
		return "", errors.New("client assertion: the key is not RSA")
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	claims := map[string]any{
		"aud": a.TokenEndpoint,
		"exp": now.Add(assertionLifetime).Unix(),
		"iss": a.ClientID,
		"jti": newJTI(),
		"nbf": now.Unix(),
		"sub": a.ClientID,
	}
	s256 := sha256.Sum256(a.Cert.Raw)
	tok, err := signJWT(a.Signer, "PS256", map[string]string{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])}, claims)
	if err == nil {
		return tok, nil
	}
	s1 := sha1.Sum(a.Cert.Raw)
	tok, err2 := signJWT(a.Signer, "RS256", map[string]string{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(s1[:])}, claims)
	if err2 != nil {
		return "", fmt.Errorf("client assertion: sign: %w", errors.Join(err, err2))
	}
	return tok, nil
}

func signJWT(signer crypto.Signer, alg string, header map[string]string, claims map[string]any) (string, error) {
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	var opts crypto.SignerOpts = crypto.SHA256
	if alg == "PS256" {
		// CNG rejects PSSSaltLengthAuto; the hash length is what Entra
		// and every other verifier expect.
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	sig, err := signer.Sign(rand.Reader, digest[:], opts)
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// newJTI returns a random (version 4) UUID.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
