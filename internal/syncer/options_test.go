package syncer

import (
	"testing"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graphsim"
)

// Org contacts become contacts when enabled, with phones mapped by type;
// field selection and categories shape every contact.
func TestOrgContactsFieldsAndCategories(t *testing.T) {
	users := threeUsers()
	e := newEnv(t, users)
	org := graphsim.OrgContact{ID: graphsim.NewGUID(), DisplayName: "Partner Støre", GivenName: "Partner", Surname: "Støre",
		Mail: "partner@fabrikam.example", CompanyName: "Fabrikam",
		Phones: []graphsim.Phone{{Type: "businessFax", Number: "+47 22 00 00 01"}, {Type: "mobile", Number: "+47 900 00 000"}, {Type: "business", Number: "+47 22 00 00 00"}}}
	if err := e.srv.PutOrgContact(e.tenant.ID, org); err != nil {
		t.Fatal(err)
	}
	e.settings = map[string]any{
		"orgContacts": true,
		"categories":  []string{"Company"},
		"fields":      []string{"displayName", "givenName", "surname", "businessPhones", "mobilePhone", "emailAddresses", "companyName"},
	}
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if res.SourceCount != 4 {
		t.Fatalf("sources %d, want 3 users + 1 org contact", res.SourceCount)
	}
	cs := e.contacts(users[0].ID)
	p := cs[org.ID]
	if p == nil {
		t.Fatalf("org contact missing: %v", keys(cs))
	}
	if p["mobilePhone"] != "+47 900 00 000" || p["companyName"] != "Fabrikam" {
		t.Errorf("org contact fields: %v", p)
	}
	if phones, _ := p["businessPhones"].([]any); len(phones) != 1 || phones[0] != "+47 22 00 00 00" {
		t.Errorf("business phones %v: the fax must not be one", p["businessPhones"])
	}
	u := cs[users[1].ID]
	if _, ok := u["jobTitle"]; ok && u["jobTitle"] != "" {
		t.Errorf("jobTitle written although not selected: %v", u["jobTitle"])
	}
	if cats, _ := u["categories"].([]any); len(cats) != 1 || cats[0] != "Company" {
		t.Errorf("categories %v", u["categories"])
	}

	// Switching org contacts off removes them; dropping the category clears it.
	e.settings = map[string]any{"fields": e.settings["fields"]}
	e.writeSettings()
	res = e.sync(RunOptions{})
	mustOK(t, res)
	cs = e.contacts(users[0].ID)
	if _, ok := cs[org.ID]; ok {
		t.Error("org contact kept after orgContacts was switched off")
	}
	if cats, ok := cs[users[1].ID]["categories"].([]any); ok && len(cats) > 0 {
		t.Errorf("categories not cleared: %v", cats)
	}
}

// What each named cloud offers (the contact-delta and permanentDelete
// pages' national-cloud tables): no contacts delta in China, and
// permanentDelete in the global cloud only. A custom cloud learns it from
// Graph's answers.
func TestCloudCapabilities(t *testing.T) {
	for cloud, want := range map[config.Cloud][2]bool{
		config.CloudGlobal:   {true, true},
		config.CloudUSGov:    {true, false},
		config.CloudUSGovDoD: {true, false},
		config.CloudChina:    {false, false},
		config.CloudCustom:   {true, true},
	} {
		r := newRun(New(Options{}), &config.Tenant{Name: "t", TenantID: "x", Cloud: cloud}, RunOptions{})
		if got := [2]bool{r.deltaOffered(), !r.noPurge.Load()}; got != want {
			t.Errorf("%s: contacts delta, permanentDelete = %v, want %v", cloud, got, want)
		}
	}
}
