package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// FuzzParse: Parse never panics, fails only with a *ValidationError, and
// what it accepts survives a round trip (marshal, parse again, same
// result). Seeds: testdata/fuzz/FuzzParse plus the documents below.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	if ex, err := os.ReadFile("../../docs/settings.example.json"); err == nil {
		f.Add(ex)
	}
	f.Add([]byte(withTenant(`"schedule": {"cron": "*/5 1-3 * jan,feb sun", "timeZone": "UTC"}, "fileAs": "{givenName} ({companyName})"`)))
	f.Add([]byte(`{"dataDir": "x", "tenants": [{"name": "a", "certificate": {"thumbprint": 1}}], "admin": {"kerberos": {}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("settings.json", "/etc/galmirror/settings.json", data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a ValidationError with problems", err, err)
			}
			_ = ve.Error()
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse("settings.json", "/etc/galmirror/settings.json", out)
		if err != nil {
			t.Fatalf("accepted config does not reload: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(c2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the config:\n%s\n%s", out, out2)
		}
	})
}
