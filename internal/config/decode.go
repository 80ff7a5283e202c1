package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/galmirror/galmirror/internal/billing"
)

// maxDepth bounds nesting; settings.json needs five levels.
const maxDepth = 32

type nodeKind uint8

const (
	kNull nodeKind = iota
	kObject
	kArray
	kString
	kNumber
	kBool
)

func (k nodeKind) String() string {
	return [...]string{"null", "an object", "an array", "a string", "a number", "a boolean"}[k]
}

// node is a parsed JSON value with its byte offset, so problems found after
// parsing can still name a line and column.
type node struct {
	kind  nodeKind
	off   int64
	str   string // string value or number literal
	b     bool
	keys  []string
	keyOf []int64 // offsets of the keys
	vals  []*node
	elems []*node
}

// document is a parsed settings file plus the bookkeeping the validation
// needs: where each JSON path is and which were present.
type document struct {
	text     []byte // UTF-8 text the offsets refer to
	offsets  map[string]int64
	bad      map[string]bool // paths whose value could not be decoded
	lines    []int           // offsets of line starts, built on first use
	problems []Problem
	dropped  int // problems beyond maxProblems
}

// maxProblems bounds the report: past it, a file is not worth reading on.
const maxProblems = 100

func (d *document) lineCol(off int64) (int, int) {
	if off < 0 || off > int64(len(d.text)) {
		return 0, 0
	}
	if d.lines == nil {
		d.lines = []int{0}
		for i, c := range d.text {
			if c == '\n' {
				d.lines = append(d.lines, i+1)
			}
		}
	}
	// The last line start at or before off.
	i := sort.SearchInts(d.lines, int(off)+1) - 1
	return i + 1, utf8.RuneCount(d.text[d.lines[i]:off]) + 1
}

// addf records a problem at path, locating it when the path was present.
func (d *document) addf(path, format string, args ...any) {
	if d.bad[path] {
		return
	}
	if len(d.problems) >= maxProblems {
		d.dropped++
		return
	}
	p := Problem{Path: path, Message: fmt.Sprintf(format, args...)}
	if off, ok := d.offsets[path]; ok {
		p.Line, p.Column = d.lineCol(off)
	}
	d.problems = append(d.problems, p)
}

// badf records a problem with the value at path itself (wrong type, null,
// unknown key); later checks of that path stay quiet, since one problem per
// value is enough.
func (d *document) badf(path, format string, args ...any) {
	d.addf(path, format, args...)
	d.bad[path] = true
}

func (d *document) present(path string) bool {
	_, ok := d.offsets[path]
	return ok
}

// toUTF8 strips a UTF-8 byte order mark and converts UTF-16 with a byte order
// mark (what Windows PowerShell 5's Out-File writes) to UTF-8.
func toUTF8(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		big := data[0] == 0xFE
		data = data[2:]
		if len(data)%2 != 0 {
			return nil, errors.New("UTF-16 file has an odd number of bytes")
		}
		u := make([]uint16, len(data)/2)
		for i := range u {
			if big {
				u[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
			} else {
				u[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
			}
		}
		return []byte(string(utf16.Decode(u))), nil
	}
	return data, nil
}

// parseTree parses text into a node tree. A syntax error is returned as a
// Problem with its line and column.
func (d *document) parseTree() (*node, bool) {
	if i := invalidUTF8(d.text); i >= 0 {
		line, col := d.lineCol(int64(i))
		d.problems = append(d.problems, Problem{Line: line, Column: col, Message: "invalid UTF-8 (save the file as UTF-8)"})
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(d.text))
	dec.UseNumber()
	root, err := d.parseValue(dec, 0)
	if err == nil {
		off := d.skipSpace(dec.InputOffset())
		if _, err2 := dec.Token(); err2 != io.EOF {
			line, col := d.lineCol(off)
			d.problems = append(d.problems, Problem{Line: line, Column: col, Message: "unexpected data after the top-level object"})
			return nil, false
		}
		return root, true
	}
	var off int64 = -1
	var se *json.SyntaxError
	msg := err.Error()
	switch {
	case errors.As(err, &se):
		off = se.Offset
		msg = "syntax error: " + se.Error()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		off = int64(len(d.text))
		msg = "syntax error: unexpected end of file"
	case errors.Is(err, errTooDeep):
		off = dec.InputOffset()
	}
	p := Problem{Message: msg}
	if off >= 0 {
		p.Line, p.Column = d.lineCol(off)
	}
	d.problems = append(d.problems, p)
	return nil, false
}

var errTooDeep = fmt.Errorf("nesting deeper than %d levels", maxDepth)

func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// skipSpace returns the offset of the first byte at or after off that is not
// JSON whitespace or a separator: where the next value starts.
func (d *document) skipSpace(off int64) int64 {
	for off < int64(len(d.text)) {
		switch d.text[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
		default:
			return off
		}
	}
	return off
}

func (d *document) parseValue(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	off := d.skipSpace(dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n := &node{off: off}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.kind = kObject
			for dec.More() {
				koff := d.skipSpace(dec.InputOffset())
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok { // the decoder rejects non-string keys itself
					return nil, &json.SyntaxError{Offset: koff}
				}
				v, err := d.parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.keyOf = append(n.keyOf, koff)
				n.vals = append(n.vals, v)
			}
		case '[':
			n.kind = kArray
			for dec.More() {
				v, err := d.parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, v)
			}
		default:
			return nil, &json.SyntaxError{Offset: off}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	case string:
		n.kind, n.str = kString, t
	case json.Number:
		n.kind, n.str = kNumber, string(t)
	case bool:
		n.kind, n.b = kBool, t
	case nil:
		n.kind = kNull
	}
	return n, nil
}

