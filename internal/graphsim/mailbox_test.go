package graphsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	alice     = "alice@contoso.onmicrosoft.com"
	sourceIDP = "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.sourceId"
	folderP   = "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.folder"
)

func (e *testEnv) mkFolder(user, name string) string {
	e.t.Helper()
	r := e.do("POST", "/users/"+user+"/contactFolders", map[string]any{"displayName": name})
	e.want(r, 201, "")
	return r.body["id"].(string)
}

func (e *testEnv) mkContact(user, folder string, body map[string]any) map[string]any {
	e.t.Helper()
	p := "/users/" + user + "/contacts"
	if folder != "" {
		p = "/users/" + user + "/contactFolders/" + folder + "/contacts"
	}
	r := e.do("POST", p, body)
	e.want(r, 201, "")
	return r.body
}

func TestContactFolders(t *testing.T) {
	e := newEnv(t)
	base := "/users/" + alice + "/contactFolders"
	r := e.do("POST", base, map[string]any{"displayName": "Company Directory", "parentFolderId": "ignored",
		"singleValueExtendedProperties": []any{map[string]any{"id": folderP, "value": e.tenant.ID}}})
	e.want(r, 201, "")
	fid := r.body["id"].(string)
	if _, ok := r.body["singleValueExtendedProperties"]; ok {
		t.Error("write response includes extended properties")
	}
	if !strings.HasPrefix(fid, "AAMk") || r.body["parentFolderId"] == "" {
		t.Errorf("create: %s", r.raw)
	}
	e.want(e.do("POST", base, map[string]any{"displayName": "company directory"}), 409, "ErrorFolderExists")
	e.want(e.do("POST", base, map[string]any{"displayName": ""}), 400, "ErrorInvalidRequest")
	e.want(e.do("POST", base, map[string]any{"displayName": "x", "color": "red"}), 400, "RequestBodyRead")
	e.want(e.do("POST", base, map[string]any{"displayName": 5}), 400, "RequestBodyRead")
	e.want(e.do("POST", base, "{not json"), 400, "BadRequest")
	e.want(e.do("POST", base, ""), 400, "BadRequest")
	e.mkFolder(alice, "Other")

	r = e.do("GET", base+"?$filter=displayName eq 'Company Directory'", nil)
	e.want(r, 200, "")
	if len(r.value()) != 1 || r.value()[0].(map[string]any)["id"] != fid {
		t.Errorf("filter by name: %s", r.raw)
	}
	r = e.do("GET", base+fmt.Sprintf("?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '%s' and ep/value eq '%s')&$expand=singleValueExtendedProperties($filter=id eq '%s')", folderP, strings.ToUpper(e.tenant.ID), folderP), nil)
	e.want(r, 200, "")
	if len(r.value()) != 1 {
		t.Fatalf("filter by marker: %s", r.raw)
	}
	ep := r.value()[0].(map[string]any)["singleValueExtendedProperties"].([]any)
	if len(ep) != 1 || ep[0].(map[string]any)["value"] != e.tenant.ID {
		t.Errorf("expanded marker %v", ep)
	}
	r = e.do("GET", base+"?$top=1", nil)
	if len(r.value()) != 1 || r.body["@odata.nextLink"] == nil {
		t.Errorf("paging: %s", r.raw)
	}
	e.want(e.do("GET", base+"/"+fid, nil), 200, "")
	e.want(e.do("GET", base+"?$filter=color eq 'red'", nil), 400, "RequestBroker--ParseUri")
	e.want(e.do("GET", base+"?$expand=childFolders", nil), 400, "RequestBroker--ParseUri")
	e.want(e.do("GET", base+"?$expand=singleValueExtendedProperties", nil), 400, "ErrorInvalidUrlQuery")
	// DELETE moves the folder to Deleted Items; a second DELETE removes it.
	e.want(e.do("DELETE", base+"/"+fid, nil), 204, "")
	e.want(e.do("GET", base+"/"+fid, nil), 200, "")
	e.want(e.do("DELETE", base+"/"+fid, nil), 204, "")
	e.want(e.do("GET", base+"/"+fid, nil), 404, "ErrorItemNotFound")
	e.want(e.do("DELETE", base+"/"+fid, nil), 404, "ErrorItemNotFound")
	e.want(e.do("GET", base+"/not-an-id", nil), 400, "ErrorInvalidIdMalformed")
	// Another mailbox's folder id is not found in this one.
	bobF := e.mkFolder("bob@contoso.onmicrosoft.com", "Company Directory")
	e.want(e.do("GET", base+"/"+bobF, nil), 404, "ErrorItemNotFound")
}

