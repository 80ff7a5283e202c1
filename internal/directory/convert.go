package directory

import (
	"strings"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
)

// FromUser converts a Graph user into a person. A user whose accountEnabled
// was not returned counts as enabled only when Graph said so: galmirror
// always selects accountEnabled, so absence means the read was partial and
// the person is not a source until a later read says otherwise.
func FromUser(u graph.User) Person {
	return Person{
		ID:                u.ID,
		Kind:              KindUser,
		UserPrincipalName: u.UserPrincipalName,
		DisplayName:       u.DisplayName,
		GivenName:         u.GivenName,
		Surname:           u.Surname,
		Mail:              u.Mail,
		JobTitle:          u.JobTitle,
		Department:        u.Department,
		CompanyName:       u.CompanyName,
		OfficeLocation:    u.OfficeLocation,
		BusinessPhones:    u.BusinessPhones,
		MobilePhone:       u.MobilePhone,
		Address: plan.Address{
			Street:          u.StreetAddress,
			City:            u.City,
			State:           u.State,
			PostalCode:      u.PostalCode,
			CountryOrRegion: u.Country,
		},
		Enabled: u.AccountEnabled != nil && *u.AccountEnabled,
		Guest:   strings.EqualFold(u.UserType, "Guest"),
	}
}

// FromOrgContact converts an organizational contact into a person. Phones
// are mapped by type, never by position; only the first physical address is
// used (Graph allows one).
func FromOrgContact(c graph.OrgContact) Person {
	p := Person{
		ID:          c.ID,
		Kind:        KindOrgContact,
		DisplayName: c.DisplayName,
		GivenName:   c.GivenName,
		Surname:     c.Surname,
		Mail:        c.Mail,
		JobTitle:    c.JobTitle,
		Department:  c.Department,
		CompanyName: c.CompanyName,
		Enabled:     true,
	}
	for _, ph := range c.Phones {
		switch strings.ToLower(ph.Type) {
		case "business":
			if ph.Number != "" {
				p.BusinessPhones = append(p.BusinessPhones, ph.Number)
			}
		case "mobile":
			if p.MobilePhone == "" {
				p.MobilePhone = ph.Number
			}
		}
	}
	if len(c.Addresses) > 0 {
		a := c.Addresses[0]
		p.Address = plan.Address{Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, CountryOrRegion: a.CountryOrRegion}
		p.OfficeLocation = a.OfficeLocation
	}
	return p
}

// FromGroup converts a mail-enabled group into a person: its name and
// address. Groups are always enabled; Hidden is read separately
// (graph.Client.GroupHidden).
func FromGroup(g graph.Group) Person {
	return Person{ID: g.ID, Kind: KindGroup, DisplayName: g.DisplayName, Mail: g.Mail, Enabled: true, Unified: g.Unified()}
}
