package graphsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode"
)

func (e *testEnv) ctl(method, path, key string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL()+"/_sim/"+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestControlHTTP(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ControlKey = "k3y" })
	tid := e.tenant.ID
	if st, _ := e.ctl("GET", "counters", "", nil); st != 401 {
		t.Fatalf("without key: %d", st)
	}
	if st, _ := e.ctl("GET", "counters", "wrong", nil); st != 401 {
		t.Fatalf("wrong key: %d", st)
	}
	// Token through the control API, then a Graph call with it.
	st, b := e.ctl("POST", "tenants/"+tid+"/token?clientId="+e.cred.ClientID, "k3y", nil)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st != 200 || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", st, b)
	}
	e.want(e.doToken(tok.AccessToken, "GET", "/users", nil), 200, "")

	steps := []struct {
		method, path string
		body         any
		status       int
	}{
		{"PUT", "tenants/" + tid + "/users", User{ID: "00000000-0000-4000-8000-0000000000f1", UserPrincipalName: "new@contoso.onmicrosoft.com", DisplayName: "New"}, 204},
		{"PATCH", "tenants/" + tid + "/users/new@contoso.onmicrosoft.com", map[string]any{"jobTitle": "CEO"}, 204},
		{"PATCH", "tenants/" + tid + "/users/new@contoso.onmicrosoft.com", map[string]any{"shoeSize": 3}, 400},
		{"PUT", "tenants/" + tid + "/users/new@contoso.onmicrosoft.com/mailbox", map[string]any{"state": "outOfScope"}, 204},
		{"PUT", "tenants/" + tid + "/users/new@contoso.onmicrosoft.com/mailbox", map[string]any{"state": "weird"}, 400},
		{"POST", "tenants/" + tid + "/users/alice@contoso.onmicrosoft.com/folders", map[string]any{"displayName": "Mine"}, 200},
		{"POST", "tenants/" + tid + "/users/alice@contoso.onmicrosoft.com/contacts", map[string]any{"givenName": "Owner"}, 200},
		{"POST", "tenants/" + tid + "/users/alice@contoso.onmicrosoft.com/contacts", map[string]any{"bogus": 1}, 400},
		{"GET", "tenants/" + tid + "/users/alice@contoso.onmicrosoft.com/folders", nil, 200},
		{"GET", "tenants/" + tid + "/users/ghost@contoso.onmicrosoft.com/folders", nil, 404},
		{"PUT", "tenants/" + tid + "/groups", Group{ID: "10000000-0000-4000-8000-0000000000f1", DisplayName: "G", Members: []string{"00000000-0000-4000-8000-0000000000f1"}}, 204},
		{"DELETE", "tenants/" + tid + "/groups/10000000-0000-4000-8000-0000000000f1", nil, 204},
		{"PUT", "tenants/" + tid + "/apps/" + e.cred.ClientID + "/roles", map[string]any{"roles": []string{RoleUserReadAll}}, 204},
		{"DELETE", "tenants/" + tid + "/users/new@contoso.onmicrosoft.com?permanent=true", nil, 204},
		{"POST", "expire-delta-tokens?tenant=" + tid, nil, 204},
		{"PUT", "throttle", NoThrottle(), 204},
		{"PUT", "faults", Faults{ShuffleBatch: true}, 204},
		{"PUT", "users-delta-page-size", map[string]int{"n": 7}, 204},
		{"GET", "tenants/" + tid, nil, 200},
		{"GET", "state", nil, 200},
		{"POST", "counters/reset", nil, 204},
		{"GET", "nothing", nil, 404},
		{"PUT", "throttle", "not an object", 400},
	}
	for _, s := range steps {
		if st, b := e.ctl(s.method, s.path, "k3y", s.body); st != s.status {
			t.Errorf("%s %s: %d %s, want %d", s.method, s.path, st, b, s.status)
		}
	}
	if !e.srv.Faults().ShuffleBatch || e.srv.usersDeltaPageSize() != 7 {
		t.Error("settings not applied")
	}
	fs, _ := e.srv.Folders(tid, alice)
	if len(fs) != 3 || len(fs[0].Contacts) != 1 || fs[1].WellKnownName != "deleteditems" {
		t.Errorf("folders %+v", fs)
	}
	// Owner edit and delete of the contact through the control API.
	cid := fs[0].Contacts[0].ID
	if st, b := e.ctl("PATCH", "tenants/"+tid+"/users/"+alice+"/contacts/"+cid, "k3y", map[string]any{"surname": "Edited"}); st != 204 {
		t.Errorf("owner patch %d %s", st, b)
	}
	if st, b := e.ctl("DELETE", "tenants/"+tid+"/users/"+alice+"/contacts/"+cid, "k3y", nil); st != 204 {
		t.Errorf("owner delete %d %s", st, b)
	}
	if st, _ := e.ctl("DELETE", "tenants/"+tid+"/users/"+alice+"/contacts/"+cid, "k3y", nil); st != 404 {
		t.Errorf("second delete %d", st)
	}
}

