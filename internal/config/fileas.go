package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FileAsFormat is a template for a contact's fileAs (the name Outlook and
// phones sort by), such as "{surname}, {givenName}". Placeholders are the
// names in FileAsPlaceholders in braces; everything else is literal text.
//
// Empty values drop out with the text around them: the text between two
// placeholders is written only when both sides have a non-empty value (when
// values in between are empty, the text just before the later value is
// used); the text before the first placeholder only when the first is
// non-empty, the text after the last only when the last placeholder is
// non-empty and its own leading text was written. So
// "{surname}, {givenName}" renders "Smith, Ann", "Smith" or "Ann", and
// "{givenName} {surname} ({companyName})" renders "Ann Smith" when the
// company is empty. When every placeholder is empty the result is the
// displayName.
type FileAsFormat string

// FileAsPlaceholders are the placeholders a FileAsFormat may use. mail is
// the source's primary email address.
var FileAsPlaceholders = []string{"displayName", "givenName", "surname", "companyName", "department", "jobTitle", "mail"}

// fileAsPart is literal text followed by a placeholder (ph == "" for the
// trailing text).
type fileAsPart struct {
	lit, ph string
}

func (f FileAsFormat) parse() ([]fileAsPart, error) {
	s := string(f)
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("must not be empty (to not write fileAs, leave \"fileAs\" out of fields)")
	}
	var parts []fileAsPart
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '{' at character %d", i+1)
			}
			name := s[i+1 : i+end]
			if !slices.Contains(FileAsPlaceholders, name) {
				return nil, fmt.Errorf("unknown placeholder {%s}: use %s", name, "{"+strings.Join(FileAsPlaceholders, "}, {")+"}")
			}
			parts = append(parts, fileAsPart{lit: lit.String(), ph: name})
			lit.Reset()
			i += end + 1
		case '}':
			return nil, fmt.Errorf("unmatched '}' at character %d", i+1)
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("has no placeholder: use at least one of {%s}", strings.Join(FileAsPlaceholders, "}, {"))
	}
	return append(parts, fileAsPart{lit: lit.String()}), nil
}

func (f FileAsFormat) validate() error {
	_, err := f.parse()
	return err
}

// Render fills the template with value(placeholder). An invalid template
// (Load never returns one) renders the displayName.
func (f FileAsFormat) Render(value func(placeholder string) string) string {
	parts, err := f.parse()
	if err != nil {
		return value("displayName")
	}
	var b strings.Builder
	last := -1        // index of the last non-empty placeholder written
	withLead := false // whether the text before it was written
	for i, p := range parts[:len(parts)-1] {
		v := value(p.ph)
		if v == "" {
			continue
		}
		withLead = last >= 0 || i == 0
		if withLead {
			b.WriteString(p.lit)
		}
		b.WriteString(v)
		last = i
	}
	if last < 0 {
		return value("displayName")
	}
	// The closing text belongs with the last placeholder's opening text:
	// "({companyName})" alone renders "Acme", not "Acme)".
	if last == len(parts)-2 && withLead {
		b.WriteString(parts[len(parts)-1].lit)
	}
	return b.String()
}
