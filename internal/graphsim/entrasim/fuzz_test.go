package entrasim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func fuzzServer(t testing.TB) *Server {
	genKeys(t)
	s := New(Config{
		BaseURL:    func() string { return "https://127.0.0.1:4443" },
		GraphRoot:  func() string { return testGraph },
		Now:        func() time.Time { return time.Unix(1767225600, 0) }, // 2026-01-01
		SigningKey: testKeys[2],
	})
	_, c := regKey()
	s.PutTenant(Tenant{ID: testTenantID, Domains: []string{testDomain}, Apps: []App{
		{ClientID: testClientID, Certificates: []*x509.Certificate{c}, Roles: testRoles},
	}})
	return s
}

var knownStatus = map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 429: true, 503: true}

// FuzzTokenEndpoint feeds arbitrary paths and bodies to the token service:
// it must answer with one of Entra's statuses and a JSON body, never panic.
func FuzzTokenEndpoint(f *testing.F) {
	s := fuzzServer(f)
	f.Add(testTenantID, "application/x-www-form-urlencoded", []byte("grant_type=client_credentials&client_id="+testClientID+"&scope=https%3A%2F%2Fgraph.example.test%2F.default+openid+offline_access+profile&client_info=1&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c"))
	f.Fuzz(func(t *testing.T, tenant, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "https://127.0.0.1:4443/", bytes.NewReader(body))
		r.URL.Path = "/" + tenant + "/oauth2/v2.0/token"
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		if !s.Handles(r) {
			return
		}
		s.ServeHTTP(w, r)
		if !knownStatus[w.Code] {
			t.Fatalf("status %d", w.Code)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("body is not JSON: %q", w.Body.String())
		}
		if w.Code == 200 {
			t.Fatalf("fuzzed request obtained a token: %q", body)
		}
	})
}

// FuzzParseJWT feeds arbitrary compact tokens to the JWT parser, the
// certificate lookup and access-token verification.
func FuzzParseJWT(f *testing.F) {
	s := fuzzServer(f)
	f.Add("eyJhbGciOiJQUzI1NiJ9.e30.AAAA")
	f.Fuzz(func(t *testing.T, raw string) {
		if j, err := parseJWT(raw); err == nil {
			_, _ = findCert(testCerts[:1], j.header)
			_ = j.audiences()
			_, _ = j.numericDate("exp")
		}
		if _, err := s.VerifyAccessToken(raw); err == nil {
			t.Fatalf("fuzzed token verified: %q", raw)
		}
	})
}

// FuzzAssertionClaims signs arbitrary header and claims JSON with the
// registered key, so the checks after the signature (iss, sub, aud, nbf,
// exp, jti) see every shape of claim.
func FuzzAssertionClaims(f *testing.F) {
	s := fuzzServer(f)
	k, c := regKey()
	f.Add([]byte(`{"alg":"PS256","typ":"JWT"}`), []byte(`{"aud":"https://127.0.0.1:4443/`+testTenantID+`/oauth2/v2.0/token","iss":"`+testClientID+`","sub":"`+testClientID+`","jti":"x","nbf":1767225600,"exp":1767226200}`))
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		var h map[string]any
		if json.Unmarshal(header, &h) != nil || h == nil {
			return
		}
		sum := sha256.Sum256(c.Raw)
		h["x5t#S256"] = base64.StdEncoding.EncodeToString(sum[:])
		alg, _ := h["alg"].(string)
		hb, _ := json.Marshal(h)
		input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(claims)
		d := sha256.Sum256([]byte(input))
		var sig []byte
		if strings.HasPrefix(alg, "PS") {
			sig, _ = rsa.SignPSS(rand.Reader, k, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, _ = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
		}
		raw := input + "." + base64.RawURLEncoding.EncodeToString(sig)
		app := App{ClientID: testClientID, Certificates: []*x509.Certificate{c}}
		if e := s.verifyAssertion(raw, &app, testTenantID, testTenantID); e != nil && (e.code == 0 || e.status < 400) {
			t.Fatalf("bad error %+v", e)
		}
	})
}
