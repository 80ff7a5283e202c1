package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// Editing settings.json: `galmirror onboard` adds a tenant block,
// `offboard` removes one and certificate renewal changes a thumbprint.
// An edit changes only the bytes of the values it sets and of what it
// inserts: comments are not JSON, but every other byte of the file (key
// order, indentation, line endings, the byte order mark and the encoding,
// keys galmirror does not know yet) stays as it was. The edited file is
// validated as Load validates it before it replaces the old one, in one
// rename: a reader sees the old file or the new one, never half of one.

// Value is a JSON value to write: an Object (ordered members), a string, a
// bool, a number or a []string.
type Value any

// Member is one key and value of an Object.
type Member struct {
	Key   string
	Value Value
}

// Object is a JSON object whose members keep their order.
type Object []Member

// Get returns the value of key.
func (o Object) Get(key string) (Value, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// encoding is how a settings file's text is stored.
type encoding int

const (
	encUTF8 encoding = iota
	encUTF8BOM
	encUTF16LE
	encUTF16BE
)

// SettingsFile is a settings file open for editing.
type SettingsFile struct {
	// Path is the file's absolute path.
	Path string
	text []byte // UTF-8 without a byte order mark
	enc  encoding
	mode fs.FileMode
	// exists is false for a file New made.
	exists bool
}

// ErrTenantNotFound is returned for an edit of a tenant the file does not
// hold.
var ErrTenantNotFound = errors.New("no tenant of that name")

// OpenForEdit reads a settings file for editing. A missing file is an
// error wrapping fs.ErrNotExist.
func OpenForEdit(path string) (*SettingsFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("settings file %s: not a regular file", path)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("settings file %s: larger than %d bytes", path, MaxFileSize)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	f, err := parseForEdit(data)
	if err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	f.Path, f.mode, f.exists = abs, st.Mode().Perm(), true
	return f, nil
}

// NewSettingsFile starts a settings file that does not exist yet, holding
// only dataDir and an empty tenant list.
func NewSettingsFile(path, dataDir string) (*SettingsFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	body, err := render(Object{{"dataDir", dataDir}, {"tenants", []Value{}}}, "", "  ")
	if err != nil {
		return nil, err
	}
	return &SettingsFile{Path: abs, text: append(body, '\n'), mode: 0o600}, nil
}

func parseForEdit(data []byte) (*SettingsFile, error) {
	f := &SettingsFile{}
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		f.enc = encUTF8BOM
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		f.enc = encUTF16LE
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		f.enc = encUTF16BE
	}
	text, err := toUTF8(data)
	if err != nil {
		return nil, err
	}
	if i := invalidUTF8(text); i >= 0 {
		return nil, fmt.Errorf("invalid UTF-8 at byte %d", i)
	}
	f.text = text
	root, err := scan(f.text)
	if err != nil {
		return nil, err
	}
	if root.kind != '{' {
		return nil, errors.New("the file does not hold a JSON object")
	}
	return f, nil
}

// Bytes returns the file's content as it would be written.
func (f *SettingsFile) Bytes() []byte {
	switch f.enc {
	case encUTF8BOM:
		return append([]byte{0xEF, 0xBB, 0xBF}, f.text...)
	case encUTF16LE, encUTF16BE:
		u := utf16.Encode([]rune(string(f.text)))
		out := make([]byte, 2, 2+2*len(u))
		if f.enc == encUTF16LE {
			out[0], out[1] = 0xFF, 0xFE
		} else {
			out[0], out[1] = 0xFE, 0xFF
		}
		for _, c := range u {
			if f.enc == encUTF16LE {
				out = append(out, byte(c), byte(c>>8))
			} else {
				out = append(out, byte(c>>8), byte(c))
			}
		}
		return out
	}
	return bytes.Clone(f.text)
}

// Text returns the file's content as UTF-8 without a byte order mark.
func (f *SettingsFile) Text() []byte { return bytes.Clone(f.text) }

// Config validates the edited file as Load does.
func (f *SettingsFile) Config() (*Config, error) {
	return Parse(f.Path, f.Path, f.Bytes())
}

// Save validates the edited file and replaces the file on disk with it in
// one rename, keeping its permissions (on Windows its security descriptor
// too). A new file is created readable by its owner only.
func (f *SettingsFile) Save() error {
	if _, err := f.Config(); err != nil {
		return fmt.Errorf("the edited settings would not be valid, nothing was written: %w", err)
	}
	return writeFileAtomic(f.Path, f.Bytes(), f.mode, f.exists)
}