func TestContactsCRUD(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	cbase := "/users/" + alice + "/contactFolders/" + fid + "/contacts"
	c := e.mkContact(alice, fid, map[string]any{
		"givenName": "Pavel", "surname": "Bansky",
		"emailAddresses": []any{map[string]any{"address": "pavelb@contoso.com", "name": "Pavel Bansky"}},
		"businessPhones": []any{"+1 732 555 0102"}, "jobTitle": "Engineer",
		"businessAddress":               map[string]any{"street": "1 Way", "city": "Redmond"},
		"singleValueExtendedProperties": []any{map[string]any{"id": sourceIDP, "value": "user-1"}},
	})
	id := c["id"].(string)
	if c["displayName"] != "Pavel Bansky" {
		t.Errorf("displayName not generated: %v", c["displayName"])
	}
	if c["@odata.etag"] != `W/"`+c["changeKey"].(string)+`"` || c["parentFolderId"] != fid {
		t.Errorf("etag/changeKey/parent: %v %v %v", c["@odata.etag"], c["changeKey"], c["parentFolderId"])
	}
	if _, ok := c["singleValueExtendedProperties"]; ok {
		t.Error("create response includes extended properties")
	}
	// GET single, by folder and by the mailbox-wide path.
	r := e.do("GET", cbase+"/"+id, nil)
	e.want(r, 200, "")
	e.want(e.do("GET", "/users/"+alice+"/contacts/"+id, nil), 200, "")
	r = e.do("GET", cbase+"/"+id+"?$select=givenName,businessPhones", nil)
	if got := r.body; got["givenName"] != "Pavel" || got["surname"] != nil || got["@odata.etag"] == nil {
		t.Errorf("$select: %s", r.raw)
	}
	e.want(e.do("GET", cbase+"/"+id+"?$select=shoe", nil), 400, "RequestBroker--ParseUri")

	// PATCH merges; null and [] clear; every write changes the change key.
	ck1 := c["changeKey"].(string)
	r = e.do("PATCH", cbase+"/"+id, map[string]any{"jobTitle": nil, "businessPhones": []any{}, "department": "Sales"})
	e.want(r, 200, "")
	if r.body["jobTitle"] != nil || len(r.body["businessPhones"].([]any)) != 0 || r.body["department"] != "Sales" || r.body["givenName"] != "Pavel" {
		t.Errorf("merge: %s", r.raw)
	}
	ck2 := r.body["changeKey"].(string)
	if ck2 == ck1 {
		t.Error("changeKey unchanged by PATCH")
	}
	r = e.do("PATCH", cbase+"/"+id, map[string]any{"givenName": "Paul"})
	if r.body["displayName"] != "Paul Bansky" {
		t.Errorf("displayName regenerated: %v", r.body["displayName"])
	}
	r = e.do("PATCH", cbase+"/"+id, map[string]any{"givenName": "Pavel", "displayName": "Bansky, Pavel"})
	if r.body["displayName"] != "Bansky, Pavel" {
		t.Errorf("explicit displayName: %v", r.body["displayName"])
	}
	// If-Match with a stale etag → 412; current → 200; * → 200.
	r2 := e.do("PATCH", cbase+"/"+id, map[string]any{"department": "X"}, `If-Match: W/"`+ck1+`"`)
	e.want(r2, 412, "ErrorIrresolvableConflict")
	cur := e.do("GET", cbase+"/"+id, nil).body["@odata.etag"].(string)
	e.want(e.do("PATCH", cbase+"/"+id, map[string]any{"department": "Y"}, "If-Match: "+cur), 200, "")
	e.want(e.do("DELETE", cbase+"/"+id, nil, "If-Match: "+cur), 412, "ErrorIrresolvableConflict")

	// Lists with paging.
	for i := 0; i < 4; i++ {
		e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("N", i), "displayName": fmt.Sprint("N", i)})
	}
	e.mkContact(alice, "", map[string]any{"givenName": "Default"})
	var got []string
	for next := cbase + "?$top=2&$select=displayName"; next != ""; {
		r := e.do("GET", next, nil)
		e.want(r, 200, "")
		got = append(got, ids(r.value())...)
		next, _ = r.body["@odata.nextLink"].(string)
	}
	if len(got) != 5 {
		t.Errorf("paged %d contacts", len(got))
	}
	r = e.do("GET", "/users/"+alice+"/contacts", nil)
	if len(r.value()) != 1 {
		t.Errorf("default folder list: %s", r.raw)
	}
	e.want(e.do("GET", cbase+"?$top=5000", nil), 400, "ErrorInvalidUrlQuery")

	// Delete.
	e.want(e.do("DELETE", cbase+"/"+id, nil, "If-Match: *"), 204, "")
	e.want(e.do("GET", cbase+"/"+id, nil), 404, "ErrorItemNotFound")
	e.want(e.do("PATCH", cbase+"/"+id, map[string]any{"givenName": "x"}), 404, "ErrorItemNotFound")
	e.want(e.do("GET", cbase+"/AAMkAGVm", nil), 400, "ErrorInvalidIdMalformed")
	// A contact is not found through another folder.
	other := e.mkFolder(alice, "Other")
	id2 := ids(e.do("GET", cbase, nil).value())[0]
	e.want(e.do("GET", "/users/"+alice+"/contactFolders/"+other+"/contacts/"+id2, nil), 404, "ErrorItemNotFound")
}

