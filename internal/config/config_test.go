package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimal = `{
  "dataDir": "state",
  "tenants": [{
    "name": "contoso",
    "tenantId": "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
    "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
    "certificate": { "file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD" }
  }]
}`

// testBlob is the settings form of a DPAPI blob: its real header
// (version 1, the default provider, machine scope) and filler where the
// encrypted part goes. It decrypts nowhere; Load only checks its form.
const testBlob = "AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAAMDEyMzQ1Njc4OWFiY2RlZgQAAAACAAAAAAAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/"

func writeSettings(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleLoads(t *testing.T) {
	c, err := Load("../../docs/settings.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 2 || c.Tenants[0].Name != "contoso" || c.Tenants[1].Cloud != CloudUSGov {
		t.Fatalf("tenants %+v", c.Tenants)
	}
	docs, _ := filepath.Abs("../../docs")
	if got := c.Tenants[0].Certificate.File; got != filepath.Join(docs, "contoso.pfx") {
		t.Errorf("certificate file %s not resolved against the settings directory", got)
	}
	if c.Tenants[1].Schedule.CronSpec() == nil || c.Tenants[1].Schedule.Location().String() != "America/New_York" {
		t.Errorf("cron schedule not parsed: %+v", c.Tenants[1].Schedule)
	}
	if c.Admin.Roles[2].Principal != "cert:3fa12b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708" {
		t.Errorf("cert principal %q", c.Admin.Roles[2].Principal)
	}
}

func TestDefaults(t *testing.T) {
	p := writeSettings(t, minimal)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if c.Path != p || c.DataDir != filepath.Join(dir, "state") {
		t.Errorf("paths %q %q", c.Path, c.DataDir)
	}
	if c.MaxConcurrentTenants != 4 || c.Log.Level != "info" || c.Log.Format != "text" || c.Metrics.Listen != "" ||
		c.Admin.Listen != "" || !c.Admin.LocalSocket || c.Admin.Kerberos != nil || !c.Admin.Certificate.IsZero() {
		t.Errorf("top-level defaults %+v", c)
	}
	tn := c.Tenants[0]
	if tn.TenantID != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("tenant id not normalised: %s", tn.TenantID)
	}
	if tn.Cloud != CloudGlobal || tn.Folder != "Company Directory" || tn.Deletes != (Deletes{MaxFraction: 0.1, MinCount: 3}) ||
		tn.Schedule.Every.Std() != time.Hour || tn.Schedule.Jitter.Std() != 5*time.Minute || tn.Schedule.CronSpec() != nil ||
		!slices.Equal(tn.Fields, AllFields()) || tn.FileAs != "{surname}, {givenName}" || len(tn.Categories) != 0 || tn.OrgContacts ||
		!tn.Source.RequireEmail || tn.Source.RequirePhone || tn.Source.IncludeGuests {
		t.Errorf("tenant defaults %+v", tn)
	}
	if tn.Certificate.File != filepath.Join(dir, "contoso.pfx") || tn.Certificate.PasswordEnv != "CONTOSO_PFX_PASSWORD" {
		t.Errorf("certificate %+v", tn.Certificate)
	}
	if got, ok := c.Tenant("contoso"); !ok || got.Name != "contoso" {
		t.Error("Tenant lookup")
	}
	if _, ok := c.Tenant("nope"); ok {
		t.Error("Tenant found an unknown name")
	}
}

// replace edits the minimal document textually, keeping the test cases
// readable as the JSON a user would write.
func replace(old, new string) string {
	if !strings.Contains(minimal, old) {
		panic("test: " + old + " not in minimal")
	}
	return strings.Replace(minimal, old, new, 1)
}

func withTenant(extra string) string {
	return replace(`"certificate": { "file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD" }`,
		`"certificate": { "file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD" }, `+extra)
}

func withTop(extra string) string {
	return replace(`"dataDir": "state",`, `"dataDir": "state", `+extra+`,`)
}

type wantProblem struct{ path, msg string }

