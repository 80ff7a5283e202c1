package directory

import (
	"slices"
	"strings"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/plan"
)

// Mapper maps a person to the content of its managed contact under one
// tenant's settings.
type Mapper struct {
	mask       plan.FieldMask
	fill       plan.FieldMask
	fileAs     config.FileAsFormat
	categories []string
}

// NewMapper builds the mapping for a tenant. Categories are always managed
// (so that removing them from the settings clears them from contacts); the
// other fields follow t.Fields.
func NewMapper(t *config.Tenant) Mapper {
	m := Mapper{mask: plan.FieldMask(plan.Categories), fileAs: t.FileAs, categories: slices.Clone(t.ContactCategories())}
	fields := t.Fields
	if len(fields) == 0 {
		fields = config.AllFields()
	}
	for _, f := range fields {
		pf, ok := plan.FieldByName(string(f))
		if !ok || f == config.FieldDisplayName {
			continue
		}
		switch t.FieldPolicy.Mode(f) {
		case config.FieldNever:
			continue
		case config.FieldFillBlank:
			m.fill |= plan.FieldMask(pf)
		}
		m.mask |= plan.FieldMask(pf)
	}
	m.mask |= plan.FieldMask(plan.DisplayName)
	if m.fileAs == "" {
		m.fileAs = config.DefaultFileAs
	}
	return m
}

// Mask returns the fields galmirror writes for this tenant (fieldPolicy
// "never" leaves a field out).
func (m Mapper) Mask() plan.FieldMask { return m.mask }

// FillBlank returns the fields of Mask with fieldPolicy "fillBlank":
// written only into an empty contact field.
func (m Mapper) FillBlank() plan.FieldMask { return m.fill }

// HashMask returns the fields the content hash covers: Mask without the
// fillBlank ones (plan.Policy.HashMask).
func (m Mapper) HashMask() plan.FieldMask { return m.mask &^ m.fill }

// Fields returns the desired contact content for p, restricted to the mask.
// Text is copied byte for byte: no trimming of inner spaces, no case or
// Unicode normalisation, since a name is the person's own.
func (m Mapper) Fields(p Person) plan.Fields {
	display := p.DisplayName
	if display == "" {
		display = strings.TrimSpace(p.GivenName + " " + p.Surname)
	}
	if display == "" {
		display = p.Mail
	}
	f := plan.Fields{
		DisplayName:     display,
		GivenName:       p.GivenName,
		Surname:         p.Surname,
		JobTitle:        p.JobTitle,
		Department:      p.Department,
		CompanyName:     p.CompanyName,
		OfficeLocation:  p.OfficeLocation,
		BusinessPhones:  nonEmpty(p.BusinessPhones),
		MobilePhone:     p.MobilePhone,
		BusinessAddress: p.Address,
		Categories:      m.categories,
	}
	if p.Mail != "" {
		f.EmailAddresses = []plan.Email{{Name: display, Address: p.Mail}}
	}
	f.FileAs = m.fileAs.Render(func(name string) string {
		switch name {
		case "displayName":
			return display
		case "givenName":
			return p.GivenName
		case "surname":
			return p.Surname
		case "companyName":
			return p.CompanyName
		case "department":
			return p.Department
		case "jobTitle":
			return p.JobTitle
		case "mail":
			return p.Mail
		}
		return ""
	})
	return f.Normalize(m.mask)
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
