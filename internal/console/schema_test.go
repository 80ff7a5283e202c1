package console

import (
	"os"
	"testing"

	"github.com/galmirror/galmirror/internal/report/schemacheck"
)

// docs/console.schema.json accepts what the console accepts and refuses
// the mistakes it can express.
func TestSchemaAgreesWithParseConfig(t *testing.T) {
	b, err := os.ReadFile("../../docs/console.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := schemacheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	good := []string{goodConfig,
		`{"$schema": "../docs/console.schema.json", "listen": "0.0.0.0:443", "tls": {"certFile": "c.pem"}, "auth": {"oidc": {"issuer": "x"}}, "customers": [{"name": "a", "address": "https://a.example:8443", "fingerprint": "` + fpHex + `", "certificate": {"file": "a.pem", "key": "a.key"}}]}`}
	for _, doc := range good {
		if _, err := ParseConfig("c.json", []byte(doc)); err != nil {
			t.Fatalf("ParseConfig refuses a good file: %v", err)
		}
		if errs := s.CheckRoot([]byte(doc)); len(errs) > 0 {
			t.Errorf("schema refuses a good file: %v\n%s", errs, doc)
		}
	}
	bad := []string{
		`{"listen": "127.0.0.1:1", "customers": [{"name": "a", "adress": "https://a:1"}]}`,
		`{"listen": "127.0.0.1:1", "customers": [{"name": "a", "address": "http://a:1", "fingerprint": "` + fpHex + `"}]}`,
		`{"listen": "127.0.0.1:1", "pushListen": ":1", "customers": [{"name": "a", "address": "https://a:1", "fingerprint": "` + fpHex + `", "push": {"clientCertFingerprint": "` + fpHex + `"}}]}`,
		`{"listen": "127.0.0.1:1", "poll": {"every": "soon"}, "clientCertificate": {"file": "c"}, "customers": [{"name": "a", "address": "https://a:1", "fingerprint": "` + fpHex + `"}]}`,
		`{"listen": "127.0.0.1:1", "customers": [{"name": "a/b", "push": {"clientCertFingerprint": "` + fpHex + `"}}]}`,
	}
	for _, doc := range bad {
		if _, err := ParseConfig("c.json", []byte(doc)); err == nil {
			t.Errorf("ParseConfig accepts %s", doc)
		}
		if errs := s.CheckRoot([]byte(doc)); len(errs) == 0 {
			t.Errorf("schema accepts %s", doc)
		}
	}
}
