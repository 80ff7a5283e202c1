package graphsim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Fidelity: for the request shapes of Microsoft's example payloads
// (testdata/examples, copied from shared/reference/graph-examples with
// their SOURCES.md), graphsim's responses have the same property names,
// nesting and @odata annotations. Values are not compared.

func loadExample(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".txt") { // an HTTP response: the JSON body follows the blank line
		if i := strings.Index(string(b), "\n\n"); i >= 0 {
			b = b[i+2:]
		}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// shapeDiff reports keys of want missing from got (recursively; arrays
// compare each want element with the union of got's elements) and, when
// exact, keys of got missing from want, except those in extra.
func shapeDiff(want, got any, path string, exact bool, extra []string) []string {
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, got)}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, shapeDiff(wv, gv, path+"."+k, exact, extra)...)
		}
		if exact {
			for k := range g {
				if _, ok := w[k]; !ok && !slices.Contains(extra, k) && !slices.Contains(extra, path+"."+k) {
					out = append(out, fmt.Sprintf("%s.%s: not in the example", path, k))
				}
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %T", path, got)}
		}
		if len(w) == 0 {
			return nil
		}
		if len(g) == 0 {
			return []string{fmt.Sprintf("%s: empty, want elements", path)}
		}
		if _, isObj := w[0].(map[string]any); isObj {
			union := map[string]any{}
			for _, e := range g {
				if m, ok := e.(map[string]any); ok {
					for k, v := range m {
						if _, seen := union[k]; !seen || v != nil {
							union[k] = v
						}
					}
				}
			}
			wunion := map[string]any{}
			for _, e := range w {
				if m, ok := e.(map[string]any); ok {
					for k, v := range m {
						wunion[k] = v
					}
				}
			}
			out = append(out, shapeDiff(wunion, union, path+"[]", exact, extra)...)
		}
	case nil:
	default:
		switch got.(type) {
		case map[string]any, []any:
			if want != nil {
				out = append(out, fmt.Sprintf("%s: want a scalar, got %T", path, got))
			}
		}
	}
	sort.Strings(out)
	return out
}

func checkShape(t *testing.T, example string, want, got any, exact bool, extra ...string) {
	t.Helper()
	if d := shapeDiff(want, got, "$", exact, extra); len(d) > 0 {
		b, _ := json.Marshal(got)
		t.Errorf("%s: graphsim's response differs in shape:\n  %s\ngot %s", example, strings.Join(d, "\n  "), b)
	}
}

func TestFidelityUserDelta(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.UsersDeltaPageSize = 2 })
	// A user with only displayName, as "Conf Room Adams" in the example.
	must(t, e.srv.PutUser(e.tenant.ID, User{ID: "00000000-0000-4000-8000-000000000099", UserPrincipalName: "room@contoso.onmicrosoft.com", DisplayName: "Conf Room Adams"}))
	for _, u := range []string{"carol_fabrikam.com#EXT#@contoso.onmicrosoft.com", "dave@contoso.onmicrosoft.com", "erin@contoso.onmicrosoft.com"} {
		must(t, e.srv.PatchUser(e.tenant.ID, u, map[string]any{"givenName": "G", "surname": "S"}))
	}
	r := e.do("GET", "/users/delta?$select=displayName,givenName,surname", nil)
	checkShape(t, "user-delta-page1.json", deleteRemoved(loadExample(t, "user-delta-page1.json")), r.body, true)
	r = e.do("GET", r.body["@odata.nextLink"].(string), nil)
	checkShape(t, "user-delta-page2.json", loadExample(t, "user-delta-page2.json"), r.body, true)
	var last result
	for next := r.body["@odata.nextLink"].(string); next != ""; {
		last = e.do("GET", next, nil)
		next, _ = last.body["@odata.nextLink"].(string)
	}
	checkShape(t, "user-delta-page3-final-with-deltalink.json", loadExample(t, "user-delta-page3-final-with-deltalink.json"), last.body, true)
	dl := last.body["@odata.deltaLink"].(string)
	r = e.do("GET", dl, nil)
	checkShape(t, "user-delta-deltalink-nochanges.json", loadExample(t, "user-delta-deltalink-nochanges.json"), r.body, true)
	must(t, e.srv.PatchUser(e.tenant.ID, alice, map[string]any{"surname": "Adams-Smith"}))
	must(t, e.srv.DeleteUser(e.tenant.ID, "bob@contoso.onmicrosoft.com", false))
	must(t, e.srv.DeleteUser(e.tenant.ID, "dave@contoso.onmicrosoft.com", true))
	e.srv.SetUsersDeltaPageSize(100)
	r = e.do("GET", r.body["@odata.deltaLink"].(string), nil)
	checkShape(t, "user-delta-deltalink-changes-removed.json", loadExample(t, "user-delta-deltalink-changes-removed.json"), r.body, true)
	p1 := loadExample(t, "user-delta-page1.json").(map[string]any)
	delete(p1, "@odata.nextLink")
	checkShape(t, "user-delta-page1.json (with @removed deleted)", p1, r.body, true, "@odata.deltaLink")
}

