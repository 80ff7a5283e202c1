package graphsim

import (
	"strconv"
	"strings"
	"sync"
)

// Single-value extended properties of contacts and contact folders: ids
// are validated once and interned, so a million contacts share a handful
// of id strings and comparing two ids does not parse them again.

// extProp is a stored single-value extended property; ids are interned.
type extProp struct {
	id    string
	value string
}

// internedID is a valid id with its parsed form.
type internedID struct {
	s  string
	id extID
}

const maxInterned = 1 << 16

var (
	internMu sync.RWMutex
	interned = map[string]*internedID{}
)

// lookupID finds an interned id by its bytes (no allocation).
func lookupID(b []byte) *internedID {
	internMu.RLock()
	e := interned[string(b)]
	internMu.RUnlock()
	return e
}

// internID validates s and interns it (up to maxInterned ids); it returns
// nil for an invalid id, and an entry that is not kept when the table is
// full.
func internID(s string) *internedID {
	internMu.RLock()
	e := interned[s]
	internMu.RUnlock()
	if e != nil {
		return e
	}
	id, ok := parseExtID(s)
	if !ok {
		return nil
	}
	internMu.Lock()
	defer internMu.Unlock()
	if e := interned[s]; e != nil {
		return e
	}
	e = &internedID{s: s, id: id}
	if len(interned) < maxInterned {
		interned[s] = e
	}
	return e
}

// intern returns the interned copy of a valid id (s itself otherwise).
func intern(s string) string {
	if e := internID(s); e != nil {
		return e.s
	}
	return s
}

// parseExtIDCached is parseExtID through the table of interned ids.
func parseExtIDCached(s string) (extID, bool) {
	internMu.RLock()
	e := interned[s]
	internMu.RUnlock()
	if e != nil {
		return e.id, true
	}
	return parseExtID(s)
}

// parseExtProps validates singleValueExtendedProperties: null, or an
// array of {"id", "value"} objects (a member of an object already checked
// as JSON). A repeated id (compared as Exchange does) keeps the last value.
func parseExtProps(v []byte) ([]extProp, *bodyError) {
	if isNull(v) {
		return nil, nil
	}
	if nodeName(v) != "StartArray" {
		return nil, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartArray' node was expected.", nodeName(v))
	}
	var out []extProp
	for it := elements(v); ; {
		el, ok := it.next()
		if !ok {
			break
		}
		p, e := parseExtProp(el)
		if e != nil {
			return nil, e
		}
		replaced := false
		for i := range out {
			if extIDEqual(out[i].id, p.id) {
				out[i].value = p.value
				replaced = true
			}
		}
		if !replaced {
			if out == nil {
				out = make([]extProp, 0, 2)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// parseExtProp validates one element of singleValueExtendedProperties.
func parseExtProp(el []byte) (extProp, *bodyError) {
	if nodeName(el) != "StartObject" {
		return extProp{}, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartObject' node was expected.", nodeName(el))
	}
	var dup dupKeys
	var idRaw, valRaw []byte
	var first *bodyError
	for it := members(el); ; {
		k, raw, ok := it.next()
		if !ok {
			break
		}
		key := keyBytes(k)
		if dup.seen(key) {
			if len(key) == 0 {
				break // see dupKeys
			}
			return extProp{}, errDuplicate(key)
		}
		switch {
		case first != nil:
		case string(key) == "id":
			if !simpleString(raw) {
				if _, e := checkString("id", raw); e != nil {
					first = e
				}
			}
			idRaw = raw
		case string(key) == "value":
			if isNull(raw) {
				continue
			}
			if !simpleString(raw) {
				if _, e := checkString("value", raw); e != nil {
					first = e
				}
			}
			valRaw = raw
		case len(key) > 0 && key[0] == '@':
		default:
			first = errBody("RequestBodyRead", "The property '%s' does not exist on type 'Microsoft.OutlookServices.SingleValueLegacyExtendedProperty'. Make sure to only use property names that are defined by the type or mark the type as open type.", key)
		}
	}
	if first != nil {
		return extProp{}, first
	}
	return extPropOf(idRaw, valRaw)
}

// extPropOf checks a property's id (interning it) and value, both valid
// string tokens or nil.
func extPropOf(idRaw, valRaw []byte) (extProp, *bodyError) {
	var e *internedID
	var id string
	switch {
	case idRaw == nil:
	case simpleString(idRaw):
		inner := idRaw[1 : len(idRaw)-1]
		if e = lookupID(inner); e == nil {
			id = string(inner)
		}
	default:
		id, _ = rawString(idRaw)
	}
	if e == nil {
		if e = internID(id); e == nil {
			return extProp{}, errBody("ErrorInvalidProperty", "The extended property id '%s' is not valid.", literal([]byte(id)))
		}
	}
	var val string
	if valRaw != nil {
		val, _ = rawString(valRaw)
	}
	if len(val) > 32<<10 {
		return extProp{}, errBody("ErrorInvalidProperty", "The value of the extended property '%s' is too long.", e.s)
	}
	return extProp{id: e.s, value: val}, nil
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
	x, ok1 := parseExtIDCached(a)
	y, ok2 := parseExtIDCached(b)
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
