package directory

import (
	"testing"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
)

func tenant() *config.Tenant {
	return &config.Tenant{
		Name:   "contoso",
		Source: config.Source{RequireEmail: true},
		FileAs: config.DefaultFileAs,
	}
}

func TestMapperFields(t *testing.T) {
	p := Person{
		ID: "u1", Kind: KindUser, DisplayName: "Zoë Ångström-山田", GivenName: "Zoë", Surname: "Ångström-山田",
		Mail: "zoe@contoso.example", JobTitle: "Ingénieure", BusinessPhones: []string{"+33 1 55 55 01 00", " ", "+33 1 55 55 01 01"},
		MobilePhone: "+33 6 55 55 01 00", Address: plan.Address{Street: "1 rue de l'Église", City: "Besançon", CountryOrRegion: "FR"},
		Enabled: true,
	}
	m := NewMapper(tenant())
	f := m.Fields(p)
	if f.DisplayName != p.DisplayName || f.GivenName != "Zoë" || f.JobTitle != "Ingénieure" {
		t.Fatalf("names not copied byte for byte: %+v", f)
	}
	if len(f.BusinessPhones) != 2 || f.BusinessPhones[1] != "+33 1 55 55 01 01" {
		t.Fatalf("business phones %q: want both real numbers in order", f.BusinessPhones)
	}
	if len(f.EmailAddresses) != 1 || f.EmailAddresses[0].Address != p.Mail || f.EmailAddresses[0].Name != p.DisplayName {
		t.Fatalf("email %+v", f.EmailAddresses)
	}
	if f.BusinessAddress.City != "Besançon" {
		t.Fatalf("address %+v", f.BusinessAddress)
	}
	if f.FileAs != "Ångström-山田, Zoë" {
		t.Fatalf("fileAs %q", f.FileAs)
	}

	// A field left out of the settings is neither written nor compared.
	tt := tenant()
	tt.Fields = []config.Field{config.FieldDisplayName, config.FieldMobilePhone}
	m = NewMapper(tt)
	f = m.Fields(p)
	if f.JobTitle != "" || f.MobilePhone != p.MobilePhone || f.DisplayName != p.DisplayName {
		t.Fatalf("restricted fields: %+v", f)
	}
	if !m.Mask().Has(plan.Categories) || m.Mask().Has(plan.JobTitle) {
		t.Fatalf("mask %v", m.Mask())
	}
}

func TestMapperDisplayNameFallback(t *testing.T) {
	m := NewMapper(tenant())
	f := m.Fields(Person{ID: "u", GivenName: "Ann", Surname: "Lee", Mail: "ann@x.example"})
	if f.DisplayName != "Ann Lee" {
		t.Fatalf("displayName %q", f.DisplayName)
	}
	f = m.Fields(Person{ID: "u", Mail: "ann@x.example"})
	if f.DisplayName != "ann@x.example" {
		t.Fatalf("displayName %q", f.DisplayName)
	}
}

