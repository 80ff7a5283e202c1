package graph

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestContactPatchClears(t *testing.T) {
	p := ContactPatch{
		DisplayName:     Set("Zoë Adams"),
		JobTitle:        Set(""),            // clear to ""
		Department:      Null[string](),     // clear to null
		BusinessPhones:  Set([]string{}),    // clear to []
		HomePhones:      Set[[]string](nil), // nil slice is [] too
		EmailAddresses:  Set([]EmailAddress{{Name: "Zoë", Address: "zoe@contoso.com"}}),
		BusinessAddress: Set(PhysicalAddress{}),  // every member "" clears it
		HomeAddress:     Null[PhysicalAddress](), // never null: Graph answers that with 500
		SingleValueExtendedProperties: ExtendedProperties{
			{ID: "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.hash", Value: "h1"}},
	}
	b, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"displayName":"Zoë Adams","jobTitle":"","department":null,"businessPhones":[],"homePhones":[],` +
		`"emailAddresses":[{"name":"Zoë","address":"zoe@contoso.com"}],` +
		`"businessAddress":{"street":"","city":"","state":"","countryOrRegion":"","postalCode":""},` +
		`"homeAddress":{"street":"","city":"","state":"","countryOrRegion":"","postalCode":""},` +
		`"singleValueExtendedProperties":[{"id":"String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.hash","value":"h1"}]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	// An untouched patch is an empty object.
	if b, _ := json.Marshal(&ContactPatch{}); string(b) != "{}" {
		t.Fatalf("empty patch %s", b)
	}
	// Round trip keeps the three states.
	var back ContactPatch
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var q ContactPatch
	if err := json.Unmarshal([]byte(want), &q); err != nil {
		t.Fatal(err)
	}
	if v, ok := q.JobTitle.Get(); !ok || v != "" || q.JobTitle.IsNull() {
		t.Errorf("jobTitle %+v", q.JobTitle)
	}
	if !q.Department.IsNull() {
		t.Errorf("department %+v", q.Department)
	}
	if !q.Surname.IsZero() {
		t.Errorf("surname %+v", q.Surname)
	}
}

func TestContactDecodesGraphPayload(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "examples", "contact-get-response.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c Contact
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.DisplayName != "Alex Wilber" || len(c.EmailAddresses) != 2 || c.EmailAddresses[1].Type != "personal" ||
		c.ETag == "" || c.BusinessAddress == nil || !c.BusinessAddress.IsZero() || c.PrimaryEmailAddress == nil {
		t.Fatalf("%+v", c)
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "Zoë Ådams 東京", `q"uote\back`, "ctl\x00\x01\n\r\t\x1f", "\u2028\u2029", "bad\xffutf8\xc3", "<&>"} {
		assertSameJSONString(t, s)
	}
}

func assertSameJSONString(t *testing.T, s string) {
	t.Helper()
	got := appendJSONString(nil, s)
	var back string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
	}
	std, _ := json.Marshal(s)
	var stdBack string
	_ = json.Unmarshal(std, &stdBack)
	if back != stdBack {
		t.Fatalf("%q: decodes to %q; encoding/json gives %q", s, back, stdBack)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "Zoë", "\x00", "\xff", "\u2028", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { assertSameJSONString(t, s) })
}

