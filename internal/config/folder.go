package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// FolderMode says where a tenant entry's managed contacts go.
type FolderMode string

const (
	// FolderModeFolder (the default): a contact folder of galmirror's own
	// under each mailbox's default Contacts folder.
	FolderModeFolder FolderMode = "folder"
	// FolderModeDefault: the mailbox's default Contacts folder itself
	// (phones and car kits that show only that folder), beside the owner's
	// own contacts; galmirror's carry its marks and Tenant.FolderCategory.
	FolderModeDefault FolderMode = "default"
)

// InDefaultFolder reports whether the entry's contacts go into the
// mailbox's default Contacts folder.
func (t *Tenant) InDefaultFolder() bool { return t.FolderMode == FolderModeDefault }

// ContactCategories are the categories put on every managed contact: the
// default folder's category first, then Categories.
func (t *Tenant) ContactCategories() []string {
	if !t.InDefaultFolder() || t.FolderCategory == "" {
		return t.Categories
	}
	out := []string{t.FolderCategory}
	for _, c := range t.Categories {
		if !strings.EqualFold(c, t.FolderCategory) {
			out = append(out, c)
		}
	}
	return out
}

// FolderDescription names where the entry's contacts go, for messages,
// reports and `check`: `a folder named "Company Directory"` or `the
// default Contacts folder (category "Company Directory")`.
func (t *Tenant) FolderDescription() string {
	if t.InDefaultFolder() {
		return fmt.Sprintf("the default Contacts folder (category %q)", t.FolderCategory)
	}
	return fmt.Sprintf("a folder named %q", t.Folder)
}

// folderKey identifies the place an entry's contacts go within its tenant:
// two entries of one tenant need two places.
func folderKey(t *Tenant) string {
	if t.InDefaultFolder() {
		return strings.ToLower(t.TenantID) + "\x00\x00default"
	}
	return strings.ToLower(t.TenantID) + "\x00" + strings.ToLower(strings.TrimSpace(t.Folder))
}

// folderObject is the object form of a tenant's "folder":
// {"mode": "default", "category": "Company Directory"} or
// {"mode": "folder", "name": "Company Directory"}.
type folderObject struct {
	Mode     string `json:"mode"`
	Name     string `json:"name,omitempty"`
	Category string `json:"category,omitempty"`
}

var tenantType = reflect.TypeFor[Tenant]()

// decodeFolder decodes the object form of "folder" into t. The string form
// is the folder mode's name and is decoded as any string.
func (d *document) decodeFolder(path string, n *node, t *Tenant) {
	d.offsets[path] = n.off
	fo := folderObject{Mode: string(FolderModeFolder), Name: t.Folder, Category: DefaultFolder}
	d.decodeStruct(path, n, reflect.ValueOf(&fo).Elem())
	if !d.present(path + ".mode") {
		d.addf(path, "\"mode\" is required in the object form: \"folder\" (with \"name\") or \"default\" (with \"category\")")
		return
	}
	switch FolderMode(fo.Mode) {
	case FolderModeFolder:
		if d.present(path + ".category") {
			d.addf(path+".category", "only the default folder mode takes a category (a managed folder's contacts take the tenant's \"categories\")")
		}
		t.FolderMode, t.Folder = FolderModeFolder, fo.Name
	case FolderModeDefault:
		if d.present(path + ".name") {
			d.addf(path+".name", "the default folder mode writes into each mailbox's own Contacts folder, which has no name to set: leave \"name\" out")
		}
		t.FolderMode, t.FolderCategory = FolderModeDefault, fo.Category
	default:
		d.addf(path+".mode", "unknown folder mode %q: use \"folder\" (a folder of galmirror's own under Contacts) or \"default\" (the mailbox's default Contacts folder)", fo.Mode)
	}
}

// MarshalJSON writes the tenant as settings.json holds it: "folder" is the
// folder's name, or the object form in default folder mode.
func (t Tenant) MarshalJSON() ([]byte, error) {
	type plain Tenant
	b, err := json.Marshal(plain(t))
	if err != nil || !t.InDefaultFolder() {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["folder"], _ = json.Marshal(folderObject{Mode: string(FolderModeDefault), Category: t.FolderCategory})
	return json.Marshal(m)
}
