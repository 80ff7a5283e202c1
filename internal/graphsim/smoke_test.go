package graphsim

import "testing"

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/users", nil)
	e.want(r, 200, "")
	t.Logf("%s", r.raw)
	r = e.do("POST", "/users/alice@contoso.onmicrosoft.com/contactFolders", map[string]any{"displayName": "Company"})
	e.want(r, 201, "")
	t.Logf("%s", r.raw)
	fid := r.body["id"].(string)
	r = e.do("POST", "/users/alice@contoso.onmicrosoft.com/contactFolders/"+fid+"/contacts", map[string]any{"givenName": "Pavel", "surname": "Bansky", "singleValueExtendedProperties": []any{map[string]any{"id": "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.sourceId", "value": "x"}}})
	e.want(r, 201, "")
	t.Logf("%s", r.raw)
	r = e.do("GET", "/users/alice@contoso.onmicrosoft.com/contactFolders/"+fid+"/contacts?$expand=singleValueExtendedProperties($filter=id eq 'String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.sourceId')", nil)
	t.Logf("%d %v %s", r.status, r.hdr, r.raw)
}
