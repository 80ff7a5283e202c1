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
)

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
