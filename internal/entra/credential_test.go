package entra

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

const (
	tenantID = "3f1c2b7a-5d4e-4c3b-9a8f-7e6d5c4b3a21"
	clientID = "8e7d6c5b-4a39-4281-b7c6-d5e4f3a2b1c0"
)

var (
	keyOnce sync.Once
	key2048 *rsa.PrivateKey
)

// testKey is one RSA key per test binary (generation is slow on a shared
// machine); it is registered nowhere.
func testKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		key2048 = k
	})
	return key2048
}

// sts is entrasim on a real TLS listener, recording client assertions.
type sts struct {
	sim        *entrasim.Server
	ts         *httptest.Server
	ep         Endpoints
	mu         sync.Mutex
	assertions []string
}

func newSTS(t *testing.T, roles []string) (*sts, *Certificate) {
	t.Helper()
	cert, err := LoadCertificateFile(t.Context(), fixture("modern.pfx"), fixturePassword, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &sts{}
	var base string
	s.sim = entrasim.New(entrasim.Config{
		BaseURL:    func() string { return base },
		GraphRoot:  func() string { return base },
		SigningKey: testKey(t),
	})
	s.sim.PutTenant(entrasim.Tenant{ID: tenantID, Domains: []string{"contoso.example"}, Apps: []entrasim.App{
		{ClientID: clientID, DisplayName: "galmirror", Certificates: []*x509.Certificate{cert.Leaf}, Roles: roles},
	}})
	s.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			f, _ := url.ParseQuery(string(b))
			s.mu.Lock()
			s.assertions = append(s.assertions, f.Get("client_assertion"))
			s.mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		s.sim.ServeHTTP(w, r)
	}))
	base = s.ts.URL
	t.Cleanup(s.ts.Close)
	s.ep, err = ResolveCloud(CloudCustom, s.ts.URL, s.ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, cert
}

func (s *sts) opts() *CredentialOptions { return &CredentialOptions{HTTPClient: s.ts.Client()} }

func (s *sts) lastAssertionHeader(t *testing.T) map[string]string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.assertions) == 0 {
		t.Fatal("no token request seen")
	}
	a := s.assertions[len(s.assertions)-1]
	hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(a, ".")[0])
	var h map[string]string
	_ = json.Unmarshal(hb, &h)
	return h
}

var allRoles = []string{"User.Read.All", "GroupMember.Read.All", "Contacts.ReadWrite"}