// defaulter is implemented by settings structs whose defaults are not the zero
// value; the decoder calls it on a fresh value before filling it.
type defaulter interface{ setDefaults() }

var (
	durationType = reflect.TypeFor[Duration]()
	decimalType  = reflect.TypeFor[billing.Decimal]()
)

// decode fills v from n, recording every problem under path.
//
// null is an error, not "absent": a generator writing null for a list it
// failed to compute (an unresolved group variable) must not turn a filter
// off, which is what the default of an empty includeGroups would do.
func (d *document) decode(path string, n *node, v reflect.Value) {
	d.offsets[path] = n.off
	if n.kind == kNull {
		d.badf(path, "null is not allowed: leave the key out to use its default")
		return
	}
	t := v.Type()
	if t == durationType {
		d.decodeDuration(path, n, v)
		return
	}
	if t == decimalType {
		d.decodeDecimal(path, n, v)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if df, ok := p.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(path, n, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Slice:
		d.decodeSlice(path, n, v)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Float64:
		d.decodeScalar(path, n, v)
	default:
		panic("config: unsupported settings field type " + t.String())
	}
}

func (d *document) decodeDuration(path string, n *node, v reflect.Value) {
	if n.kind != kString {
		d.badf(path, "expected a duration string such as \"1h30m\", got %s", n.kind)
		return
	}
	dur, err := time.ParseDuration(n.str)
	if err != nil {
		d.badf(path, "invalid duration %q (use Go syntax such as \"90s\", \"15m\", \"1h30m\")", n.str)
		return
	}
	v.SetInt(int64(dur))
}

func (d *document) decodeStruct(path string, n *node, v reflect.Value) {
	if n.kind != kObject {
		d.badf(path, "expected an object, got %s", n.kind)
		return
	}
	fields := structFields(v.Type())
	seen := make(map[string]bool, len(n.keys))
	for i, k := range n.keys {
		sub := joinPath(path, k)
		if seen[k] {
			d.offsets[sub] = n.keyOf[i]
			d.badf(sub, "duplicate key %q", k)
			continue
		}
		seen[k] = true
		idx, ok := fields[k]
		if !ok {
			d.offsets[sub] = n.keyOf[i]
			d.badf(sub, "unknown key %q%s", k, suggest(k, fields))
			delete(d.offsets, sub)
			continue
		}
		if k == "folder" && v.Type() == tenantType && n.vals[i].kind == kObject {
			d.decodeFolder(sub, n.vals[i], v.Addr().Interface().(*Tenant))
			continue
		}
		d.decode(sub, n.vals[i], v.Field(idx))
	}
}

func (d *document) decodeSlice(path string, n *node, v reflect.Value) {
	if n.kind != kArray {
		hint := ""
		if n.kind == kString || n.kind == kObject {
			hint = " (a list of one is still a list: [ ... ]; in PowerShell wrap it in @(...) before ConvertTo-Json)"
		}
		d.badf(path, "expected an array, got %s%s", n.kind, hint)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.elems), len(n.elems))
	for i, e := range n.elems {
		ev := s.Index(i)
		if ev.Kind() == reflect.Struct {
			if df, ok := ev.Addr().Interface().(defaulter); ok {
				df.setDefaults()
			}
		}
		d.decode(fmt.Sprintf("%s[%d]", path, i), e, ev)
	}
	v.Set(s)
}

// decodeScalar fills a string, bool, int or float64.
func (d *document) decodeScalar(path string, n *node, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if n.kind != kString {
			d.badf(path, "expected a string, got %s", n.kind)
			return
		}
		v.SetString(n.str)
	case reflect.Bool:
		if n.kind != kBool {
			d.badf(path, "expected true or false, got %s", n.kind)
			return
		}
		v.SetBool(n.b)
	case reflect.Int:
		if n.kind != kNumber {
			d.badf(path, "expected a whole number, got %s", n.kind)
			return
		}
		i, err := strconv.ParseInt(n.str, 10, 32)
		if err != nil {
			d.badf(path, "expected a whole number, got %s", n.str)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if n.kind != kNumber {
			d.badf(path, "expected a number, got %s", n.kind)
			return
		}
		f, err := strconv.ParseFloat(n.str, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.badf(path, "number %s is out of range", n.str)
			return
		}
		v.SetFloat(f)
	}
}

// decodeDecimal reads a price: a JSON string such as "0.29" or a number
// literal 0.29, taken from its text exactly (never through a float).
func (d *document) decodeDecimal(path string, n *node, v reflect.Value) {
	if n.kind != kString && n.kind != kNumber {
		d.badf(path, "expected a price such as \"0.29\", got %s", n.kind)
		return
	}
	dec, err := billing.ParseDecimal(n.str)
	if err != nil {
		d.badf(path, "invalid price: %v", err)
		return
	}
	v.SetInt(int64(dec))
}

func joinPath(path, key string) string {
	if isIdent(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return fmt.Sprintf("%s[%s]", path, strconv.Quote(key))
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// structFields maps JSON names to field indexes.
func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || name == "" {
			continue
		}
		m[name] = i
	}
	return m
}

// suggest proposes a known key close to an unknown one.
func suggest(k string, fields map[string]int) string {
	best, bestD := "", 3
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf(" (did you mean %q? keys are case-sensitive)", name)
		}
		if dd := editDistance(strings.ToLower(k), strings.ToLower(name)); dd < bestD || dd == bestD && name < best {
			best, bestD = name, dd
		}
	}
	if best != "" && bestD <= 2 {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
