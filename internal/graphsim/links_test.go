package graphsim

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Links graphsim emits for mailbox resources are in Exchange's form: OData
// key segments, the user and folder as the request named them; routing
// takes both forms, top-level and in $batch.
// Links graphsim emits for mailbox resources are in Exchange's form: OData
// key segments, the user and folder as the request named them; routing
// takes both forms, top-level and in $batch.
func TestExchangeLinks(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	var cids []string
	for i := 0; i < 3; i++ {
		cids = append(cids, e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i)})["id"].(string))
	}
	host := e.srv.GraphURL()
	l := &exchangeLinks{t: t, e: e, fid: fid, cids: cids, host: host, keyed: host + "/users('" + alice + "')/contactFolders('" + url.PathEscape(fid) + "')"}
	dl := l.checkDeltaLinks()
	l.checkListLinks()
	l.checkGuestLink()
	l.checkKeySegments()
	l.checkBatch(dl)

	// Directory links keep their form.
	e.srv.SetUsersDeltaPageSize(2)
	r := e.do("GET", "/users/delta", nil)
	if n, _ := r.body["@odata.nextLink"].(string); !strings.HasPrefix(n, host+"/users/delta?$skiptoken=") {
		t.Errorf("users/delta nextLink %q", n)
	}
}

// exchangeLinks is TestExchangeLinks's mailbox: alice's folder fid with
// contacts cids; keyed is the folder's URL in key-segment form.
type exchangeLinks struct {
	t                *testing.T
	e                *testEnv
	fid, host, keyed string
	cids             []string
}

// checkDeltaLinks: contacts delta's nextLink and deltaLink are in
// key-segment form, with the object id when the request named the user by
// id. It returns the folder's deltaLink.
func (l *exchangeLinks) checkDeltaLinks() string {
	t, e, fid, host, keyed := l.t, l.e, l.fid, l.host, l.keyed
	r := e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts/delta", nil, "Prefer: odata.maxpagesize=2")
	e.want(r, 200, "")
	next, _ := r.body["@odata.nextLink"].(string)
	if !strings.HasPrefix(next, keyed+"/contacts/delta?$skiptoken=") {
		t.Fatalf("nextLink %q, want prefix %q", next, keyed+"/contacts/delta?$skiptoken=")
	}
	r = e.do("GET", next, nil, "Prefer: odata.maxpagesize=2")
	e.want(r, 200, "")
	dl, _ := r.body["@odata.deltaLink"].(string)
	if !strings.HasPrefix(dl, keyed+"/contacts/delta?$deltatoken=") {
		t.Fatalf("deltaLink %q", dl)
	}
	e.want(e.do("GET", dl, nil), 200, "")

	// The object id when the request named the user by id.
	aliceID := e.user(0).ID
	r = e.do("GET", "/users/"+aliceID+"/contacts/delta", nil)
	if dl, _ := r.body["@odata.deltaLink"].(string); !strings.HasPrefix(dl, host+"/users('"+aliceID+"')/contacts/delta?$deltatoken=") {
		t.Errorf("default folder deltaLink %q", dl)
	}
	return dl
}

// checkListLinks: list nextLinks of contacts of a folder, the default
// folder, folders and child folders.
func (l *exchangeLinks) checkListLinks() {
	t, e, fid, host, keyed := l.t, l.e, l.fid, l.host, l.keyed
	r := e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts?$top=2&$select=givenName", nil)
	if n, _ := r.body["@odata.nextLink"].(string); !strings.HasPrefix(n, keyed+"/contacts?") || !strings.Contains(n, "$skip=2") || !strings.Contains(n, "$select=givenName") {
		t.Errorf("contacts nextLink %q", n)
	} else if got := e.do("GET", n, nil); len(got.value()) != 1 {
		t.Errorf("second page %s", got.raw)
	}
	e.mkContact(alice, "", map[string]any{"givenName": "D1"})
	e.mkContact(alice, "", map[string]any{"givenName": "D2"})
	r = e.do("GET", "/users/"+alice+"/contacts?$top=1", nil)
	if n, _ := r.body["@odata.nextLink"].(string); !strings.HasPrefix(n, host+"/users('"+alice+"')/contacts?") {
		t.Errorf("default contacts nextLink %q", n)
	}
	e.mkFolder(alice, "Other")
	r = e.do("GET", "/users/"+alice+"/contactFolders?$top=1", nil)
	if n, _ := r.body["@odata.nextLink"].(string); !strings.HasPrefix(n, host+"/users('"+alice+"')/contactFolders?") {
		t.Errorf("folders nextLink %q", n)
	}
	for _, name := range []string{"A", "B"} {
		e.want(e.do("POST", "/users/"+alice+"/contactFolders/"+fid+"/childFolders", map[string]any{"displayName": name}), 201, "")
	}
	r = e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/childFolders?$top=1", nil)
	if n, _ := r.body["@odata.nextLink"].(string); !strings.HasPrefix(n, keyed+"/childFolders?") {
		t.Errorf("childFolders nextLink %q", n)
	} else if got := e.do("GET", n, nil); len(got.value()) != 1 {
		t.Errorf("childFolders page 2 %s", got.raw)
	}
}