// deleteRemoved drops @removed items (a first round has none here).
func deleteRemoved(v any) any {
	m := v.(map[string]any)
	var keep []any
	for _, it := range m["value"].([]any) {
		if _, ok := it.(map[string]any)["@removed"]; !ok {
			keep = append(keep, it)
		}
	}
	m["value"] = keep
	return m
}

func TestFidelityContacts(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/users/"+alice+"/contactFolders", loadExample(t, "contactfolder-create-request.json"))
	e.want(r, 201, "")
	checkShape(t, "contactfolder-create-response.json", loadExample(t, "contactfolder-create-response.json"), r.body, true, "@odata.context")
	fid := r.body["id"].(string)
	r = e.do("GET", "/users/"+alice+"/contactFolders", nil)
	checkShape(t, "contactfolders-list-response.json", loadExample(t, "contactfolders-list-response.json"), r.body, true, "@odata.context")

	r = e.do("POST", "/users/"+alice+"/contacts", loadExample(t, "contact-create-request.json"))
	e.want(r, 201, "")
	checkShape(t, "contact-create-response.json", loadExample(t, "contact-create-response.json"), r.body, false)
	id := r.body["id"].(string)
	must(t, e.srv.OwnerUpdateContact(e.tenant.ID, alice, id, json.RawMessage(`{"emailAddresses": [{"name": "A", "address": "a@contoso.com"}, {"name": "A", "address": "a@outlook.com"}], "imAddresses": ["sip:a@contoso.com"], "jobTitle": "Web Marketing Manager", "businessAddress": {"street": "10 Contoso Way", "city": "Redmond", "state": "WA", "countryOrRegion": "USA", "postalCode": "98075"}}`)))
	r = e.do("GET", "/users/"+alice+"/contacts/"+id, nil)
	// The GET sample's emailAddresses carry "type", which the update sample and
	// the older resource page lack (reference section 16, conflict 15).
	got := r.body
	want := loadExample(t, "contact-get-response.json").(map[string]any)
	for _, ea := range want["emailAddresses"].([]any) {
		delete(ea.(map[string]any), "type")
	}
	// The sample's businessAddress is empty ({}); ours is filled in.
	checkShape(t, "contact-get-response.json", want, got, true, "street", "city", "state", "countryOrRegion", "postalCode")

	r = e.do("PATCH", "/users/"+alice+"/contacts/"+id, loadExample(t, "contact-update-request.json"))
	e.want(r, 200, "")
	checkShape(t, "contact-update-response.json", loadExample(t, "contact-update-response.json"), r.body, true,
		"@odata.context", "@odata.etag", "primaryEmailAddress", "secondaryEmailAddress", "tertiaryEmailAddress")

	// Contacts delta: a page with a nextLink, and @removed items shaped like the message analog.
	for i := 0; i < 3; i++ {
		e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i), "fileAs": "x", "initials": "P", "birthday": "2016-10-19T10:37:00Z"})
	}
	r = e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts/delta?$select=parentFolderId,birthday,fileAs,displayName,givenName,initials", nil, "Prefer: odata.maxpagesize=2")
	checkShape(t, "contacts-delta-page.json", loadExample(t, "contacts-delta-page.json"), r.body, true, "@odata.context", "@odata.etag", "@odata.type", "id")
	var dl string
	for next := r.body["@odata.nextLink"].(string); next != ""; {
		r = e.do("GET", next, nil)
		next, _ = r.body["@odata.nextLink"].(string)
		dl, _ = r.body["@odata.deltaLink"].(string)
	}
	first := ids(e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts", nil).value())[0]
	must(t, e.srv.OwnerDeleteContact(e.tenant.ID, alice, first))
	r = e.do("GET", dl, nil)
	analog := loadExample(t, "outlook-message-delta-removed-analog.json").(map[string]any)
	analog["value"] = analog["value"].([]any)[:1] // the removed item; the other is a message
	checkShape(t, "outlook-message-delta-removed-analog.json", analog, r.body, true)

	// Extended property expansion has the shape of the message sample.
	r = e.do("POST", "/users/"+alice+"/contacts", map[string]any{"givenName": "X", "singleValueExtendedProperties": []any{map[string]any{"id": sourceIDP, "value": "1"}}})
	r = e.do("GET", "/users/"+alice+"/contacts/"+r.body["id"].(string)+"?$select=displayName&$expand=singleValueExtendedProperties($filter=id eq '"+sourceIDP+"')", nil)
	msg := loadExample(t, "extended-property-expand-response-message.json").(map[string]any)
	checkShape(t, "extended-property-expand-response-message.json (singleValueExtendedProperties)",
		map[string]any{"@odata.context": "", "@odata.etag": "", "id": "", "singleValueExtendedProperties": msg["singleValueExtendedProperties"]}, r.body, false)
}