func TestContactValidation(t *testing.T) {
	e := newEnv(t)
	p := "/users/" + alice + "/contacts"
	cases := []struct {
		body string
		code string
		msg  string
	}{
		{`{"givenName": "a", "shoeSize": 42}`, "RequestBodyRead", "The property 'shoeSize' does not exist on type 'Microsoft.OutlookServices.Contact'"},
		{`{"givenName": 5}`, "RequestBodyRead", "Cannot convert the literal '5' to the expected type 'Edm.String'."},
		{`{"givenName": ["a"]}`, "RequestBodyRead", "A 'PrimitiveValue' node was expected"},
		{`{"businessPhones": "+1 555"}`, "RequestBodyRead", "A 'StartArray' node was expected"},
		{`{"businessPhones": [1]}`, "RequestBodyRead", "Edm.String"},
		{`{"businessPhones": [null]}`, "RequestBodyRead", "null value"},
		{`{"emailAddresses": [{"address": "a@b.c", "kind": "x"}]}`, "RequestBodyRead", "'kind' does not exist on type 'Microsoft.OutlookServices.EmailAddress'"},
		{`{"emailAddresses": {"address": "a@b.c"}}`, "RequestBodyRead", "StartArray"},
		{`{"homeAddress": {"street": "1", "planet": "Mars"}}`, "RequestBodyRead", "'planet' does not exist on type 'Microsoft.OutlookServices.PhysicalAddress'"},
		{`{"homeAddress": "1 Way"}`, "RequestBodyRead", "StartObject"},
		{`{"birthday": "yesterday"}`, "RequestBodyRead", "Edm.DateTimeOffset"},
		{`{"@odata.type": "#microsoft.graph.user"}`, "RequestBodyRead", "could not be resolved"},
		{`{"singleValueExtendedProperties": [{"id": "String Name x", "value": "v"}]}`, "ErrorInvalidProperty", ""},
		{`{"singleValueExtendedProperties": [{"id": "` + sourceIDP + `", "value": 5}]}`, "RequestBodyRead", "Edm.String"},
		{`{"singleValueExtendedProperties": [{"id": "` + sourceIDP + `", "value": "v", "x": 1}]}`, "RequestBodyRead", "SingleValueLegacyExtendedProperty"},
		{`{"givenName": "a", "givenName": "b"}`, "RequestBodyRead", "Multiple property values"},
		{`{"givenName": "a"`, "BadRequest", "Unable to read JSON request payload"},
		{`{"givenName": "a"} trailing`, "BadRequest", ""},
		{`[]`, "RequestBodyRead", "StartObject"},
		{``, "BadRequest", "Empty Payload"},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			for _, m := range []string{"POST"} {
				r := e.do(m, p, c.body)
				e.want(r, 400, c.code)
				if c.msg != "" && !strings.Contains(string(r.raw), c.msg) {
					t.Errorf("message %s", r.raw)
				}
			}
		})
	}
	// Valid edge cases: read-only properties and annotations are accepted and ignored; date-only birthday.
	r := e.do("POST", p, `{"@odata.type": "#microsoft.graph.contact", "id": "x", "changeKey": "y", "givenName": "A", "birthday": "1974-07-22", "categories": [], "homeAddress": {}}`)
	e.want(r, 201, "")
	if r.body["birthday"] != "1974-07-22" || r.body["id"] == "x" {
		t.Errorf("%s", r.raw)
	}
	id := r.body["id"].(string)
	e.want(e.do("PATCH", p+"/"+id, `{"surname": 3}`), 400, "RequestBodyRead")
}

