// Package plan decides what to write to one mailbox's managed folder. It is
// a pure function of the desired contacts (from the directory and the field
// mapping), the managed contacts the mailbox has (from the store, corrected
// by contacts delta or a reconcile) and the policy; everything with I/O sits
// around it. It imports nothing of galmirror's.
package plan

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Field names one contact property galmirror manages. The names are Graph's
// contact property names, so a FieldMask translates directly into a PATCH
// body.
type Field uint16

// The managed contact fields.
const (
	DisplayName Field = 1 << iota
	GivenName
	Surname
	FileAs
	JobTitle
	Department
	CompanyName
	OfficeLocation
	BusinessPhones
	MobilePhone
	EmailAddresses
	BusinessAddress
	Categories

	fieldEnd
)

// AllFields is every field galmirror can manage.
const AllFields FieldMask = FieldMask(fieldEnd - 1)

var fieldNames = [...]string{
	"displayName", "givenName", "surname", "fileAs", "jobTitle", "department", "companyName",
	"officeLocation", "businessPhones", "mobilePhone", "emailAddresses", "businessAddress", "categories",
}

// GraphName returns the contact resource's property name for f.
func (f Field) GraphName() string {
	for i, n := range fieldNames {
		if f == 1<<i {
			return n
		}
	}
	return ""
}

