package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// source.fromTenants links an entry to other entries of the settings
// file and the drop-ins; Source.From carries copies of them that do not
// link further.
func TestFromTenants(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"settings.json":           strings.Replace(minimal, `"certificate"`, `"source": {"fromTenants": ["fabrikam"]}, "certificate"`, 1),
		"tenants.d/fabrikam.json": strings.Replace(dropFabrikam, `"certificate"`, `"source": {"fromTenants": ["contoso"], "requirePhone": true}, "certificate"`, 1),
	})
	c, err := Load(filepath.Join(dir, "settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	con, fab := c.Tenants[0], c.Tenants[1]
	if len(con.Source.From) != 1 || con.Source.From[0].Name != "fabrikam" || !con.Source.From[0].Source.RequirePhone ||
		con.Source.From[0].Source.From != nil {
		t.Errorf("contoso's sources: %+v", con.Source.From)
	}
	if len(fab.Source.From) != 1 || fab.Source.From[0].Name != "contoso" || fab.Source.From[0].Source.From != nil {
		t.Errorf("fabrikam's sources (a cycle of direct links is allowed): %+v", fab.Source.From)
	}
}

// Each wrong source.fromTenants is reported by its JSON path, before any
// Graph call (Load).
func TestFromTenantsProblems(t *testing.T) {
	for _, c := range []struct{ name, list, want string }{
		{"unknown", `["fabrikam", "adatum"]`, `tenants[0].source.fromTenants[1]: no tenant entry is named "adatum"`},
		{"itself", `["contoso"]`, `tenants[0].source.fromTenants[0]: names this entry itself`},
		{"twice", `["fabrikam", "fabrikam"]`, `tenants[0].source.fromTenants[1]: "fabrikam" is listed twice (also tenants[0].source.fromTenants[0])`},
		{"bad name", `["Fabrikam Ltd"]`, `tenants[0].source.fromTenants[0]: invalid tenant name "Fabrikam Ltd"`},
		{"not a list", `"fabrikam"`, `tenants[0].source.fromTenants: expected an array`},
		{"same tenant", `["contoso-sales"]`, `tenants[0].source.fromTenants[0]: "contoso-sales" is an entry of the same tenant 72f988bf-86f1-41af-91ab-2d7cd011db47`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := strings.Replace(minimal, `"certificate"`, `"source": {"fromTenants": `+c.list+`}, "certificate"`, 1)
			doc = strings.Replace(doc, `}]`, `}, {"name": "contoso-sales", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c", "folder": "Sales", "certificate": {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"}}]`, 1)
			writeFiles(t, dir, map[string]string{"settings.json": doc, "tenants.d/fabrikam.json": dropFabrikam})
			_, err := Load(filepath.Join(dir, "settings.json"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v\nwant %q", err, c.want)
			}
		})
	}
	// A drop-in's problem names its file and its own path.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"settings.json": minimal,
		"tenants.d/fabrikam.json": strings.Replace(dropFabrikam, `"certificate"`, `"source": {"fromTenants": ["adatum"]}, "certificate"`, 1)})
	_, err := Load(filepath.Join(dir, "settings.json"))
	if want := filepath.Join(dir, "tenants.d", "fabrikam.json") + ": source.fromTenants[0]: no tenant entry is named \"adatum\""; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load: %v\nwant %q", err, want)
	}
}