// problemCase is a settings document and the problems Load must report.
type problemCase struct {
	name string
	doc  string
	want []wantProblem
}

func problemCases() []problemCase {
	g := "5d1c3f2a-7e4b-4a6c-8d9e-0f1a2b3c4d5e"
	return []problemCase{
		{"unknown key with suggestion", withTenant(`"source": {"includeGroup": ["` + g + `"]}`),
			[]wantProblem{{"tenants[0].source.includeGroup", `unknown key "includeGroup" (did you mean "includeGroups"?)`}}},
		{"case matters", withTenant(`"Folder": "x"`), []wantProblem{{"tenants[0].Folder", "keys are case-sensitive"}}},
		{"unknown top-level key", withTop(`"tenant": []`), []wantProblem{{"tenant", `did you mean "tenants"?`}}},
		{"odd key quoted", withTop(`"a b": 1`), []wantProblem{{`["a b"]`, "unknown key"}}},
		{"wrong type", withTenant(`"orgContacts": "yes"`), []wantProblem{{"tenants[0].orgContacts", "expected true or false, got a string"}}},
		{"misspelt resource source", withTenant(`"source": {"includeRoom": true}`),
			[]wantProblem{{"tenants[0].source.includeRoom", `unknown key "includeRoom" (did you mean "includeRooms"?)`}}},
		{"mail groups not a bool", withTenant(`"source": {"mailGroups": "distribution"}`),
			[]wantProblem{{"tenants[0].source.mailGroups", "expected true or false, got a string"}}},
		{"scalar for a list", withTenant(`"source": {"includeGroups": "` + g + `"}`),
			[]wantProblem{{"tenants[0].source.includeGroups", "expected an array, got a string (a list of one is still a list"}}},
		{"null", withTenant(`"source": {"includeGroups": null}`), []wantProblem{{"tenants[0].source.includeGroups", "null is not allowed"}}},
		{"bad GUID in a list", withTenant(`"source": {"includeGroups": ["` + g + `", "sales"]}`),
			[]wantProblem{{"tenants[0].source.includeGroups[1]", `invalid GUID "sales"`}}},
		{"group included and excluded", withTenant(`"source": {"includeGroups": ["` + g + `"], "excludeGroups": ["` + strings.ToUpper(g) + `"]}`),
			[]wantProblem{{"tenants[0].source.excludeGroups[0]", "also in includeGroups"}}},
		{"bad user", withTenant(`"target": {"excludeUsers": ["bob"]}`), []wantProblem{{"tenants[0].target.excludeUsers[0]", "object id (GUID) or a userPrincipalName"}}},
		{"duplicate user", withTenant(`"target": {"excludeUsers": ["Bob@X.com", "bob@x.com"]}`), []wantProblem{{"tenants[0].target.excludeUsers[1]", "duplicate of"}}},
		{"missing required", `{"tenants": [{"name": "a"}]}`, []wantProblem{
			{"dataDir", "required"}, {"tenants[0].tenantId", "required"}, {"tenants[0].clientId", "required"}, {"tenants[0].certificate", "required"}}},
		{"bad name", replace(`"name": "contoso"`, `"name": "Contoso Ltd"`), []wantProblem{{"tenants[0].name", "a-z, 0-9"}}},
		{"duplicate tenant", strings.Replace(minimal, `}]`, `}, {"name": "contoso", "tenantId": "`+g+`", "clientId": "`+g+`", "certificate": {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"}}]`, 1),
			[]wantProblem{{"tenants[1].name", `duplicate tenant name "contoso" (also tenants[0])`}}},
		{"one tenant, one folder, two entries", strings.Replace(minimal, `}]`, `}, {"name": "contoso-sales", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "clientId": "`+g+`", "folder": "company directory", "certificate": {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"}}]`, 1),
			[]wantProblem{{"tenants[1].folder", `tenants[0] already syncs tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 into a folder named "company directory"`}}},
		{"both certificate kinds", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"`),
			[]wantProblem{{"tenants[0].certificate", "not both"}}},
		{"password in passwordEnv", replace(`"CONTOSO_PFX_PASSWORD"`, `"hunter2 secret!"`), []wantProblem{{"tenants[0].certificate.passwordEnv", "must name an environment variable"}}},
		{"protected password in the wrong form", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordProtected": "hunter2 secret!"`),
			[]wantProblem{{"tenants[0].certificate.passwordProtected", "not base64: paste what galmirror secret protect prints"}}},
		{"base64 that is no DPAPI blob", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordProtected": "aHVudGVyMiBzZWNyZXQh"`),
			[]wantProblem{{"tenants[0].certificate.passwordProtected", "not a DPAPI blob"}}},
		{"both password settings", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordEnv": "CONTOSO_PFX_PASSWORD", "passwordProtected": "`+testBlob+`"`),
			[]wantProblem{{"tenants[0].certificate.passwordProtected", "set either passwordEnv or passwordProtected, not both"}}},
		{"protected password without a file", replace(`"file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344", "passwordProtected": "`+testBlob+`"`),
			[]wantProblem{{"tenants[0].certificate.passwordProtected", "only used with file"}}},
		{"bad thumbprint", replace(`"file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"thumbprint": "12AB"`), []wantProblem{{"tenants[0].certificate.thumbprint", "40 hex digits"}}},
		{"unknown cloud", withTenant(`"cloud": "azure"`), []wantProblem{{"tenants[0].cloud", `unknown cloud "azure"`}}},
		{"custom without endpoints", withTenant(`"cloud": "custom"`), []wantProblem{
			{"tenants[0].endpoints.authority", "required"}, {"tenants[0].endpoints.graph", "required"}}},
		{"custom with http", withTenant(`"cloud": "custom", "endpoints": {"authority": "http://login.example", "graph": "https://graph.example/"}`),
			[]wantProblem{{"tenants[0].endpoints.authority", "https URL"}}},
		{"endpoints with a named cloud", withTenant(`"endpoints": {"graph": "https://graph.example/"}`),
			[]wantProblem{{"tenants[0].endpoints.graph", `only allowed with "cloud": "custom"`}}},
		{"fraction out of range", withTenant(`"deletes": {"maxFraction": 10}`), []wantProblem{{"tenants[0].deletes.maxFraction", "between 0 and 1"}}},
		{"bad duration", withTenant(`"schedule": {"every": "1 hour"}`), []wantProblem{{"tenants[0].schedule.every", `invalid duration "1 hour"`}}},
		{"too frequent", withTenant(`"schedule": {"every": "10s"}`), []wantProblem{{"tenants[0].schedule.every", "between 1m"}}},
		{"jitter above every", withTenant(`"schedule": {"every": "10m", "jitter": "1h"}`), []wantProblem{{"tenants[0].schedule.jitter", "must not exceed every"}}},
		{"every and cron", withTenant(`"schedule": {"every": "1h", "cron": "0 * * * *"}`), []wantProblem{{"tenants[0].schedule.every", "not both"}}},
		{"bad cron", withTenant(`"schedule": {"cron": "0 25 * * *"}`), []wantProblem{{"tenants[0].schedule.cron", "hour field"}}},
		{"bad zone", withTenant(`"schedule": {"cron": "0 6 * * *", "timeZone": "Mars/Olympus"}`), []wantProblem{{"tenants[0].schedule.timeZone", "unknown time zone"}}},
		{"unknown field", withTenant(`"fields": ["displayName", "nickName"]`), []wantProblem{{"tenants[0].fields[1]", `unknown field "nickName"`}}},
		{"fields without displayName", withTenant(`"fields": ["surname"]`), []wantProblem{{"tenants[0].fields", "must include \"displayName\""}}},
		{"unknown field policy key", withTenant(`"fieldPolicy": {"mobilPhone": "never"}`), []wantProblem{{"tenants[0].fieldPolicy.mobilPhone", `unknown key "mobilPhone" (did you mean "mobilePhone"?)`}}},
		{"unknown field policy", withTenant(`"fieldPolicy": {"mobilePhone": "keep"}`), []wantProblem{{"tenants[0].fieldPolicy.mobilePhone", `unknown policy "keep": use overwrite, fillBlank or never`}}},
		{"empty field policy", withTenant(`"fieldPolicy": {"jobTitle": ""}`), []wantProblem{{"tenants[0].fieldPolicy.jobTitle", `unknown policy ""`}}},
		{"field policy not a string", withTenant(`"fieldPolicy": {"jobTitle": true}`), []wantProblem{{"tenants[0].fieldPolicy.jobTitle", "expected a string"}}},
		{"field policy is a list", withTenant(`"fieldPolicy": ["mobilePhone"]`), []wantProblem{{"tenants[0].fieldPolicy", "expected an object"}}},
		{"displayName not overwritten", withTenant(`"fieldPolicy": {"displayName": "fillBlank"}`), []wantProblem{{"tenants[0].fieldPolicy.displayName", "must be overwrite"}}},
		{"fillBlank for an unwritten field", withTenant(`"fields": ["displayName", "surname"], "fieldPolicy": {"mobilePhone": "fillBlank"}`),
			[]wantProblem{{"tenants[0].fieldPolicy.mobilePhone", `fillBlank for "mobilePhone", which is not in fields`}}},
		{"bad fileAs", withTenant(`"fileAs": "{lastName}, {givenName}"`), []wantProblem{{"tenants[0].fileAs", "unknown placeholder {lastName}"}}},
		{"duplicate category", withTenant(`"categories": ["Staff", "staff"]`), []wantProblem{{"tenants[0].categories[1]", "duplicate category"}}},
		{"empty folder", withTenant(`"folder": " "`), []wantProblem{{"tenants[0].folder", "must not be empty"}}},
		{"env var in path", replace(`"dataDir": "state"`, `"dataDir": "%ProgramData%\\galmirror"`), []wantProblem{{"dataDir", "not expanded"}}},
		{"bad listen", withTop(`"metrics": {"listen": "9090"}`), []wantProblem{{"metrics.listen", "invalid listen address"}}},
		{"admin without auth or roles", withTop(`"admin": {"listen": "0.0.0.0:8443"}`), []wantProblem{
			{"admin.listen", "needs an authentication method"}, {"admin.roles", "no principal has a role"}}},
		{"bad role", withTop(`"admin": {"roles": [{"principal": "alice@EXAMPLE.COM", "role": "admin"}]}`), []wantProblem{{"admin.roles[0].role", `unknown role "admin"`}}},
		{"bad cert principal", withTop(`"admin": {"roles": [{"principal": "cert:abcd", "role": "viewer"}]}`), []wantProblem{{"admin.roles[0].principal", "64 hex digits"}}},
		{"bad pin", withTop(`"admin": {"clientCertificates": {"pinned": ["xyz"]}}`), []wantProblem{{"admin.clientCertificates.pinned[0]", "SHA-256"}}},
		{"console without url or role", withTop(`"console": {}`), []wantProblem{
			{"console.url", "required"}, {"console.role", "required: viewer"}}},
		{"console over http", withTop(`"console": {"url": "http://console.example:8444", "role": "operator"}`), []wantProblem{{"console.url", "expected an https URL"}}},
		{"console bad fingerprint and role", withTop(`"console": {"url": "https://console.example:8444", "serverFingerprint": "sha256:abc", "role": "admin"}`), []wantProblem{
			{"console.serverFingerprint", "64 hex digits"}, {"console.role", `unknown role "admin"`}}},
		{"console pin and CA", withTop(`"console": {"url": "https://console.example:8444", "serverFingerprint": "` + strings.Repeat("ab", 32) + `", "caFile": "ca.pem", "role": "viewer"}`), []wantProblem{{"console.caFile", "not both"}}},
		{"concurrency", withTop(`"maxConcurrentTenants": 0`), []wantProblem{{"maxConcurrentTenants", "between 1 and 64"}}},
		{"fractional int", withTop(`"maxConcurrentTenants": 1.5`), []wantProblem{{"maxConcurrentTenants", "whole number"}}},
		{"log level", withTop(`"log": {"level": "verbose"}`), []wantProblem{{"log.level", `unknown value "verbose"`}}},
		{"duplicate key", withTop(`"dataDir": "other"`), []wantProblem{{"dataDir", `duplicate key "dataDir"`}}},
		{"not an object", `[1, 2]`, []wantProblem{{"", "expected the settings object, got an array"}}},
	}
}

