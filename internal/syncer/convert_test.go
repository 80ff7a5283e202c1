package syncer

import (
	"encoding/json"
	"testing"

	"github.com/galmirror/galmirror/internal/plan"
)

// An update sends exactly the fields that changed (clears as explicit empty
// values) and the new hash; a create sends what has a value and both marks.
func TestContactBody(t *testing.T) {
	f := plan.Fields{DisplayName: "Zoë Ångström", GivenName: "Zoë", JobTitle: "CTO", BusinessPhones: []string{"+1 1"}}
	up := plan.Op{Kind: plan.Update, SourceID: "s1", ContactID: "c1", Fields: &f, Hash: "1:h",
		Mask: plan.FieldMask(plan.DisplayName) | plan.FieldMask(plan.JobTitle) | plan.FieldMask(plan.MobilePhone) |
			plan.FieldMask(plan.BusinessAddress) | plan.FieldMask(plan.Categories)}
	b, err := contactBody(up, false)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// A cleared address is sent as its members, never null: Graph answers
	// a null complex value with 500.
	want := map[string]any{"displayName": "Zoë Ångström", "jobTitle": "CTO", "mobilePhone": "", "categories": []any{},
		"businessAddress": map[string]any{"street": "", "city": "", "state": "", "countryOrRegion": "", "postalCode": ""}}
	for k, v := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("update body lacks %s: %s", k, b)
			continue
		}
		if gb, _ := json.Marshal(gv); string(gb) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, gb, mustJSON(v))
		}
	}
	for _, k := range []string{"givenName", "businessPhones", "surname"} {
		if _, ok := got[k]; ok {
			t.Errorf("update body sends unchanged field %s: %s", k, b)
		}
	}
	props := got["singleValueExtendedProperties"].([]any)
	if len(props) != 1 || props[0].(map[string]any)["id"] != PropHash || props[0].(map[string]any)["value"] != "1:h" {
		t.Errorf("update marks %v", props)
	}

	cr := plan.Op{Kind: plan.Create, SourceID: "s1", Fields: &f, Hash: "1:h", Mask: plan.AllFields}
	b, err = contactBody(cr, true)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	_ = json.Unmarshal(b, &got)
	if _, ok := got["mobilePhone"]; ok {
		t.Errorf("create sends an empty field: %s", b)
	}
	if len(got["singleValueExtendedProperties"].([]any)) != 2 || got["givenName"] != "Zoë" {
		t.Errorf("create body %s", b)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
