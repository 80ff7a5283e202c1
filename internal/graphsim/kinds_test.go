package graphsim

import (
	"testing"
)

// mailboxSettings/userPurpose: the mailbox's purpose, MailboxSettings.Read
// required (a Contacts grant does not open it), Exchange's answers for a
// user without a mailbox or outside the app's access, $select checked;
// a conversion alone does not show in users/delta.
func TestMailboxSettingsUserPurpose(t *testing.T) {
	e := newEnv(t)
	alice := "alice@contoso.onmicrosoft.com"
	r := e.do("GET", "/users/"+alice+"/mailboxSettings?$select=userPurpose", nil)
	e.want(r, 200, "")
	if r.body["userPurpose"] != "user" || len(r.body) != 2 {
		t.Fatalf("default purpose: %s", r.raw)
	}
	r = e.do("GET", "/users/"+alice+"/mailboxSettings", nil)
	e.want(r, 200, "")
	if r.body["timeZone"] == nil || r.body["userPurpose"] != "user" {
		t.Fatalf("no $select: %s", r.raw)
	}
	e.want(e.do("GET", "/users/"+alice+"/mailboxSettings?$select=automaticRepliesSetting", nil), 400, "RequestBroker--ParseUri")
	e.want(e.do("GET", "/users/dave@contoso.onmicrosoft.com/mailboxSettings", nil), 404, "MailboxNotEnabledForRESTAPI")
	e.want(e.do("GET", "/users/erin@contoso.onmicrosoft.com/mailboxSettings", nil), 403, "ErrorAccessDenied")
	e.want(e.do("PATCH", "/users/"+alice+"/mailboxSettings", map[string]any{"timeZone": "UTC"}), 405, "ErrorInvalidRequest")

	// A shared mailbox: the purpose changes, users/delta does not report it.
	d := e.do("GET", "/users/delta?$select=id,accountEnabled", nil)
	for d.body["@odata.nextLink"] != nil {
		d = e.do("GET", d.body["@odata.nextLink"].(string), nil)
	}
	link := d.body["@odata.deltaLink"].(string)
	must(t, e.srv.PatchUser(e.tenant.ID, alice, map[string]any{"mailboxPurpose": "shared"}))
	r = e.do("GET", "/users/"+alice+"/mailboxSettings?$select=userPurpose", nil)
	if r.body["userPurpose"] != "shared" {
		t.Fatalf("converted: %s", r.raw)
	}
	if d = e.do("GET", link, nil); len(d.value()) != 0 {
		t.Fatalf("users/delta reported a mailbox conversion: %s", d.raw)
	}
	if err := e.srv.PatchUser(e.tenant.ID, alice, map[string]any{"mailboxPurpose": "kiosk"}); err == nil {
		t.Fatal("an unknown purpose was accepted")
	}

	// Without MailboxSettings.Read, neither the Contacts role nor a
	// mailbox grant opens it.
	must(t, e.srv.SetRoles(e.tenant.ID, e.cred.ClientID, []string{RoleUserReadAll, RoleContactsReadWrite}))
	must(t, e.srv.SetMailboxGrants(e.tenant.ID, e.cred.ClientID, []string{alice}))
	tok, err := e.srv.AccessToken(e.tenant.ID, e.cred.ClientID)
	must(t, err)
	e.want(e.doToken(tok, "GET", "/users/"+alice+"/mailboxSettings?$select=userPurpose", nil), 403, "ErrorAccessDenied")
	e.want(e.doToken(tok, "GET", "/users/"+alice+"/contactFolders", nil), 200, "")
}

// hideFromAddressLists: only GET /groups/{id} with $select returns it,
// and only a Microsoft 365 group has a value; a list refuses it.
func TestGroupHideFromAddressLists(t *testing.T) {
	e := newEnv(t)
	m365 := Group{ID: "10000000-0000-4000-8000-0000000000a1", DisplayName: "Team", Mail: "team@contoso.onmicrosoft.com",
		MailEnabled: true, GroupTypes: []string{"Unified"}, HideFromAddressLists: true}
	dl := Group{ID: "10000000-0000-4000-8000-0000000000a2", DisplayName: "Sales DL", Mail: "sales@contoso.onmicrosoft.com", MailEnabled: true}
	must(t, e.srv.PutGroup(e.tenant.ID, m365))
	must(t, e.srv.PutGroup(e.tenant.ID, dl))
	r := e.do("GET", "/groups/"+m365.ID+"?$select=id,hideFromAddressLists", nil)
	e.want(r, 200, "")
	if r.body["hideFromAddressLists"] != true {
		t.Fatalf("m365: %s", r.raw)
	}
	r = e.do("GET", "/groups/"+dl.ID+"?$select=id,hideFromAddressLists", nil)
	if v, ok := r.body["hideFromAddressLists"]; !ok || v != nil {
		t.Fatalf("distribution list: %s", r.raw)
	}
	if r = e.do("GET", "/groups/"+m365.ID, nil); r.body["hideFromAddressLists"] != nil {
		t.Fatalf("returned without $select: %s", r.raw)
	}
	e.want(e.do("GET", "/groups?$select=id,hideFromAddressLists", nil), 400, "Request_BadRequest")
	r = e.do("GET", "/groups?$filter=mailEnabled%20eq%20true&$select=id,mail", nil)
	e.want(r, 200, "")
	if len(r.value()) != 2 {
		t.Fatalf("mail-enabled groups: %s", r.raw)
	}
}
