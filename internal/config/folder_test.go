package config

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestFolderModes(t *testing.T) {
	c, err := Parse("settings.json", "/etc/galmirror/settings.json", []byte(withTenant(`"folder": {"mode": "default", "category": "Firma"}, "categories": ["firma", "Staff"]`)))
	if err != nil {
		t.Fatal(err)
	}
	tn := &c.Tenants[0]
	if !tn.InDefaultFolder() || tn.FolderCategory != "Firma" {
		t.Fatalf("mode %q category %q", tn.FolderMode, tn.FolderCategory)
	}
	if got := tn.ContactCategories(); !slices.Equal(got, []string{"Firma", "Staff"}) {
		t.Errorf("contact categories %q: want the folder's category once, first", got)
	}
	out, _ := json.Marshal(tn)
	if !strings.Contains(string(out), `"folder":{"mode":"default","category":"Firma"}`) {
		t.Errorf("marshalled tenant lost the folder mode: %s", out)
	}

	c, err = Parse("settings.json", "/etc/galmirror/settings.json", []byte(withTenant(`"folder": {"mode": "default"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if tn := &c.Tenants[0]; tn.FolderCategory != DefaultFolder || !slices.Equal(tn.ContactCategories(), []string{DefaultFolder}) {
		t.Errorf("default category %q", tn.FolderCategory)
	}

	// The string form keeps working: folder mode with that name.
	c, err = Parse("settings.json", "/etc/galmirror/settings.json", []byte(withTenant(`"folder": "Staff"`)))
	if err != nil {
		t.Fatal(err)
	}
	if tn := &c.Tenants[0]; tn.InDefaultFolder() || tn.Folder != "Staff" || len(tn.ContactCategories()) != 0 {
		t.Errorf("string form: mode %q folder %q", tn.FolderMode, tn.Folder)
	}
}

func TestFolderModeErrors(t *testing.T) {
	cases := []struct{ extra, want string }{
		{`"folder": {"mode": "inbox"}`, `tenants[0].folder.mode: unknown folder mode "inbox"`},
		{`"folder": {"mode": "default", "name": "Staff"}`, `tenants[0].folder.name: the default folder mode`},
		{`"folder": {"mode": "folder", "category": "X"}`, `tenants[0].folder.category: only the default folder mode`},
		{`"folder": {"mode": "default", "categroy": "X"}`, `unknown key "categroy" (did you mean "category"?)`},
		{`"folder": {"category": "X"}`, `tenants[0].folder: "mode" is required`},
		{`"folder": {"mode": "default", "category": "a,b"}`, `tenants[0].folder.category: must not contain ','`},
		{`"folder": {"mode": "folder", "name": " "}`, `tenants[0].folder.name: must not be empty`},
		{`"folder": 3`, `tenants[0].folder`},
	}
	for _, tc := range cases {
		_, err := Parse("settings.json", "/etc/galmirror/settings.json", []byte(withTenant(tc.extra)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.extra, err, tc.want)
		}
	}
	// Two entries of one tenant cannot share the default folder.
	doc := strings.Replace(withTenant(`"folder": {"mode": "default"}`), `"tenants": [{`, `"tenants": [{"name": "b", "tenantId": "72F988BF-86F1-41AF-91AB-2D7CD011DB47", "clientId": "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c", "certificate": {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"}, "folder": {"mode": "default", "category": "Other"}}, {`, 1)
	_, err := Parse("settings.json", "/etc/galmirror/settings.json", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "default Contacts folder") {
		t.Errorf("two default-mode entries of one tenant: %v", err)
	}
}