func TestSelector(t *testing.T) {
	alice := Person{ID: "a", Kind: KindUser, UserPrincipalName: "Alice@Contoso.example", Mail: "alice@contoso.example", Enabled: true}
	guest := Person{ID: "g", Kind: KindUser, Mail: "g@fabrikam.example", Enabled: true, Guest: true}
	disabled := Person{ID: "d", Kind: KindUser, Mail: "d@contoso.example"}
	nomail := Person{ID: "n", Kind: KindUser, Enabled: true}
	org := Person{ID: "o", Kind: KindOrgContact, Mail: "o@partner.example", Enabled: true}

	tt := tenant()
	s := NewSelector(tt, Scope{})
	for _, c := range []struct {
		p           Person
		src, target bool
	}{
		{alice, true, true}, {guest, false, false}, {disabled, false, false}, {nomail, false, false}, {org, true, false},
	} {
		if got, why := s.IsSource(c.p); got != c.src {
			t.Errorf("IsSource(%s) = %v (%s), want %v", c.p.ID, got, why, c.src)
		}
		if got, why := s.IsTarget(c.p); got != c.target {
			t.Errorf("IsTarget(%s) = %v (%s), want %v", c.p.ID, got, why, c.target)
		}
	}

	tt.Source.IncludeGuests = true
	tt.Source.ExcludeUsers = []string{"alice@contoso.example"}
	tt.Target.ExcludeUsers = []string{"a"}
	s = NewSelector(tt, Scope{})
	if ok, _ := s.IsSource(guest); !ok {
		t.Error("includeGuests did not include the guest")
	}
	if ok, _ := s.IsSource(alice); ok {
		t.Error("UPN exclusion (case-insensitive) did not exclude alice as a source")
	}
	if ok, _ := s.IsTarget(alice); ok {
		t.Error("id exclusion did not exclude alice as a target")
	}

	s = NewSelector(tenant(), Scope{SourceInclude: map[string]bool{"o": true}, SourceExclude: map[string]bool{"o": true}, Targets: map[string]bool{}})
	if ok, why := s.IsSource(org); ok || why != "in an excluded group" {
		t.Errorf("exclude group must win over include: %v %q", ok, why)
	}
	if ok, _ := s.IsSource(alice); ok {
		t.Error("alice is outside the included groups")
	}
	if ok, _ := s.IsTarget(alice); ok {
		t.Error("empty target group set admitted alice")
	}
}

