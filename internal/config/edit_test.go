package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf16"
)

func contoso() Object {
	return Object{
		{"name", "contoso"},
		{"tenantId", "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{"clientId", "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c"},
		{"applicationObjectId", "5e9b8c1a-2d3f-4a5b-8c7d-9e0f1a2b3c4d"},
		{"certificate", Object{{"file", "contoso.pfx"}, {"passwordEnv", "CONTOSO_PFX_PASSWORD"}}},
	}
}

func editFile(t *testing.T, content []byte) *SettingsFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(p, content, 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := OpenForEdit(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Adding a tenant changes no byte of the file but the inserted block:
// another tenant's odd formatting, a key galmirror does not know at the
// top (here "$schema"), CRLF line ends and tab indentation all stay.
func TestSetTenantKeepsEveryOtherByte(t *testing.T) {
	orig := "{\r\n\t\"$schema\": \"./settings.schema.json\",\r\n\t\"dataDir\":   \"state\",\r\n\t\"tenants\": [\r\n\t\t{ \"name\": \"fabrikam\", \"tenantId\": \"11111111-1111-1111-1111-111111111111\",\r\n\t\t  \"clientId\": \"22222222-2222-2222-2222-222222222222\", \"certificate\": {\"file\": \"f.pem\"} }\r\n\t]\r\n}\r\n"
	f := editFile(t, []byte(orig))
	if err := f.SetTenant(contoso()); err != nil {
		t.Fatal(err)
	}
	got := string(f.Bytes())
	i := strings.Index(got, ",\r\n\t\t{\r\n\t\t\t\"name\": \"contoso\"")
	if i < 0 {
		t.Fatalf("block not inserted as expected:\n%s", got)
	}
	end := strings.Index(got[i:], "\r\n\t\t}") + i + len("\r\n\t\t}")
	if got[:i]+got[end:] != orig {
		t.Errorf("bytes outside the new block changed:\n%q\nwant\n%q", got[:i]+got[end:], orig)
	}
	if strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\n") {
		t.Errorf("a bare LF was written into a CRLF file:\n%q", got)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	c, err := Load(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	ct, ok := c.Tenant("contoso")
	if !ok || ct.ApplicationObjectID != "5e9b8c1a-2d3f-4a5b-8c7d-9e0f1a2b3c4d" || ct.Certificate.PasswordEnv != "CONTOSO_PFX_PASSWORD" ||
		ct.Certificate.File != filepath.Join(filepath.Dir(f.Path), "contoso.pfx") || ct.CertificateRenewBefore.Std() != DefaultCertificateRenewBefore {
		t.Errorf("loaded %+v", ct)
	}
	if runtime.GOOS != "windows" {
		if st, _ := os.Stat(f.Path); st.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want the old file's 0640", st.Mode().Perm())
		}
	}
}

// Re-running with the same block is a no-op; a changed value is replaced
// in place and a new member appended, the rest of the block untouched.
func TestSetTenantUpdatesInPlace(t *testing.T) {
	orig := `{"dataDir": "/var/lib/galmirror", "tenants": [
  {
    "name": "contoso",
    "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "clientId": "99999999-5b8d-4c2e-9a7f-1d2e3f4a5b6c",
    "certificate": { "file": "contoso.pfx", "passwordEnv": "CONTOSO_PFX_PASSWORD" },
    "source": { "includeGuests": true }
  }
]}`
	f := editFile(t, []byte(orig))
	same := Object{{"name", "contoso"}, {"tenantId", "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{"certificate", Object{{"file", "contoso.pfx"}, {"passwordEnv", "CONTOSO_PFX_PASSWORD"}}}}
	if err := f.SetTenant(same); err != nil {
		t.Fatal(err)
	}
	if string(f.Bytes()) != orig {
		t.Fatalf("an equal block changed the file:\n%s", f.Bytes())
	}
	if err := f.SetTenant(contoso()); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(orig, "99999999-", "0f3c6a1e-", 1)
	want = strings.Replace(want, `"source": { "includeGuests": true }`, `"source": { "includeGuests": true },
    "applicationObjectId": "5e9b8c1a-2d3f-4a5b-8c7d-9e0f1a2b3c4d"`, 1)
	if string(f.Bytes()) != want {
		t.Errorf("got\n%s\nwant\n%s", f.Bytes(), want)
	}
	if err := f.SetTenantCertificateMember("contoso", "file", "contoso-2.pfx"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(f.Bytes(), []byte(`{ "file": "contoso-2.pfx", "passwordEnv"`)) {
		t.Errorf("certificate member: %s", f.Bytes())
	}
}

// A file without a tenants list, an empty list and a new file all get a
// well-formed list; removal takes the block and its separator.
func TestTenantsListShapes(t *testing.T) {
	for name, orig := range map[string]string{
		"no list":    "{\n  \"dataDir\": \"d\"\n}\n",
		"empty list": "{\n  \"dataDir\": \"d\",\n  \"tenants\": []\n}\n",
		"empty obj":  "{}",
	} {
		t.Run(name, func(t *testing.T) {
			f := editFile(t, []byte(orig))
			if err := f.SetTenant(contoso()); err != nil {
				t.Fatal(err)
			}
			if name == "empty obj" {
				if err := f.SetTenant(Object{{"name", "contoso"}}); err != nil {
					t.Fatal(err)
				}
				root, err := scan(f.text)
				if err != nil || root.member("tenants") == nil {
					t.Fatalf("%s: %v", f.text, err)
				}
				return
			}
			if _, err := f.Config(); err != nil {
				t.Fatalf("%v\n%s", err, f.Bytes())
			}
			ok, err := f.RemoveTenant("contoso")
			if !ok || err != nil {
				t.Fatal(ok, err)
			}
			if _, err := f.Config(); err != nil {
				t.Fatalf("after removal: %v\n%s", err, f.Bytes())
			}
		})
	}
	f := editFile(t, []byte(`{"dataDir":"d","tenants":[{"name":"a","tenantId":"11111111-1111-1111-1111-111111111111","clientId":"11111111-1111-1111-1111-111111111111","certificate":{"file":"a.pem"}},{"name":"b","tenantId":"11111111-1111-1111-1111-111111111111","clientId":"11111111-1111-1111-1111-111111111111","certificate":{"file":"b.pem"},"folder":"B"},{"name":"c","tenantId":"11111111-1111-1111-1111-111111111111","clientId":"11111111-1111-1111-1111-111111111111","certificate":{"file":"c.pem"},"folder":"C"}]}`))
	for _, n := range []string{"b", "a", "c"} {
		if ok, err := f.RemoveTenant(n); !ok || err != nil {
			t.Fatal(n, ok, err)
		}
		if _, err := f.Config(); err != nil {
			t.Fatalf("after removing %s: %v\n%s", n, err, f.Bytes())
		}
	}
	if string(f.Bytes()) != `{"dataDir":"d","tenants":[]}` {
		t.Errorf("after removing all: %s", f.Bytes())
	}
}

// UTF-16 with a byte order mark (PowerShell 5's Out-File) is written back
// as UTF-16 with its byte order mark; UTF-8 with a BOM keeps the BOM.
func TestEditKeepsEncoding(t *testing.T) {
	text := "{\n  \"dataDir\": \"d\",\n  \"tenants\": []\n}\n"
	u := utf16.Encode([]rune(text))
	le := []byte{0xFF, 0xFE}
	for _, c := range u {
		le = append(le, byte(c), byte(c>>8))
	}
	f := editFile(t, le)
	if err := f.SetTenant(contoso()); err != nil {
		t.Fatal(err)
	}
	out := f.Bytes()
	if !bytes.HasPrefix(out, []byte{0xFF, 0xFE}) || out[3] != 0 {
		t.Fatalf("not UTF-16LE: % x", out[:8])
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(f.Path); err != nil {
		t.Fatal(err)
	}
	g := editFile(t, append([]byte{0xEF, 0xBB, 0xBF}, text...))
	if err := g.SetTenant(contoso()); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(g.Bytes(), []byte{0xEF, 0xBB, 0xBF, '{'}) {
		t.Errorf("BOM lost: %q", g.Bytes()[:6])
	}
}

// An edit that would make the file invalid is refused and nothing is
// written; a new file starts with dataDir and the tenant, owner-only.
func TestSaveValidatesAndCreates(t *testing.T) {
	f := editFile(t, []byte(`{"dataDir": "d", "tenants": []}`))
	if err := f.SetTenant(Object{{"name", "Bad Name"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err == nil || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("invalid edit saved: %v", err)
	}
	if b, _ := os.ReadFile(f.Path); string(b) != `{"dataDir": "d", "tenants": []}` {
		t.Errorf("file changed: %s", b)
	}
	p := filepath.Join(t.TempDir(), "new.json")
	n, err := NewSettingsFile(p, "state")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.SetTenant(contoso()); err != nil {
		t.Fatal(err)
	}
	if err := n.Save(); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("new file mode %v", st.Mode().Perm())
		}
	}
	if c, err := Load(p); err != nil || len(c.Tenants) != 1 {
		t.Fatalf("%v %+v", err, c)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

// FuzzEditSettings: the editor never panics on any input, and whatever it
// produces from a file it accepted is JSON that still holds the inserted
// tenant, with the bytes before the tenants list unchanged.
func FuzzEditSettings(f *testing.F) {
	f.Add([]byte(`{"dataDir":"d","tenants":[]}`))
	f.Add([]byte("{\r\n\t\"tenants\": [ {\"name\": \"x\"} ]\r\n}"))
	f.Add([]byte(`{"tenants": {"name": "contoso"}}`))
	f.Add([]byte(`{"a": "\u00e9\"", "tenants": [1, "two", null, true, -1.5e3, {"name":"contoso","clientId":1}]}`))
	f.Add([]byte{0xFF, 0xFE, '{', 0, '}', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := scan(data); (err == nil) != json.Valid(data) && !errors.Is(err, errScanDepth) {
			t.Fatalf("scan and encoding/json disagree on %q: %v", data, err)
		}
		sf, err := parseForEdit(data)
		if err != nil {
			return
		}
		before := string(sf.text)
		if err := sf.SetTenant(contoso()); err != nil {
			return
		}
		root, err := scan(sf.text)
		if err != nil {
			t.Fatalf("edit produced invalid JSON from %q: %v\n%s", before, err, sf.text)
		}
		if !sf.HasTenant("contoso") {
			t.Fatalf("tenant missing after the edit of %q:\n%s", before, sf.text)
		}
		if arr := root.member("tenants"); arr != nil && arr.start < len(before) && sf.text[arr.start] == '[' {
			if string(sf.text[:arr.start]) != before[:min(arr.start, len(before))] {
				t.Fatalf("bytes before the list changed")
			}
		}
		if _, err := sf.RemoveTenant("contoso"); err != nil {
			t.Fatal(err)
		}
		if _, err := scan(sf.text); err != nil {
			t.Fatalf("removal produced invalid JSON: %v\n%s", err, sf.text)
		}
	})
}
