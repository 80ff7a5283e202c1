package entra

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParsePEM feeds arbitrary bytes to the PEM certificate parser: an
// error or a certificate whose key matches, never a panic.
func FuzzParsePEM(f *testing.F) {
	for _, n := range []string{"combined-pkcs8.pem", "combined-pkcs1.pem", "combined-encrypted-pkcs1.pem", "cert.pem"} {
		if b, err := os.ReadFile(fixture(n)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parsePEM("fuzz.pem", data)
		if err != nil {
			var ce *CertificateError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), "fuzz.pem") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if c.Leaf == nil || c.Signer() == nil {
			t.Fatal("certificate without leaf or key")
		}
	})
}

// FuzzParsePFX feeds arbitrary bytes to the PFX loader.
func FuzzParsePFX(f *testing.F) {
	for _, n := range []string{"modern.pfx", "legacy-3des.pfx", "nokey.pfx"} {
		if b, err := os.ReadFile(fixture(n)); err == nil {
			f.Add(b, fixturePassword)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		_, err := parsePFX("fuzz.pfx", data, password)
		if err != nil && password != "" && len(password) > 3 && strings.Contains(err.Error(), password) {
			t.Fatalf("error leaks the password: %v", err)
		}
	})
}

// FuzzParseAccessToken feeds arbitrary strings to the unverified claims
// reader and the consent check.
func FuzzParseAccessToken(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6WyJVc2VyLlJlYWQuQWxsIl0sImV4cCI6MTc2NzIyNTYwMH0.c2ln")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseAccessToken(raw)
		if err == nil {
			_ = CheckConsent(c, RequiredRoles(true))
		}
	})
}

// FuzzParseThumbprint: 20 bytes or an error.
func FuzzParseThumbprint(f *testing.F) {
	f.Add("\u200eee c2 a0 8c 72 06 1c 54 30 84 c0 6a c4 96 92 7c 4e 1d 9d d0")
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := ParseThumbprint(s); err == nil && len(b) != 20 {
			t.Fatalf("%d bytes", len(b))
		}
	})
}
