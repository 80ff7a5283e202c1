package graphsim

import (
	"encoding/json"
	"unicode/utf8"
)

// A small scanner over JSON already checked with json.Valid: it splits
// objects and arrays into raw members without decoding them, which keeps
// validation and rendering of contacts cheap (the $batch benchmark).

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just after the value starting at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		i++
		for i < len(b) {
			switch b[i] {
			case '\\':
				i += 2
				continue
			case '"':
				return i + 1
			}
			i++
		}
		return i
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = valueEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// rawString decodes a JSON string token.
func rawString(tok []byte) (string, bool) {
	if len(tok) < 2 || tok[0] != '"' {
		return "", false
	}
	inner := tok[1 : len(tok)-1]
	simple := utf8.Valid(inner)
	for _, c := range inner {
		if c == '\\' || c < 0x20 {
			simple = false
			break
		}
	}
	if simple {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return "", false
	}
	return s, true
}

// splitObject splits a valid JSON object into its members in order.
func splitObject(b []byte, f func(key string, val []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		ke := valueEnd(b, i)
		key, ok := rawString(b[i:ke])
		if !ok {
			return false
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		ve := valueEnd(b, i)
		if !f(key, b[i:ve]) {
			return false
		}
		i = skipWS(b, ve)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		return i < len(b) && b[i] == '}'
	}
	return false
}

// splitArray splits a valid JSON array into its elements.
func splitArray(b []byte, f func(val []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return true
	}
	for i < len(b) {
		ve := valueEnd(b, i)
		if !f(b[i:ve]) {
			return false
		}
		i = skipWS(b, ve)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		return i < len(b) && b[i] == ']'
	}
	return false
}

// memberIter walks the members of a valid JSON object without decoding
// them: the $batch envelope and contact bodies are read through it, with
// no map and no string per member.
type memberIter struct {
	b []byte
	i int
}

// members starts a walk over the object b (valid JSON, possibly with
// surrounding whitespace); a non-object yields nothing.
func members(b []byte) memberIter {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return memberIter{b: b, i: len(b)}
	}
	return memberIter{b: b, i: skipWS(b, i+1)}
}

// next returns the next member: its key as a raw string token (quotes
// included; see keyBytes) and its value.
func (m *memberIter) next() (key, val []byte, ok bool) {
	b, i := m.b, m.i
	if i >= len(b) || b[i] != '"' {
		m.i = len(b)
		return nil, nil, false
	}
	ke := valueEnd(b, i)
	key = b[i:ke]
	i = skipWS(b, ke)
	if i >= len(b) || b[i] != ':' {
		m.i = len(b)
		return nil, nil, false
	}
	i = skipWS(b, i+1)
	ve := valueEnd(b, i)
	val = b[i:ve]
	i = skipWS(b, ve)
	if i < len(b) && b[i] == ',' {
		i = skipWS(b, i+1)
	} else {
		i = len(b)
	}
	m.i = i
	return key, val, true
}

// elemIter walks the elements of a valid JSON array.
type elemIter struct {
	b []byte
	i int
}

// elements starts a walk over the array b; a non-array yields nothing.
func elements(b []byte) elemIter {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return elemIter{b: b, i: len(b)}
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		i = len(b)
	}
	return elemIter{b: b, i: i}
}

func (e *elemIter) next() ([]byte, bool) {
	b, i := e.b, e.i
	if i >= len(b) {
		return nil, false
	}
	ve := valueEnd(b, i)
	v := b[i:ve]
	i = skipWS(b, ve)
	if i < len(b) && b[i] == ',' {
		i = skipWS(b, i+1)
	} else {
		i = len(b)
	}
	e.i = i
	return v, true
}

// simpleString reports whether a string token decodes to its own inside:
// no escapes and valid UTF-8 (valid JSON has no raw control characters).
func simpleString(tok []byte) bool {
	if len(tok) < 2 || tok[0] != '"' {
		return false
	}
	inner := tok[1 : len(tok)-1]
	ascii := true
	for _, c := range inner {
		switch {
		case c == '\\' || c < 0x20:
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	return ascii || utf8.Valid(inner)
}

// keyBytes is a member key decoded as rawString decodes it; without
// escapes it is the token's inside, not a copy.
func keyBytes(tok []byte) []byte {
	if simpleString(tok) {
		return tok[1 : len(tok)-1]
	}
	s, _ := rawString(tok)
	return []byte(s)
}

// dupKeys finds a repeated member key. Objects are small (a contact has
// a few dozen members at most), so keys are compared in a list until it
// grows long, then in a map. A repeated empty key is not reported: the
// reading stops there, and the first "" member, never a valid property,
// is refused as unknown (parseObject has always answered so).
type dupKeys struct {
	n    int
	list [16][]byte
	m    map[string]struct{}
}

// seen records k and reports whether it was recorded before.
func (d *dupKeys) seen(k []byte) bool {
	if d.m != nil {
		if _, ok := d.m[string(k)]; ok {
			return true
		}
		d.m[string(k)] = struct{}{}
		return false
	}
	for _, x := range d.list[:d.n] {
		if string(x) == string(k) {
			return true
		}
	}
	if d.n < len(d.list) {
		d.list[d.n] = k
		d.n++
		return false
	}
	d.m = make(map[string]struct{}, 64)
	for _, x := range d.list {
		d.m[string(x)] = struct{}{}
	}
	d.m[string(k)] = struct{}{}
	return false
}