// tenantIndex returns the position of the tenant named name in the
// tenants array, the array, and the root.
func (f *SettingsFile) tenantIndex(name string) (int, *jnode, *jnode, error) {
	root, err := scan(f.text)
	if err != nil {
		return -1, nil, nil, err
	}
	arr := root.member("tenants")
	if arr == nil || arr.kind != '[' {
		return -1, arr, root, nil
	}
	for i, e := range arr.elems {
		if e.kind != '{' {
			continue
		}
		if n := e.member("name"); n != nil && n.kind == '"' && n.str == name {
			return i, arr, root, nil
		}
	}
	return -1, arr, root, nil
}

// HasTenant reports whether the file holds a tenant named name.
func (f *SettingsFile) HasTenant(name string) bool {
	i, _, _, err := f.tenantIndex(name)
	return err == nil && i >= 0
}

// TenantValue returns the JSON text of a member of the tenant's block
// ("clientId", "certificate"), and whether it is there.
func (f *SettingsFile) TenantValue(name, key string) (json.RawMessage, bool) {
	i, arr, _, err := f.tenantIndex(name)
	if err != nil || i < 0 {
		return nil, false
	}
	v := arr.elems[i].member(key)
	if v == nil {
		return nil, false
	}
	return json.RawMessage(f.text[v.start:v.end]), true
}

// SetTenant adds the tenant block (it must have a "name" member), or, when
// the file has a tenant of that name, sets each of the block's members in
// it: members already equal are left byte for byte, others replaced or
// added at the end; members the block does not name stay as they are.
func (f *SettingsFile) SetTenant(block Object) error {
	nv, _ := block.Get("name")
	name, ok := nv.(string)
	if !ok || name == "" {
		return errors.New("settings edit: the tenant block has no name")
	}
	i, arr, root, err := f.tenantIndex(name)
	if err != nil {
		return err
	}
	switch {
	case i >= 0:
		for _, m := range block {
			if err := f.setMember(name, m.Key, m.Value); err != nil {
				return err
			}
		}
		return nil
	case arr == nil:
		return f.insertMember(root, "tenants", []Value{block})
	case arr.kind != '[':
		return errors.New("settings edit: \"tenants\" is not a list")
	}
	return f.appendElement(arr, block)
}

// SetTenantMember sets one member of a tenant's block (replacing its value,
// or adding it).
func (f *SettingsFile) SetTenantMember(name, key string, v Value) error {
	return f.setMember(name, key, v)
}

// SetTenantCertificateMember sets one member of a tenant's certificate
// object ("thumbprint", "file").
func (f *SettingsFile) SetTenantCertificateMember(name, key string, v Value) error {
	i, arr, _, err := f.tenantIndex(name)
	if err != nil {
		return err
	}
	if i < 0 {
		return fmt.Errorf("settings edit: tenant %q: %w", name, ErrTenantNotFound)
	}
	c := arr.elems[i].member("certificate")
	if c == nil || c.kind != '{' {
		return fmt.Errorf("settings edit: tenant %q has no certificate object", name)
	}
	if cur := c.member(key); cur != nil {
		return f.replace(cur, v)
	}
	return f.insertMember(c, key, v)
}

func (f *SettingsFile) setMember(name, key string, v Value) error {
	i, arr, _, err := f.tenantIndex(name)
	if err != nil {
		return err
	}
	if i < 0 {
		return fmt.Errorf("settings edit: tenant %q: %w", name, ErrTenantNotFound)
	}
	obj := arr.elems[i]
	if cur := obj.member(key); cur != nil {
		return f.replace(cur, v)
	}
	return f.insertMember(obj, key, v)
}

// RemoveTenant removes the tenant's block with the separator and the
// whitespace before it. It reports whether there was one.
func (f *SettingsFile) RemoveTenant(name string) (bool, error) {
	i, arr, _, err := f.tenantIndex(name)
	if err != nil || i < 0 {
		return false, err
	}
	e := arr.elems[i]
	var start, end int
	switch {
	case len(arr.elems) == 1:
		start, end = arr.start+1, arr.end-1
	case i == 0:
		start, end = e.start, arr.elems[1].start
	default:
		start, end = arr.elems[i-1].end, e.end
	}
	f.text = append(f.text[:start:start], f.text[end:]...)
	return true, nil
}

