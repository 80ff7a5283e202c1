package graphsim

import (
	"crypto/x509"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// fakeClock is an injectable clock for windows, deadlines and token lifetimes.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{t: time.Now()} }

func TestAzidentityTokenThenGraph(t *testing.T) {
	e := newEnv(t)
	cred, err := azidentity.NewClientCertificateCredential(e.tenant.ID, e.cred.ClientID, []*x509.Certificate{e.cred.Certificate}, e.cred.Key,
		&azidentity.ClientCertificateCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.srv.URL() + "/"}, Transport: e.srv.Client()},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{e.srv.URL() + "/.default"}})
	if err != nil {
		t.Fatalf("GetToken from graphsim: %v", err)
	}
	r := e.doToken(tok.Token, "GET", "/users?$top=1", nil)
	e.want(r, 200, "")
}

func TestAuthentication(t *testing.T) {
	clock := newClock()
	e := newEnv(t, func(o *Options) { o.Now = clock.Now })
	other := newEnv(t)
	cases := []struct {
		name, token, msg string
	}{
		{"missing", "", "Access token is empty."},
		{"garbage", "not-a-token", ""},
		{"another issuer's signature", other.token, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.doToken(c.token, "GET", "/users", nil)
			e.want(r, 401, "InvalidAuthenticationToken")
			if !strings.Contains(r.hdr.Get("WWW-Authenticate"), `client_id="00000003-0000-0000-c000-000000000000"`) {
				t.Errorf("WWW-Authenticate = %q", r.hdr.Get("WWW-Authenticate"))
			}
			if c.msg != "" && !strings.Contains(string(r.raw), c.msg) {
				t.Errorf("message: %s", r.raw)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		clock.Add(2 * time.Hour)
		r := e.do("GET", "/users", nil)
		e.want(r, 401, "InvalidAuthenticationToken")
		if !strings.Contains(string(r.raw), "Access token has expired or is not yet valid.") {
			t.Errorf("message: %s", r.raw)
		}
	})
}

func TestErrorEnvelopeAndHeaders(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/users/nobody@contoso.onmicrosoft.com", nil, "client-request-id: 11111111-2222-4333-8444-555555555555")
	e.want(r, 404, "Request_ResourceNotFound")
	inner := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	for _, k := range []string{"date", "request-id", "client-request-id"} {
		if _, ok := inner[k].(string); !ok {
			t.Errorf("innerError lacks %s: %s", k, r.raw)
		}
	}
	if inner["client-request-id"] != "11111111-2222-4333-8444-555555555555" || r.hdr.Get("client-request-id") != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("client-request-id not echoed: %v %s", r.hdr, r.raw)
	}
	if r.hdr.Get("request-id") == "" || inner["request-id"] != r.hdr.Get("request-id") {
		t.Errorf("request-id header %q vs body %v", r.hdr.Get("request-id"), inner["request-id"])
	}
	ok := e.do("GET", "/users?$top=1", nil)
	if ok.hdr.Get("OData-Version") != "4.0" || !strings.HasPrefix(ok.hdr.Get("Content-Type"), "application/json;odata.metadata=minimal") {
		t.Errorf("headers %v", ok.hdr)
	}
	e.want(e.do("GET", "/nothing", nil), 400, "BadRequest")
	e.want(e.do("GET", "/me/contacts", nil), 400, "BadRequest")
	e.want(e.do("DELETE", "/users", nil), 405, "Request_BadRequest")
}

