package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The contact resource (v1.0) and its strict validation: an unknown
// property or a value of the wrong type is rejected with 400 as Graph does.

type ctype uint8

const (
	tStr ctype = iota
	tStrColl
	tDate
	tAddr
	tEmails
	tEmail
)

type cprop struct {
	name string
	t    ctype
	ro   bool // read-only: accepted in bodies, ignored
}

// contactSchema is in the order Graph returns a contact.
var contactSchema = []cprop{
	{"id", tStr, true},
	{"createdDateTime", tDate, true},
	{"lastModifiedDateTime", tDate, true},
	{"changeKey", tStr, true},
	{"categories", tStrColl, false},
	{"parentFolderId", tStr, true},
	{"birthday", tDate, false},
	{"fileAs", tStr, false},
	{"displayName", tStr, false},
	{"givenName", tStr, false},
	{"initials", tStr, false},
	{"middleName", tStr, false},
	{"nickName", tStr, false},
	{"surname", tStr, false},
	{"title", tStr, false},
	{"yomiGivenName", tStr, false},
	{"yomiSurname", tStr, false},
	{"yomiCompanyName", tStr, false},
	{"generation", tStr, false},
	{"emailAddresses", tEmails, false},
	{"primaryEmailAddress", tEmail, true},
	{"secondaryEmailAddress", tEmail, true},
	{"tertiaryEmailAddress", tEmail, true},
	{"imAddresses", tStrColl, false},
	{"jobTitle", tStr, false},
	{"companyName", tStr, false},
	{"department", tStr, false},
	{"officeLocation", tStr, false},
	{"profession", tStr, false},
	{"businessHomePage", tStr, false},
	{"assistantName", tStr, false},
	{"manager", tStr, false},
	{"homePhones", tStrColl, false},
	{"mobilePhone", tStr, false},
	{"businessPhones", tStrColl, false},
	{"spouseName", tStr, false},
	{"personalNotes", tStr, false},
	{"children", tStrColl, false},
	{"homeAddress", tAddr, false},
	{"businessAddress", tAddr, false},
	{"otherAddress", tAddr, false},
}

var contactIndex = func() map[string]int {
	m := map[string]int{}
	for i, p := range contactSchema {
		m[p.name] = i
	}
	return m
}()

var addressKeys = []string{"street", "city", "state", "countryOrRegion", "postalCode"}

// bodyError is a 400 (or status, when set) with Graph's code and message.
type bodyError struct {
	code, msg string
	status    int
}

func (e *bodyError) Error() string { return e.code + ": " + e.msg }

func errBody(code, format string, args ...any) *bodyError {
	return &bodyError{code: code, msg: fmt.Sprintf(format, args...)}
}

var errEmptyPayload = &bodyError{code: "BadRequest", msg: "Empty Payload. JSON content expected."}
var errBadJSON = &bodyError{code: "BadRequest", msg: "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."}

// errNullComplex answers a contact write that sets a complex value
// (businessAddress, homeAddress, otherAddress, an emailAddresses element)
// to null: Exchange fails with 500 "An internal server error occurred. The
// operation failed." (https://github.com/microsoftgraph/msgraph-sdk-dotnet/issues/2368,
// create with BusinessAddress = null). The code is a guess
// (ErrorInternalServerError); the message is the issue's.
var errNullComplex = &bodyError{code: "ErrorInternalServerError", msg: "An internal server error occurred. The operation failed.", status: 500}

// maxEntries are the contact collections Exchange caps (Outlook's
// Business/Business2, Home/Home2 and Email1-3 slots): "The multi value
// property BusinessPhones has 3 entries, that exceeds the max allowed value
// of 2" and "... EmailAddresses has 4 entries, that exceeds the max allowed
// value of 3" (400; https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/560).
// The resource page (api-reference/v1.0/resources/contact.md) states no
// limit; homePhones' 2 follows Outlook's Home/Home2 slots. The code is a
// guess (ErrorInvalidArgument); the messages are the issue's.
func maxEntries(name string) (prop string, limit int) {
	switch name {
	case "businessPhones":
		return "BusinessPhones", 2
	case "homePhones":
		return "HomePhones", 2
	case "emailAddresses":
		return "EmailAddresses", 3
	}
	return "", 0
}

func errTooMany(prop string, n, limit int) *bodyError {
	return errBody("ErrorInvalidArgument", "The multi value property %s has %d entries, that exceeds the max allowed value of %d", prop, n, limit)
}

