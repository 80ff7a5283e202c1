package entrasim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// maxJWTLen bounds what the parsers accept; real client assertions are a few
// KB even with an x5c chain.
const maxJWTLen = 64 << 10

// jwtHeader is the part of a JOSE header entrasim looks at.
type jwtHeader struct {
	Alg       string `json:"alg"`
	Typ       string `json:"typ"`
	Kid       string `json:"kid"`
	X5t       string `json:"x5t"`
	X5tS256   string `json:"x5t#S256"`
	rawHeader []byte
}

// parsedJWT is a compact JWS split into its parts; nothing is verified yet.
type parsedJWT struct {
	header       jwtHeader
	claims       map[string]json.RawMessage
	signingInput string // header.payload as sent
	signature    []byte
}

// parseJWT splits and decodes a compact JWS. It never panics on any input.
func parseJWT(raw string) (*parsedJWT, error) {
	if raw == "" {
		return nil, errors.New("token is empty")
	}
	if len(raw) > maxJWTLen {
		return nil, errors.New("token is too long")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("token has %d parts, want 3", len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("header is not base64url: %w", err)
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("payload is not base64url: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("signature is not base64url: %w", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("header is not a JSON object: %w", err)
	}
	h.rawHeader = hb
	claims := map[string]json.RawMessage{}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, errors.New("payload is not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("payload has trailing data")
	}
	return &parsedJWT{header: h, claims: claims, signingInput: parts[0] + "." + parts[1], signature: sig}, nil
}

// str returns a string claim, or "" when absent or not a string.
func (j *parsedJWT) str(name string) string {
	v, ok := j.claims[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// audiences returns the aud claim as a list (RFC 7519 allows a string or an
// array of strings).
func (j *parsedJWT) audiences() []string {
	v, ok := j.claims["aud"]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return []string{s}
	}
	var l []string
	if json.Unmarshal(v, &l) == nil {
		return l
	}
	return nil
}

// strings returns a string-array claim.
func (j *parsedJWT) strings(name string) []string {
	var l []string
	if v, ok := j.claims[name]; ok {
		if json.Unmarshal(v, &l) != nil {
			return nil
		}
	}
	return l
}

// numericDate returns a NumericDate claim; ok is false when it is absent or
// not a finite number.
func (j *parsedJWT) numericDate(name string) (time.Time, bool) {
	v, present := j.claims[name]
	if !present {
		return time.Time{}, false
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// verifyRSA checks the signature with an RSA public key for the RS* and PS*
// algorithms. PS* verification accepts any salt length, as Entra does; signers
// use the hash length (MSAL, CNG).
func verifyRSA(alg, signingInput string, sig []byte, pub *rsa.PublicKey) error {
	var h crypto.Hash
	pss := false
	switch alg {
	case "RS256":
		h = crypto.SHA256
	case "RS384":
		h = crypto.SHA384
	case "RS512":
		h = crypto.SHA512
	case "PS256":
		h, pss = crypto.SHA256, true
	case "PS384":
		h, pss = crypto.SHA384, true
	case "PS512":
		h, pss = crypto.SHA512, true
	default:
		return fmt.Errorf("algorithm %q is not supported", alg)
	}
	digest := hashOf(h, []byte(signingInput))
	if pss {
		return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h})
	}
	return rsa.VerifyPKCS1v15(pub, h, digest, sig)
}

func supportedAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return true
	}
	return false
}

func hashOf(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA384:
		s := sha512.Sum384(b)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(b)
		return s[:]
	default:
		s := sha256.Sum256(b)
		return s[:]
	}
}

// signRS256 builds a compact JWS with RS256 over the given header and claims.
func signRS256(key *rsa.PrivateKey, header, claims any) (string, error) {
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// decodeThumbprint decodes an x5t / x5t#S256 value sent in standard base64
// (MSAL Go) or base64url (the documentation), padded or not.
func decodeThumbprint(s string) []byte {
	if s == "" || len(s) > 256 {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}
