package graphsim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
)

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// obj is a JSON object that keeps its member order, so responses list
// properties in Graph's order (@odata annotations first).
type obj []kv

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// MarshalJSON encodes the members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
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
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		buf.WriteByte('"')
		buf.WriteString(s)
		buf.WriteByte('"')
		return
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // the encoder's newline
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
