package webauth

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseOIDCConfigErrors(t *testing.T) {
	const iss = `"issuer":"https://login.microsoftonline.com/4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11/v2.0"`
	const cid = `"clientId":"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"`
	for in, want := range map[string]string{
		`{` + iss + `,` + cid + `,"clientSecretFile":"s","scope":"x"}`:                                                               `auth.oidc: unknown key "scope"`,
		`{` + cid + `,"clientSecretFile":"s"}`:                                                                                       `auth.oidc.issuer: missing`,
		`{` + iss + `,"clientSecretFile":"s"}`:                                                                                       `auth.oidc.clientId: missing`,
		`{` + iss + `,` + cid + `}`:                                                                                                  `give clientSecretFile or clientCertificateFile`,
		`{` + iss + `,` + cid + `,"clientSecretFile":"s","clientCertificateFile":"c"}`:                                               `not both`,
		`{` + iss + `,` + cid + `,"clientSecretFile":"s","appRoles":{"Console.Admin":"admin"}}`:                                      `auth.oidc.appRoles["Console.Admin"]: role "admin" is not viewer or operator`,
		`{` + iss + `,` + cid + `,"clientSecretFile":"s","users":{"ann@msp.example":"root"}}`:                                        `auth.oidc.users["ann@msp.example"]: role "root"`,
		`{"issuer":"https://login.microsoftonline.com/organizations/v2.0",` + cid + `,"clientSecretFile":"s"}`:                       `give the tenant id (a GUID)`,
		`{"issuer":"http://login.microsoftonline.com/4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11/v2.0",` + cid + `,"clientSecretFile":"s"}`: `is not an https URL`,
		`{"issuer":"https://login.microsoftonline.com/4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11",` + cid + `,"clientSecretFile":"s"}`:     `is not a v2.0 issuer`,
		`{` + iss + `,` + cid + `,"clientSecretFile":"s","sessionLifetime":"30d"}`:                                                   `auth.oidc.sessionLifetime: "30d"`,
		`{` + iss + `,"clientId":42,"clientSecretFile":"s"}`:                                                                         `auth.oidc.clientId: number is not a string`,
		`null`: `auth.oidc: missing`,
		`{` + iss + `,` + cid + `,"clientSecretFile":"s","publicUrl":"https://c.example/console"}`: `auth.oidc.publicUrl: "https://c.example/console" is not an https origin`,
	} {
		_, _, err := ParseOIDCConfig(json.RawMessage(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
	}
	c, tid, err := ParseOIDCConfig(json.RawMessage(`{` + iss + `,` + cid + `,"clientSecretFile":"s"}`))
	if err != nil || tid != "4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11" || c.ClientSecretFile != "s" {
		t.Fatalf("valid: %v %s %+v", err, tid, c)
	}
}

func TestParseClientCertsConfigErrors(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		`{"certificates":[]}`:                                              `certificates: empty`,
		`{"certificates":[{"role":"viewer"}]}`:                             `certificates[0]: give sha256 or subject`,
		`{"certificates":[{"sha256":"abc","role":"viewer"}]}`:              `certificates[0].sha256: "abc" is not a SHA-256 fingerprint`,
		`{"certificates":[{"sha256":"` + fp + `"}]}`:                       `certificates[0].role: missing`,
		`{"certificates":[{"sha256":"` + fp + `","role":"admin"}]}`:        `certificates[0].role: "admin" is not viewer or operator`,
		`{"certificates":[{"subject":"CN=Ann","role":"viewer"}]}`:          `caFile is not set`,
		`{"certificates":[{"sha256":"` + fp + `","role":"viewer"}],"x":1}`: `unknown key "x"`,
	} {
		_, err := ParseClientCertsConfig(json.RawMessage(in))
		if err == nil || !strings.Contains(err.Error(), "auth.clientCertificates") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
	}
}

func FuzzParseConfigs(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://login.microsoftonline.com/4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11/v2.0","clientId":"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","clientSecretFile":"s","users":{"a":"viewer"}}`))
	f.Add([]byte(`{"caFile":"ca.pem","certificates":[{"subject":"CN=A","role":"operator"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, tid, err := ParseOIDCConfig(b); err == nil {
			if !guidRE.MatchString(tid) || c.ClientID == "" {
				t.Fatalf("accepted without tenant or client: %q", b)
			}
		}
		if c, err := ParseClientCertsConfig(b); err == nil {
			for _, e := range c.Certificates {
				if !e.Role.Valid() {
					t.Fatalf("accepted role %q", e.Role)
				}
			}
		}
	})
}

func FuzzSessionCookie(f *testing.F) {
	s := sealer{key: []byte("0123456789abcdef0123456789abcdef")}
	v, _ := s.seal("session", session{Subject: "a", Role: Operator, Expires: 1})
	f.Add(v)
	f.Add("e30.AAAA")
	f.Fuzz(func(t *testing.T, val string) {
		var got session
		if s.open("session", val, &got) == nil {
			if re, _ := s.seal("session", got); re == "" {
				t.Fatal("opened a value it cannot seal")
			}
		}
		if s.open("login", val, &got) == nil && val == v {
			t.Fatal("a session cookie opened as a login cookie")
		}
	})
}

func TestOIDCNeedsAReachablePublicURL(t *testing.T) {
	raw := json.RawMessage(`{"issuer":"https://login.microsoftonline.com/4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11/v2.0","clientId":"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","clientSecretFile":"s"}`)
	_, err := NewOIDCEnv(t.Context(), raw, Env{PublicURL: "https://0.0.0.0:8443"})
	if err == nil || !strings.Contains(err.Error(), "auth.oidc.publicUrl: missing: the console listens on 0.0.0.0:8443") {
		t.Fatalf("got %v", err)
	}
	if _, err := New(t.Context(), nil, nil, Env{}); err != ErrNoMethod {
		t.Fatalf("no method: %v", err)
	}
}

func TestLocalPathRefusesOtherSites(t *testing.T) {
	for in, want := range map[string]string{
		"/c/contoso?tab=runs":  "/c/contoso?tab=runs",
		"":                     "/",
		"//evil.example/x":     "/",
		`/\evil.example`:       "/",
		"https://evil.example": "/",
		"evil":                 "/",
		"/auth/login":          "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