func TestTokenFromPFX(t *testing.T) {
	s, cert := newSTS(t, allRoles)
	cred, err := NewCredential(tenantID, clientID, cert, s.ep, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	src := NewTokenSource(cred, s.ep)
	tok, err := src.Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	c, err := ParseAccessToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantID != tenantID || c.AppID != clientID || c.Audience != s.ts.URL || !slices.Equal(c.Roles, allRoles) {
		t.Errorf("claims %+v", c)
	}
	if d := time.Until(c.ExpiresAt); d < 55*time.Minute {
		t.Errorf("expires in %v", d)
	}
	if err := CheckConsent(c, RequiredRoles(false)); err != nil {
		t.Error(err)
	}
	if _, err := s.sim.VerifyAccessToken(tok); err != nil {
		t.Errorf("entrasim rejects the token: %v", err)
	}
	// azidentity signs PFX keys itself (MSAL: PS256 + x5t#S256).
	if h := s.lastAssertionHeader(t); h["alg"] != "PS256" || h["x5t#S256"] == "" {
		t.Errorf("assertion header %v", h)
	}
}

func TestTokenFromPEMByDomain(t *testing.T) {
	s, _ := newSTS(t, allRoles)
	cert, err := LoadCertificateFile(t.Context(), fixture("combined-pkcs1.pem"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewCredential("contoso.example", clientID, cert, s.ep, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokenSource(cred, s.ep).Token(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// storeLikeSigner hides the *rsa.PrivateKey behind crypto.Signer and, like
// CNG (certtostore), rejects PSSSaltLengthAuto; noPSS stands for an old
// CryptoAPI key that cannot do PSS at all.
type storeLikeSigner struct {
	k     *rsa.PrivateKey
	noPSS bool
	mu    sync.Mutex
	calls []string
}

func (s *storeLikeSigner) Public() crypto.PublicKey { return &s.k.PublicKey }
func (s *storeLikeSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := opts.(*rsa.PSSOptions); ok {
		s.calls = append(s.calls, "pss")
		if s.noPSS {
			return nil, errors.New("NCryptSignHash returned 80090029")
		}
		if o.SaltLength == rsa.PSSSaltLengthAuto {
			return nil, errors.New("rsa.PSSSaltLengthAuto is not supported")
		}
		return rsa.SignPSS(r, s.k, opts.HashFunc(), digest, o)
	}
	s.calls = append(s.calls, "pkcs1")
	return rsa.SignPKCS1v15(r, s.k, opts.HashFunc(), digest)
}

// TestTokenThroughSigner runs the Windows store path (our own assertion via
// azidentity's assertion credential) with an in-memory key.
func TestTokenThroughSigner(t *testing.T) {
	for _, noPSS := range []bool{false, true} {
		name := map[bool]string{false: "PS256", true: "RS256 fallback"}[noPSS]
		t.Run(name, func(t *testing.T) {
			s, fileCert := newSTS(t, allRoles)
			signer := &storeLikeSigner{k: fileCert.Signer().(*rsa.PrivateKey), noPSS: noPSS}
			cert, err := NewCertificateFromSigner(`LocalMachine\My thumbprint X`, fileCert.Chain, signer)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := NewCredential(tenantID, clientID, cert, s.ep, s.opts())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := NewTokenSource(cred, s.ep).Token(t.Context())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if _, err := s.sim.VerifyAccessToken(tok); err != nil {
				t.Error(err)
			}
			h := s.lastAssertionHeader(t)
			if !noPSS && (h["alg"] != "PS256" || h["x5t#S256"] == "" || !slices.Equal(signer.calls, []string{"pss"})) {
				t.Errorf("header %v calls %v", h, signer.calls)
			}
			if noPSS && (h["alg"] != "RS256" || h["x5t"] == "" || !slices.Equal(signer.calls, []string{"pss", "pkcs1"})) {
				t.Errorf("header %v calls %v", h, signer.calls)
			}
		})
	}
}

func TestAssertionShape(t *testing.T) {
	cert, err := LoadCertificateFile(t.Context(), fixture("combined-pkcs8.pem"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1767225600, 0)
	a := &Assertion{ClientID: clientID, TokenEndpoint: "https://login.example/t/oauth2/v2.0/token", Cert: cert.Leaf, Signer: cert.Signer(), Now: func() time.Time { return now }}
	seen := map[string]bool{}
	for range 2 {
		raw, err := a.Sign()
		if err != nil {
			t.Fatal(err)
		}
		p := strings.Split(raw, ".")
		hb, _ := base64.RawURLEncoding.DecodeString(p[0])
		cb, _ := base64.RawURLEncoding.DecodeString(p[1])
		sig, _ := base64.RawURLEncoding.DecodeString(p[2])
		var h map[string]string
		var c map[string]any
		_ = json.Unmarshal(hb, &h)
		_ = json.Unmarshal(cb, &c)
		sum := sha256.Sum256(cert.Leaf.Raw)
		if h["alg"] != "PS256" || h["typ"] != "JWT" || h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Errorf("header %v", h)
		}
		if c["aud"] != a.TokenEndpoint || c["iss"] != clientID || c["sub"] != clientID ||
			c["nbf"] != float64(now.Unix()) || c["exp"] != float64(now.Unix()+600) {
			t.Errorf("claims %v", c)
		}
		jti, _ := c["jti"].(string)
		if len(jti) != 36 || seen[jti] {
			t.Errorf("jti %q not a fresh UUID", jti)
		}
		seen[jti] = true
		d := sha256.Sum256([]byte(p[0] + "." + p[1]))
		pub := cert.Leaf.PublicKey.(*rsa.PublicKey)
		if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Errorf("signature: %v", err)
		}
	}
}

func TestTokenErrors(t *testing.T) {
	s, cert := newSTS(t, allRoles)
	other := testKey(t)
	otherCert := selfSigned(t, other, &other.PublicKey, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	unregistered, err := NewCertificateFromSigner("other.pem", []*x509.Certificate{otherCert}, other)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name             string
		tenant, client   string
		cert             *Certificate
		code, status     int
		oauth, hintStart string
	}{
		{"wrong certificate", tenantID, clientID, unregistered, 700027, 401, "invalid_client", "AADSTS700027: the certificate used to sign the client assertion is not registered on the app"},
		{"unknown tenant", "fabrikam.example", clientID, cert, 90002, 400, "invalid_tenant", "AADSTS90002: the tenant was not found"},
		{"unknown app", tenantID, "00000000-1111-2222-3333-444444444444", cert, 700016, 400, "unauthorized_client", "AADSTS700016: the application was not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cred, err := NewCredential(c.tenant, c.client, c.cert, s.ep, s.opts())
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewTokenSource(cred, s.ep).Token(t.Context())
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err %T %v", err, err)
			}
			if te.Code != c.code || te.Status != c.status || te.OAuthError != c.oauth || te.TraceID == "" || te.CorrelationID == "" {
				t.Errorf("%+v", te)
			}
			msg := te.Error()
			if !strings.HasPrefix(msg, c.hintStart) || !strings.Contains(msg, te.TraceID) {
				t.Errorf("message %q", msg)
			}
			if strings.Contains(msg, "eyJ") || strings.Contains(msg, "client_assertion=") {
				t.Errorf("message leaks a JWT: %q", msg)
			}
			if te.Retryable() {
				t.Error("configuration error marked retryable")
			}
		})
	}
	// A store-path credential reports Entra's refusal the same way.
	signer := &storeLikeSigner{k: other}
	sc, _ := NewCertificateFromSigner("store", []*x509.Certificate{otherCert}, signer)
	cred, _ := NewCredential(tenantID, clientID, sc, s.ep, s.opts())
	_, err = NewTokenSource(cred, s.ep).Token(t.Context())
	var te *TokenError
	if !errors.As(err, &te) || te.Code != 700027 {
		t.Errorf("store path: %v", err)
	}
}

func TestConsentRevoked(t *testing.T) {
	s, cert := newSTS(t, nil)
	cred, _ := NewCredential(tenantID, clientID, cert, s.ep, s.opts())
	tok, err := NewTokenSource(cred, s.ep).Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseAccessToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckConsent(c, RequiredRoles(true))
	var mc *MissingConsentError
	if !errors.As(err, &mc) || err.Error() != "missing consent: GroupMember.Read.All, OrgContact.Read.All, User.Read.All" {
		t.Errorf("%v", err)
	}
	if mc.TenantID != tenantID || mc.AppID != clientID {
		t.Errorf("%+v", mc)
	}
}

func TestExtraCAOverRealTLS(t *testing.T) {
	s, cert := newSTS(t, allRoles)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
	// The system roots reject the test server; the extra CA makes it trusted.
	if resp, err := http.Get(s.ts.URL + "/" + tenantID + "/v2.0/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		t.Fatal("untrusted server accepted by the default client")
	}
	hc, err := NewHTTPClient(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(s.ts.URL + "/" + tenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cred, err := NewCredential(tenantID, clientID, cert, s.ep, &CredentialOptions{ExtraCAPEM: caPEM})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokenSource(cred, s.ep).Token(t.Context()); err != nil {
		t.Fatalf("with extra CA: %v", err)
	}
}

func TestTokenCancelled(t *testing.T) {
	s, cert := newSTS(t, allRoles)
	cred, _ := NewCredential(tenantID, clientID, cert, s.ep, s.opts())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := NewTokenSource(cred, s.ep).Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestNewCredentialValidation(t *testing.T) {
	s, cert := newSTS(t, allRoles)
	for name, f := range map[string]func() error{
		"bad tenant": func() error { _, err := NewCredential("a/b", clientID, cert, s.ep, nil); return err },
		"no client":  func() error { _, err := NewCredential(tenantID, "", cert, s.ep, nil); return err },
		"no cert":    func() error { _, err := NewCredential(tenantID, clientID, nil, s.ep, nil); return err },
		"no cloud":   func() error { _, err := NewCredential(tenantID, clientID, cert, Endpoints{}, nil); return err },
		"bad CA": func() error {
			_, err := NewCredential(tenantID, clientID, cert, s.ep, &CredentialOptions{ExtraCAPEM: []byte("x")})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