func TestStateRoundTrip(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	c := e.mkContact(alice, fid, map[string]any{"givenName": "Keep", "singleValueExtendedProperties": []any{map[string]any{"id": sourceIDP, "value": "s1"}}})
	f := e.srv.Fixture()
	b, err := json.Marshal(f)
	must(t, err)
	var back Fixture
	must(t, json.Unmarshal(b, &back))
	srv2, err := Start(Options{Tenants: back.Tenants})
	must(t, err)
	defer srv2.Close()
	fs, err := srv2.Folders(e.tenant.ID, alice)
	must(t, err)
	if len(fs) != 3 || fs[2].ID != fid || len(fs[2].Contacts) != 1 || fs[2].Contacts[0].ID != c["id"] || fs[2].Contacts[0].ExtendedProperties[0].Value != "s1" {
		t.Fatalf("restored %+v", fs)
	}
	// New items after a restore do not reuse ids.
	id, err := srv2.OwnerCreateContact(e.tenant.ID, alice, fid, json.RawMessage(`{"givenName": "New"}`))
	must(t, err)
	if id == c["id"] {
		t.Error("id reused")
	}
	if err := srv2.PutTenant(Tenant{ID: "not-a-guid"}); err == nil {
		t.Error("bad tenant id accepted")
	}
}

func TestGenerate(t *testing.T) {
	a, _, err := Generate(GenerateOptions{Users: 300, Groups: 12, Seed: 42})
	must(t, err)
	b, _, err := Generate(GenerateOptions{Users: 300, Groups: 12, Seed: 42})
	must(t, err)
	a.Apps, b.Apps = nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("not deterministic for a seed")
	}
	c, _, _ := Generate(GenerateOptions{Users: 300, Groups: 12, Seed: 43})
	c.Apps = nil
	if jc, _ := json.Marshal(c); bytes.Equal(ja, jc) {
		t.Fatal("seed ignored")
	}
	var guests, disabled, noMailbox, outOfScope, accents, scripts int
	upns := map[string]bool{}
	for _, u := range a.Users {
		if upns[strings.ToLower(u.UserPrincipalName)] {
			t.Errorf("duplicate UPN %s", u.UserPrincipalName)
		}
		upns[strings.ToLower(u.UserPrincipalName)] = true
		if u.UserType == "Guest" {
			guests++
			if !strings.Contains(u.UserPrincipalName, "#EXT#@") {
				t.Errorf("guest UPN %s", u.UserPrincipalName)
			}
		}
		if u.AccountEnabled != nil && !*u.AccountEnabled {
			disabled++
		}
		switch u.Mailbox {
		case MailboxNone:
			noMailbox++
		case MailboxOutOfScope:
			outOfScope++
		}
		for _, r := range u.DisplayName {
			if unicode.Is(unicode.Latin, r) && r > 0x7f {
				accents++
				break
			}
		}
		for _, r := range u.DisplayName {
			if unicode.In(r, unicode.Han, unicode.Arabic, unicode.Greek, unicode.Cyrillic, unicode.Devanagari) {
				scripts++
				break
			}
		}
	}
	if guests == 0 || disabled == 0 || noMailbox == 0 || outOfScope == 0 || accents == 0 || scripts == 0 {
		t.Errorf("guests %d disabled %d noMailbox %d outOfScope %d accents %d scripts %d", guests, disabled, noMailbox, outOfScope, accents, scripts)
	}
	nested := 0
	gids := map[string]bool{}
	for _, g := range a.Groups {
		gids[g.ID] = true
	}
	for _, g := range a.Groups {
		for _, m := range g.Members {
			if gids[m] {
				nested++
			}
		}
	}
	if nested == 0 || len(a.OrgContacts) == 0 {
		t.Errorf("nested %d orgContacts %d", nested, len(a.OrgContacts))
	}
	// The generated tenant loads and serves.
	ten, cred, err := Generate(GenerateOptions{Users: 30, Groups: 4, Seed: 1})
	must(t, err)
	srv, err := Start(Options{Tenants: []Tenant{ten}})
	must(t, err)
	defer srv.Close()
	tok, err := srv.AccessToken(cred.TenantID, cred.ClientID)
	must(t, err)
	e := &testEnv{t: t, srv: srv, tenant: ten, cred: cred, token: tok, client: srv.Client()}
	r := e.do("GET", "/groups/"+ten.Groups[0].ID+"/transitiveMembers/microsoft.graph.user?$count=true", nil, "ConsistencyLevel: eventual")
	e.want(r, 200, "")
	if _, _, err := Generate(GenerateOptions{Users: -1}); err == nil {
		t.Error("negative users accepted")
	}
}