func TestExtendedProperties(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	base := "/users/" + alice + "/contactFolders/" + fid + "/contacts"
	for i, v := range []string{"Source-A", "source-b", "Source-C"} {
		e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i),
			"singleValueExtendedProperties": []any{map[string]any{"id": sourceIDP, "value": v}}})
	}
	e.mkContact(alice, fid, map[string]any{"givenName": "Untagged"})
	exp := fmt.Sprintf("$expand=singleValueExtendedProperties($filter=id eq '%s')", sourceIDP)
	r := e.do("GET", base+"?"+exp, nil)
	e.want(r, 200, "")
	n := 0
	for _, v := range r.value() {
		ep := v.(map[string]any)["singleValueExtendedProperties"].([]any)
		n += len(ep)
	}
	if n != 3 {
		t.Errorf("expanded %d properties: %s", n, r.raw)
	}
	r = e.do("GET", base, nil)
	if _, ok := r.value()[0].(map[string]any)["singleValueExtendedProperties"]; ok {
		t.Error("extended properties returned without $expand")
	}
	filter := func(id, val string) []any {
		r := e.do("GET", base+fmt.Sprintf("?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '%s' and ep/value eq '%s')", id, val), nil)
		e.want(r, 200, "")
		return r.value()
	}
	if got := filter(sourceIDP, "SOURCE-B"); len(got) != 1 {
		t.Errorf("value match is case-insensitive: got %d", len(got))
	}
	if got := filter(strings.Replace(sourceIDP, "{831CFECE-66B1-45B0-B604-2B01E00812F8}", "{831cfece-66b1-45b0-b604-2b01e00812f8}", 1), "source-a"); len(got) != 1 {
		t.Errorf("GUID match is case-insensitive: got %d", len(got))
	}
	if got := filter(strings.Replace(sourceIDP, "galmirror.sourceId", "galmirror.sourceid", 1), "source-a"); len(got) != 0 {
		t.Errorf("Name match must be case-sensitive: got %d", len(got))
	}
	if got := filter(sourceIDP, "nobody"); len(got) != 0 {
		t.Errorf("no match: %d", len(got))
	}
	// PATCH updates the value; the property stays out of the write response.
	id := ids(filter(sourceIDP, "source-c"))[0]
	r = e.do("PATCH", base+"/"+id, map[string]any{"singleValueExtendedProperties": []any{map[string]any{"id": sourceIDP, "value": "source-z"}}})
	e.want(r, 200, "")
	if _, ok := r.body["singleValueExtendedProperties"]; ok {
		t.Error("PATCH response includes extended properties")
	}
	r = e.do("GET", base+"/"+id+"?"+exp, nil)
	ep := r.body["singleValueExtendedProperties"].([]any)
	if len(ep) != 1 || ep[0].(map[string]any)["value"] != "source-z" {
		t.Errorf("after PATCH %s", r.raw)
	}
	e.want(e.do("GET", base+"?$filter=singleValueExtendedProperties/Any(ep: ep/id eq 'bogus' and ep/value eq 'x')", nil), 400, "ErrorInvalidUrlQueryFilter")
	e.want(e.do("GET", base+"?$filter=shoe eq 'x'", nil), 400, "RequestBroker--ParseUri")
	// contains/startswith on a string value are documented for messages
	// and events only: refused on contacts (stricter than unknown).
	for _, fn := range []string{"startswith", "contains"} {
		e.want(e.do("GET", base+fmt.Sprintf("?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '%s' and %s(ep/value, 'source'))", sourceIDP, fn), nil), 400, "ErrorInvalidUrlQueryFilter")
	}
	// The control API shows the properties.
	fs, err := e.srv.Folders(e.tenant.ID, alice)
	must(t, err)
	idx := slices.IndexFunc(fs, func(f Folder) bool { return f.ID == fid })
	if idx < 0 || len(fs[idx].Contacts) != 4 || fs[idx].Contacts[0].ExtendedProperties[0].ID != sourceIDP {
		t.Errorf("control Folders: %+v", fs)
	}
}

