package config

import (
	"encoding/json"
	"errors"
	"fmt"
)

// jnode is a JSON value located in a text: [start, end) are its bytes.
// kind is '{', '[', '"', '0' (number), 'b' (true, false) or 'z' (null).
type jnode struct {
	kind       byte
	start, end int
	str        string // a string's value
	keys       []string
	keyAt      []int // offsets of the keys' opening quotes
	vals       []*jnode
	elems      []*jnode
}

// member returns the value of key in an object (the last one of a
// repeated key, as encoding/json decodes it).
func (n *jnode) member(key string) *jnode {
	var v *jnode
	for i, k := range n.keys {
		if k == key {
			v = n.vals[i]
		}
	}
	return v
}

type scanner struct {
	b   []byte
	pos int
}

// scan parses a JSON text (one value, whitespace around it) and locates
// every value in it.
func scan(b []byte) (*jnode, error) {
	s := &scanner{b: b}
	n, err := s.value(0)
	if err != nil {
		return nil, err
	}
	s.space()
	if s.pos != len(b) {
		return nil, s.errorf("unexpected data after the top-level value")
	}
	return n, nil
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON syntax error at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) space() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

var errScanDepth = errors.New("nesting too deep")

func (s *scanner) value(depth int) (*jnode, error) {
	if depth > maxDepth {
		return nil, errScanDepth
	}
	s.space()
	if s.pos >= len(s.b) {
		return nil, s.errorf("unexpected end of the file")
	}
	n := &jnode{start: s.pos}
	var err error
	switch c := s.b[s.pos]; {
	case c == '{':
		err = s.object(n, depth)
	case c == '[':
		err = s.array(n, depth)
	case c == '"':
		n.kind = '"'
		n.str, err = s.string()
	case c == '-' || ('0' <= c && c <= '9'):
		n.kind = '0'
		err = s.number()
	case c == 't':
		n.kind = 'b'
		err = s.literal("true")
	case c == 'f':
		n.kind = 'b'
		err = s.literal("false")
	case c == 'n':
		n.kind = 'z'
		err = s.literal("null")
	default:
		err = s.errorf("unexpected %q", c)
	}
	if err != nil {
		return nil, err
	}
	n.end = s.pos
	return n, nil
}

func (s *scanner) object(n *jnode, depth int) error {
	n.kind = '{'
	s.pos++
	s.space()
	if s.pos < len(s.b) && s.b[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.space()
		if s.pos >= len(s.b) || s.b[s.pos] != '"' {
			return s.errorf("expected a key")
		}
		at := s.pos
		k, err := s.string()
		if err != nil {
			return err
		}
		s.space()
		if s.pos >= len(s.b) || s.b[s.pos] != ':' {
			return s.errorf("expected ':'")
		}
		s.pos++
		v, err := s.value(depth + 1)
		if err != nil {
			return err
		}
		n.keys, n.keyAt, n.vals = append(n.keys, k), append(n.keyAt, at), append(n.vals, v)
		s.space()
		if s.pos >= len(s.b) {
			return s.errorf("unexpected end of the file in an object")
		}
		switch s.b[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}'")
		}
	}
}

func (s *scanner) array(n *jnode, depth int) error {
	n.kind = '['
	s.pos++
	s.space()
	if s.pos < len(s.b) && s.b[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		v, err := s.value(depth + 1)
		if err != nil {
			return err
		}
		n.elems = append(n.elems, v)
		s.space()
		if s.pos >= len(s.b) {
			return s.errorf("unexpected end of the file in a list")
		}
		switch s.b[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']'")
		}
	}
}

// string reads a string literal and decodes it with encoding/json, which
// checks its escapes.
func (s *scanner) string() (string, error) {
	start := s.pos
	s.pos++
	for s.pos < len(s.b) {
		switch c := s.b[s.pos]; {
		case c == '\\':
			s.pos += 2
		case c == '"':
			s.pos++
			var out string
			if err := json.Unmarshal(s.b[start:s.pos], &out); err != nil {
				s.pos = start
				return "", s.errorf("invalid string")
			}
			return out, nil
		case c < 0x20:
			return "", s.errorf("control character in a string")
		default:
			s.pos++
		}
	}
	return "", s.errorf("unterminated string")
}

func (s *scanner) number() error {
	start := s.pos
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		if c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || ('0' <= c && c <= '9') {
			s.pos++
			continue
		}
		break
	}
	if !json.Valid(s.b[start:s.pos]) {
		s.pos = start
		return s.errorf("invalid number")
	}
	return nil
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.pos < len(lit) || string(s.b[s.pos:s.pos+len(lit)]) != lit {
		return s.errorf("invalid literal")
	}
	s.pos += len(lit)
	return nil
}
