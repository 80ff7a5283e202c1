package graphsim

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	ocEric  = "20000000-0000-4000-8000-000000000001" // smallTenant's org contact
	ocFay   = "20000000-0000-4000-8000-000000000002"
	ocGus   = "20000000-0000-4000-8000-000000000003"
	ocHanna = "20000000-0000-4000-8000-000000000004"
)

func orgDeltaEnv(t *testing.T) *testEnv {
	e := newEnv(t, func(o *Options) { o.UsersDeltaPageSize = 2 })
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocFay, DisplayName: "Fay Fox", GivenName: "Fay", Mail: "fay@partner.com", JobTitle: "Buyer",
		Phones: []Phone{{Number: "+1 555 0102", Type: "business"}}, Addresses: []OfficeAddress{{City: "Oslo"}}}))
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocGus, DisplayName: "Gus Grey", Mail: "gus@partner.com"}))
	return e
}

// contacts/delta: rounds in pages, the documented default property set,
// tracked changes, deletions, creation.
func TestOrgContactsDelta(t *testing.T) {
	e := orgDeltaEnv(t)
	items, dl, pages := deltaRound(t, e, "/contacts/delta")
	if len(items) != 3 || pages != 2 {
		t.Fatalf("first round: %d items in %d pages", len(items), pages)
	}
	if !strings.HasPrefix(dl, e.srv.GraphURL()+"/contacts/delta?$deltatoken=") {
		t.Errorf("deltaLink %s", dl)
	}
	for _, it := range items {
		for k := range it {
			if !isOrgContactDeltaProp(k) {
				t.Errorf("property %s in a delta item: %v", k, it)
			}
		}
	}
	if f := byID(items)[ocFay]; f["jobTitle"] != "Buyer" || f["mail"] != "fay@partner.com" || f["surname"] != nil {
		t.Errorf("fay %v", f)
	}
	items, dl, _ = deltaRound(t, e, dl)
	if len(items) != 0 {
		t.Fatalf("no-change round returned %v", items)
	}

	// A tracked change, an untracked one (phones), a deletion, a new contact.
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocEric, DisplayName: "Eric Solomon", Mail: "erics@partner.com", JobTitle: "Partner",
		Phones: []Phone{{Number: "111-1111", Type: "businessFax"}}}))
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocFay, DisplayName: "Fay Fox", GivenName: "Fay", Mail: "fay@partner.com", JobTitle: "Buyer",
		Phones: []Phone{{Number: "+1 555 0199", Type: "mobile"}}, Addresses: []OfficeAddress{{City: "Bergen"}}}))
	must(t, e.srv.DeleteOrgContact(e.tenant.ID, ocGus))
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocHanna, DisplayName: "Hanna Holm"}))
	items, dl2, _ := deltaRound(t, e, dl)
	m := byID(items)
	if len(m) != 3 {
		t.Fatalf("changes round: %v", items)
	}
	if m[ocEric]["jobTitle"] != "Partner" || m[ocEric]["displayName"] != "Eric Solomon" {
		t.Errorf("eric %v", m[ocEric])
	}
	if _, ok := m[ocFay]; ok {
		t.Error("a change of phones and addresses reported: contacts/delta does not track them")
	}
	if rm, _ := m[ocGus]["@removed"].(map[string]any); rm["reason"] != "deleted" {
		t.Errorf("deleted %v", m[ocGus])
	}
	if m[ocHanna]["displayName"] != "Hanna Holm" {
		t.Errorf("new %v", m[ocHanna])
	}
	if err := e.srv.DeleteOrgContact(e.tenant.ID, ocGus); err == nil {
		t.Error("deleting a deleted contact succeeded")
	}

	// Prefer: return=minimal: only what changed, null when cleared;
	// created again after a deletion: live, not @removed.
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocEric, DisplayName: "Eric Solomon", Mail: "erics@partner.com",
		Phones: []Phone{{Number: "111-1111", Type: "businessFax"}}}))
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocGus, DisplayName: "Gus Grey"}))
	items, _, _ = deltaRound(t, e, dl2, "Prefer: return=minimal")
	m = byID(items)
	if eric, ok := m[ocEric]; !ok || len(eric) != 2 || eric["jobTitle"] != nil {
		t.Errorf("minimal eric %v (want id and a null jobTitle)", eric)
	} else if _, has := eric["jobTitle"]; !has {
		t.Errorf("minimal eric without the cleared jobTitle: %v", eric)
	}
	if g := m[ocGus]; g == nil || g["@removed"] != nil || g["displayName"] != "Gus Grey" {
		t.Errorf("recreated gus %v", g)
	}
}