func TestProblems(t *testing.T) {
	for _, tc := range problemCases() {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.doc, tc.want) })
	}
}

// checkProblems loads doc and checks that it is refused with exactly the
// wanted problems, each with its line.
func checkProblems(t *testing.T, doc string, want []wantProblem) {
	p := writeSettings(t, doc)
	_, err := Load(p)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load: %v, want a *ValidationError", err)
	}
	if ve.File != p {
		t.Errorf("file %q", ve.File)
	}
	for _, w := range want {
		found := false
		for _, pr := range ve.Problems {
			if pr.Path == w.path && strings.Contains(pr.Message, w.msg) {
				found = true
				if pr.Line == 0 && w.path != "" && !strings.Contains(pr.Message, "required") && !strings.Contains(pr.Message, "no principal") {
					t.Errorf("problem %q has no line", pr)
				}
			}
		}
		if !found {
			t.Errorf("missing problem %s: %q\ngot:\n%v", w.path, w.msg, err)
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ve.Problems), len(want), err)
	}
	if !strings.HasPrefix(err.Error(), p+":") {
		t.Errorf("error does not start with the file name: %v", err)
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	doc := `{
  "dataDir": "/x",
  "tenants": [
    {"name": "a", "tenantId": "nope", "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
     "certificate": {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"},
     "deletes": {"maxFraction": -1}},
    {"name": "b", "tenantId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c", "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
     "certificate": {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"},
     "sorce": {}}
  ]
}`
	_, err := Load(writeSettings(t, doc))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
	want := []struct {
		path string
		line int
	}{{"tenants[0].tenantId", 4}, {"tenants[0].deletes.maxFraction", 6}, {"tenants[1].sorce", 9}}
	for _, w := range want {
		if !slices.ContainsFunc(ve.Problems, func(p Problem) bool { return p.Path == w.path && p.Line == w.line }) {
			t.Errorf("no problem at %s line %d:\n%v", w.path, w.line, err)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		doc       string
		line, col int
		msg       string
	}{
		{"{\n  \"dataDir\": \"x\",\n  \"tenants\": [,]\n}", 3, 15, "syntax error"},
		{"{\n  \"dataDir\": \"x\"", 2, 17, "unexpected end of file"},
		{"{\"dataDir\": \"x\"} {}", 1, 18, "after the top-level object"},
		{"{\"dataDir\": \"\xff\"}", 1, 14, "invalid UTF-8"},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), 1, 0, "nesting deeper"},
		{"", 1, 1, "unexpected end of file"},
	}
	for _, tc := range cases {
		_, err := Load(writeSettings(t, tc.doc))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		p := ve.Problems[0]
		if p.Line != tc.line || tc.col != 0 && p.Column != tc.col || !strings.Contains(p.Message, tc.msg) {
			t.Errorf("%q: got %d:%d %q, want %d:%d %q", tc.doc, p.Line, p.Column, p.Message, tc.line, tc.col, tc.msg)
		}
	}
}