// checkGuestLink: a guest UPN with '#' is escaped in the key; the link
// still works.
func (l *exchangeLinks) checkGuestLink() {
	t, e := l.t, l.e
	carol := e.user(2).UserPrincipalName
	r := e.do("GET", "/users/"+url.PathEscape(carol)+"/contacts/delta", nil)
	e.want(r, 200, "")
	if dl, _ := r.body["@odata.deltaLink"].(string); !strings.Contains(dl, "/users('carol_fabrikam.com%23EXT%23@") {
		t.Errorf("guest deltaLink %q", dl)
	} else {
		e.want(e.do("GET", dl, nil), 200, "")
	}
}

// checkKeySegments: key segments in requests (user, folder, contact),
// quotes doubled.
func (l *exchangeLinks) checkKeySegments() {
	t, e, fid, cids := l.t, l.e, l.fid, l.cids
	e.want(e.do("GET", "/users('"+alice+"')/contactFolders('"+fid+"')", nil), 200, "")
	r := e.do("GET", "/users('"+alice+"')/contactFolders('"+fid+"')/contacts('"+cids[1]+"')", nil)
	e.want(r, 200, "")
	if r.body["givenName"] != "P1" {
		t.Errorf("contact by key %s", r.raw)
	}
	aliceID := e.user(0).ID
	e.want(e.do("PATCH", "/users('"+aliceID+"')/contacts('"+cids[0]+"')", map[string]any{"surname": "K"}), 200, "")
	r = e.do("GET", "/users('o''brien@contoso.onmicrosoft.com')/contacts", nil)
	e.want(r, 404, "ErrorInvalidUser")
	if !strings.Contains(string(r.raw), "'o'brien@contoso.onmicrosoft.com'") {
		t.Errorf("doubled quote not undone: %s", r.raw)
	}
	e.want(e.do("GET", "/users('"+alice+"')/contactFolders('"+fid+"')/childFolders", nil), 200, "")
	e.want(e.do("GET", "/users('x'y')/contacts", nil), 400, "BadRequest")
}

// checkBatch: $batch items with relative key-segment URLs, a delta link
// (dl) among them.
func (l *exchangeLinks) checkBatch(dl string) {
	t, e, fid, cids := l.t, l.e, l.fid, l.cids
	rel := strings.TrimPrefix(dl, l.host)
	r := e.do("POST", "/$batch", map[string]any{"requests": []any{
		item("1", "GET", "/users('"+alice+"')/contactFolders('"+fid+"')/contacts?$top=1", nil),
		item("2", "GET", rel, nil),
		item("3", "POST", "/users('"+alice+"')/contactFolders('"+fid+"')/contacts", map[string]any{"givenName": "Batch"}),
		item("4", "DELETE", "/users('"+alice+"')/contactFolders('"+fid+"')/contacts('"+cids[2]+"')", nil),
	}})
	e.want(r, 200, "")
	rs := responses(t, r)
	if status(rs["1"]) != 200 || status(rs["2"]) != 200 || status(rs["3"]) != 201 || status(rs["4"]) != 204 {
		t.Fatalf("batch: %s", r.raw)
	}
	if n, _ := rs["1"]["body"].(map[string]any)["@odata.nextLink"].(string); !strings.HasPrefix(n, l.keyed+"/contacts?") {
		t.Errorf("batch item nextLink %q", n)
	}
}

func TestKeySegment(t *testing.T) {
	for _, c := range []struct {
		in, name, key string
		ok            bool
	}{
		{"users('a@b.c')", "users", "a@b.c", true},
		{"contactFolders('AAMk-_=')", "contactFolders", "AAMk-_=", true},
		{"childfolders('x')", "childfolders", "x", true},
		{"contacts('o''b')", "contacts", "o'b", true},
		{"users('')", "", "", false},
		{"users(x)", "", "", false},
		{"users('a'b')", "", "", false},
		{"groups('x')", "", "", false},
		{"delta()", "", "", false},
	} {
		name, key, ok := keySegment(c.in)
		if name != c.name || key != c.key || ok != c.ok {
			t.Errorf("keySegment(%q) = %q %q %v", c.in, name, key, ok)
		}
	}
}
