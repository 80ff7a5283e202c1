package console

import (
	"strings"
	"testing"
)

const goodConfig = `{
  "listen": "127.0.0.1:8440",
  "pushListen": "0.0.0.0:8441",
  "poll": {"every": "30s", "timeout": "5s", "concurrency": 8},
  "clientCertificate": {"file": "console.pem"},
  "customers": [
    {"name": "contoso", "address": "https://gal.contoso.example:8443", "fingerprint": "` + fpHex + `"},
    {"name": "fabrikam", "address": "https://10.0.0.5:8443", "fingerprint": "sha256:` + fpHex + `", "kerberos": {"spn": "HTTP/gal.fabrikam.example"}},
    {"name": "northwind", "push": {"clientCertFingerprint": "sha256:` + fpHex2 + `"}}
  ]
}`

const fpHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
const fpHex2 = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("console.json", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Customers) != 3 || !c.Customers[2].Pushed() || c.Customers[1].Kerberos.SPN != "HTTP/gal.fabrikam.example" || c.Poll.Concurrency != 8 {
		t.Errorf("parsed %+v", c)
	}
	if c.DataDir != "console-state" {
		t.Errorf("default dataDir %q", c.DataDir)
	}
}

// Every mistake is named by file, line, column (where there is one), JSON
// path and what is wrong.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"syntax", "{\n  \"listen\": \"x\",\n  oops\n}", "console.json:3:3: invalid character 'o'"},
		{"unknown key", "{\n \"listen\": \"127.0.0.1:1\",\n \"customers\": [{\"name\": \"a\", \"adress\": \"x\"}]}", `console.json:3:30: customers[0].adress: unknown key "adress"`},
		{"type", "{\"listen\": 8440}", "console.json:1:2: listen: want a string, not a JSON number"},
		{"no listen", `{"customers": []}`, "console.json: listen: missing"},
		{"no customers", `{"listen": "127.0.0.1:1", "customers": []}`, "console.json:1:27: customers: no customers"},
		{"bad address", `{"listen": "127.0.0.1:1", "clientCertificate": {"file": "c.pem"}, "customers": [{"name": "a", "address": "http://x:1", "fingerprint": "` + fpHex + `"}]}`,
			`customers[0].address: "http://x:1": want https://host:port`},
		{"no pin", `{"listen": "127.0.0.1:1", "clientCertificate": {"file": "c.pem"}, "customers": [{"name": "a", "address": "https://x:1"}]}`,
			"customers[0].fingerprint: missing: pin the service's admin certificate"},
		{"both modes", `{"listen": "127.0.0.1:1", "pushListen": ":2", "customers": [{"name": "a", "address": "https://x:1", "push": {"clientCertFingerprint": "` + fpHex + `"}}]}`,
			`customers[0]: give "address"`},
		{"push without listener", `{"listen": "127.0.0.1:1", "customers": [{"name": "a", "push": {"clientCertFingerprint": "` + fpHex + `"}}]}`,
			`customers[0].push: pushed customers need "pushListen"`},
		{"duplicate", `{"listen": "127.0.0.1:1", "clientCertificate": {"file": "c.pem"}, "customers": [{"name": "a", "address": "https://x:1", "fingerprint": "` + fpHex + `"}, {"name": "A", "address": "https://y:1", "fingerprint": "` + fpHex + `"}]}`,
			`customers[1].name: "A" is also the name of customers[0]`},
		{"bad name", `{"listen": "127.0.0.1:1", "customers": [{"name": "a/b"}]}`, `customers[0].name: "a/b": use letters`},
		{"no credentials", `{"listen": "127.0.0.1:1", "customers": [{"name": "a", "address": "https://x:1", "fingerprint": "` + fpHex + `"}]}`,
			`customers[0]: no credentials`},
		{"duration", `{"listen": "127.0.0.1:1", "poll": {"every": "soon"}, "customers": []}`, `poll.every: "soon" is not a duration`},
		{"range", `{"listen": "127.0.0.1:1", "poll": {"concurrency": 1000}, "customers": [{"name": "a"}]}`, `poll.concurrency: 1000 is out of range`},
		{"empty auth", `{"listen": "0.0.0.0:1", "auth": {}, "customers": []}`, `auth: name a sign-in method: auth.oidc or auth.clientCertificates`},
		{"trailing", `{"listen": "127.0.0.1:1"} {}`, `more than one JSON value`},
		{"truncated", `{"listen": "127.0.0.1:1", "customers": [`, `console.json:1:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("console.json", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8440": true, "[::1]:8440": true, "localhost:1": true, "0.0.0.0:8440": false, ":8440": false, "10.1.2.3:1": false, "127.0.0.1": false} {
		if Loopback(addr) != want {
			t.Errorf("Loopback(%q) = %v", addr, !want)
		}
	}
}

// ParseConfig never panics and either accepts a file or names a problem.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte(`{"listen": "127.0.0.1:1", "customers": [{"name": "a", "push": {}}]}`))
	f.Add([]byte(`{"listen": 1, "poll": {"every": "1s"}}`))
	f.Add([]byte("\xef\xbb\xbf{\"listen\": \"[::1]:1\", \"auth\": {\"oidc\": {\"x\": 1}}, \"customers\": [{}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("f.json", data)
		if err == nil {
			if c.Listen == "" || len(c.Customers) == 0 {
				t.Fatalf("accepted without listen or customers: %q", data)
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "f.json:") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
