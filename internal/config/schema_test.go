package config

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/report/schemacheck"
)

// The test below checks docs/settings.schema.json against Load twice:
// structurally (the schema's properties are exactly the Go json names, with
// additionalProperties false everywhere) and by verdict (a table of good and
// bad documents gets the same answer from Load and from the schema, checked
// by schemacheck, the tests' one JSON Schema checker).

func loadSchema(t *testing.T) *schemacheck.Schema {
	t.Helper()
	b, err := os.ReadFile("../../docs/settings.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := schemacheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchemaAgreesWithLoad(t *testing.T) {
	schema := loadSchema(t)
	g := "5d1c3f2a-7e4b-4a6c-8d9e-0f1a2b3c4d5e"
	example, _ := os.ReadFile("../../docs/settings.example.json")
	cases := []schemaCase{
		{"example", string(example), true},
		{"minimal", minimal, true},
		{"no tenants", `{"dataDir": "/x"}`, true},
		{"thumbprint", replace(`"file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"`), true},
		{"protected password", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordProtected": "`+testBlob+`"`), true},
		{"custom cloud", withTenant(`"cloud": "custom", "endpoints": {"authority": "https://login.sim/", "graph": "https://graph.sim/", "caFile": "ca.pem"}`), true},
		{"caFile with global", withTenant(`"endpoints": {"authority": "", "graph": "", "caFile": "proxy-ca.pem"}`), true},
		{"cron", withTenant(`"schedule": {"cron": "0 6 * * *", "timeZone": "Europe/Berlin"}`), true},
		{"fields subset", withTenant(`"fields": ["displayName", "mobilePhone"], "fileAs": "{givenName} {surname}"`), true},
		{"field policy", withTenant(`"fieldPolicy": {"mobilePhone": "fillBlank", "officeLocation": "never", "jobTitle": "overwrite", "displayName": "overwrite"}`), true},
		{"upn exclusion", withTenant(`"target": {"excludeUsers": ["ceo@contoso.com"]}`), true},
		{"admin", withTop(`"admin": {"listen": "[::]:8443", "certificate": {}, "clientCertificates": {"pinned": ["` + strings.Repeat("ab", 32) + `"]}, "roles": [{"principal": "cert:` + strings.Repeat("ab", 32) + `", "role": "operator"}]}`), true},

		{"billing", withTop(`"billing": {"currency": "EUR", "freeUsersPerTenant": 10, "measure": "average", "tiers": [{"upTo": 500, "monthly": "0.29", "annual": 0.25}, {"monthly": "0.21"}], "annualFloor": "0.18", "stripe": {"secretKeyProtected": "` + testBlob + `", "billingDay": 1}}`), true},
		{"tenant billing", withTenant(`"billing": {"plan": "annual", "customer": "Contoso Ltd"}`), true},
		{"health", withTop(`"health": {"maxAge": "3h", "maxFailures": 3, "certificateDays": 21, "overdueAfter": "1h", "outageAfter": "2h", "listen": "127.0.0.1:9465", "showTenants": true}`), true},
		{"every 1m without jitter", withTenant(`"schedule": {"every": "1m"}`), true},
		{"log file", withTop(`"log": {"file": "logs/galmirror.log", "maxSizeMB": 20, "maxFiles": 3}`), true},
		{"log maxFiles 0", withTop(`"log": {"maxFiles": 0}`), false},

		{"missing dataDir", `{"tenants": []}`, false},
		{"graph root with a path", withTenant(`"cloud": "custom", "endpoints": {"authority": "https://login.sim/", "graph": "https://graph.sim/v1.0"}`), false},
		{"health maxFailures 0", withTop(`"health": {"maxFailures": 0}`), false},
		{"unknown health key", withTop(`"health": {"maxage": "1h"}`), false},
		{"unknown top key", withTop(`"dataDirectory": "x"`), false},
		{"unknown tenant key", withTenant(`"sorce": {}`), false},
		{"unknown nested key", withTenant(`"source": {"includeGroup": []}`), false},
		{"unknown admin key", withTop(`"admin": {"listn": ""}`), false},
		{"missing tenantId", strings.Replace(minimal, `"tenantId": "72F988BF-86F1-41AF-91AB-2D7CD011DB47",`, "", 1), false},
		{"bad GUID", withTenant(`"target": {"groups": ["sales"]}`), false},
		{"bad user", withTenant(`"source": {"excludeUsers": ["bob"]}`), false},
		{"wrong type", withTenant(`"orgContacts": 1`), false},
		{"null", withTenant(`"categories": null`), false},
		{"string for list", withTenant(`"source": {"includeGroups": "` + g + `"}`), false},
		{"bad name", replace(`"name": "contoso"`, `"name": "Contoso"`), false},
		{"no certificate kind", replace(`"certificate": { "file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD" }`, `"certificate": {}`), false},
		{"both certificate kinds", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"`), false},
		{"bad passwordEnv", replace(`"CONTOSO_PFX_PASSWORD"`, `"my password"`), false},
		{"password in passwordProtected", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordProtected": "my password"`), false},
		{"base64 password in passwordProtected", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordProtected": "bXkgcGFzc3dvcmQ="`), false},
		{"both password settings", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordEnv": "CONTOSO_PFX_PASSWORD", "passwordProtected": "`+testBlob+`"`), false},
		{"admin cert both password settings", withTop(`"admin": {"certificate": {"file": "a.pfx", "passwordEnv": "A", "passwordProtected": "` + testBlob + `"}}`), false},
		{"unknown cloud", withTenant(`"cloud": "germany"`), false},
		{"custom without endpoints", withTenant(`"cloud": "custom"`), false},
		{"custom with http", withTenant(`"cloud": "custom", "endpoints": {"authority": "http://login.sim/", "graph": "https://graph.sim/"}`), false},
		{"endpoints with global", withTenant(`"endpoints": {"graph": "https://graph.sim/"}`), false},
		{"fraction", withTenant(`"deletes": {"maxFraction": 1.5}`), false},
		{"negative minCount", withTenant(`"deletes": {"minCount": -1}`), false},
		{"bad duration", withTenant(`"schedule": {"every": "1 hour"}`), false},
		{"every and cron", withTenant(`"schedule": {"every": "1h", "cron": "0 * * * *"}`), false},
		{"unknown field", withTenant(`"fields": ["displayName", "photo"]`), false},
		{"no displayName", withTenant(`"fields": ["surname"]`), false},
		{"unknown field policy", withTenant(`"fieldPolicy": {"mobilePhone": "keep"}`), false},
		{"field policy for an unknown field", withTenant(`"fieldPolicy": {"nickName": "never"}`), false},
		{"displayName fillBlank", withTenant(`"fieldPolicy": {"displayName": "fillBlank"}`), false},
		{"field policy list", withTenant(`"fieldPolicy": ["mobilePhone"]`), false},
		{"bad fileAs", withTenant(`"fileAs": "{lastName}"`), false},
		{"fileAs without placeholder", withTenant(`"fileAs": "Staff"`), false},
		{"category with comma", withTenant(`"categories": ["a,b"]`), false},
		{"empty folder", withTenant(`"folder": ""`), false},
		{"concurrency", withTop(`"maxConcurrentTenants": 100`), false},
		{"log format", withTop(`"log": {"format": "xml"}`), false},
		{"bad role", withTop(`"admin": {"roles": [{"principal": "x@Y", "role": "root"}]}`), false},
		{"role without principal", withTop(`"admin": {"roles": [{"role": "viewer"}]}`), false},
		{"bad pin", withTop(`"admin": {"clientCertificates": {"pinned": ["abc"]}}`), false},
		{"bad listen", withTop(`"metrics": {"listen": "localhost"}`), false},
		{"billing without tiers", withTop(`"billing": {"currency": "EUR"}`), false},
		{"billing unknown key", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "1"}], "free": 10}`), false},
		{"price with a comma", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "0,29"}]}`), false},
		{"stripe key in secretKeyEnv", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "1"}], "stripe": {"secretKeyEnv": "sk_test_abc"}}`), false},
		{"stripe without key", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "1"}], "stripe": {}}`), false},
		{"stripe both keys", withTop(`"billing": {"currency": "EUR", "tiers": [{"monthly": "1"}], "stripe": {"secretKeyEnv": "K", "secretKeyProtected": "` + testBlob + `"}}`), false},
		{"tenant billing plan", withTenant(`"billing": {"plan": "weekly"}`), false},
		{"admin cert both", withTop(`"admin": {"certificate": {"file": "a.pem", "thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"}}`), false},
	}
	schemaVerdicts(t, schema, cases)
}

