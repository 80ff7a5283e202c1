package events

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Field is one key=value detail of an event. Fields are ordered so that the
// rendered message reads the same every time.
type Field struct {
	Key   string
	Value string
}

// Event is one occurrence of a catalog condition.
type Event struct {
	ID ID
	// Seq is the number the Recorder (the store) gave the event: increasing,
	// the admin API's resume cursor. 0 when there is no recorder.
	Seq  int64
	Time time.Time
	// Tenant is the configured tenant name, empty for service-wide events.
	Tenant string
	// RunID identifies the tenant run the event belongs to, if any.
	RunID string
	// Detail is a short human sentence completing the summary, e.g.
	// "AADSTS700027: client assertion contains an invalid signature".
	Detail string
	// Fields carry machine-readable details (counts, codes, dates).
	Fields []Field
}

// F is shorthand for a Field.
func F(key, value string) Field { return Field{Key: key, Value: value} }

// FInt is shorthand for an integer Field.
func FInt(key string, v int64) Field { return Field{Key: key, Value: strconv.FormatInt(v, 10)} }

// Level returns the catalog level of the event.
func (e Event) Level() Level { return e.ID.Level() }

// Field returns the value of the named field, or "".
func (e Event) Field(key string) string {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// maxText bounds the rendered message; an Event Log record holds at most
// 31,839 characters and an RMM alert shows far less.
const maxText = 4000

// Text renders the event as the single line an operator or RMM sees: the
// stable summary, the detail, then tenant, run and fields as key=value.
// With EventCreate.exe as the message file this is the whole Event Log
// message, so it carries everything.
func (e Event) Text() string {
	var b strings.Builder
	if d, ok := Lookup(e.ID); ok {
		b.WriteString(d.Summary)
	} else {
		b.WriteString("event " + strconv.FormatUint(uint64(e.ID), 10))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Tenant != "" {
		b.WriteString(" tenant=")
		b.WriteString(quote(e.Tenant))
	}
	if e.RunID != "" {
		b.WriteString(" run=")
		b.WriteString(quote(e.RunID))
	}
	for _, f := range e.Fields {
		b.WriteByte(' ')
		b.WriteString(f.Key)
		b.WriteByte('=')
		b.WriteString(quote(f.Value))
	}
	return clean(b.String())
}

// quote leaves simple values bare and quotes the rest so a value with spaces
// cannot be mistaken for further fields.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// clean makes s safe for every sink: one line, no NUL (which the Event Log
// API cannot carry), bounded length.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == 0:
			return -1
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		}
		return r
	}, s)
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
