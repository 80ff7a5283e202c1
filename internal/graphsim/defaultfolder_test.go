package graphsim

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The default Contacts folder, as galmirror's default folder mode uses it:
// GET contactFolders/contacts (the well-known name) answers the folder
// with its real id, the parent of the folders under it; contacts made
// through contactFolders/{that id}/contacts are the ones /users/{id}/contacts
// lists; their categories come back as written; the folder's contacts
// delta holds them, and the owner's contacts beside them; the folder
// cannot be deleted.
func TestDefaultContactsFolder(t *testing.T) {
	e := newEnv(t)
	u := "/users/" + alice
	r := e.do("GET", u+"/contactFolders/contacts", nil)
	e.want(r, 200, "")
	def, _ := r.body["id"].(string)
	if def == "" || def == "contacts" || r.body["displayName"] != "Contacts" {
		t.Fatalf("default folder: %s", r.raw)
	}
	sub := e.mkFolder(alice, "Company Directory")
	r = e.do("GET", u+"/contactFolders/"+sub, nil)
	if r.body["parentFolderId"] != def {
		t.Fatalf("a folder's parent %v is not the default folder %s", r.body["parentFolderId"], def)
	}
	r = e.do("GET", u+"/contactFolders/"+def+"?$expand=singleValueExtendedProperties($filter=id eq '"+folderP+"')", nil)
	e.want(r, 200, "")
	if r.body["id"] != def {
		t.Fatalf("by id: %s", r.raw)
	}

	ours := e.mkContact(alice, def, map[string]any{"displayName": "Ann Lee", "categories": []string{"Company Directory", "Staff"},
		"singleValueExtendedProperties": []any{map[string]any{"id": sourceIDP, "value": "src-1"}}})["id"].(string)
	owners, err := e.srv.OwnerCreateContact(e.tenant.ID, alice, "", json.RawMessage(`{"displayName": "Ann Lee", "categories": ["Company Directory"]}`))
	must(t, err)
	r = e.do("GET", u+"/contacts?$select=displayName,categories", nil)
	e.want(r, 200, "")
	got := map[string][]any{}
	for _, v := range r.value() {
		c := v.(map[string]any)
		cats, _ := c["categories"].([]any)
		got[c["id"].(string)] = cats
	}
	if len(got) != 2 || !slices.Equal(got[ours], []any{"Company Directory", "Staff"}) || got[owners] == nil {
		t.Fatalf("/users/{id}/contacts: %s", r.raw)
	}

	items, _, _ := deltaRound(t, e, u+"/contactFolders/"+def+"/contacts/delta?$select=displayName,categories")
	m := byID(items)
	if len(m) != 2 || m[ours] == nil || m[owners] == nil {
		t.Fatalf("delta of the default folder: %v", items)
	}
	// The owner moves galmirror's contact into a folder of theirs: the
	// default folder's delta reports it removed; it keeps its mark there.
	_, dl, _ := deltaRound(t, e, u+"/contactFolders/"+def+"/contacts/delta")
	must(t, e.srv.OwnerMoveContact(e.tenant.ID, alice, ours, sub))
	items, _, _ = deltaRound(t, e, dl)
	if m := byID(items); len(m) != 1 || m[ours]["@removed"] == nil {
		t.Fatalf("delta after a move: %v", items)
	}
	r = e.do("GET", u+"/contactFolders/"+sub+"/contacts?$expand=singleValueExtendedProperties($filter=id eq '"+sourceIDP+"')", nil)
	if v := r.value(); len(v) != 1 || v[0].(map[string]any)["id"] == ours || !strings.Contains(string(r.raw), "src-1") {
		t.Fatalf("the moved contact: %s", r.raw)
	}
	e.want(e.do("DELETE", u+"/contactFolders/"+def, nil), 403, "ErrorDeleteDistinguishedFolder")
	e.want(e.do("DELETE", u+"/contactFolders/contacts", nil), 403, "ErrorDeleteDistinguishedFolder")
}
