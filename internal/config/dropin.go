package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// TenantsDir is the folder of drop-in tenant files beside the settings
// file: one file per customer (tenants.d/contoso.json holding one tenant
// object, as an entry of "tenants"), so that an RMM script adds or removes
// a customer without editing a file every customer shares.
const TenantsDir = "tenants.d"

// Sources returns the files a configuration is read from: the settings
// file, then its drop-in tenant files in name order. What is not there
// (no tenants.d) is left out; the service watches these for changes.
func Sources(path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	files := []string{abs}
	ents, err := os.ReadDir(filepath.Join(filepath.Dir(abs), TenantsDir))
	if errors.Is(err, os.ErrNotExist) {
		return files, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TenantsDir, err)
	}
	for _, e := range ents {
		if dropIn(e.Name()) && !e.IsDir() {
			files = append(files, filepath.Join(filepath.Dir(abs), TenantsDir, e.Name()))
		}
	}
	return files, nil
}

// dropIn reports whether a file name in tenants.d is a tenant: *.json, not
// hidden (an editor's or an RMM's temporary file is not read).
func dropIn(name string) bool {
	return strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "~")
}

// addDropIns appends the drop-in tenant files' tenants to c, validated as
// entries of "tenants" are, and checks names and folders across all files.
// Every problem of every file is reported at once.
func addDropIns(c *Config) error {
	files, err := Sources(c.Path)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files[1:] {
		t, err := loadTenant(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.File = f
		c.Tenants = append(c.Tenants, *t)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return crossCheck(c)
}

// loadTenant reads and validates one drop-in tenant file.
func loadTenant(path string) (*Tenant, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, &ValidationError{File: path, Problems: []Problem{{Message: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	return ParseTenant(path, data)
}

// ParseTenant validates and defaults a drop-in tenant file's content: one
// tenant object. Relative paths in it resolve against the file's folder.
// Problems name the keys as in the file (source.includeGroups[0]).
func ParseTenant(path string, data []byte) (*Tenant, error) {
	text, err := toUTF8(data)
	if err != nil {
		return nil, &ValidationError{File: path, Problems: []Problem{{Message: err.Error()}}}
	}
	d := &document{text: text, offsets: map[string]int64{}, bad: map[string]bool{}}
	root, ok := d.parseTree()
	if !ok {
		return nil, &ValidationError{File: path, Problems: d.problems}
	}
	if root.kind != kObject {
		d.problems = append(d.problems, Problem{Line: 1, Column: 1, Message: fmt.Sprintf("expected a tenant object, got %s", root.kind)})
		return nil, &ValidationError{File: path, Problems: d.problems}
	}
	const p = "tenant"
	t := &Tenant{}
	t.setDefaults()
	d.decode(p, root, reflect.ValueOf(t).Elem())
	v := validator{document: d, dir: filepath.Dir(path)}
	v.tenant(p, t)
	if len(d.problems) == 0 {
		return t, nil
	}
	for i := range d.problems {
		q := &d.problems[i]
		q.Path = strings.TrimPrefix(strings.TrimPrefix(q.Path, p), ".")
	}
	return nil, &ValidationError{File: path, Problems: d.problems}
}

// crossCheck checks what no one file can: unique names, and one folder per
// tenant and folder name, across the settings file and the drop-ins.
func crossCheck(c *Config) error {
	where := func(i int) string {
		if f := c.Tenants[i].File; f != "" {
			return filepath.Join(TenantsDir, filepath.Base(f))
		}
		return fmt.Sprintf("tenants[%d]", i)
	}
	byName, byFolder := map[string]int{}, map[string]int{}
	var errs []error
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if t.File == "" {
			// The settings file checked its own entries against each other.
			byName[t.Name], byFolder[folderKey(t)] = i, i
		}
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if t.File == "" {
			continue
		}
		if j, dup := byName[t.Name]; dup {
			errs = append(errs, &ValidationError{File: t.File, Problems: []Problem{{Path: "name",
				Message: fmt.Sprintf("duplicate tenant name %q (also %s)", t.Name, where(j))}}})
		} else {
			byName[t.Name] = i
		}
		if j, dup := byFolder[folderKey(t)]; dup {
			errs = append(errs, &ValidationError{File: t.File, Problems: []Problem{{Path: "folder",
				Message: fmt.Sprintf("%s already syncs tenant %s into %s: two entries of one tenant need different folders", where(j), t.TenantID, t.FolderDescription())}}})
		} else {
			byFolder[folderKey(t)] = i
		}
	}
	// Keep the settings' order, then the drop-ins by file name.
	sort.SliceStable(c.Tenants, func(i, j int) bool { return c.Tenants[i].File == "" && c.Tenants[j].File != "" })
	errs = append(errs, linkSources(c)...)
	return errors.Join(errs...)
}

// linkSources resolves every entry's source.fromTenants to the entries
// it names (Source.From), across the settings file and the drop-ins: an
// unknown name, or an entry of the same tenant (whose people are this
// entry's own already), is an error naming the JSON path. Only the listed
// entries' own directories are added, not the entries they list in turn,
// so a cycle (a lists b, b lists a) is two direct links and allowed.
func linkSources(c *Config) []error {
	byName := make(map[string]int, len(c.Tenants))
	for i := range c.Tenants {
		byName[c.Tenants[i].Name] = i
	}
	var errs []error
	for i := range c.Tenants {
		t := &c.Tenants[i]
		file, p := c.Path, fmt.Sprintf("tenants[%d].source.fromTenants", i)
		if t.File != "" {
			file, p = t.File, "source.fromTenants"
		}
		t.Source.From = nil
		for k, n := range t.Source.FromTenants {
			j, ok := byName[n]
			var msg string
			switch {
			case !ok:
				msg = fmt.Sprintf("no tenant entry is named %q (in the settings file or %s)", n, TenantsDir)
			case strings.EqualFold(c.Tenants[j].TenantID, t.TenantID):
				msg = fmt.Sprintf("%q is an entry of the same tenant %s: its people are this entry's own sources already", n, t.TenantID)
			default:
				src := c.Tenants[j]
				src.Source.From = nil
				t.Source.From = append(t.Source.From, src)
				continue
			}
			errs = append(errs, &ValidationError{File: file, Problems: []Problem{{Path: fmt.Sprintf("%s[%d]", p, k), Message: msg}}})
		}
	}
	return errs
}
