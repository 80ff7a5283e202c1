package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/galmirror/galmirror/internal/config"
)

// installSettingsFile installs the settings file src as dest: the files it
// names by a path inside src's folder (certificates, CA bundles, a keytab)
// are copied along to the same place under dest's folder, and the copy is
// validated before it replaces dest, so a bad file never replaces a good
// one. It returns the files it copied.
func installSettingsFile(src, dest string, p platform) ([]string, error) {
	src, err := filepath.Abs(src)
	if err != nil {
		return nil, fail(CodeUsage, "settings", err)
	}
	cfg, err := config.Load(src)
	if err != nil {
		return nil, fail(CodeUsage, "settings", err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fail(CodeUsage, "settings", err)
	}
	srcDir, destDir := filepath.Dir(src), filepath.Dir(dest)
	var copied []string
	if !sameFile(srcDir, destDir) {
		for _, f := range pathsOf(cfg) {
			rel, err := filepath.Rel(srcDir, f)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
				continue // named by an absolute path elsewhere: used where it is
			}
			b, err := os.ReadFile(f)
			if errors.Is(err, os.ErrNotExist) {
				continue // check names it
			} else if err != nil {
				return copied, fail(CodeUsage, "settings", fmt.Errorf("copy %s: %w", f, err))
			}
			to := filepath.Join(destDir, rel)
			if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
				return copied, fail(CodeService, "settings", err)
			}
			if err := p.writeFile(to, b); err != nil {
				return copied, fail(CodeService, "settings", fmt.Errorf("copy %s to %s: %w", f, to, err))
			}
			copied = append(copied, to)
		}
	} else if sameFile(src, dest) {
		return nil, nil // already in place, and valid
	}
	if err := replaceValidated(dest, data, p); err != nil {
		return copied, err
	}
	return copied, nil
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// replaceValidated writes data next to dest, loads it as a settings file
// (relative paths resolve the same there), and only then renames it over
// dest.
func replaceValidated(dest string, data []byte, p platform) error {
	tmp := dest + ".new"
	if err := p.writeFile(tmp, data); err != nil {
		return fail(CodeService, "settings", fmt.Errorf("write %s: %w", tmp, err))
	}
	if _, err := config.Load(tmp); err != nil {
		_ = os.Remove(tmp)
		return fail(CodeUsage, "settings", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		_ = os.Remove(tmp)
		return fail(CodeService, "settings", fmt.Errorf("replace %s: %w", dest, err))
	}
	return nil
}

// writeTenant adds t to the settings at dest, or replaces the tenant of
// that name there; other tenants and settings stay. Without a settings
// file it writes a new one with dataDir.
func writeTenant(dest, dataDir string, t Tenant, cert map[string]any, p platform) error {
	doc := map[string]any{}
	old, err := os.ReadFile(dest)
	switch {
	case err == nil:
		d := json.NewDecoder(bytes.NewReader(old))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return fail(CodeUsage, "settings", fmt.Errorf("the settings already at %s are not a JSON object (%v): fix or remove the file, or give a settings file", dest, err))
		}
	case errors.Is(err, os.ErrNotExist):
		doc["dataDir"] = dataDir
	default:
		return fail(CodeService, "settings", err)
	}
	name := t.Name
	if name == "" {
		name = "default"
	}
	tenant := map[string]any{
		"name":        name,
		"tenantId":    strings.ToLower(t.TenantID),
		"clientId":    strings.ToLower(t.ClientID),
		"certificate": cert,
	}
	if t.Cloud != "" {
		tenant["cloud"] = t.Cloud
	}
	if t.Authority != "" || t.Graph != "" {
		tenant["endpoints"] = map[string]any{"authority": t.Authority, "graph": t.Graph}
	}
	if t.Folder != "" {
		tenant["folder"] = t.Folder
	}
	if len(t.Groups) > 0 {
		tenant["target"] = map[string]any{"groups": t.Groups}
	}
	var tenants []any
	if l, ok := doc["tenants"].([]any); ok {
		tenants = l
	} else if doc["tenants"] != nil {
		return fail(CodeUsage, "settings", fmt.Errorf("%s: tenants is not a list", dest))
	}
	replaced := false
	for i, x := range tenants {
		if m, ok := x.(map[string]any); ok && m["name"] == name {
			// Keep what the MSP set by hand beside what deploy was given.
			for k, v := range tenant {
				m[k] = v
			}
			tenants[i] = m
			replaced = true
		}
	}
	if !replaced {
		tenants = append(tenants, tenant)
	}
	doc["tenants"] = tenants
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fail(CodeService, "settings", err)
	}
	return replaceValidated(dest, append(out, '\n'), p)
}

// importedList is the file in galmirror's folder listing the thumbprints
// of the certificates deploy imported, for `service uninstall --purge`.
const importedList = "imported-certificates.txt"

// recordImported adds a thumbprint to the list (once).
func recordImported(dir, thumbprint string, p platform) error {
	path := filepath.Join(dir, importedList)
	old, _ := os.ReadFile(path)
	for _, l := range strings.Fields(string(old)) {
		if strings.EqualFold(l, thumbprint) {
			return nil
		}
	}
	return p.writeFile(path, append(old, []byte(thumbprint+"\n")...))
}