// batchOfContacts is 20 create items with realistic contacts.
func batchOfContacts() []BatchItem {
	items := make([]BatchItem, MaxBatchItems)
	for i := range items {
		p := &ContactPatch{
			DisplayName:    Set(fmt.Sprintf("Zoë Adams-Løvström %d", i)),
			GivenName:      Set("Zoë"),
			Surname:        Set(fmt.Sprintf("Adams-Løvström %d", i)),
			FileAs:         Set(fmt.Sprintf("Adams-Løvström %d, Zoë", i)),
			JobTitle:       Set("Senior Product Manager"),
			Department:     Set("Research & Development"),
			CompanyName:    Set("Contoso Ltd"),
			OfficeLocation: Set("Building 4, Floor 2"),
			BusinessPhones: Set([]string{"+1 425 555 0100", "+1 425 555 0101"}),
			MobilePhone:    Set("+1 425 555 0199"),
			EmailAddresses: Set([]EmailAddress{{Name: "Zoë Adams", Address: fmt.Sprintf("zoe%d@contoso.com", i)}}),
			BusinessAddress: Set(PhysicalAddress{Street: "1 Microsoft Way", City: "Redmond", State: "WA",
				CountryOrRegion: "United States", PostalCode: "98052"}),
			HomePhones: Set([]string{}),
			SingleValueExtendedProperties: ExtendedProperties{
				{ID: "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.sourceId", Value: "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"},
				{ID: "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.hash", Value: "sha256:0123456789abcdef0123456789abcdef"},
			},
		}
		items[i] = CreateContactItem(fmt.Sprint(i+1), "48d31887-5fad-4d73-a9f5-3c356e68a038",
			"AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e", p)
	}
	return items
}

func TestBatchBodyEncodes(t *testing.T) {
	c, _ := New(Options{BaseURL: "https://graph.example/v1.0", Tokens: StaticToken("t")})
	body, scopes, allGet, err := c.encodeBatch(batchOfContacts())
	if err != nil || len(scopes) != 1 || allGet {
		t.Fatalf("err %v scopes %v allGet %v", err, scopes, allGet)
	}
	var w wireBatch
	if err := json.Unmarshal(body, &w); err != nil || len(w.Requests) != 20 {
		t.Fatalf("err %v, %d items", err, len(w.Requests))
	}
	var p map[string]any
	if err := json.Unmarshal(w.Requests[0].Body, &p); err != nil || p["displayName"] != "Zoë Adams-Løvström 0" {
		t.Fatalf("item body %s", w.Requests[0].Body)
	}
}

// BenchmarkEncodeContactBatch measures building the JSON body of a $batch of
// 20 contact creates (issue 6: JSON encoding of batch bodies).
func BenchmarkEncodeContactBatch(b *testing.B) {
	c, _ := New(Options{BaseURL: "https://graph.example/v1.0", Tokens: StaticToken("t")})
	items := batchOfContacts()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		body, _, _, err := c.encodeBatch(items)
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/batch")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/MaxBatchItems/1000, "µs/contact")
}

func TestFieldStandalone(t *testing.T) {
	type body struct {
		A Field[string]          `json:"a,omitzero"`
		B Field[[]string]        `json:"b,omitzero"`
		C Field[[]EmailAddress]  `json:"c,omitzero"`
		D Field[int]             `json:"d,omitzero"`
		E Field[PhysicalAddress] `json:"e,omitzero"`
	}
	b, err := json.Marshal(body{A: Set("x\"y"), B: Set[[]string](nil), C: Set[[]EmailAddress](nil), D: Null[int]()})
	if err != nil || string(b) != `{"a":"x\"y","b":[],"c":[],"d":null}` {
		t.Fatalf("%s %v", b, err)
	}
	if _, err := json.Marshal(body{E: Set(PhysicalAddress{City: "Oslo"})}); err != nil {
		t.Fatal(err)
	}
	var back body
	if err := json.Unmarshal([]byte(`{"a":1}`), &back); err == nil {
		t.Fatal("a number decoded into Field[string]")
	}
	// A ContactPatch value (not pointer) encodes the same through the tags.
	p := ContactPatch{DisplayName: Set("Zoë"), Department: Null[string](), PrimaryEmailAddress: Set(EmailAddress{Address: "a@b"})}
	viaTags, _ := json.Marshal(p)
	viaAppend, _ := json.Marshal(&p)
	if string(viaTags) != string(viaAppend) {
		t.Fatalf("tags %s\nappend %s", viaTags, viaAppend)
	}
}