// parseObject decodes a JSON object body into its members, rejecting
// malformed JSON, non-objects and duplicate members.
func parseObject(body []byte) (map[string]json.RawMessage, []string, *bodyError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, errEmptyPayload
	}
	if !json.Valid(body) {
		return nil, nil, errBadJSON
	}
	if nodeName(body) != "StartObject" {
		return nil, nil, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartObject' node was expected.", nodeName(body))
	}
	m := map[string]json.RawMessage{}
	var order []string
	var dup string
	splitObject(body, func(k string, v []byte) bool {
		if _, ok := m[k]; ok {
			dup = k
			return false
		}
		m[k] = v
		order = append(order, k)
		return true
	})
	if dup != "" {
		return nil, nil, errBody("RequestBodyRead", "Multiple property values were found for the property '%s'. A single property value is expected.", dup)
	}
	return m, order, nil
}

// nodeName names the JSON node kind of v as the OData reader does.
func nodeName(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "EndOfInput"
	}
	switch v[0] {
	case '{':
		return "StartObject"
	case '[':
		return "StartArray"
	}
	return "PrimitiveValue"
}

func literal(v []byte) string {
	s := strings.TrimSpace(string(v))
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func isNull(v []byte) bool { return string(bytes.TrimSpace(v)) == "null" }

// checkString validates an Edm.String value.
func checkString(name string, v json.RawMessage) (string, *bodyError) {
	switch nodeName(v) {
	case "PrimitiveValue":
		s, ok := rawString(bytes.TrimSpace(v))
		if !ok {
			return "", errBody("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'Edm.String'.", literal(v))
		}
		return s, nil
	default:
		return "", errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'PrimitiveValue' node was expected.", nodeName(v))
	}
}

// normaliseValue validates one contact property value and returns its
// canonical JSON (nil for null, which clears the property).
func normaliseValue(p cprop, v json.RawMessage) (json.RawMessage, *bodyError) {
	if isNull(v) {
		return nil, nil
	}
	switch p.t {
	case tStr:
		s, e := checkString(p.name, v)
		if e != nil {
			return nil, e
		}
		if len(s) > 4096 && p.name != "personalNotes" {
			return nil, errBody("ErrorInvalidProperty", "The value of property '%s' exceeds the maximum length.", p.name)
		}
		return canonicalString(v, s), nil
	case tDate:
		s, e := checkString(p.name, v)
		if e != nil {
			if strings.Contains(e.msg, "Edm.String") {
				e.msg = strings.Replace(e.msg, "Edm.String", "Edm.DateTimeOffset", 1)
			}
			return nil, e
		}
		t, ok := parseDateTime(s)
		if !ok {
			return nil, errBody("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'Edm.DateTimeOffset'.", s)
		}
		if len(s) == 10 {
			return mustJSON(s), nil
		}
		return mustJSON(t.UTC().Format(time.RFC3339)), nil
	case tStrColl:
		if nodeName(v) != "StartArray" {
			return nil, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartArray' node was expected.", nodeName(v))
		}
		var buf bytes.Buffer
		buf.WriteByte('[')
		var e *bodyError
		n := 0
		splitArray(v, func(it []byte) bool {
			if isNull(it) {
				e = errBody("RequestBodyRead", "A null value was found for the property named '%s', which has the expected type 'Collection(Edm.String)[Nullable=False]'. The expected type 'Collection(Edm.String)[Nullable=False]' does not allow null values.", p.name)
				return false
			}
			s, ce := checkString(p.name, it)
			if ce != nil {
				e = ce
				return false
			}
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			buf.Write(canonicalString(it, s))
			return true
		})
		if e != nil {
			return nil, e
		}
		if prop, limit := maxEntries(p.name); limit > 0 && n > limit {
			return nil, errTooMany(prop, n, limit)
		}
		buf.WriteByte(']')
		return buf.Bytes(), nil
	case tAddr:
		return normaliseObject(v, "Microsoft.OutlookServices.PhysicalAddress", addressKeys, nil)
	case tEmail:
		return normaliseObject(v, "Microsoft.OutlookServices.EmailAddress", []string{"name", "address"}, []string{"type"})
	case tEmails:
		if nodeName(v) != "StartArray" {
			return nil, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartArray' node was expected.", nodeName(v))
		}
		var items []json.RawMessage
		splitArray(v, func(it []byte) bool { items = append(items, it); return true })
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i, it := range items {
			if isNull(it) {
				return nil, errNullComplex
			}
			o, e := normaliseObject(it, "Microsoft.OutlookServices.EmailAddress", []string{"name", "address"}, []string{"type"})
			if e != nil {
				return nil, e
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(o)
		}
		if prop, limit := maxEntries(p.name); len(items) > limit {
			return nil, errTooMany(prop, len(items), limit)
		}
		buf.WriteByte(']')
		return buf.Bytes(), nil
	}
	return nil, errBody("RequestBodyRead", "The property '%s' cannot be written.", p.name)
}

// normaliseObject validates a complex value with string members.
func normaliseObject(v json.RawMessage, typeName string, keys, ignored []string) (json.RawMessage, *bodyError) {
	if nodeName(v) != "StartObject" {
		return nil, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartObject' node was expected.", nodeName(v))
	}
	m, _, e := parseObject(v)
	if e != nil {
		return nil, e
	}
	out := obj{}
	for k := range m {
		if strings.HasPrefix(k, "@odata.") {
			continue
		}
		if !contains(keys, k) && !contains(ignored, k) {
			return nil, errBody("RequestBodyRead", "The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", k, typeName)
		}
	}
	for _, k := range append(append([]string{}, keys...), ignored...) {
		raw, ok := m[k]
		if !ok || isNull(raw) {
			continue
		}
		s, e := checkString(k, raw)
		if e != nil {
			return nil, e
		}
		out = append(out, kv{k, s})
	}
	return mustJSON(out), nil
}

// canonicalString is the stored form of a validated JSON string: the raw
// token when it needs no normalising, else a fresh encoding.
func canonicalString(raw []byte, s string) []byte {
	raw = bytes.TrimSpace(raw)
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return raw
	}
	return mustJSON(s)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.9999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// contactWrite is a validated contact body.
type contactWrite struct {
	fields map[string]json.RawMessage // canonical values; nil clears
	ext    []extProp
	hasExt bool
}

// parseContactBody validates a contact create or update body.
func parseContactBody(body []byte) (*contactWrite, *bodyError) {
	m, order, e := parseObject(body)
	if e != nil {
		return nil, e
	}
	w := &contactWrite{fields: map[string]json.RawMessage{}}
	for _, k := range order {
		v := m[k]
		switch {
		case k == "@odata.type":
			s, e := checkString(k, v)
			if e != nil {
				return nil, e
			}
			if t := strings.TrimPrefix(s, "#"); !strings.EqualFold(t, "microsoft.graph.contact") {
				return nil, errBody("RequestBodyRead", "A type named '%s' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.", s)
			}
			continue
		case strings.HasPrefix(k, "@"):
			continue // other instance annotations (@odata.etag, ...) are ignored
		case k == "singleValueExtendedProperties":
			ext, e := parseExtProps(v)
			if e != nil {
				return nil, e
			}
			w.ext, w.hasExt = ext, true
			continue
		case k == "multiValueExtendedProperties" || k == "extensions" || k == "photo":
			return nil, errBody("ErrorInvalidRequest", "graphsim does not emulate '%s' on contacts.", k)
		}
		i, ok := contactIndex[k]
		if !ok {
			return nil, errBody("RequestBodyRead", "The property '%s' does not exist on type 'Microsoft.OutlookServices.Contact'. Make sure to only use property names that are defined by the type or mark the type as open type.", k)
		}
		p := contactSchema[i]
		if p.t == tAddr && isNull(v) {
			return nil, errNullComplex
		}
		nv, e := normaliseValue(p, v)
		if e != nil {
			return nil, e
		}
		if p.ro {
			continue
		}
		w.fields[k] = nv
	}
	return w, nil
}

// extProp is a stored single-value extended property; ids are interned.
type extProp struct {
	id    string
	value string
}

var internMu sync.Mutex
var interned = map[string]string{}

func intern(s string) string {
	internMu.Lock()
	defer internMu.Unlock()
	if v, ok := interned[s]; ok {
		return v
	}
	if len(interned) < 1<<16 {
		interned[s] = s
	}
	return s
}

func parseExtProps(v json.RawMessage) ([]extProp, *bodyError) {
	if isNull(v) {
		return nil, nil
	}
	if nodeName(v) != "StartArray" {
		return nil, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartArray' node was expected.", nodeName(v))
	}
	var items []json.RawMessage
	splitArray(v, func(it []byte) bool { items = append(items, it); return true })
	var out []extProp
	for _, it := range items {
		m, _, e := parseObject(it)
		if e != nil {
			if e == errEmptyPayload {
				return nil, errBadJSON
			}
			return nil, e
		}
		var id, val string
		for k, raw := range m {
			switch k {
			case "id":
				s, e := checkString(k, raw)
				if e != nil {
					return nil, e
				}
				id = s
			case "value":
				if isNull(raw) {
					continue
				}
				s, e := checkString(k, raw)
				if e != nil {
					return nil, e
				}
				val = s
			default:
				if strings.HasPrefix(k, "@") {
					continue
				}
				return nil, errBody("RequestBodyRead", "The property '%s' does not exist on type 'Microsoft.OutlookServices.SingleValueLegacyExtendedProperty'. Make sure to only use property names that are defined by the type or mark the type as open type.", k)
			}
		}
		if _, ok := parseExtID(id); !ok {
			return nil, errBody("ErrorInvalidProperty", "The extended property id '%s' is not valid.", literal([]byte(id)))
		}
		if len(val) > 32<<10 {
			return nil, errBody("ErrorInvalidProperty", "The value of the extended property '%s' is too long.", id)
		}
		replaced := false
		for i := range out {
			if extIDEqual(out[i].id, id) {
				out[i].value = val
				replaced = true
			}
		}
		if !replaced {
			out = append(out, extProp{id: intern(id), value: val})
		}
	}
	return out, nil
}

// extID is a parsed extended property id.
type extID struct {
	typ  string // lower-case
	guid string // lower-case, without braces; empty for a proptag
	name string // case-sensitive name, or the numeric id/proptag as decimal
	byID bool
}

var extTypes = map[string]bool{
	"binary": true, "boolean": true, "clsid": true, "currency": true, "double": true, "float": true,
	"integer": true, "long": true, "short": true, "string": true, "systemtime": true, "object": true, "null": true,
}

// parseExtID parses "{Type} {GUID} Name {name}", "{Type} {GUID} Id {id}"
// and "{Type} {proptag}".
func parseExtID(s string) (extID, bool) {
	typ, rest, ok := strings.Cut(s, " ")
	if !ok || !extTypes[strings.ToLower(typ)] {
		return extID{}, false
	}
	id := extID{typ: strings.ToLower(typ)}
	rest = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(rest, "{") {
		end := strings.IndexByte(rest, '}')
		if end < 0 || !isGUID(rest[1:end]) {
			return extID{}, false
		}
		id.guid = strings.ToLower(rest[1:end])
		kw, val, ok := strings.Cut(strings.TrimLeft(rest[end+1:], " "), " ")
		if !ok || val == "" {
			return extID{}, false
		}
		switch strings.ToLower(kw) {
		case "name":
			id.name = val
		case "id":
			n, ok := parseNum(val)
			if !ok {
				return extID{}, false
			}
			id.name, id.byID = strconv.FormatUint(n, 10), true
		default:
			return extID{}, false
		}
		return id, true
	}
	n, ok := parseNum(rest)
	if !ok {
		return extID{}, false
	}
	id.name, id.byID = strconv.FormatUint(n, 10), true
	return id, true
}

func parseNum(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		n, err := strconv.ParseUint(s[2:], 16, 32)
		return n, err == nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil
}

// extIDEqual compares ids as Exchange does: type, GUID and keywords
// case-insensitively, the Name part case-sensitively.
func extIDEqual(a, b string) bool {
	if a == b {
		return true
	}
	x, ok1 := parseExtID(a)
	y, ok2 := parseExtID(b)
	return ok1 && ok2 && x == y
}

// mergeExt applies written extended properties to stored ones.
func mergeExt(old, w []extProp) []extProp {
	out := old
	for _, p := range w {
		found := false
		for i := range out {
			if extIDEqual(out[i].id, p.id) {
				if !found {
					out[i].value = p.value
				}
				found = true
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

// applyWrite applies a validated write to a canonical contact document
// (members in schema order, cleared members dropped) and regenerates
// displayName from the name parts when a write changes them without
// giving displayName, as Outlook does.
func applyWrite(old []byte, w *contactWrite, create bool) []byte {
	cur := make(map[string]json.RawMessage, 16)
	if len(old) > 0 {
		splitObject(old, func(k string, v []byte) bool { cur[k] = v; return true })
	}
	nameChanged := create
	for k, v := range w.fields {
		switch k {
		case "givenName", "middleName", "surname", "generation":
			nameChanged = true
		}
		if v == nil {
			delete(cur, k)
		} else {
			cur[k] = v
		}
	}
	if _, given := w.fields["displayName"]; !given && nameChanged {
		var parts []string
		for _, k := range []string{"givenName", "middleName", "surname", "generation"} {
			var s string
			if raw, ok := cur[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			cur["displayName"] = mustJSON(strings.Join(parts, " "))
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for _, p := range contactSchema {
		v, ok := cur[p.name]
		if !ok {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		writeJSONString(&buf, p.name)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return bytes.Clone(buf.Bytes())
}
