package entra

import (
	"net/http"
	"strings"
	"testing"
)

func TestResolveCloud(t *testing.T) {
	named := map[string][2]string{
		"":         {"https://login.microsoftonline.com", "https://graph.microsoft.com"},
		"global":   {"https://login.microsoftonline.com", "https://graph.microsoft.com"},
		"usgov":    {"https://login.microsoftonline.us", "https://graph.microsoft.us"},
		"usgovdod": {"https://login.microsoftonline.us", "https://dod-graph.microsoft.us"},
		"china":    {"https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"},
	}
	for name, want := range named {
		ep, err := ResolveCloud(name, "", "", "")
		if err != nil || ep.AuthorityHost != want[0] || ep.GraphRoot != want[1] {
			t.Errorf("%q: %+v %v", name, ep, err)
		}
	}
	ep, err := ResolveCloud("custom", "https://127.0.0.1:4443/", "https://127.0.0.1:4443", "/etc/ca.pem")
	if err != nil || ep.AuthorityHost != "https://127.0.0.1:4443" || ep.GraphRoot != "https://127.0.0.1:4443" || ep.CAFile != "/etc/ca.pem" {
		t.Fatalf("custom: %+v %v", ep, err)
	}
	if ep.TokenEndpoint("t1") != "https://127.0.0.1:4443/t1/oauth2/v2.0/token" || ep.GraphScope() != "https://127.0.0.1:4443/.default" {
		t.Errorf("derived: %s %s", ep.TokenEndpoint("t1"), ep.GraphScope())
	}
	bad := []struct{ name, auth, graph, ca, want string }{
		{"public", "", "", "", `cloud: unknown cloud "public"`},
		{"global", "https://x", "", "", "endpoints: only used with cloud"},
		{"usgov", "", "", "/ca.pem", "endpoints: only used with cloud"},
		{"custom", "", "https://g", "", "endpoints.authority: required"},
		{"custom", "https://a", "", "", "endpoints.graph: required"},
		{"custom", "http://a", "https://g", "", "endpoints.authority: \"http://a\" must be an https URL"},
		{"custom", "https://a/tenant", "https://g", "", "without a path"},
		{"custom", "https://a", "https://g/v1.0", "", "endpoints.graph"},
		{"custom", "https://a?x=1", "https://g", "", "without user, query"},
		{"custom", "https://", "https://g", "", "has no host"},
		{"custom", "https://a", "::", "", "is not a URL"},
	}
	for _, b := range bad {
		_, err := ResolveCloud(b.name, b.auth, b.graph, b.ca)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ResolveCloud(%q,%q,%q,%q) = %v, want %q", b.name, b.auth, b.graph, b.ca, err, b.want)
		}
	}
}

func TestNewHTTPClient(t *testing.T) {
	// No CA file is the normal case: a client trusting the system roots,
	// never a nil client for the caller to trip over.
	if c, err := NewHTTPClient(nil); c == nil || err != nil {
		t.Fatalf("empty CA: %v %v", c, err)
	} else if tc := c.Transport.(*http.Transport).TLSClientConfig; tc != nil && tc.RootCAs != nil {
		t.Errorf("empty CA: the client does not use the system roots: %+v", tc)
	}
	if tc, err := TLSConfig(nil); tc != nil || err != nil {
		t.Errorf("TLSConfig(nil) = %v, %v; want the system roots (nil)", tc, err)
	}
	if _, err := NewHTTPClient([]byte("not pem")); err == nil {
		t.Error("garbage CA accepted")
	}
	if _, err := LoadCAFile(t.Context(), "testdata/nope.pem"); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Errorf("LoadCAFile: %v", err)
	}
	if b, err := LoadCAFile(t.Context(), "testdata/cert.pem"); err != nil || len(b) == 0 {
		t.Errorf("LoadCAFile: %v", err)
	}
}
