package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// A minimal JSON walker for the hot paths of a run: the items of a $batch
// response, a created contact's id and changeKey, and the contacts of a
// delta round that only need their etag compared. encoding/json validates
// and decodes the whole document (tens of microseconds per contact); these
// walk its top level once and hand back raw member values, decoding only
// what is asked. They check the
// structure they walk (balanced brackets, terminated strings, separators)
// but not the lexical detail of values they skip: callers decode the
// values they use with encoding/json, which does.

var errJSONSyntax = errors.New("malformed JSON")

func syntaxErr(i int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", errJSONSyntax, i, what)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) (int, error) {
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, syntaxErr(i, "unterminated string")
		}
		j += q
		// The quote ends the string unless an odd number of backslashes
		// precede it.
		n := 0
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, nil
		}
		j++
	}
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, syntaxErr(i, "value expected")
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		var stack [64]byte
		depth := 0
		for j := i; j < len(b); j++ {
			switch c := b[j]; c {
			case '"':
				e, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				if depth == len(stack) {
					return 0, syntaxErr(j, "nested too deeply")
				}
				stack[depth] = c
				depth++
			case '}', ']':
				if depth == 0 || (c == '}') != (stack[depth-1] == '{') {
					return 0, syntaxErr(j, "mismatched bracket")
				}
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, syntaxErr(i, "unterminated object or array")
	case ',', ':', '}', ']':
		return 0, syntaxErr(i, "value expected")
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j, nil
		case '"', '{', '[', ':':
			return 0, syntaxErr(j, "unexpected character after a literal")
		}
		j++
	}
	return j, nil
}

// eachMember calls fn with the key (raw, without quotes, escapes kept) and
// the raw value of each top-level member of the object in b, until fn
// returns false.
func eachMember(b []byte, fn func(key, val []byte) bool) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return syntaxErr(i, "object expected")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return syntaxErr(i, "member name expected")
		}
		ke, err := stringEnd(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : ke-1]
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return syntaxErr(i, "':' expected")
		}
		i = skipSpace(b, i+1)
		ve, err := valueEnd(b, i)
		if err != nil {
			return err
		}
		if !fn(key, b[i:ve]) {
			return nil
		}
		i = skipSpace(b, ve)
		if i >= len(b) {
			return syntaxErr(i, "'}' expected")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return syntaxErr(i, "',' or '}' expected")
		}
	}
}

// eachElement calls fn with each raw element of the array in b, until fn
// returns false.
func eachElement(b []byte, fn func(val []byte) bool) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return syntaxErr(i, "array expected")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return trailing(b, i+1)
	}
	for {
		ve, err := valueEnd(b, i)
		if err != nil {
			return err
		}
		if !fn(b[i:ve]) {
			return nil
		}
		i = skipSpace(b, ve)
		if i >= len(b) {
			return syntaxErr(i, "']' expected")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return trailing(b, i+1)
		default:
			return syntaxErr(i, "',' or ']' expected")
		}
	}
}

func trailing(b []byte, i int) error {
	if i = skipSpace(b, i); i != len(b) {
		return syntaxErr(i, "unexpected data after the value")
	}
	return nil
}

// keyIs compares a raw member name with an ASCII name; a name written with
// escapes is decoded first.
func keyIs(raw []byte, name string) bool {
	if string(raw) == name {
		return true
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return false
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
		return false
	}
	return s == name
}

// rawString decodes a raw JSON string value; ok is false for any other
// value (null included).
func rawString(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	return string(inner), true
}

// ContactStamp holds what a run needs of a contact most of the time: its
// id, change key (from changeKey, or else the @odata.etag W/"…" that
// Graph always sends), and whether a delta round reports it removed.
type ContactStamp struct {
	ID, ChangeKey string
	Removed       bool
}

// StampOf reads a contact's stamp from its JSON without decoding the rest.
func StampOf(b []byte) (ContactStamp, error) { return stampOf(b, false) }

// stampOf reads a stamp; with written, b is the answer to a create or
// update and the scan stops once it has the id and change key.
func stampOf(b []byte, written bool) (ContactStamp, error) {
	var st ContactStamp
	var etag string
	err := eachMember(b, func(k, v []byte) bool {
		switch {
		case keyIs(k, "id"):
			st.ID, _ = rawString(v)
		case keyIs(k, "changeKey"):
			st.ChangeKey, _ = rawString(v)
		case keyIs(k, "@odata.etag"):
			etag, _ = rawString(v)
		case keyIs(k, "@removed"):
			st.Removed = string(v) != "null"
		}
		// A written contact (not a delta entry, which may be a removal)
		// need not be read past its id and changeKey, which Graph sends
		// first: b was delimited by the scan of the $batch answer.
		return !written || st.ID == "" || st.ChangeKey == ""
	})
	if err != nil {
		return st, err
	}
	if st.ChangeKey == "" && len(etag) > 4 && etag[:3] == `W/"` && etag[len(etag)-1] == '"' {
		st.ChangeKey = etag[3 : len(etag)-1]
	}
	return st, nil
}