// FieldByName returns the field whose Graph name is name.
func FieldByName(name string) (Field, bool) {
	for i, n := range fieldNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// FieldMask is a set of fields.
type FieldMask uint16

// Has reports whether f is in the mask.
func (m FieldMask) Has(f Field) bool { return m&FieldMask(f) != 0 }

// Fields lists the fields in the mask in their fixed order.
func (m FieldMask) Fields() []Field {
	var out []Field
	for f := Field(1); f < fieldEnd; f <<= 1 {
		if m.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// String lists the Graph names of the fields in the mask.
func (m FieldMask) String() string {
	var names []string
	for _, f := range m.Fields() {
		names = append(names, f.GraphName())
	}
	return strings.Join(names, ",")
}

// Email is one email address of a contact.
type Email struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// Address is a postal address.
type Address struct {
	Street          string `json:"street,omitempty"`
	City            string `json:"city,omitempty"`
	State           string `json:"state,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
}

// IsZero reports whether every part of the address is empty.
func (a Address) IsZero() bool { return a == Address{} }

// Fields is the content of a managed contact. An empty string, a nil slice
// or a zero address means the field is cleared (or, for a field outside the
// managed mask, not written at all).
type Fields struct {
	DisplayName     string   `json:"displayName,omitempty"`
	GivenName       string   `json:"givenName,omitempty"`
	Surname         string   `json:"surname,omitempty"`
	FileAs          string   `json:"fileAs,omitempty"`
	JobTitle        string   `json:"jobTitle,omitempty"`
	Department      string   `json:"department,omitempty"`
	CompanyName     string   `json:"companyName,omitempty"`
	OfficeLocation  string   `json:"officeLocation,omitempty"`
	BusinessPhones  []string `json:"businessPhones,omitempty"`
	MobilePhone     string   `json:"mobilePhone,omitempty"`
	EmailAddresses  []Email  `json:"emailAddresses,omitempty"`
	BusinessAddress Address  `json:"businessAddress,omitzero"`
	Categories      []string `json:"categories,omitempty"`
}

// Normalize returns f restricted to the mask, with empty slices made nil so
// that equal content compares and hashes equal.
func (f Fields) Normalize(m FieldMask) Fields {
	var out Fields
	if m.Has(DisplayName) {
		out.DisplayName = f.DisplayName
	}
	if m.Has(GivenName) {
		out.GivenName = f.GivenName
	}
	if m.Has(Surname) {
		out.Surname = f.Surname
	}
	if m.Has(FileAs) {
		out.FileAs = f.FileAs
	}
	if m.Has(JobTitle) {
		out.JobTitle = f.JobTitle
	}
	if m.Has(Department) {
		out.Department = f.Department
	}
	if m.Has(CompanyName) {
		out.CompanyName = f.CompanyName
	}
	if m.Has(OfficeLocation) {
		out.OfficeLocation = f.OfficeLocation
	}
	if m.Has(BusinessPhones) && len(f.BusinessPhones) > 0 {
		out.BusinessPhones = slices.Clone(f.BusinessPhones)
	}
	if m.Has(MobilePhone) {
		out.MobilePhone = f.MobilePhone
	}
	if m.Has(EmailAddresses) && len(f.EmailAddresses) > 0 {
		out.EmailAddresses = slices.Clone(f.EmailAddresses)
	}
	if m.Has(BusinessAddress) {
		out.BusinessAddress = f.BusinessAddress
	}
	if m.Has(Categories) && len(f.Categories) > 0 {
		out.Categories = slices.Clone(f.Categories)
	}
	return out
}

// Diff returns the fields, within mask m, whose values differ between a and b.
func Diff(a, b Fields, m FieldMask) FieldMask {
	var d FieldMask
	set := func(f Field, differ bool) {
		if differ && m.Has(f) {
			d |= FieldMask(f)
		}
	}
	set(DisplayName, a.DisplayName != b.DisplayName)
	set(GivenName, a.GivenName != b.GivenName)
	set(Surname, a.Surname != b.Surname)
	set(FileAs, a.FileAs != b.FileAs)
	set(JobTitle, a.JobTitle != b.JobTitle)
	set(Department, a.Department != b.Department)
	set(CompanyName, a.CompanyName != b.CompanyName)
	set(OfficeLocation, a.OfficeLocation != b.OfficeLocation)
	set(BusinessPhones, !slices.Equal(a.BusinessPhones, b.BusinessPhones))
	set(MobilePhone, a.MobilePhone != b.MobilePhone)
	set(EmailAddresses, !emailsEqual(a.EmailAddresses, b.EmailAddresses))
	set(BusinessAddress, a.BusinessAddress != b.BusinessAddress)
	set(Categories, !slices.Equal(a.Categories, b.Categories))
	return d
}

// blanks returns the fields, within mask m, that are empty in actual and
// have a value in want: where a fillBlank field is written.
func blanks(actual, want Fields, m FieldMask) FieldMask {
	if m == 0 {
		return 0
	}
	a, w := actual.Normalize(m), want.Normalize(m)
	var d FieldMask
	for _, f := range m.Fields() {
		if a.empty(f) && !w.empty(f) {
			d |= FieldMask(f)
		}
	}
	return d
}

// empty reports whether field f of normalised content n has no value.
func (n Fields) empty(f Field) bool {
	var z Fields
	return Diff(n, z, FieldMask(f)) == 0
}

// emailsEqual compares addresses case-insensitively (Exchange does not keep
// an address's case reliably) and names exactly.
func emailsEqual(a, b []Email) bool {
	return slices.EqualFunc(a, b, func(x, y Email) bool {
		return x.Name == y.Name && strings.EqualFold(x.Address, y.Address)
	})
}

// hashVersion prefixes every hash so that a change to the canonical encoding
// can be told apart from a change of content.
const hashVersion = "1:"

// Hash returns the content hash of f restricted to mask m: the value kept in
// the store and in the contact's hidden hash property. Equal content gives an
// equal hash whatever the slice capacity; every string is length-prefixed so
// that no two different contents encode alike.
func Hash(f Fields, m FieldMask) string {
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	list := func(ss []string) {
		buf = binary.AppendUvarint(buf, uint64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	buf = append(buf, hashVersion...)
	buf = binary.AppendUvarint(buf, uint64(m))
	n := f.Normalize(m)
	for _, s := range [...]string{n.DisplayName, n.GivenName, n.Surname, n.FileAs, n.JobTitle, n.Department,
		n.CompanyName, n.OfficeLocation, n.MobilePhone} {
		str(s)
	}
	list(n.BusinessPhones)
	buf = binary.AppendUvarint(buf, uint64(len(n.EmailAddresses)))
	for _, e := range n.EmailAddresses {
		str(e.Name)
		str(e.Address)
	}
	a := n.BusinessAddress
	for _, s := range [...]string{a.Street, a.City, a.State, a.PostalCode, a.CountryOrRegion} {
		str(s)
	}
	list(n.Categories)
	h.Write(buf)
	var sum [sha256.Size]byte
	return hashVersion + base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:18])
}

// MarshalText encodes the mask as its comma-separated Graph names, which
// keeps golden files and JSON output readable.
func (m FieldMask) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses comma-separated Graph names.
func (m *FieldMask) UnmarshalText(b []byte) error {
	*m = 0
	if len(b) == 0 {
		return nil
	}
	for name := range strings.SplitSeq(string(b), ",") {
		f, ok := FieldByName(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("unknown contact field %q", name)
		}
		*m |= FieldMask(f)
	}
	return nil
}
