package entra

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// ProofAudience is the audience of an addKey/removeKey proof of
// possession (Azure AD Graph's application id; application-addkey.md).
const ProofAudience = "00000002-0000-0000-c000-000000000000"

// proofLifetime is the proof's validity: "exp should be nbf + 10 minutes"
// (application-addkey.md, application-rollkey-prooftoken.md).
const proofLifetime = 10 * time.Minute

// SignProof builds the proof of possession that POST
// /applications/{id}/addKey and removeKey require: a JWT signed (RS256)
// with the private key of one of the application's valid certificates,
// named by its SHA-1 thumbprint (x5t), with aud ProofAudience, iss the
// application's object id, nbf now and exp ten minutes later
// (https://learn.microsoft.com/graph/application-rollkey-prooftoken).
// Header and payload carry no base64 padding, which Graph refuses.
func SignProof(cert *x509.Certificate, signer crypto.Signer, applicationObjectID string, now time.Time) (string, error) {
	if cert == nil || signer == nil {
		return "", errors.New("proof of possession: no certificate or key")
	}
	if _, ok := signer.Public().(*rsa.PublicKey); !ok {
		return "", errors.New("proof of possession: the key is not RSA")
	}
	if applicationObjectID == "" {
		return "", errors.New("proof of possession: the application's object id is required")
	}
	tp := sha1.Sum(cert.Raw)
	claims := map[string]any{
		"aud": ProofAudience,
		"iss": applicationObjectID,
		"nbf": now.Unix(),
		"exp": now.Add(proofLifetime).Unix(),
	}
	tok, err := signJWT(signer, "RS256", map[string]string{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(tp[:])}, claims)
	if err != nil {
		return "", fmt.Errorf("proof of possession: sign: %w", err)
	}
	return tok, nil
}