// $select names the tracked properties; addresses, phones and
// proxyAddresses cannot be selected; other query options are refused.
func TestOrgContactsDeltaQuery(t *testing.T) {
	e := orgDeltaEnv(t)
	items, dl, _ := deltaRound(t, e, "/contacts/delta?$select=displayName,mail")
	for _, it := range items {
		for k := range it {
			if k != "id" && k != "displayName" && k != "mail" {
				t.Errorf("unselected %s: %v", k, it)
			}
		}
	}
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocGus, DisplayName: "Gus Grey", Mail: "gus@partner.com", JobTitle: "CEO"}))
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocFay, DisplayName: "Fay Fox-Lie", GivenName: "Fay", Mail: "fay@partner.com", JobTitle: "Buyer",
		Phones: []Phone{{Number: "+1 555 0102", Type: "business"}}, Addresses: []OfficeAddress{{City: "Oslo"}}}))
	items, _, _ = deltaRound(t, e, dl)
	if len(items) != 1 || items[0]["id"] != ocFay || items[0]["displayName"] != "Fay Fox-Lie" {
		t.Errorf("selected round: %v (a change of jobTitle is not tracked with $select=displayName,mail)", items)
	}

	for _, p := range []string{"phones", "addresses", "proxyAddresses", "displayName,phones"} {
		e.want(e.do("GET", "/contacts/delta?$select="+p, nil), 400, "Request_UnsupportedQuery")
	}
	e.want(e.do("GET", "/contacts/delta?$select=shoeSize", nil), 400, "Request_BadRequest")
	for _, q := range []string{"$top=5", "$orderby=displayName", "$expand=manager", "$count=true", "$filter=displayName eq 'x'"} {
		e.want(e.do("GET", "/contacts/delta?"+q, nil), 400, "Request_UnsupportedQuery")
	}
	r := e.do("GET", "/contacts/delta?$filter=id eq '"+ocFay+"' or id eq '"+ocGus+"'", nil)
	e.want(r, 200, "")
	if len(r.value()) != 2 {
		t.Errorf("id filter: %s", r.raw)
	}
	e.want(e.do("GET", "/contacts/delta?$deltatoken=bm9wZQ", nil), 400, "Request_BadRequest")

	// A users/delta link is not a contacts/delta link, nor the reverse.
	_, udl, _ := deltaRound(t, e, "/users/delta")
	e.want(e.do("GET", strings.Replace(udl, "/users/delta", "/contacts/delta", 1), nil), 400, "Request_BadRequest")
	e.want(e.do("GET", strings.Replace(dl, "/contacts/delta", "/users/delta", 1), nil), 400, "Request_BadRequest")

	// $deltatoken=latest: no data, a link from now.
	r = e.do("GET", "/contacts/delta?$deltatoken=latest&$select=displayName", nil)
	e.want(r, 200, "")
	if len(r.value()) != 0 || r.body["@odata.deltaLink"] == nil {
		t.Fatalf("latest: %s", r.raw)
	}
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocGus, DisplayName: "Gustav Grey"}))
	items, _, _ = deltaRound(t, e, r.body["@odata.deltaLink"].(string))
	if len(items) != 1 || items[0]["displayName"] != "Gustav Grey" {
		t.Errorf("after latest: %v", items)
	}

	// The RU cost is 1, like any directory GET.
	if ru := e.do("GET", "/contacts/delta", nil).hdr.Get("x-ms-resource-unit"); ru != "1" {
		t.Errorf("x-ms-resource-unit %q", ru)
	}
}

// Refused links: 410 resyncRequired with a Location (ExpireDeltaTokens),
// 400 syncStateNotFound (StaleDeltaTokens, or older than 7 days).
func TestOrgContactsDeltaRefused(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, func(o *Options) {
		o.UsersDeltaPageSize = 2
		o.Now = func() time.Time { return now }
	})
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocFay, DisplayName: "Fay Fox"}))
	must(t, e.srv.PutOrgContact(e.tenant.ID, OrgContact{ID: ocGus, DisplayName: "Gus Grey"}))
	r := e.do("GET", "/contacts/delta?$select=displayName,mail", nil)
	e.want(r, 200, "")
	next := r.body["@odata.nextLink"].(string)
	_, dl, _ := deltaRound(t, e, next)

	must(t, e.srv.ExpireDeltaTokens(e.tenant.ID))
	for _, l := range []string{next, dl} {
		r = e.do("GET", l, nil)
		e.want(r, 410, "resyncRequired")
	}
	loc := r.hdr.Get("Location")
	if !strings.HasPrefix(loc, e.srv.GraphURL()+"/contacts/delta?") || !strings.Contains(loc, "$select=displayName,mail") || !strings.Contains(loc, "$deltatoken=") {
		t.Fatalf("Location %q", loc)
	}
	items, dl, _ := deltaRound(t, e, loc)
	if len(items) != 3 {
		t.Errorf("resync returned %d contacts", len(items))
	}

	must(t, e.srv.StaleDeltaTokens(e.tenant.ID))
	e.want(e.do("GET", dl, nil), 400, "syncStateNotFound")
	_, dl, _ = deltaRound(t, e, "/contacts/delta")
	now = now.Add(7*24*time.Hour + time.Minute)
	e.token, _ = e.srv.AccessToken(e.tenant.ID, e.cred.ClientID)
	e.want(e.do("GET", dl, nil), 400, "syncStateNotFound")
}

// The control API deletes org contacts; a token without an org contact
// role is refused.
func TestOrgContactsDeltaControlAndPermission(t *testing.T) {
	e := orgDeltaEnv(t)
	if st, b := e.ctl("DELETE", "tenants/"+e.tenant.ID+"/orgContacts/"+ocGus, "", nil); st != 204 {
		t.Fatalf("delete: %d %s", st, b)
	}
	if st, _ := e.ctl("DELETE", "tenants/"+e.tenant.ID+"/orgContacts/"+ocGus, "", nil); st != 404 {
		t.Errorf("delete again: %d", st)
	}
	ten, err := e.srv.Tenant(e.tenant.ID)
	must(t, err)
	if slices.ContainsFunc(ten.OrgContacts, func(c OrgContact) bool { return c.ID == ocGus }) {
		t.Error("deleted contact exported")
	}
	must(t, e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, []string{RoleUserReadAll}))
	e.token, _ = e.srv.AccessToken(e.tenant.ID, e.cred.ClientID)
	e.want(e.do("GET", "/contacts/delta", nil), 403, "Authorization_RequestDenied")
}
