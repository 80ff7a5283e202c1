// Package directory turns the tenant's directory (users and, optionally,
// organizational contacts) into the people galmirror mirrors: it decides who
// is a source and who is a target, and maps a person to the contact fields
// of the plan.
package directory

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/galmirror/galmirror/internal/plan"
)

// Kind says which directory collection a person came from.
type Kind string

// Person kinds.
const (
	KindUser       Kind = "user"
	KindOrgContact Kind = "orgContact"
	// KindGroup is a mail-enabled group (source.mailGroups).
	KindGroup Kind = "group"
)

// Source kinds: what a source is, as the report counts it
// (Result.SourcesByKind). A user is KindUser's "user" unless its mailbox
// is a shared, room or equipment mailbox.
const (
	SourceUser          = "user"
	SourceOrgContact    = "orgContact"
	SourceSharedMailbox = "sharedMailbox"
	SourceRoom          = "room"
	SourceEquipment     = "equipment"
	SourceGroup         = "group"
)

// PurposeNone is Person.Purpose of a user whose userPurpose was asked for
// and who has no Exchange Online mailbox.
const PurposeNone = "none"

// SourceKind names what p is for the report.
func (p Person) SourceKind() string {
	switch p.Kind {
	case KindOrgContact:
		return SourceOrgContact
	case KindGroup:
		return SourceGroup
	}
	switch p.Purpose {
	case "shared":
		return SourceSharedMailbox
	case "room":
		return SourceRoom
	case "equipment":
		return SourceEquipment
	}
	return SourceUser
}

// Person is one directory entry, as galmirror keeps it between runs (its
// JSON is the store's opaque person data, so field names are stable).
type Person struct {
	ID                string       `json:"id"`
	Kind              Kind         `json:"kind"`
	UserPrincipalName string       `json:"upn,omitempty"`
	DisplayName       string       `json:"displayName,omitempty"`
	GivenName         string       `json:"givenName,omitempty"`
	Surname           string       `json:"surname,omitempty"`
	Mail              string       `json:"mail,omitempty"`
	JobTitle          string       `json:"jobTitle,omitempty"`
	Department        string       `json:"department,omitempty"`
	CompanyName       string       `json:"companyName,omitempty"`
	OfficeLocation    string       `json:"officeLocation,omitempty"`
	BusinessPhones    []string     `json:"businessPhones,omitempty"`
	MobilePhone       string       `json:"mobilePhone,omitempty"`
	Address           plan.Address `json:"address,omitzero"`
	// Enabled is accountEnabled for users; org contacts are always enabled.
	Enabled bool `json:"enabled"`
	// Guest is true for B2B guests (userType Guest).
	Guest bool `json:"guest,omitempty"`
	// Purpose is a user's mailbox userPurpose (user, linked, shared, room,
	// equipment, others; PurposeNone: no mailbox), read only for disabled
	// users with a mail address while a source option needs it; "" when
	// not read. It is kept while the directory reports no change to the
	// user's accountEnabled or mail (KeepPurpose), and read again once a
	// day (an Exchange conversion need not change the directory).
	Purpose string `json:"purpose,omitempty"`
	// PurposeRead is when Purpose was read (Unix seconds).
	PurposeRead int64 `json:"purposeRead,omitempty"`
	// Hidden is a Microsoft 365 group's hideFromAddressLists; HiddenRead
	// is when it was read (Unix seconds; 0: never).
	Hidden     bool  `json:"hidden,omitempty"`
	HiddenRead int64 `json:"hiddenRead,omitempty"`
	// Unified marks a Microsoft 365 group.
	Unified bool `json:"unified,omitempty"`
}

// PurposeCandidate reports whether p is a user whose mailbox purpose
// decides whether it is a source: a disabled account with a mail address.
func (p Person) PurposeCandidate() bool {
	return p.Kind == KindUser && !p.Enabled && !p.Guest && strings.TrimSpace(p.Mail) != ""
}

// KeepPurpose carries old's mailbox purpose over to p, a newer version of
// the same user, when neither its sign-in state nor its address changed.
func (p *Person) KeepPurpose(old Person) {
	if p.Purpose == "" && old.Kind == KindUser && p.Enabled == old.Enabled && p.Mail == old.Mail {
		p.Purpose, p.PurposeRead = old.Purpose, old.PurposeRead
	}
}

// Marshal encodes p for the store.
func (p Person) Marshal() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		// Person holds only strings, bools and slices of strings.
		panic("directory: marshal person: " + err.Error())
	}
	return b
}

// UnmarshalPerson decodes a person stored by Marshal.
func UnmarshalPerson(b []byte) (Person, error) {
	var p Person
	if err := json.Unmarshal(b, &p); err != nil {
		return Person{}, fmt.Errorf("decode stored person: %w", err)
	}
	return p, nil
}

// HasPhone reports whether the person has a business or mobile phone.
func (p Person) HasPhone() bool {
	for _, ph := range p.BusinessPhones {
		if strings.TrimSpace(ph) != "" {
			return true
		}
	}
	return strings.TrimSpace(p.MobilePhone) != ""
}
