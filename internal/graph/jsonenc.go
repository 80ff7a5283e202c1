package graph

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. It escapes what JSON
// requires plus U+2028/U+2029, and replaces invalid UTF-8 with U+FFFD, like
// encoding/json; it leaves <, > and & alone (no HTML context here), so
// Unicode text travels byte for byte.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
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
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// The $batch body is galmirror's hottest encoding (issue 6: CPU per contact
// written). encoding/json re-validates and compacts the output of every
// MarshalJSON and json.RawMessage, so ContactPatch and the batch envelope
// are appended by hand; json.Marshal remains the fallback for other
// bodies and is the reference in the tests.

// appendKey appends `,"name":` (without the comma for the first key).
func appendKey(b []byte, first *bool, name string) []byte {
	if *first {
		*first = false
	} else {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...) // keys are ASCII identifiers
	return append(b, '"', ':')
}

func appendStrings(b []byte, v []string) []byte {
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

func appendEmail(b []byte, e *EmailAddress) []byte {
	first := true
	b = append(b, '{')
	if e.Name != "" {
		b = appendKey(b, &first, "name")
		b = appendJSONString(b, e.Name)
	}
	if e.Address != "" {
		b = appendKey(b, &first, "address")
		b = appendJSONString(b, e.Address)
	}
	if e.Type != "" {
		b = appendKey(b, &first, "type")
		b = appendJSONString(b, e.Type)
	}
	return append(b, '}')
}

// appendAddress writes every member of an address, empty ones as "": a
// PATCH replaces what it names, so a member left out would keep an old
// value, and an address is cleared by its members, never by null (Graph
// answers a null complex value with 500).
func appendAddress(b []byte, a *PhysicalAddress) []byte {
	first := true
	b = append(b, '{')
	for _, kv := range [...]struct{ k, v string }{
		{"street", a.Street}, {"city", a.City}, {"state", a.State},
		{"countryOrRegion", a.CountryOrRegion}, {"postalCode", a.PostalCode},
	} {
		b = appendKey(b, &first, kv.k)
		b = appendJSONString(b, kv.v)
	}
	return append(b, '}')
}

func strField(b []byte, first *bool, name string, f *Field[string]) []byte {
	switch f.state {
	case 0:
		return b
	case 2:
		return append(appendKey(b, first, name), "null"...)
	}
	return appendJSONString(appendKey(b, first, name), f.v)
}

// Null on a collection or a complex value is sent as its empty form ([],
// or every member ""): Graph answers a JSON null for a complex value with
// 500, and nothing documents null for a collection.

func strsField(b []byte, first *bool, name string, f *Field[[]string]) []byte {
	if f.state == 0 {
		return b
	}
	return appendStrings(appendKey(b, first, name), f.v)
}

func emailsField(b []byte, first *bool, name string, f *Field[[]EmailAddress]) []byte {
	if f.state == 0 {
		return b
	}
	b = append(appendKey(b, first, name), '[')
	for i := range f.v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEmail(b, &f.v[i])
	}
	return append(b, ']')
}

func emailField(b []byte, first *bool, name string, f *Field[EmailAddress]) []byte {
	if f.state == 0 {
		return b
	}
	return appendEmail(appendKey(b, first, name), &f.v)
}

func addressField(b []byte, first *bool, name string, f *Field[PhysicalAddress]) []byte {
	if f.state == 0 {
		return b
	}
	return appendAddress(appendKey(b, first, name), &f.v)
}

// appendJSON appends the patch as a JSON object, fields in declaration
// order, absent fields omitted.
func (p *ContactPatch) appendJSON(b []byte) []byte {
	first := true
	b = append(b, '{')
	b = strField(b, &first, "displayName", &p.DisplayName)
	b = strField(b, &first, "givenName", &p.GivenName)
	b = strField(b, &first, "middleName", &p.MiddleName)
	b = strField(b, &first, "surname", &p.Surname)
	b = strField(b, &first, "initials", &p.Initials)
	b = strField(b, &first, "nickName", &p.NickName)
	b = strField(b, &first, "title", &p.Title)
	b = strField(b, &first, "generation", &p.Generation)
	b = strField(b, &first, "fileAs", &p.FileAs)
	b = strField(b, &first, "yomiGivenName", &p.YomiGivenName)
	b = strField(b, &first, "yomiSurname", &p.YomiSurname)
	b = strField(b, &first, "yomiCompanyName", &p.YomiCompanyName)
	b = strField(b, &first, "jobTitle", &p.JobTitle)
	b = strField(b, &first, "department", &p.Department)
	b = strField(b, &first, "companyName", &p.CompanyName)
	b = strField(b, &first, "officeLocation", &p.OfficeLocation)
	b = strField(b, &first, "profession", &p.Profession)
	b = strField(b, &first, "manager", &p.Manager)
	b = strField(b, &first, "assistantName", &p.AssistantName)
	b = strField(b, &first, "businessHomePage", &p.BusinessHomePage)
	b = strsField(b, &first, "businessPhones", &p.BusinessPhones)
	b = strsField(b, &first, "homePhones", &p.HomePhones)
	b = strField(b, &first, "mobilePhone", &p.MobilePhone)
	b = emailsField(b, &first, "emailAddresses", &p.EmailAddresses)
	b = strsField(b, &first, "imAddresses", &p.IMAddresses)
	b = addressField(b, &first, "businessAddress", &p.BusinessAddress)
	b = addressField(b, &first, "homeAddress", &p.HomeAddress)
	b = addressField(b, &first, "otherAddress", &p.OtherAddress)
	b = strsField(b, &first, "categories", &p.Categories)
	b = strField(b, &first, "personalNotes", &p.PersonalNotes)
	b = strField(b, &first, "birthday", &p.Birthday)
	b = strField(b, &first, "spouseName", &p.SpouseName)
	b = strsField(b, &first, "children", &p.Children)
	b = emailField(b, &first, "primaryEmailAddress", &p.PrimaryEmailAddress)
	b = emailField(b, &first, "secondaryEmailAddress", &p.SecondaryEmailAddress)
	b = emailField(b, &first, "tertiaryEmailAddress", &p.TertiaryEmailAddress)
	if len(p.SingleValueExtendedProperties) > 0 {
		b = appendKey(b, &first, "singleValueExtendedProperties")
		b = p.SingleValueExtendedProperties.appendJSON(b)
	}
	return append(b, '}')
}

// MarshalJSON encodes the patch; see ContactPatch.
func (p *ContactPatch) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 512)), nil
}

func (p ExtendedProperties) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i := range p {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, p[i].ID)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, p[i].Value)
		b = append(b, '}')
	}
	return append(b, ']')
}
