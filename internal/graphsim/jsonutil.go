package graphsim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf8"
)

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// obj is a JSON object that keeps its member order, so responses list
// properties in Graph's order (@odata annotations first).
type obj []kv

var encPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// MarshalJSON encodes the members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	buf := encPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer encPool.Put(buf)
	if err := o.appendTo(buf); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

func (o obj) appendTo(buf *bytes.Buffer) error {
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(buf, m.k)
		buf.WriteByte(':')
		if err := appendValue(buf, m.v); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

func appendValue(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case string:
		writeJSONString(buf, x)
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case int:
		buf.WriteString(strconv.Itoa(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case json.RawMessage:
		if len(x) == 0 {
			buf.WriteString("null")
		} else {
			buf.Write(x)
		}
	case obj:
		return x.appendTo(buf)
	case []obj:
		buf.WriteByte('[')
		for i, o := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := o.appendTo(buf); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case []string:
		buf.WriteByte('[')
		for i, s := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(buf, s)
		}
		buf.WriteByte(']')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := appendValue(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

// writeJSONString writes s as a JSON string without HTML escaping.
func writeJSONString(buf *bytes.Buffer, s string) {
	var arr [64]byte
	buf.Write(appendJSONString(arr[:0], s))
}

const hexDigits = "0123456789abcdef"

// appendJSONBytes is appendJSONString of b (copied only if it needs
// escaping).
func appendJSONBytes(dst, b []byte) []byte {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return appendJSONString(dst, string(b))
		}
	}
	dst = append(dst, '"')
	dst = append(dst, b...)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// does with HTML escaping off: '"', '\\' and control characters escaped
// (\b, \f, \n, \r, \t short), invalid UTF-8 as \ufffd, U+2028 and
// U+2029 escaped, everything else as is.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func mustJSON(v any) []byte {
	if o, ok := v.(obj); ok {
		b, err := o.MarshalJSON()
		if err != nil {
			return []byte(`{}`)
		}
		return b
	}
	buf := new(bytes.Buffer)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