func TestFidelityBatch(t *testing.T) {
	ten, cred := smallTenant(t, RoleUserReadAll, RoleContactsReadWrite)
	srv, err := Start(Options{Tenants: []Tenant{ten}})
	must(t, err)
	defer srv.Close()
	tok, _ := srv.AccessToken(ten.ID, cred.ClientID)
	e := &testEnv{t: t, srv: srv, tenant: ten, cred: cred, token: tok, client: srv.Client()}
	fid := e.mkFolder(alice, "F")
	var reqs []any
	for i := 0; i < 5; i++ {
		reqs = append(reqs, item(fmt.Sprint(i+1), "POST", "/users/"+alice+"/contactFolders/"+fid+"/contacts", map[string]any{"givenName": "Pavel", "surname": "Bansky"}))
	}
	reqs = append(reqs, map[string]any{"id": "6", "method": "GET", "url": "users?$select=id,displayName,userPrincipalName&$count=true", "headers": map[string]string{"ConsistencyLevel": "eventual"}})
	reqs = append(reqs, item("7", "GET", "/groups/10000000-0000-4000-8000-000000000001/members", nil))
	r := e.do("POST", "/$batch", map[string]any{"requests": reqs})
	e.want(r, 200, "")
	rs := responses(t, r)
	mixed := loadExample(t, "batch-response-mixed.json").(map[string]any)["responses"].([]any)
	checkShape(t, "batch-response-mixed.json item 5 (200, directory)", mixed[4], rs["6"], true)
	checkShape(t, "batch-response-mixed.json item 3 (403 Authorization_RequestDenied)", mixed[2], rs["7"], true, "OData-Version")
	con := loadExample(t, "batch-response-with-429-CONSTRUCTED.json").(map[string]any)["responses"].([]any)
	var ok201, th429 map[string]any
	for _, m := range rs {
		switch status(m) {
		case 201:
			ok201 = m
		case 429:
			th429 = m
		}
	}
	if ok201 == nil || th429 == nil {
		t.Fatalf("want a 201 and a 429 item: %s", r.raw)
	}
	checkShape(t, "batch-response-with-429-CONSTRUCTED.json item 1", con[0], ok201, false)
	checkShape(t, "batch-response-with-429-CONSTRUCTED.json item 2", con[1], th429, true, "Cache-Control")
	checkShape(t, "error-429-mailbox-concurrency.json", loadExample(t, "error-429-mailbox-concurrency.json"), th429["body"], false)
}

func TestFidelityErrors(t *testing.T) {
	clock := newClock()
	th := GraphThrottle()
	th.DirectoryRU = 1
	e := newEnv(t, func(o *Options) { o.Now = clock.Now; o.Throttle = &th })
	wrap := func(v any) any { return map[string]any{"error": v} } // samples printed without the envelope
	r := e.do("GET", "/users/erin@contoso.onmicrosoft.com/contacts", nil)
	checkShape(t, "error-403-access-denied-outlook.json", loadExample(t, "error-403-access-denied-outlook.json"), r.body, false)
	r = e.do("GET", "/users/dave@contoso.onmicrosoft.com/contacts", nil)
	checkShape(t, "error-mailbox-not-enabled-404.json", loadExample(t, "error-mailbox-not-enabled-404.json"), r.body, false)
	r = e.do("GET", "/users/nobody@contoso.onmicrosoft.com/contacts", nil)
	checkShape(t, "error-invalid-user-404.json", wrap(loadExample(t, "error-invalid-user-404.json")), r.body, false)
	id := e.mkContact(alice, "", map[string]any{"givenName": "a"})["id"].(string)
	r = e.do("PATCH", "/users/"+alice+"/contacts/"+id, map[string]any{"givenName": "b"}, `If-Match: W/"stale"`)
	checkShape(t, "error-412-irresolvable-conflict.json", wrap(loadExample(t, "error-412-irresolvable-conflict.json")), r.body, false)
	e.do("GET", "/users", nil)
	r = e.do("GET", "/users", nil)
	e.want(r, 429, "")
	checkShape(t, "throttling-429-response.txt", loadExample(t, "throttling-429-response.txt"), r.body, true, "client-request-id")
	r = e.do("GET", "/contacts", nil)
	clock.Add(3 * time.Hour)
	r = e.do("GET", "/users", nil)
	checkShape(t, "error-401-token-expired.json", loadExample(t, "error-401-token-expired.json"), r.body, true)
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: "20000000-0000-4000-8000-000000000001", DisplayName: "Eric S", GivenName: "Eric", Surname: "Solomon",
		Mail: "erics@contoso.com", MailNickname: "erics", CompanyName: "Contoso", Department: "Marketing", JobTitle: "Accountant",
		Addresses: []OfficeAddress{{City: "MyCity", CountryOrRegion: "United States", OfficeLocation: "MyCity", PostalCode: "98000", State: "WA", Street: "Contoso Way"}},
		Phones:    []Phone{{Number: "111-1111", Type: "businessFax"}}}))
	tok, _ := e.srv.AccessToken(e.tenant.ID, e.cred.ClientID)
	clock.Add(time.Minute)
	r = e.doToken(tok, "GET", "/contacts", nil)
	checkShape(t, "orgcontact-list-response.json", loadExample(t, "orgcontact-list-response.json"), r.body, true, "@odata.context", "id")
}
