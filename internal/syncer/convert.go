package syncer

import (
	"encoding/json"
	"strings"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
)

// contactSelect is the $select of contact reads: the managed fields.
func contactSelect() []string {
	var out []string
	for _, f := range plan.AllFields.Fields() {
		out = append(out, f.GraphName())
	}
	return out
}

// ownerFields are the writable contact properties galmirror never writes:
// a contact that holds any of them holds data its owner put there.
var ownerFields = []string{
	"personalNotes", "homePhones", "homeAddress", "otherAddress", "birthday", "spouseName", "children",
	"imAddresses", "nickName", "middleName", "title", "generation", "initials", "profession",
	"assistantName", "manager", "businessHomePage", "yomiGivenName", "yomiSurname", "yomiCompanyName",
}

// readSelect is the $select of reads that adopt contacts (a reconcile, an
// unknown contact in the delta): the managed fields and the owner's.
func readSelect() []string { return append(contactSelect(), ownerFields...) }

// ownerData reports whether a contact holds data galmirror does not manage
// (read with readSelect).
func ownerData(c *graph.Contact) bool {
	addr := func(a *graph.PhysicalAddress) bool {
		return a != nil && (a.Street != "" || a.City != "" || a.State != "" || a.PostalCode != "" || a.CountryOrRegion != "")
	}
	for _, s := range []string{c.PersonalNotes, c.Birthday, c.SpouseName, c.NickName, c.MiddleName, c.Title, c.Generation,
		c.Initials, c.Profession, c.AssistantName, c.Manager, c.BusinessHomePage, c.YomiGivenName, c.YomiSurname, c.YomiCompanyName} {
		if strings.TrimSpace(s) != "" {
			return true
		}
	}
	return len(c.HomePhones) > 0 || len(c.Children) > 0 || len(c.IMAddresses) > 0 || addr(c.HomeAddress) || addr(c.OtherAddress)
}

// fieldsOf converts a contact as Graph returns it into plan fields.
func fieldsOf(c *graph.Contact) plan.Fields {
	f := plan.Fields{
		DisplayName:    c.DisplayName,
		GivenName:      c.GivenName,
		Surname:        c.Surname,
		FileAs:         c.FileAs,
		JobTitle:       c.JobTitle,
		Department:     c.Department,
		CompanyName:    c.CompanyName,
		OfficeLocation: c.OfficeLocation,
		BusinessPhones: c.BusinessPhones,
		MobilePhone:    c.MobilePhone,
		Categories:     c.Categories,
	}
	for _, e := range c.EmailAddresses {
		f.EmailAddresses = append(f.EmailAddresses, plan.Email{Name: e.Name, Address: e.Address})
	}
	if a := c.BusinessAddress; a != nil {
		f.BusinessAddress = plan.Address{Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, CountryOrRegion: a.CountryOrRegion}
	}
	return f
}

// contactBody encodes the create (POST) or update (PATCH) body of an op
// (contactPatch) as JSON.
func contactBody(op plan.Op, create bool) ([]byte, error) {
	return json.Marshal(contactPatch(op, create))
}

// contactPatch is the create (POST) or update (PATCH) body of an op: the
// fields in the op's mask (on a create, only those with a value; on an
// update, cleared ones as explicit empty values) and galmirror's marks.
// The graph client encodes it straight into the $batch body (no
// json.Marshal, no validation pass), so writes pass it, not bytes.
func contactPatch(op plan.Op, create bool) *graph.ContactPatch {
	b := &graph.ContactPatch{}
	f := op.Fields
	str := func(dst *graph.Field[string], fld plan.Field, v string) {
		if !op.Mask.Has(fld) || (create && v == "") {
			return
		}
		*dst = graph.Set(v)
	}
	list := func(dst *graph.Field[[]string], fld plan.Field, v []string) {
		if !op.Mask.Has(fld) || (create && len(v) == 0) {
			return
		}
		*dst = graph.Set(v)
	}
	str(&b.DisplayName, plan.DisplayName, f.DisplayName)
	str(&b.GivenName, plan.GivenName, f.GivenName)
	str(&b.Surname, plan.Surname, f.Surname)
	str(&b.FileAs, plan.FileAs, f.FileAs)
	str(&b.JobTitle, plan.JobTitle, f.JobTitle)
	str(&b.Department, plan.Department, f.Department)
	str(&b.CompanyName, plan.CompanyName, f.CompanyName)
	str(&b.OfficeLocation, plan.OfficeLocation, f.OfficeLocation)
	str(&b.MobilePhone, plan.MobilePhone, f.MobilePhone)
	list(&b.BusinessPhones, plan.BusinessPhones, f.BusinessPhones)
	list(&b.Categories, plan.Categories, f.Categories)
	if op.Mask.Has(plan.EmailAddresses) && (!create || len(f.EmailAddresses) > 0) {
		emails := make([]graph.EmailAddress, 0, len(f.EmailAddresses))
		for _, e := range f.EmailAddresses {
			emails = append(emails, graph.EmailAddress{Name: e.Name, Address: e.Address})
		}
		b.EmailAddresses = graph.Set(emails)
	}
	if op.Mask.Has(plan.BusinessAddress) && (!create || !f.BusinessAddress.IsZero()) {
		// Cleared by its members as empty strings: Graph answers a null
		// complex value with 500.
		a := f.BusinessAddress
		b.BusinessAddress = graph.Set(graph.PhysicalAddress{Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, CountryOrRegion: a.CountryOrRegion})
	}
	b.SingleValueExtendedProperties = graph.ExtendedProperties{{ID: PropHash, Value: op.Hash}}
	if create {
		b.SingleValueExtendedProperties = append(graph.ExtendedProperties{{ID: PropSourceID, Value: op.SourceID}}, b.SingleValueExtendedProperties...)
	}
	return b
}