// schemaCase is a document and whether Load and the schema accept it.
type schemaCase struct {
	name string
	doc  string
	ok   bool
}

// The folder setting's two forms (config/folder.go).
func TestSchemaAgreesWithLoadFolder(t *testing.T) {
	schemaVerdicts(t, loadSchema(t), []schemaCase{
		{"default folder mode", withTenant(`"folder": {"mode": "default", "category": "Company Directory"}`), true},
		{"default folder mode, default category", withTenant(`"folder": {"mode": "default"}`), true},
		{"folder mode object", withTenant(`"folder": {"mode": "folder", "name": "Staff"}`), true},
		{"folder object without mode", withTenant(`"folder": {"name": "Staff"}`), false},
		{"unknown folder mode", withTenant(`"folder": {"mode": "inbox"}`), false},
		{"name in default mode", withTenant(`"folder": {"mode": "default", "name": "Staff"}`), false},
		{"category in folder mode", withTenant(`"folder": {"mode": "folder", "category": "Staff"}`), false},
		{"empty default category", withTenant(`"folder": {"mode": "default", "category": ""}`), false},
		{"default category with semicolon", withTenant(`"folder": {"mode": "default", "category": "a;b"}`), false},
		{"folder object unknown key", withTenant(`"folder": {"mode": "default", "categroy": "x"}`), false},
		{"empty folder name", withTenant(`"folder": {"mode": "folder", "name": ""}`), false},
	})
}

