package graphsim

import (
	"bytes"
	"strings"
	"time"
)

// Validation of contact property values and their canonical form, the
// bytes a contact document stores. Values arrive as members of a body
// already checked as JSON; a value whose canonical form is its own bytes
// (the usual case: compact JSON, members in Graph's order) is returned
// as is, without a copy.

// complexType is a complex value with string members (PhysicalAddress,
// EmailAddress): keys in canonical order, then members accepted and kept.
type complexType struct {
	name    string
	keys    []string
	ignored []string
}

var (
	physicalAddress = complexType{name: "Microsoft.OutlookServices.PhysicalAddress", keys: addressKeys}
	emailAddress    = complexType{name: "Microsoft.OutlookServices.EmailAddress", keys: []string{"name", "address"}, ignored: []string{"type"}}
)

// member returns the index of key among the type's members, or -1.
func (t *complexType) member(key []byte) int {
	for i, k := range t.keys {
		if string(key) == k {
			return i
		}
	}
	for i, k := range t.ignored {
		if string(key) == k {
			return len(t.keys) + i
		}
	}
	return -1
}

func (t *complexType) memberName(i int) string {
	if i < len(t.keys) {
		return t.keys[i]
	}
	return t.ignored[i-len(t.keys)]
}

func errUnexpectedNode(v []byte, want string) *bodyError {
	return errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A '%s' node was expected.", nodeName(v), want)
}

// normaliseValue validates one contact property value and returns its
// canonical JSON (nil for null, which clears the property).
func normaliseValue(p cprop, v []byte) ([]byte, *bodyError) {
	if isNull(v) {
		return nil, nil
	}
	switch p.t {
	case tStr:
		return normaliseString(p, v)
	case tDate:
		return normaliseDate(p, v)
	}
	var scratch [512]byte
	var out []byte
	var e *bodyError
	switch p.t {
	case tStrColl:
		out, e = appendStrColl(scratch[:0], p, v)
	case tAddr:
		out, e = appendComplex(scratch[:0], v, &physicalAddress)
	case tEmail:
		out, e = appendComplex(scratch[:0], v, &emailAddress)
	case tEmails:
		out, e = appendEmails(scratch[:0], p, v)
	default:
		return nil, errBody("RequestBodyRead", "The property '%s' cannot be written.", p.name)
	}
	if e != nil {
		return nil, e
	}
	if bytes.Equal(out, v) {
		return v, nil
	}
	return bytes.Clone(out), nil
}

// normaliseString validates an Edm.String property (at most 4096 bytes
// but personalNotes).
func normaliseString(p cprop, v []byte) ([]byte, *bodyError) {
	if simpleString(v) {
		if len(v)-2 > 4096 && p.name != "personalNotes" {
			return nil, errBody("ErrorInvalidProperty", "The value of property '%s' exceeds the maximum length.", p.name)
		}
		return v, nil
	}
	s, e := checkString(p.name, v)
	if e != nil {
		return nil, e
	}
	if len(s) > 4096 && p.name != "personalNotes" {
		return nil, errBody("ErrorInvalidProperty", "The value of property '%s' exceeds the maximum length.", p.name)
	}
	return canonicalString(v, s), nil
}

// normaliseDate validates an Edm.DateTimeOffset (or a date) property.
func normaliseDate(p cprop, v []byte) ([]byte, *bodyError) {
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
}

// appendStrColl appends the canonical form of a Collection(Edm.String).
func appendStrColl(dst []byte, p cprop, v []byte) ([]byte, *bodyError) {
	if nodeName(v) != "StartArray" {
		return nil, errUnexpectedNode(v, "StartArray")
	}
	dst = append(dst, '[')
	n := 0
	for it := elements(v); ; {
		el, ok := it.next()
		if !ok {
			break
		}
		if isNull(el) {
			return nil, errBody("RequestBodyRead", "A null value was found for the property named '%s', which has the expected type 'Collection(Edm.String)[Nullable=False]'. The expected type 'Collection(Edm.String)[Nullable=False]' does not allow null values.", p.name)
		}
		tok := el
		if !simpleString(el) {
			s, e := checkString(p.name, el)
			if e != nil {
				return nil, e
			}
			tok = canonicalString(el, s)
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, tok...)
	}
	if prop, limit := maxEntries(p.name); limit > 0 && n > limit {
		return nil, errTooMany(prop, n, limit)
	}
	return append(dst, ']'), nil
}

// appendEmails appends the canonical form of emailAddresses: a null
// element fails as Exchange does (500), more than 3 are refused.
func appendEmails(dst []byte, p cprop, v []byte) ([]byte, *bodyError) {
	if nodeName(v) != "StartArray" {
		return nil, errUnexpectedNode(v, "StartArray")
	}
	dst = append(dst, '[')
	n := 0
	for it := elements(v); ; {
		el, ok := it.next()
		if !ok {
			break
		}
		if isNull(el) {
			return nil, errNullComplex
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		var e *bodyError
		if dst, e = appendComplex(dst, el, &emailAddress); e != nil {
			return nil, e
		}
	}
	if prop, limit := maxEntries(p.name); n > limit {
		return nil, errTooMany(prop, n, limit)
	}
	return append(dst, ']'), nil
}

// appendComplex validates a complex value with string members and appends
// its canonical form: known members in the type's order, nulls and
// @odata annotations dropped.
func appendComplex(dst []byte, v []byte, t *complexType) ([]byte, *bodyError) {
	if nodeName(v) != "StartObject" {
		return nil, errUnexpectedNode(v, "StartObject")
	}
	var vals [6][]byte
	var dup dupKeys
	var unknown []byte
	for it := members(v); ; {
		k, raw, ok := it.next()
		if !ok {
			break
		}
		key := keyBytes(k)
		if dup.seen(key) {
			if len(key) == 0 {
				break // see dupKeys
			}
			return nil, errDuplicate(key)
		}
		if bytes.HasPrefix(key, []byte("@odata.")) {
			continue
		}
		i := t.member(key)
		if i < 0 {
			if unknown == nil {
				unknown = key
			}
			continue
		}
		vals[i] = raw
	}
	if unknown != nil {
		return nil, errBody("RequestBodyRead", "The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", unknown, t.name)
	}
	dst = append(dst, '{')
	n := 0
	for i := 0; i < len(t.keys)+len(t.ignored); i++ {
		raw := vals[i]
		if raw == nil || isNull(raw) {
			continue
		}
		name := t.memberName(i)
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		if simpleString(raw) && !hasLineSeparator(raw) {
			dst = append(dst, raw...)
			continue
		}
		s, e := checkString(name, raw)
		if e != nil {
			return nil, e
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, '}'), nil
}

// hasLineSeparator reports whether b holds U+2028 or U+2029, which the
// JSON encoder escapes.
func hasLineSeparator(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0xE2 && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9) {
			return true
		}
	}
	return false
}