func TestContactsDelta(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	var cids []string
	for i := 0; i < 5; i++ {
		cids = append(cids, e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i)})["id"].(string))
	}
	d0 := "/users/" + alice + "/contactFolders/" + fid + "/contacts/delta?$select=givenName,displayName"
	items, dl, pages := deltaRound(t, e, d0, "Prefer: odata.maxpagesize=2")
	if len(items) != 5 || pages != 3 {
		t.Fatalf("initial: %d items, %d pages", len(items), pages)
	}
	if items[0]["@odata.type"] != "#microsoft.graph.contact" || items[0]["@odata.etag"] == nil || items[0]["surname"] != nil {
		t.Errorf("item %v", items[0])
	}
	items, dl, _ = deltaRound(t, e, dl)
	if len(items) != 0 {
		t.Fatalf("no-change round: %v", items)
	}
	// The mailbox owner edits, deletes and adds contacts.
	must(t, e.srv.OwnerUpdateContact(e.tenant.ID, alice, cids[1], json.RawMessage(`{"givenName": "Edited"}`)))
	must(t, e.srv.OwnerDeleteContact(e.tenant.ID, alice, cids[2]))
	added, err := e.srv.OwnerCreateContact(e.tenant.ID, alice, fid, json.RawMessage(`{"givenName": "Added"}`))
	must(t, err)
	// A change in another folder does not show.
	_, err = e.srv.OwnerCreateContact(e.tenant.ID, alice, "", json.RawMessage(`{"givenName": "Elsewhere"}`))
	must(t, err)
	items, dl, _ = deltaRound(t, e, dl)
	m := byID(items)
	if len(m) != 3 || m[cids[1]]["givenName"] != "Edited" || m[added]["givenName"] != "Added" {
		t.Fatalf("changes: %v", items)
	}
	if rm, _ := m[cids[2]]["@removed"].(map[string]any); rm["reason"] != "deleted" || m[cids[2]]["@odata.type"] != "#microsoft.graph.contact" {
		t.Errorf("removed: %v", m[cids[2]])
	}
	// maxpagesize is capped at 200.
	r := e.do("GET", dl, nil, "Prefer: odata.maxpagesize=500")
	if r.hdr.Get("Preference-Applied") != "odata.maxpagesize=200" {
		t.Errorf("Preference-Applied %q", r.hdr.Get("Preference-Applied"))
	}
	// Default folder delta works too.
	e.want(e.do("GET", "/users/"+alice+"/contacts/delta", nil), 200, "")
	// Expired: 400 ErrorInvalidSyncStateData (no 410 for contacts).
	must(t, e.srv.ExpireDeltaTokens(e.tenant.ID))
	r = e.do("GET", dl, nil)
	e.want(r, 400, "ErrorInvalidSyncStateData")
	e.want(e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts/delta?$deltatoken=xyz", nil), 400, "ErrorInvalidSyncStateData")
	e.want(e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts/delta?$filter=givenName eq 'a'", nil), 400, "ErrorInvalidUrlQuery")
	// A token of one folder used on another.
	other := e.mkFolder(alice, "Other")
	tok := dl[strings.Index(dl, "?"):]
	e.want(e.do("GET", "/users/"+alice+"/contactFolders/"+other+"/contacts/delta"+tok, nil), 400, "ErrorInvalidSyncStateData")
	// Permanently deleted folder.
	e.want(e.do("POST", "/users/"+alice+"/contactFolders/"+fid+"/permanentDelete", nil), 204, "")
	e.want(e.do("GET", d0, nil), 404, "ErrorItemNotFound")
}

func TestChildFolders(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	r := e.do("POST", "/users/"+alice+"/contactFolders/"+fid+"/childFolders", map[string]any{"displayName": "Mine"})
	e.want(r, 201, "")
	e.want(e.do("POST", "/users/"+alice+"/contactFolders/"+fid+"/childFolders", map[string]any{"displayName": "mine"}), 409, "ErrorFolderExists")
	r = e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/childFolders", nil)
	e.want(r, 200, "")
	if v := r.body["value"].([]any); len(v) != 1 || v[0].(map[string]any)["displayName"] != "Mine" {
		t.Fatalf("childFolders %v", r.body)
	}
	// Top-level listing is unchanged: the child is not a sibling of Company.
	r = e.do("GET", "/users/"+alice+"/contactFolders", nil)
	for _, f := range r.body["value"].([]any) {
		if f.(map[string]any)["displayName"] == "Mine" {
			t.Fatal("child folder listed at the top level")
		}
	}
	if _, err := e.srv.OwnerCreateChildFolder(e.tenant.ID, alice, fid, "Owner's"); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/childFolders", nil)
	if v := r.body["value"].([]any); len(v) != 2 {
		t.Fatalf("childFolders after owner create %v", r.body)
	}
}