// Windows PowerShell 5 writes UTF-16 with a byte order mark; Notepad writes a
// UTF-8 byte order mark.
func TestEncodings(t *testing.T) {
	utf16le := []byte{0xFF, 0xFE}
	for _, r := range minimal {
		utf16le = append(utf16le, byte(r), byte(r>>8))
	}
	for name, data := range map[string][]byte{
		"utf8-bom": append([]byte{0xEF, 0xBB, 0xBF}, minimal...),
		"utf16le":  utf16le,
	} {
		p := filepath.Join(t.TempDir(), "settings.json")
		os.WriteFile(p, data, 0o600)
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("loaded a directory")
	}
}

func TestNormalisation(t *testing.T) {
	doc := strings.Replace(minimal, `}]`, `, "source": {"excludeUsers": ["Ann@Contoso.COM", "9A8B7C6D-5E4F-4A3B-2C1D-0E9F8A7B6C5D"]}}]`, 1)
	doc = strings.Replace(doc, `"dataDir": "state",`, `"dataDir": "state", "admin": {"clientCertificates": {"pinned": ["3F:A1:2B:4C:5D:6E:7F:80:91:A2:B3:C4:D5:E6:F7:08:19:2A:3B:4C:5D:6E:7F:80:91:A2:B3:C4:D5:E6:F7:08"]},
		"roles": [{"principal": "cert:SHA256:3FA12B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708", "role": "viewer"},
		          {"principal": "s-1-5-21-1-2-3-1001", "role": "operator"}]},`, 1)
	doc = strings.Replace(doc, `"file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD"`, "\"thumbprint\": \"\u200ea1 b2 c3 d4 e5 f6 07 18 29 3a 4b 5c 6d 7e 8f 90 11 22 33 44\"", 1)
	c, err := Load(writeSettings(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	fp := "3fa12b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"
	if c.Admin.ClientCertificates.Pinned[0] != fp || c.Admin.Roles[0].Principal != "cert:"+fp || c.Admin.Roles[1].Principal != "S-1-5-21-1-2-3-1001" {
		t.Errorf("admin %+v", c.Admin)
	}
	tn := c.Tenants[0]
	if tn.Certificate.Thumbprint != "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344" {
		t.Errorf("thumbprint %q", tn.Certificate.Thumbprint)
	}
	if !slices.Equal(tn.Source.ExcludeUsers, []string{"ann@contoso.com", "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"}) {
		t.Errorf("exclude users %v", tn.Source.ExcludeUsers)
	}
}

func TestHoldsBack(t *testing.T) {
	d := Deletes{MaxFraction: 0.1, MinCount: 3}
	for _, c := range []struct {
		n, managed int
		want       bool
	}{{1, 5, false}, {3, 5, false}, {4, 5, true}, {4, 100, false}, {10, 100, false}, {11, 100, true}, {0, 0, false}} {
		if got := d.HoldsBack(c.n, c.managed); got != c.want {
			t.Errorf("HoldsBack(%d, %d) = %v", c.n, c.managed, got)
		}
	}
	if (Deletes{MaxFraction: 1}).HoldsBack(100, 100) {
		t.Error("maxFraction 1 must turn the guard off")
	}
}

func TestFileAs(t *testing.T) {
	vals := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	full := map[string]string{"displayName": "Ann Smith", "givenName": "Ann", "surname": "Smith", "companyName": "Acme"}
	cases := []struct {
		f    FileAsFormat
		v    map[string]string
		want string
	}{
		{"{surname}, {givenName}", full, "Smith, Ann"},
		{"{surname}, {givenName}", map[string]string{"surname": "Smith", "displayName": "x"}, "Smith"},
		{"{surname}, {givenName}", map[string]string{"givenName": "Ann", "displayName": "x"}, "Ann"},
		{"{surname}, {givenName}", map[string]string{"displayName": "Reception"}, "Reception"},
		{"{givenName} {surname} ({companyName})", full, "Ann Smith (Acme)"},
		{"{givenName} {surname} ({companyName})", map[string]string{"givenName": "Ann", "surname": "Smith"}, "Ann Smith"},
		{"{surname}, {givenName} ({companyName})", map[string]string{"surname": "Smith", "companyName": "Acme"}, "Smith (Acme)"},
		{"Dr. {surname}", map[string]string{"surname": "Zoë"}, "Dr. Zoë"},
		{"{surname}, {givenName} ({companyName})", map[string]string{"companyName": "Acme"}, "Acme"},
		{"<{surname}>", map[string]string{"surname": "Smith"}, "<Smith>"},
		{"{displayName}", full, "Ann Smith"},
	}
	for _, c := range cases {
		if err := c.f.validate(); err != nil {
			t.Errorf("%q: %v", c.f, err)
		}
		if got := c.f.Render(vals(c.v)); got != c.want {
			t.Errorf("%q with %v = %q, want %q", c.f, c.v, got, c.want)
		}
	}
	for _, bad := range []FileAsFormat{"", "Smith", "{surname", "surname}", "{foo}", "{ surname }"} {
		if bad.validate() == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStructFieldsMatchJSONTags(t *testing.T) {
	// Every settings struct field has a json tag (the decoder needs it).
	var walk func(reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(tp reflect.Type) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || seen[tp] {
			return
		}
		seen[tp] = true
		for i := range tp.NumField() {
			f := tp.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Tag.Get("json") == "" {
				t.Errorf("%s.%s has no json tag", tp.Name(), f.Name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Config]())
}

// Two entries of one tenant with different folders ("Company Directory"
// for all, "Sales" for a group) are valid.
func TestOneTenantTwoFolders(t *testing.T) {
	doc := strings.Replace(minimal, `}]`, `}, {"name": "contoso-sales", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c", "folder": "Sales", "certificate": {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"}}]`, 1)
	c, err := Load(writeSettings(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 2 || c.Tenants[0].Folder != DefaultFolder || c.Tenants[1].Folder != "Sales" {
		t.Fatalf("tenants %+v", c.Tenants)
	}
}

// A password put where a variable name or a protected blob belongs is
// reported by the setting's path, never repeated: the problem list goes
// to consoles, RMM logs and the event log.
func TestPasswordValuesNeverEchoed(t *testing.T) {
	const secret = "Tr0ub4dor&3 x"
	for _, c := range []struct{ name, doc, path string }{
		{"passwordEnv", replace(`"CONTOSO_PFX_PASSWORD"`, `"`+secret+`"`), "tenants[0].certificate.passwordEnv"},
		{"passwordEnv of a thumbprint", replace(`"file": "contoso.pfx"`, `"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"`),
			"tenants[0].certificate.passwordEnv"},
		{"passwordProtected", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordProtected": "`+secret+`"`), "tenants[0].certificate.passwordProtected"},
		{"base64 in passwordProtected", replace(`"passwordEnv": "CONTOSO_PFX_PASSWORD"`, `"passwordProtected": "VHIwdWI0ZG9yJjMgeA=="`), "tenants[0].certificate.passwordProtected"},
		{"admin passwordEnv", withTop(`"admin": {"certificate": {"file": "a.pfx", "passwordEnv": "` + secret + `"}}`), "admin.certificate.passwordEnv"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeSettings(t, c.doc))
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("Load: %v, want a problem at %s", err, c.path)
			}
			for _, leak := range []string{secret, "Tr0ub4dor", "VHIwdWI0ZG9yJjMgeA", "CONTOSO_PFX_PASSWORD"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the problem repeats the value %q:\n%v", leak, err)
				}
			}
		})
	}
}

func TestFieldPolicy(t *testing.T) {
	c, err := Load(writeSettings(t, withTenant(`"fieldPolicy": {"mobilePhone": "fillBlank", "officeLocation": "never", "jobTitle": "overwrite"}`)))
	if err != nil {
		t.Fatal(err)
	}
	fp := c.Tenants[0].FieldPolicy
	for f, want := range map[Field]FieldMode{FieldMobilePhone: FieldFillBlank, FieldOfficeLocation: FieldNever,
		FieldJobTitle: FieldOverwrite, FieldSurname: FieldOverwrite, FieldDisplayName: FieldOverwrite} {
		if got := fp.Mode(f); got != want {
			t.Errorf("%s: %s, want %s", f, got, want)
		}
	}
}
