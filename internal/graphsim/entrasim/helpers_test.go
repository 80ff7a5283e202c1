package entrasim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testTenantID = "6a3f2b1c-9d8e-4f70-a1b2-c3d4e5f60718"
	testDomain   = "contoso.onmicrosoft.com"
	testClientID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	testGraph    = "https://graph.example.test"
)

var testRoles = []string{"User.Read.All", "GroupMember.Read.All", "Contacts.ReadWrite"}

// keys are generated once per test binary: RSA generation is slow on a
// shared 2-core machine.
var (
	keysOnce  sync.Once
	testKeys  []*rsa.PrivateKey
	testCerts []*x509.Certificate
)

func genKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		for i := range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 10)),
				Subject:      pkix.Name{CommonName: "galmirror test " + string(rune('A'+i))},
				NotBefore:    time.Now().Add(-time.Hour),
				NotAfter:     time.Now().Add(24 * time.Hour),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			testKeys = append(testKeys, k)
			testCerts = append(testCerts, c)
		}
	})
}

// cert/key 0 is registered on the app; 1 is not registered anywhere; 2 signs
// the emulator's tokens.
func regKey() (*rsa.PrivateKey, *x509.Certificate)   { return testKeys[0], testCerts[0] }
func unregKey() (*rsa.PrivateKey, *x509.Certificate) { return testKeys[1], testCerts[1] }

type env struct {
	srv   *Server
	ts    *httptest.Server
	clock *fakeClock
	mu    sync.Mutex
	seen  []*http.Request
	forms []url.Values
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newEnv starts entrasim behind a real TLS server on 127.0.0.1 with one
// tenant and one app, recording every request it receives.
func newEnv(t *testing.T) *env {
	t.Helper()
	genKeys(t)
	e := &env{clock: &fakeClock{t: time.Now()}}
	var base string
	e.srv = New(Config{
		BaseURL:    func() string { return base },
		GraphRoot:  func() string { return testGraph },
		Now:        e.clock.Now,
		SigningKey: testKeys[2],
	})
	_, c := regKey()
	e.srv.PutTenant(Tenant{ID: testTenantID, Domains: []string{testDomain, "contoso.com"}, Apps: []App{
		{ClientID: testClientID, DisplayName: "galmirror", Certificates: []*x509.Certificate{c}, Roles: testRoles},
	}})
	e.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		f, _ := url.ParseQuery(string(body))
		e.mu.Lock()
		e.seen = append(e.seen, r.Clone(r.Context()))
		e.forms = append(e.forms, f)
		e.mu.Unlock()
		if !e.srv.Handles(r) {
			http.NotFound(w, r)
			return
		}
		e.srv.ServeHTTP(w, r)
	}))
	base = e.ts.URL
	t.Cleanup(e.ts.Close)
	return e
}

func (e *env) tokenURL(tenant string) string { return e.ts.URL + "/" + tenant + "/oauth2/v2.0/token" }

// assertionOpts shape a hand-made client assertion.
type assertionOpts struct {
	alg       string // RS256 or PS256
	thumbKey  string // "x5t" or "x5t#S256"
	encoding  *base64.Encoding
	key       *rsa.PrivateKey
	cert      *x509.Certificate
	aud       string
	iss, sub  string
	nbf, exp  time.Time
	jti       string
	noJTI     bool
	tamperSig bool
}

func (e *env) defaults() assertionOpts {
	k, c := regKey()
	now := e.clock.Now()
	return assertionOpts{
		alg: "PS256", thumbKey: "x5t#S256", encoding: base64.StdEncoding, key: k, cert: c,
		aud: e.tokenURL(testTenantID), iss: testClientID, sub: testClientID,
		nbf: now, exp: now.Add(10 * time.Minute), jti: "5d2c8a4e-1f3b-4c6d-9e8f-0a1b2c3d4e5f",
	}
}

func makeAssertion(t testing.TB, o assertionOpts) string {
	t.Helper()
	var tp []byte
	if o.thumbKey == "x5t" {
		s := sha1.Sum(o.cert.Raw)
		tp = s[:]
	} else {
		s := sha256.Sum256(o.cert.Raw)
		tp = s[:]
	}
	h := map[string]string{"alg": o.alg, "typ": "JWT", o.thumbKey: o.encoding.EncodeToString(tp)}
	c := map[string]any{"aud": o.aud, "iss": o.iss, "sub": o.sub, "nbf": o.nbf.Unix(), "exp": o.exp.Unix()}
	if !o.noJTI {
		c["jti"] = o.jti
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	if o.alg == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, o.key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, o.key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	if o.tamperSig {
		sig[len(sig)/2] ^= 0xff
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// post sends a token request and decodes the JSON answer.
func (e *env) post(t *testing.T, tenant string, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := e.ts.Client().PostForm(e.tokenURL(tenant), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return resp.StatusCode, resp.Header, m
}

func tokenForm(assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {testClientID},
		"scope":                 {testGraph + "/.default"},
		"client_assertion_type": {jwtBearerType},
		"client_assertion":      {assertion},
	}
}

// aadCode returns the single AADSTS code of an error body, checking the
// rest of Entra's envelope on the way.
func aadCode(t *testing.T, m map[string]any) int {
	t.Helper()
	codes, ok := m["error_codes"].([]any)
	if !ok || len(codes) != 1 {
		t.Fatalf("error_codes = %v", m["error_codes"])
	}
	code := int(codes[0].(float64))
	desc, _ := m["error_description"].(string)
	if !strings.HasPrefix(desc, "AADSTS") || !strings.Contains(desc, "\r\nTrace ID: ") ||
		!strings.Contains(desc, "\r\nCorrelation ID: ") || !strings.Contains(desc, "\r\nTimestamp: ") {
		t.Errorf("error_description %q lacks Entra's shape", desc)
	}
	for _, k := range []string{"error", "timestamp", "trace_id", "correlation_id"} {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("error body lacks %q: %v", k, m)
		}
	}
	return code
}
