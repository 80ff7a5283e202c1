package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const dropFabrikam = `{
  "name": "fabrikam",
  "tenantId": "11111111-2222-3333-4444-555555555555",
  "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
  "certificate": { "file": "fabrikam.pem" }
}`

// Tenants of tenants.d/*.json join the settings file's, validated the same
// way, their relative paths resolved against tenants.d; temporary and
// hidden files are not read.
func TestDropInTenants(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"settings.json":             minimal,
		"tenants.d/fabrikam.json":   dropFabrikam,
		"tenants.d/.wip.json":       `{`,
		"tenants.d/notes.txt":       `not a tenant`,
		"tenants.d/adatum.json.tmp": `{`,
	})
	c, err := Load(filepath.Join(dir, "settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 2 || c.Tenants[0].Name != "contoso" || c.Tenants[1].Name != "fabrikam" {
		t.Fatalf("tenants %+v", c.Tenants)
	}
	f := c.Tenants[1]
	if f.Certificate.File != filepath.Join(dir, "tenants.d", "fabrikam.pem") || f.File != filepath.Join(dir, "tenants.d", "fabrikam.json") ||
		f.Folder != DefaultFolder || f.Schedule.Every.Std() != DefaultEvery {
		t.Errorf("drop-in tenant %+v", f)
	}
	files, _ := Sources(filepath.Join(dir, "settings.json"))
	if len(files) != 2 {
		t.Errorf("sources %v", files)
	}
}

// Every problem of every drop-in is reported at once, with its file, line
// and key; names and folders are unique across all files.
func TestDropInProblems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"settings.json": minimal,
		"tenants.d/bad.json": strings.Replace(strings.Replace(dropFabrikam, `"fabrikam"`, `"bad"`, 1), `"fabrikam.pem" }`,
			`"fabrikam.pem" },
  "source": {"includeGroup": []}, "target": {"groups": ["sales"]}`, 1),
		"tenants.d/contoso.json":  strings.Replace(dropFabrikam, `"fabrikam"`, `"contoso"`, 1),
		"tenants.d/fabrikam.json": strings.Replace(dropFabrikam, `"11111111-2222-3333-4444-555555555555"`, `"72f988bf-86f1-41af-91ab-2d7cd011db47"`, 1),
		"tenants.d/list.json":     `[` + dropFabrikam + `]`,
	})
	_, err := Load(filepath.Join(dir, "settings.json"))
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "tenants.d", "bad.json") + ":6:14: source.includeGroup: unknown key",
		"bad.json:6:57: target.groups[0]: invalid GUID \"sales\"",
		"list.json:1:1: expected a tenant object, got an array",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// With the files themselves right, the cross checks speak.
	os.Remove(filepath.Join(dir, "tenants.d", "bad.json"))
	os.Remove(filepath.Join(dir, "tenants.d", "list.json"))
	_, err = Load(filepath.Join(dir, "settings.json"))
	if err == nil || !strings.Contains(err.Error(), "contoso.json: name: duplicate tenant name \"contoso\" (also tenants[0])") ||
		!strings.Contains(err.Error(), "fabrikam.json: folder: tenants[0] already syncs tenant 72f988bf-86f1-41af-91ab-2d7cd011db47") {
		t.Errorf("cross checks: %v", err)
	}
}
