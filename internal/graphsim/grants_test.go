package graphsim

import (
	"testing"
)

// Exchange RBAC for Applications: mailbox grants reach exactly the granted
// mailboxes when the token has no Contacts.* role, and add to the role.
func TestMailboxGrants(t *testing.T) {
	e := newEnv(t)
	tid, app := e.tenant.ID, e.cred.ClientID
	bob := "bob@contoso.onmicrosoft.com"
	aliceID := e.user(0).ID
	// An app without any Contacts.* role, granted alice by id and carol by UPN.
	must(t, e.srv.SetRoles(tid, app, []string{RoleUserReadAll}))
	must(t, e.srv.SetMailboxGrants(tid, app, []string{aliceID, e.user(2).UserPrincipalName}))
	tok, err := e.srv.AccessToken(tid, app)
	must(t, err)
	// Granted mailboxes: read and write, by id or UPN, top-level and in $batch.
	r := e.doToken(tok, "POST", "/users/"+alice+"/contacts", map[string]any{"givenName": "Granted"})
	e.want(r, 201, "")
	cid := r.body["id"].(string)
	e.want(e.doToken(tok, "GET", "/users/"+aliceID+"/contacts/"+cid, nil), 200, "")
	e.want(e.doToken(tok, "PATCH", "/users/"+alice+"/contacts/"+cid, map[string]any{"surname": "X"}), 200, "")
	e.want(e.doToken(tok, "GET", "/users/"+e.user(2).ID+"/contactFolders", nil), 200, "")
	// Any other mailbox: 403 ErrorAccessDenied.
	r = e.doToken(tok, "GET", "/users/"+bob+"/contacts", nil)
	e.want(r, 403, "ErrorAccessDenied")
	if msg := r.body["error"].(map[string]any)["message"]; msg != "Access is denied. Check credentials and try again." {
		t.Errorf("message %v", msg)
	}
	e.want(e.doToken(tok, "POST", "/users/"+bob+"/contacts", map[string]any{"givenName": "No"}), 403, "ErrorAccessDenied")
	r = e.doToken(tok, "POST", "/$batch", map[string]any{"requests": []any{
		item("1", "GET", "/users/"+alice+"/contacts", nil),
		item("2", "GET", "/users/"+bob+"/contacts", nil),
	}})
	rs := responses(t, r)
	if status(rs["1"]) != 200 || status(rs["2"]) != 403 {
		t.Errorf("batch %s", r.raw)
	}
	// The directory still needs its Entra roles.
	e.want(e.doToken(tok, "GET", "/users", nil), 200, "")
	e.want(e.doToken(tok, "GET", "/contacts", nil), 403, "Authorization_RequestDenied")
	// Grants apply to tokens already issued: Exchange authorises each call.
	must(t, e.srv.SetMailboxGrants(tid, app, []string{bob}))
	e.want(e.doToken(tok, "GET", "/users/"+bob+"/contacts", nil), 200, "")
	e.want(e.doToken(tok, "GET", "/users/"+alice+"/contacts", nil), 403, "ErrorAccessDenied")

	// A Contacts.Read token writes to granted mailboxes only: the grant is ReadWrite.
	must(t, e.srv.SetRoles(tid, app, []string{"Contacts.Read"}))
	rtok, err := e.srv.AccessToken(tid, app)
	must(t, err)
	e.want(e.doToken(rtok, "GET", "/users/"+alice+"/contacts", nil), 200, "")
	e.want(e.doToken(rtok, "POST", "/users/"+alice+"/contacts", map[string]any{"givenName": "No"}), 403, "ErrorAccessDenied")
	e.want(e.doToken(rtok, "POST", "/users/"+bob+"/contacts", map[string]any{"givenName": "Yes"}), 201, "")

	// With the Contacts.ReadWrite role every mailbox is reached, except an
	// out-of-scope one (an application access policy), granted or not.
	must(t, e.srv.SetRoles(tid, app, AllRoles))
	must(t, e.srv.SetMailboxGrants(tid, app, []string{"erin@contoso.onmicrosoft.com"}))
	full, err := e.srv.AccessToken(tid, app)
	must(t, err)
	e.want(e.doToken(full, "GET", "/users/"+alice+"/contacts", nil), 200, "")
	e.want(e.doToken(full, "GET", "/users/erin@contoso.onmicrosoft.com/contacts", nil), 403, "ErrorAccessDenied")
	must(t, e.srv.SetRoles(tid, app, nil))
	none, err := e.srv.AccessToken(tid, app)
	must(t, err)
	e.want(e.doToken(none, "GET", "/users/erin@contoso.onmicrosoft.com/contacts", nil), 403, "ErrorAccessDenied")

	// Control API, JSON key and export.
	if st, b := e.ctl("PUT", "tenants/"+tid+"/apps/"+app+"/mailbox-grants", "", map[string]any{"users": []string{alice}}); st != 204 {
		t.Fatalf("control %d %s", st, b)
	}
	if st, _ := e.ctl("PUT", "tenants/"+tid+"/apps/00000000-0000-4000-8000-0000000000ff/mailbox-grants", "", map[string]any{"users": []string{alice}}); st != 404 {
		t.Errorf("unknown app %d", st)
	}
	e.want(e.doToken(none, "GET", "/users/"+alice+"/contacts", nil), 200, "")
	ten, err := e.srv.Tenant(tid)
	must(t, err)
	if g := ten.Apps[0].MailboxGrants; len(g) != 1 || g[0] != alice {
		t.Errorf("exported grants %v", g)
	}
	// Loaded from a fixture.
	ten2, _ := smallTenant(t, RoleUserReadAll)
	ten2.Apps[0].MailboxGrants = []string{"bob@contoso.onmicrosoft.com"}
	e2 := newEnv(t, func(o *Options) { o.Tenants = []Tenant{ten2} })
	e2.want(e2.do("GET", "/users/bob@contoso.onmicrosoft.com/contacts", nil), 200, "")
	e2.want(e2.do("GET", "/users/"+alice+"/contacts", nil), 403, "ErrorAccessDenied")
}
