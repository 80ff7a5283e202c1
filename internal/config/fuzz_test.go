package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
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
	f.Add([]byte(withTenant(`"folder": {"mode": "default", "category": "Company Directory"}`)))
	f.Add([]byte(withTenant(`"fields": ["displayName", "mobilePhone"], "fieldPolicy": {"mobilePhone": "fillBlank", "jobTitle": "never", "displayName": "overwrite"}`)))
	f.Add([]byte(`{"dataDir": "x", "tenants": [{"name": "a", "certificate": {"thumbprint": 1}}], "admin": {"kerberos": {}}}`))
	f.Add([]byte(withTenant(`"source": {"includeShared": true, "includeRooms": true, "includeEquipment": true, "mailGroups": true, "requireEmail": false}`)))
	f.Add([]byte(withTenant(`"source": {"fromTenants": ["fabrikam", "contoso", "Fabrikam", "fabrikam"]}`)))
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

// FuzzParseTenant: a drop-in tenant file (tenants.d) never panics the
// parser, fails only with a *ValidationError, and what it accepts survives
// a round trip.
func FuzzParseTenant(f *testing.F) {
	f.Add([]byte(dropFabrikam))
	f.Add([]byte(`{"name": "a", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
		"certificate": {"file": "a.pem"}, "schedule": {"every": "1m"}, "source": {"excludeUsers": ["x@y.z"]}}`))
	f.Add([]byte(`[{"name": "a"}]`))
	f.Add([]byte(`{"name": "a", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
		"certificate": {"file": "a.pem"}, "folder": {"mode": "default", "category": "Firma"}, "categories": ["firma", "X"]}`))
	f.Add([]byte(`{"name": "a", "folder": {"mode": "folder", "name": "Staff", "category": 1}}`))
	f.Add([]byte(strings.Replace(dropFabrikam, `"certificate"`, `"source": {"fromTenants": ["contoso", "fabrikam", ""]}, "certificate"`, 1)))
	f.Add([]byte(`{"name": null, "tenantId": 5}`))
	f.Add([]byte(`{"name": "a", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
		"certificate": {"file": "a.pem"}, "source": {"includeShared": true, "includeRooms": true, "includeEquipment": false, "mailGroups": true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "/etc/galmirror/tenants.d/a.json"
		tn, err := ParseTenant(path, data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a ValidationError with problems", err, err)
			}
			_ = ve.Error()
			return
		}
		out, err := json.Marshal(tn)
		if err != nil {
			t.Fatal(err)
		}
		tn2, err := ParseTenant(path, out)
		if err != nil {
			t.Fatalf("accepted tenant does not reload: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(tn2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the tenant:\n%s\n%s", out, out2)
		}
	})
}