func TestPermissions(t *testing.T) {
	ten, cred := smallTenant(t, RoleUserReadAll)
	srv, err := Start(Options{Tenants: []Tenant{ten}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tok, _ := srv.AccessToken(ten.ID, cred.ClientID)
	e := &testEnv{t: t, srv: srv, tenant: ten, cred: cred, token: tok, client: srv.Client()}
	e.want(e.do("GET", "/users", nil), 200, "")
	e.want(e.do("GET", "/groups/10000000-0000-4000-8000-000000000001/members", nil), 403, "Authorization_RequestDenied")
	e.want(e.do("GET", "/contacts", nil), 403, "Authorization_RequestDenied")
	e.want(e.do("GET", "/users/alice@contoso.onmicrosoft.com/contactFolders", nil), 403, "ErrorAccessDenied")

	// Consent revoked: new tokens carry no roles.
	if err := srv.SetRoles(ten.ID, cred.ClientID, nil); err != nil {
		t.Fatal(err)
	}
	e.token, _ = srv.AccessToken(ten.ID, cred.ClientID)
	e.want(e.do("GET", "/users", nil), 403, "Authorization_RequestDenied")
	e.want(e.do("GET", "/users/delta", nil), 403, "Authorization_RequestDenied")
	e.want(e.do("POST", "/users/alice@contoso.onmicrosoft.com/contactFolders", map[string]any{"displayName": "x"}), 403, "ErrorAccessDenied")

	// Group.Read.All grants members too.
	if err := srv.SetRoles(ten.ID, cred.ClientID, []string{RoleGroupReadAll}); err != nil {
		t.Fatal(err)
	}
	e.token, _ = srv.AccessToken(ten.ID, cred.ClientID)
	e.want(e.do("GET", "/groups/10000000-0000-4000-8000-000000000001/members", nil), 200, "")
}

func TestMailboxStates(t *testing.T) {
	e := newEnv(t)
	e.want(e.do("GET", "/users/dave@contoso.onmicrosoft.com/contactFolders", nil), 404, "MailboxNotEnabledForRESTAPI")
	e.want(e.do("GET", "/users/00000000-0000-4000-8000-00000000000e/contacts", nil), 403, "ErrorAccessDenied")
	e.want(e.do("GET", "/users/ghost@contoso.onmicrosoft.com/contacts", nil), 404, "ErrorInvalidUser")
	if err := e.srv.SetMailboxState(e.tenant.ID, "dave@contoso.onmicrosoft.com", MailboxNormal); err != nil {
		t.Fatal(err)
	}
	e.want(e.do("GET", "/users/dave@contoso.onmicrosoft.com/contactFolders", nil), 200, "")
	if err := e.srv.SetMailboxState(e.tenant.ID, "alice@contoso.onmicrosoft.com", "bogus"); err == nil {
		t.Error("bogus state accepted")
	}
}

func ids(v []any) []string {
	var out []string
	for _, x := range v {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

func TestListUsers(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/users", nil)
	e.want(r, 200, "")
	if len(r.value()) != 5 {
		t.Fatalf("got %d users", len(r.value()))
	}
	first := r.value()[0].(map[string]any)
	for _, k := range userDefaultSelect {
		if _, ok := first[k]; !ok {
			t.Errorf("default property %s missing", k)
		}
	}
	if _, ok := first["department"]; ok {
		t.Error("department returned without $select")
	}

	r = e.do("GET", "/users?$select=id,department,accountEnabled", nil)
	e.want(r, 200, "")
	if got := r.value()[0].(map[string]any); len(got) != 3 || got["department"] != "R&D" {
		t.Errorf("$select: %v", got)
	}
	if !strings.HasSuffix(r.body["@odata.context"].(string), "#users(id,department,accountEnabled)") {
		t.Errorf("context %v", r.body["@odata.context"])
	}
	e.want(e.do("GET", "/users?$select=nope", nil), 400, "Request_BadRequest")
	e.want(e.do("GET", "/users?$top=1000", nil), 400, "Request_BadRequest")
	e.want(e.do("GET", "/users?$top=0", nil), 400, "Request_BadRequest")
	e.want(e.do("GET", "/users?$skip=2", nil), 400, "Request_BadRequest")
	e.want(e.do("GET", "/users?$skiptoken=%%%", nil), 400, "BadRequest")
	e.want(e.do("GET", "/users?$skiptoken=garbage", nil), 400, "Request_BadRequest")

	// Paging: follow nextLinks verbatim.
	var all []string
	next := "/users?$top=2&$select=id"
	pages := 0
	for next != "" {
		r := e.do("GET", next, nil)
		e.want(r, 200, "")
		all = append(all, ids(r.value())...)
		next, _ = r.body["@odata.nextLink"].(string)
		pages++
	}
	if len(all) != 5 || pages != 3 {
		t.Errorf("paged %d users in %d pages", len(all), pages)
	}
	if !slices.IsSorted(all) {
		t.Error("paging order")
	}
}

func TestUsersFilter(t *testing.T) {
	e := newEnv(t)
	adv := "ConsistencyLevel: eventual"
	cases := []struct {
		q      string
		hdr    []string
		status int
		code   string
		want   []string
	}{
		{"accountEnabled eq false", nil, 200, "", []string{"00000000-0000-4000-8000-00000000000c"}},
		{"userType eq 'Guest'", nil, 200, "", []string{"00000000-0000-4000-8000-00000000000c"}},
		{"userType eq 'member' and accountEnabled eq true", nil, 200, "", []string{"00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000d", "00000000-0000-4000-8000-00000000000e"}},
		{"startswith(displayName,'al')", nil, 200, "", []string{"00000000-0000-4000-8000-00000000000a"}},
		{"userType in ('Guest','x')", nil, 200, "", []string{"00000000-0000-4000-8000-00000000000c"}},
		{"proxyAddresses/any(p:startswith(p,'smtp:'))", nil, 200, "", nil},
		{"mail ne null", nil, 400, "Request_UnsupportedQuery", nil},
		{"mail ne null&$count=true", []string{adv}, 200, "", []string{"00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c"}},
		{"endswith(mail,'.com')", nil, 400, "Request_UnsupportedQuery", nil},
		{"not(accountEnabled eq true)", nil, 400, "Request_UnsupportedQuery", nil},
		{"shoeSize eq 3", nil, 400, "Request_BadRequest", nil},
		{"accountEnabled eq", nil, 400, "BadRequest", nil},
		{"contains(displayName,'a')", nil, 400, "Request_UnsupportedQuery", nil},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			r := e.do("GET", "/users?$select=id&$filter="+c.q, nil, c.hdr...)
			e.want(r, c.status, c.code)
			if c.status == 200 && c.want != nil && !slices.Equal(ids(r.value()), c.want) {
				t.Errorf("got %v want %v", ids(r.value()), c.want)
			}
		})
	}
	// $count without the header is ignored; with it, @odata.count appears.
	r := e.do("GET", "/users?$count=true", nil)
	if _, ok := r.body["@odata.count"]; ok {
		t.Error("@odata.count without ConsistencyLevel")
	}
	r = e.do("GET", "/users?$count=true&$top=2", nil, adv)
	if r.body["@odata.count"] != float64(5) {
		t.Errorf("@odata.count = %v", r.body["@odata.count"])
	}
	e.want(e.do("GET", "/users?$search=\"displayName:ali\"", nil), 400, "Request_UnsupportedQuery")
	r = e.do("GET", "/users?$search=\"displayName:ali\"", nil, adv)
	if len(r.value()) != 1 {
		t.Errorf("$search: %s", r.raw)
	}
}

func deltaRound(t *testing.T, e *testEnv, start string, hdr ...string) (items []map[string]any, deltaLink string, pages int) {
	t.Helper()
	next := start
	for {
		r := e.do("GET", next, nil, hdr...)
		e.want(r, 200, "")
		pages++
		for _, v := range r.value() {
			items = append(items, v.(map[string]any))
		}
		if n, ok := r.body["@odata.nextLink"].(string); ok {
			if _, both := r.body["@odata.deltaLink"]; both {
				t.Fatal("both nextLink and deltaLink")
			}
			next = n
			continue
		}
		d, ok := r.body["@odata.deltaLink"].(string)
		if !ok {
			t.Fatalf("page without nextLink or deltaLink: %s", r.raw)
		}
		return items, d, pages
	}
}

func byID(items []map[string]any) map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, it := range items {
		m[it["id"].(string)] = it
	}
	return m
}

func TestUsersDelta(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.UsersDeltaPageSize = 2 })
	items, dl, pages := deltaRound(t, e, "/users/delta?$select=displayName,jobTitle,mail")
	if len(items) != 5 || pages != 3 {
		t.Fatalf("first round: %d items in %d pages", len(items), pages)
	}
	if a := byID(items)["00000000-0000-4000-8000-00000000000a"]; a["jobTitle"] != "Engineer" || a["givenName"] != nil {
		t.Errorf("alice %v", a)
	}
	// Nothing changed.
	items, dl, _ = deltaRound(t, e, dl)
	if len(items) != 0 {
		t.Fatalf("no-change round returned %v", items)
	}
	// Changes: a tracked property, an untracked one, a soft and a permanent delete, a new user.
	must(t, e.srv.PatchUser(e.tenant.ID, "alice@contoso.onmicrosoft.com", map[string]any{"jobTitle": "Principal Engineer"}))
	must(t, e.srv.PatchUser(e.tenant.ID, "bob@contoso.onmicrosoft.com", map[string]any{"department": "Sales"}))
	must(t, e.srv.DeleteUser(e.tenant.ID, "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com", false))
	must(t, e.srv.DeleteUser(e.tenant.ID, "dave@contoso.onmicrosoft.com", true))
	must(t, e.srv.PutUser(e.tenant.ID, User{ID: "00000000-0000-4000-8000-00000000000f", UserPrincipalName: "fred@contoso.onmicrosoft.com", DisplayName: "Fred"}))
	items, dl2, _ := deltaRound(t, e, dl)
	m := byID(items)
	if len(m) != 4 {
		t.Fatalf("changes round: %v", items)
	}
	if m["00000000-0000-4000-8000-00000000000a"]["jobTitle"] != "Principal Engineer" || m["00000000-0000-4000-8000-00000000000a"]["displayName"] != "Alice Zoë Adams" {
		t.Errorf("alice %v", m["00000000-0000-4000-8000-00000000000a"])
	}
	if _, ok := m["00000000-0000-4000-8000-00000000000b"]; ok {
		t.Error("untracked change reported")
	}
	if rm := m["00000000-0000-4000-8000-00000000000c"]["@removed"]; rm == nil || rm.(map[string]any)["reason"] != "changed" {
		t.Errorf("soft delete %v", m["00000000-0000-4000-8000-00000000000c"])
	}
	if rm := m["00000000-0000-4000-8000-00000000000d"]["@removed"]; rm == nil || rm.(map[string]any)["reason"] != "deleted" {
		t.Errorf("hard delete %v", m["00000000-0000-4000-8000-00000000000d"])
	}
	if m["00000000-0000-4000-8000-00000000000f"]["displayName"] != "Fred" {
		t.Errorf("new user %v", m["00000000-0000-4000-8000-00000000000f"])
	}

	// Prefer: return=minimal returns only changed properties.
	must(t, e.srv.PatchUser(e.tenant.ID, "alice@contoso.onmicrosoft.com", map[string]any{"mail": "alice.adams@contoso.onmicrosoft.com"}))
	must(t, e.srv.RestoreUser(e.tenant.ID, "00000000-0000-4000-8000-00000000000c"))
	items, dl3, _ := deltaRound(t, e, dl2, "Prefer: return=minimal")
	m = byID(items)
	if a := m["00000000-0000-4000-8000-00000000000a"]; len(a) != 2 || a["mail"] != "alice.adams@contoso.onmicrosoft.com" {
		t.Errorf("minimal alice %v", a)
	}
	if c := m["00000000-0000-4000-8000-00000000000c"]; c == nil || c["@removed"] != nil {
		t.Errorf("restored carol %v", c)
	}

	// $deltatoken=latest: no data, a deltaLink from now.
	r := e.do("GET", "/users/delta?$deltatoken=latest&$select=displayName", nil)
	e.want(r, 200, "")
	if len(r.value()) != 0 || r.body["@odata.deltaLink"] == nil {
		t.Fatalf("latest: %s", r.raw)
	}
	must(t, e.srv.PatchUser(e.tenant.ID, "bob@contoso.onmicrosoft.com", map[string]any{"displayName": "Robert Brown"}))
	items, _, _ = deltaRound(t, e, r.body["@odata.deltaLink"].(string))
	if len(items) != 1 || items[0]["displayName"] != "Robert Brown" {
		t.Errorf("after latest: %v", items)
	}

	// Expired tokens: 410 Gone with a Location to restart from.
	must(t, e.srv.ExpireDeltaTokens(e.tenant.ID))
	r = e.do("GET", dl3, nil)
	e.want(r, 410, "resyncRequired")
	loc := r.hdr.Get("Location")
	if !strings.Contains(loc, "$deltatoken=") || !strings.Contains(loc, "$select=displayName") {
		t.Fatalf("Location %q", loc)
	}
	items, _, _ = deltaRound(t, e, loc)
	if len(items) != 5 {
		t.Errorf("resync returned %d users", len(items))
	}

	// $filter by id only; other query options are rejected.
	r = e.do("GET", "/users/delta?$filter=id eq '00000000-0000-4000-8000-00000000000a' or id eq '00000000-0000-4000-8000-00000000000b'", nil)
	e.want(r, 200, "")
	if len(r.value()) != 2 {
		t.Errorf("id filter: %s", r.raw)
	}
	e.want(e.do("GET", "/users/delta?$filter=displayName eq 'x'", nil), 400, "Request_UnsupportedQuery")
	e.want(e.do("GET", "/users/delta?$top=5", nil), 400, "Request_UnsupportedQuery")
	e.want(e.do("GET", "/users/delta?$deltatoken=bm9wZQ", nil), 400, "Request_BadRequest")
	e.want(e.do("GET", "/users/delta?$select=bogus", nil), 400, "Request_BadRequest")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestGroupMembers(t *testing.T) {
	e := newEnv(t)
	g := "/groups/10000000-0000-4000-8000-000000000001"
	r := e.do("GET", g+"/members", nil)
	e.want(r, 200, "")
	types := map[string]string{}
	for _, v := range r.value() {
		m := v.(map[string]any)
		types[m["id"].(string)] = m["@odata.type"].(string)
	}
	want := map[string]string{
		"00000000-0000-4000-8000-00000000000a": "#microsoft.graph.user",
		"10000000-0000-4000-8000-000000000002": "#microsoft.graph.group",
		"20000000-0000-4000-8000-000000000001": "#microsoft.graph.orgContact",
	}
	for id, ty := range want {
		if types[id] != ty {
			t.Errorf("member %s: %q want %q", id, types[id], ty)
		}
	}
	r = e.do("GET", g+"/transitiveMembers?$top=2", nil)
	e.want(r, 200, "")
	var all []string
	for next := g + "/transitiveMembers?$top=2"; next != ""; {
		r := e.do("GET", next, nil)
		all = append(all, ids(r.value())...)
		next, _ = r.body["@odata.nextLink"].(string)
	}
	if len(all) != 5 {
		t.Errorf("transitive members %v", all)
	}
	e.want(e.do("GET", g+"/transitiveMembers/microsoft.graph.user", nil), 400, "Request_UnsupportedQuery")
	r = e.do("GET", g+"/transitiveMembers/microsoft.graph.user?$count=true&$select=id,displayName", nil, "ConsistencyLevel: eventual")
	e.want(r, 200, "")
	if r.body["@odata.count"] != float64(3) || len(r.value()) != 3 {
		t.Errorf("cast: %s", r.raw)
	}
	if _, typed := r.value()[0].(map[string]any)["@odata.type"]; typed {
		t.Error("cast items carry @odata.type")
	}
	e.want(e.do("GET", "/groups/10000000-0000-4000-8000-00000000ffff/members", nil), 404, "Request_ResourceNotFound")
	e.want(e.do("GET", g+"/members/microsoft.graph.device", nil), 400, "BadRequest")
	e.want(e.do("GET", g+"/members?$filter=accountEnabled eq true", nil), 400, "Request_UnsupportedQuery")
	r = e.do("GET", "/groups?$filter=displayName eq 'sales'", nil)
	if len(r.value()) != 1 {
		t.Errorf("groups filter: %s", r.raw)
	}
	e.want(e.do("GET", g, nil), 200, "")
}

func TestOrgContacts(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/contacts", nil)
	e.want(r, 200, "")
	if len(r.value()) != 1 || r.value()[0].(map[string]any)["phones"] == nil {
		t.Fatalf("%s", r.raw)
	}
	e.want(e.do("GET", "/contacts/20000000-0000-4000-8000-000000000001?$select=displayName,mail,proxyAddresses", nil), 200, "")
	e.want(e.do("GET", "/contacts?$select=shoeSize", nil), 400, "Request_BadRequest")
	e.want(e.do("GET", "/contacts/20000000-0000-4000-8000-00000000ffff", nil), 404, "Request_ResourceNotFound")
}

var _ = http.MethodGet