func TestPersonRoundTrip(t *testing.T) {
	p := Person{ID: "x", Kind: KindUser, DisplayName: "Ωmega 山田", BusinessPhones: []string{"1"}, Enabled: true, Address: plan.Address{City: "Zürich"}}
	q, err := UnmarshalPerson(p.Marshal())
	if err != nil || q.DisplayName != p.DisplayName || q.Address.City != "Zürich" || !q.Enabled {
		t.Fatalf("round trip: %+v %v", q, err)
	}
	if _, err := UnmarshalPerson([]byte("{")); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestFromGraph(t *testing.T) {
	yes := true
	p := FromUser(graph.User{ID: "1", DisplayName: "Łukasz", AccountEnabled: &yes, UserType: "Guest", City: "Kraków", Country: "PL"})
	if !p.Enabled || !p.Guest || p.Address.City != "Kraków" || p.Address.CountryOrRegion != "PL" || p.Kind != KindUser {
		t.Fatalf("%+v", p)
	}
	if FromUser(graph.User{ID: "2"}).Enabled {
		t.Fatal("a user without accountEnabled must not count as enabled")
	}
	o := FromOrgContact(graph.OrgContact{ID: "3", Phones: []graph.Phone{
		{Type: "businessFax", Number: "fax"}, {Type: "mobile", Number: "m"}, {Type: "business", Number: "b"},
	}, Addresses: []graph.PhysicalOfficeAddress{{City: "Genève", OfficeLocation: "B2"}}})
	if o.MobilePhone != "m" || len(o.BusinessPhones) != 1 || o.BusinessPhones[0] != "b" || o.OfficeLocation != "B2" || o.Address.City != "Genève" || !o.Enabled {
		t.Fatalf("%+v", o)
	}
}

// fieldPolicy: never fields leave the written mask, fillBlank fields stay
// in it but out of the hash mask; displayName is always overwritten.
func TestMapperFieldPolicy(t *testing.T) {
	tt := tenant()
	tt.FieldPolicy = config.FieldPolicy{MobilePhone: config.FieldFillBlank, OfficeLocation: config.FieldNever,
		DisplayName: config.FieldNever, JobTitle: config.FieldOverwrite}
	m := NewMapper(tt)
	if m.Mask().Has(plan.OfficeLocation) || !m.Mask().Has(plan.MobilePhone) || !m.Mask().Has(plan.DisplayName) || !m.Mask().Has(plan.JobTitle) {
		t.Errorf("mask %v", m.Mask())
	}
	if m.FillBlank() != plan.FieldMask(plan.MobilePhone) || m.HashMask().Has(plan.MobilePhone) || !m.HashMask().Has(plan.JobTitle) {
		t.Errorf("fillBlank %v, hash mask %v", m.FillBlank(), m.HashMask())
	}
}

// Shared, room and equipment mailboxes are disabled users: each option
// lets its own kind through and nothing else; a disabled user mailbox (a
// leaver) and an unread purpose never. Mail groups follow mailGroups,
// their address, hideFromAddressLists and excludeUsers, not the group
// scopes.
func TestSelectorResourcesAndGroups(t *testing.T) {
	user := func(purpose string) Person {
		return Person{ID: "u-" + purpose, Kind: KindUser, Mail: purpose + "@x.example", Purpose: purpose}
	}
	group := Person{ID: "g1", Kind: KindGroup, Mail: "sales@x.example", Enabled: true}
	hidden := group
	hidden.ID, hidden.Hidden = "g2", true
	noMail := group
	noMail.ID, noMail.Mail = "g3", ""
	cases := []struct {
		name string
		src  config.Source
		p    Person
		want bool
		kind string
	}{
		{"shared off", config.Source{}, user("shared"), false, SourceSharedMailbox},
		{"shared on", config.Source{IncludeShared: true}, user("shared"), true, SourceSharedMailbox},
		{"room needs includeRooms", config.Source{IncludeShared: true}, user("room"), false, SourceRoom},
		{"room on", config.Source{IncludeRooms: true}, user("room"), true, SourceRoom},
		{"equipment on", config.Source{IncludeEquipment: true}, user("equipment"), true, SourceEquipment},
		{"disabled user mailbox", config.Source{IncludeShared: true, IncludeRooms: true, IncludeEquipment: true}, user("user"), false, SourceUser},
		{"purpose not read", config.Source{IncludeShared: true}, user(""), false, SourceUser},
		{"no mailbox", config.Source{IncludeShared: true}, user(PurposeNone), false, SourceUser},
		{"group off", config.Source{}, group, false, SourceGroup},
		{"group on", config.Source{MailGroups: true}, group, true, SourceGroup},
		{"group hidden", config.Source{MailGroups: true}, hidden, false, SourceGroup},
		{"group without address", config.Source{MailGroups: true}, noMail, false, SourceGroup},
		{"group excluded", config.Source{MailGroups: true, ExcludeUsers: []string{"g1"}}, group, false, SourceGroup},
	}
	for _, c := range cases {
		tt := tenant()
		tt.Source = c.src
		tt.Source.RequireEmail = true
		// A group scope of people: it must not filter groups, and it
		// filters resource mailboxes like people.
		scope := Scope{SourceInclude: map[string]bool{"u-shared": true, "u-room": true, "u-equipment": true, "u-user": true}}
		got, why := NewSelector(tt, scope).IsSource(c.p)
		if got != c.want || c.p.SourceKind() != c.kind {
			t.Errorf("%s: source %v (%s), kind %s; want %v, %s", c.name, got, why, c.p.SourceKind(), c.want, c.kind)
		}
		if ok, _ := NewSelector(tt, scope).IsTarget(c.p); ok {
			t.Errorf("%s: a resource mailbox or group is a target", c.name)
		}
	}
	// The group scopes filter resource mailboxes like people.
	tt := tenant()
	tt.Source.IncludeShared = true
	if ok, _ := NewSelector(tt, Scope{SourceInclude: map[string]bool{}}).IsSource(user("shared")); ok {
		t.Error("a shared mailbox outside source.includeGroups is a source")
	}
}

func TestKeepPurpose(t *testing.T) {
	old := Person{ID: "u", Kind: KindUser, Mail: "a@x.example", Purpose: "shared"}
	p := Person{ID: "u", Kind: KindUser, Mail: "a@x.example", DisplayName: "Renamed"}
	p.KeepPurpose(old)
	if p.Purpose != "shared" {
		t.Fatalf("a rename dropped the purpose")
	}
	p = Person{ID: "u", Kind: KindUser, Mail: "a@x.example", Enabled: true}
	p.KeepPurpose(old)
	if p.Purpose != "" {
		t.Fatalf("enabling the account kept the purpose")
	}
}