// replace sets a value's bytes, unless the value is already equal.
func (f *SettingsFile) replace(cur *jnode, v Value) error {
	want, err := render(v, "", "")
	if err != nil {
		return err
	}
	if jsonEqual(f.text[cur.start:cur.end], want) {
		return nil
	}
	indent, unit := f.lineIndent(cur.start), f.indentUnit()
	b, err := render(v, indent, unit)
	if err != nil {
		return err
	}
	f.splice(cur.start, cur.end, f.eol(b))
	return nil
}

// insertMember adds "key": v at the end of obj.
func (f *SettingsFile) insertMember(obj *jnode, key string, v Value) error {
	unit := f.indentUnit()
	var indent string
	if len(obj.vals) > 0 {
		indent = f.lineIndent(obj.keyAt[0])
	} else {
		indent = f.lineIndent(obj.start) + unit
	}
	kb, _ := json.Marshal(key)
	vb, err := render(v, indent, unit)
	if err != nil {
		return err
	}
	nl := f.newline()
	member := append(append(kb, ": "...), vb...)
	if len(obj.vals) == 0 {
		ins := nl + indent + string(member) + nl + f.lineIndent(obj.start)
		f.splice(obj.start+1, obj.end-1, f.eol([]byte(ins)))
		return nil
	}
	last := obj.vals[len(obj.vals)-1]
	f.splice(last.end, last.end, f.eol([]byte(","+nl+indent+string(member))))
	return nil
}

// appendElement adds v at the end of arr.
func (f *SettingsFile) appendElement(arr *jnode, v Value) error {
	unit := f.indentUnit()
	var indent string
	if len(arr.elems) > 0 {
		indent = f.lineIndent(arr.elems[0].start)
	} else {
		indent = f.lineIndent(arr.start) + unit
	}
	vb, err := render(v, indent, unit)
	if err != nil {
		return err
	}
	nl := f.newline()
	if len(arr.elems) == 0 {
		ins := nl + indent + string(vb) + nl + f.lineIndent(arr.start)
		f.splice(arr.start+1, arr.end-1, f.eol([]byte(ins)))
		return nil
	}
	last := arr.elems[len(arr.elems)-1]
	f.splice(last.end, last.end, f.eol([]byte(","+nl+indent+string(vb))))
	return nil
}

func (f *SettingsFile) splice(start, end int, b []byte) {
	out := make([]byte, 0, len(f.text)-(end-start)+len(b))
	out = append(out, f.text[:start]...)
	out = append(out, b...)
	f.text = append(out, f.text[end:]...)
}

// lineIndent returns the whitespace that starts the line holding off, up
// to the first other byte.
func (f *SettingsFile) lineIndent(off int) string {
	ls := bytes.LastIndexByte(f.text[:off], '\n') + 1
	i := ls
	for i < off && (f.text[i] == ' ' || f.text[i] == '\t') {
		i++
	}
	return string(f.text[ls:i])
}

// indentUnit guesses one level of indentation: a tab when a line starts
// with one, else the smallest run of spaces that starts a line (two when
// none does).
func (f *SettingsFile) indentUnit() string {
	best := 0
	for _, line := range bytes.Split(f.text, []byte("\n")) {
		if len(line) > 0 && line[0] == '\t' {
			return "\t"
		}
		n := 0
		for n < len(line) && line[n] == ' ' {
			n++
		}
		if n > 0 && n < len(line) && (best == 0 || n < best) {
			best = n
		}
	}
	if best == 0 {
		best = 2
	}
	return strings.Repeat(" ", best)
}

// newline is the file's line ending.
func (f *SettingsFile) newline() string {
	if bytes.Contains(f.text, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// eol converts rendered "\n" line ends to the file's.
func (f *SettingsFile) eol(b []byte) []byte {
	if f.newline() == "\n" {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// render writes v as JSON; with a unit, indented (lines after the first
// start with indent).
func render(v Value, indent, unit string) ([]byte, error) {
	var b bytes.Buffer
	if err := writeValue(&b, v); err != nil {
		return nil, err
	}
	if unit == "" {
		return b.Bytes(), nil
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), indent, unit); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func writeValue(b *bytes.Buffer, v Value) error {
	switch x := v.(type) {
	case Object:
		b.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(m.Key)
			b.Write(kb)
			b.WriteByte(':')
			if err := writeValue(b, m.Value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case []Value:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case string, bool, int, int64, float64, []string, nil:
		j, err := json.Marshal(x)
		if err != nil {
			return err
		}
		b.Write(j)
		return nil
	}
	return fmt.Errorf("settings edit: cannot write a %T", v)
}

// jsonEqual compares two JSON texts by value (object member order counts
// too, which only makes an unneeded rewrite).
func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return false
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}