func schemaVerdicts(t *testing.T, schema *schemacheck.Schema, cases []schemaCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			why := schema.CheckRoot([]byte(tc.doc))
			sOK := len(why) == 0
			_, err := Parse("settings.json", "/etc/galmirror/settings.json", []byte(tc.doc))
			lOK := err == nil
			if sOK != tc.ok || lOK != tc.ok {
				t.Errorf("want ok=%v: schema ok=%v %v; Load ok=%v %v", tc.ok, sOK, why, lOK, err)
			}
		})
	}
}

// TestSchemaProperties walks the Go settings types and the schema together:
// every struct has additionalProperties false and exactly the Go json names
// as properties.
func TestSchemaProperties(t *testing.T) {
	sc := loadSchema(t)
	root := sc.Root()
	var walk func(path string, tp reflect.Type, s map[string]any)
	walk = func(path string, tp reflect.Type, s map[string]any) {
		s = sc.Resolve(s)
		for tp.Kind() == reflect.Pointer {
			tp = tp.Elem()
		}
		switch {
		case tp.Kind() == reflect.Slice:
			items, ok := s["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: schema has no items", path)
				return
			}
			walk(path+"[]", tp.Elem(), items)
		case tp.Kind() == reflect.Struct:
			if ap, ok := s["additionalProperties"].(bool); !ok || ap {
				t.Errorf("%s: additionalProperties is not false", path)
			}
			props, _ := s["properties"].(map[string]any)
			goNames := structFields(tp)
			var missing, extra []string
			for name, i := range goNames {
				ps, ok := props[name]
				if !ok {
					missing = append(missing, name)
					continue
				}
				walk(path+"."+name, tp.Field(i).Type, ps.(map[string]any))
			}
			for name := range props {
				if _, ok := goNames[name]; !ok {
					extra = append(extra, name)
				}
			}
			sort.Strings(missing)
			sort.Strings(extra)
			if len(missing)+len(extra) > 0 {
				t.Errorf("%s: schema lacks %v, has extra %v", path, missing, extra)
			}
		}
	}
	walk("$", reflect.TypeFor[Config](), root)
	// The schema is itself well-formed JSON with the 2020-12 dialect.
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema %v", root["$schema"])
	}
}
