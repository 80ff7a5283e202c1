package graphsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// folderByID finds a folder of a control export.
func folderByID(fs []Folder, id string) *Folder {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

func (e *testEnv) folders(user string) []Folder {
	e.t.Helper()
	fs, err := e.srv.Folders(e.tenant.ID, user)
	must(e.t, err)
	return fs
}

func (e *testEnv) deletedItems(user string) Folder {
	e.t.Helper()
	for _, f := range e.folders(user) {
		if f.WellKnownName == "deleteditems" {
			return f
		}
	}
	e.t.Fatal("no Deleted Items folder")
	return Folder{}
}

func TestDeleteFolderMovesToDeletedItems(t *testing.T) {
	e := newEnv(t)
	base := "/users/" + alice + "/contactFolders"
	r := e.do("POST", base, map[string]any{"displayName": "Company",
		"singleValueExtendedProperties": []any{map[string]any{"id": folderP, "value": "mark"}}})
	e.want(r, 201, "")
	fid := r.body["id"].(string)
	r = e.do("POST", base+"/"+fid+"/childFolders", map[string]any{"displayName": "Mine"})
	e.want(r, 201, "")
	child := r.body["id"].(string)
	cid := e.mkContact(alice, fid, map[string]any{"givenName": "Kept"})["id"].(string)
	e.mkContact(alice, child, map[string]any{"givenName": "Nested"})
	_, dl, _ := deltaRound(t, e, base+"/"+fid+"/contacts/delta")

	e.want(e.do("DELETE", base+"/"+fid, nil), 204, "")
	di := e.deletedItems(alice)
	// Still there, same id, under Deleted Items, with its extended property.
	r = e.do("GET", base+"/"+fid+fmt.Sprintf("?$expand=singleValueExtendedProperties($filter=id eq '%s')", folderP), nil)
	e.want(r, 200, "")
	if r.body["parentFolderId"] != di.ID || r.body["displayName"] != "Company" {
		t.Errorf("moved folder %s", r.raw)
	}
	if ep, _ := r.body["singleValueExtendedProperties"].([]any); len(ep) != 1 {
		t.Errorf("extended property lost: %s", r.raw)
	}
	// Not listed under Contacts; Deleted Items itself is never listed nor reachable.
	r = e.do("GET", base, nil)
	for _, v := range r.value() {
		if n := v.(map[string]any)["displayName"]; n == "Company" || n == "Deleted Items" {
			t.Errorf("listed %v", n)
		}
	}
	e.want(e.do("GET", base+"/"+di.ID, nil), 404, "ErrorItemNotFound")
	e.want(e.do("GET", base+"/"+di.ID+"/childFolders", nil), 404, "ErrorItemNotFound")
	// Its contents: contacts readable with their ids, child folders still children.
	e.want(e.do("GET", base+"/"+fid+"/contacts/"+cid, nil), 200, "")
	r = e.do("GET", base+"/"+fid+"/childFolders", nil)
	if len(r.value()) != 1 {
		t.Errorf("child folders %s", r.raw)
	}
	e.want(e.do("GET", base+"/"+fid+"/childFolders/"+child, nil), 200, "")
	// Its contacts delta keeps working.
	items, dl, _ := deltaRound(t, e, dl)
	if len(items) != 0 {
		t.Errorf("delta after the move: %v", items)
	}
	added, err := e.srv.OwnerCreateContact(e.tenant.ID, alice, fid, json.RawMessage(`{"givenName":"Later"}`))
	must(t, err)
	if items, _, _ = deltaRound(t, e, dl); len(items) != 1 || items[0]["id"] != added {
		t.Errorf("delta in Deleted Items: %v", items)
	}
	// Control export: the folder's parent is Deleted Items.
	fs := e.folders(alice)
	if f := folderByID(fs, fid); f == nil || f.ParentFolderID != di.ID || len(f.Contacts) != 2 {
		t.Errorf("export %+v", f)
	}
	if fs[0].WellKnownName != "contacts" || !fs[0].WellKnown || fs[1].WellKnownName != "deleteditems" || fs[1].WellKnown || di.DisplayName != "Deleted Items" {
		t.Errorf("well-known folders %+v %+v", fs[0], fs[1])
	}

	// A folder of the same name may be created again under Contacts; its
	// deletion then collides with the one in Deleted Items.
	again := e.mkFolder(alice, "Company")
	e.want(e.do("DELETE", base+"/"+again, nil), 409, "ErrorFolderExists")
	e.want(e.do("GET", base+"/"+again, nil), 200, "")

	// Deleting a folder already in Deleted Items removes it for good,
	// child folders and contacts with it.
	e.want(e.do("DELETE", base+"/"+fid, nil), 204, "")
	e.want(e.do("GET", base+"/"+fid, nil), 404, "ErrorItemNotFound")
	e.want(e.do("GET", base+"/"+child, nil), 404, "ErrorItemNotFound")
	if folderByID(e.folders(alice), fid) != nil {
		t.Error("folder still exported")
	}
	e.want(e.do("DELETE", base+"/"+again, nil), 204, "")

	// Distinguished folders cannot be deleted.
	e.want(e.do("DELETE", base+"/"+e.folders(alice)[0].ID, nil), 403, "ErrorDeleteDistinguishedFolder")
	e.want(e.do("POST", base+"/"+e.folders(alice)[0].ID+"/permanentDelete", nil), 403, "ErrorDeleteDistinguishedFolder")
	e.want(e.do("DELETE", base+"/contacts", nil), 403, "ErrorDeleteDistinguishedFolder")
}

func TestChildFolderRoutes(t *testing.T) {
	e := newEnv(t)
	base := "/users/" + alice + "/contactFolders"
	p := e.mkFolder(alice, "Parent")
	other := e.mkFolder(alice, "Other")
	r := e.do("POST", base+"/"+p+"/childFolders", map[string]any{"displayName": "Kid"})
	e.want(r, 201, "")
	kid := r.body["id"].(string)
	e.want(e.do("GET", base+"/"+p+"/childFolders/"+kid, nil), 200, "")
	e.want(e.do("GET", base+"/"+other+"/childFolders/"+kid, nil), 404, "ErrorItemNotFound")
	r = e.do("PATCH", base+"/"+p+"/childFolders/"+kid, map[string]any{"displayName": "Kid 2"})
	e.want(r, 200, "")
	// DELETE through childFolders moves it to Deleted Items too.
	e.want(e.do("DELETE", base+"/"+p+"/childFolders/"+kid, nil), 204, "")
	r = e.do("GET", base+"/"+kid, nil)
	if r.body["parentFolderId"] != e.deletedItems(alice).ID {
		t.Errorf("child moved: %s", r.raw)
	}
	r = e.do("POST", base+"/"+p+"/childFolders", map[string]any{"displayName": "Kid"})
	kid2 := r.body["id"].(string)
	e.want(e.do("POST", base+"/"+p+"/childFolders/"+kid2+"/permanentDelete", nil), 204, "")
	e.want(e.do("GET", base+"/"+kid2, nil), 404, "ErrorItemNotFound")
	e.want(e.do("POST", base+"/"+p+"/childFolders/"+kid2+"/permanentDelete/x", nil), 400, "BadRequest")
}

func TestPermanentDelete(t *testing.T) {
	e := newEnv(t)
	base := "/users/" + alice + "/contactFolders"
	fid := e.mkFolder(alice, "Company")
	child := e.do("POST", base+"/"+fid+"/childFolders", map[string]any{"displayName": "Mine"}).body["id"].(string)
	var cids []string
	for i := 0; i < 3; i++ {
		cids = append(cids, e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i)})["id"].(string))
	}
	_, dl, _ := deltaRound(t, e, base+"/"+fid+"/contacts/delta")

	// Contacts: by folder and mailbox-wide; no body allowed; gone for good.
	e.want(e.do("POST", base+"/"+fid+"/contacts/"+cids[0]+"/permanentDelete", map[string]any{"x": 1}), 400, "ErrorInvalidRequest")
	e.want(e.do("POST", base+"/"+fid+"/contacts/"+cids[0]+"/permanentDelete", nil), 204, "")
	e.want(e.do("POST", "/users/"+alice+"/contacts/"+cids[1]+"/permanentDelete", nil), 204, "")
	e.want(e.do("GET", base+"/"+fid+"/contacts/"+cids[0], nil), 404, "ErrorItemNotFound")
	e.want(e.do("POST", base+"/"+fid+"/contacts/"+cids[0]+"/permanentDelete", nil), 404, "ErrorItemNotFound")
	e.want(e.do("GET", base+"/"+fid+"/contacts/"+cids[0]+"/permanentDelete", nil), 405, "ErrorInvalidRequest")
	if di := e.deletedItems(alice); len(di.Contacts) != 0 {
		t.Errorf("permanently deleted contacts in Deleted Items: %+v", di.Contacts)
	}
	items, _, _ := deltaRound(t, e, dl)
	if m := byID(items); len(m) != 2 || m[cids[0]]["@removed"] == nil || m[cids[1]]["@removed"] == nil {
		t.Errorf("delta tombstones %v", items)
	}
	// A contact in the default folder.
	dc := e.mkContact(alice, "", map[string]any{"givenName": "D"})["id"].(string)
	e.want(e.do("POST", "/users/"+alice+"/contacts/"+dc+"/permanentDelete", ""), 204, "")

	// Folders: everything in them goes; no trace in Deleted Items.
	e.want(e.do("POST", base+"/"+fid+"/permanentDelete", "{}"), 400, "ErrorInvalidRequest")
	e.want(e.do("POST", base+"/"+fid+"/permanentDelete", nil), 204, "")
	for _, id := range []string{fid, child} {
		e.want(e.do("GET", base+"/"+id, nil), 404, "ErrorItemNotFound")
	}
	e.want(e.do("GET", base+"/"+fid+"/contacts/"+cids[2], nil), 404, "ErrorItemNotFound")
	e.want(e.do("GET", "/users/"+alice+"/contacts/"+cids[2], nil), 404, "ErrorItemNotFound")
	if fs := e.folders(alice); len(fs) != 2 || len(fs[1].Contacts) != 0 {
		t.Errorf("after permanentDelete %+v", fs)
	}
	// A folder in Deleted Items can be permanently deleted too.
	f2 := e.mkFolder(alice, "Second")
	e.want(e.do("DELETE", base+"/"+f2, nil), 204, "")
	e.want(e.do("POST", base+"/"+f2+"/permanentDelete", nil), 204, "")
	if fs := e.folders(alice); len(fs) != 2 {
		t.Errorf("after permanentDelete from Deleted Items %+v", fs)
	}
}

func TestDeleteContactMovesToDeletedItems(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	cbase := "/users/" + alice + "/contactFolders/" + fid + "/contacts"
	c := e.mkContact(alice, fid, map[string]any{"givenName": "Gone", "singleValueExtendedProperties": []any{map[string]any{"id": sourceIDP, "value": "s1"}}})
	cid := c["id"].(string)
	keep := e.mkContact(alice, fid, map[string]any{"givenName": "Stays"})["id"].(string)
	_, dl, _ := deltaRound(t, e, cbase+"/delta")

	e.want(e.do("DELETE", cbase+"/"+cid, nil), 204, "")
	e.want(e.do("GET", cbase+"/"+cid, nil), 404, "ErrorItemNotFound")
	e.want(e.do("GET", "/users/"+alice+"/contacts/"+cid, nil), 404, "ErrorItemNotFound")
	e.want(e.do("DELETE", cbase+"/"+cid, nil), 404, "ErrorItemNotFound")
	items, _, _ := deltaRound(t, e, dl)
	if len(items) != 1 || items[0]["id"] != cid || items[0]["@removed"] == nil {
		t.Errorf("source folder delta %v", items)
	}
	// In Deleted Items with a new id, properties and extended properties kept.
	di := e.deletedItems(alice)
	if len(di.Contacts) != 1 || di.Contacts[0].ID == cid || !strings.Contains(string(di.Contacts[0].Properties), `"Gone"`) || len(di.Contacts[0].ExtendedProperties) != 1 {
		t.Fatalf("Deleted Items %+v", di)
	}
	nid := di.Contacts[0].ID
	r := e.do("GET", "/users/"+alice+"/contacts/"+nid, nil)
	e.want(r, 200, "")
	if r.body["parentFolderId"] != di.ID {
		t.Errorf("parentFolderId %v", r.body["parentFolderId"])
	}
	// Deleting it from Deleted Items removes it for good.
	e.want(e.do("DELETE", "/users/"+alice+"/contacts/"+nid, nil), 204, "")
	e.want(e.do("GET", "/users/"+alice+"/contacts/"+nid, nil), 404, "ErrorItemNotFound")
	if di := e.deletedItems(alice); len(di.Contacts) != 0 {
		t.Errorf("still in Deleted Items: %+v", di.Contacts)
	}
	e.want(e.do("GET", cbase+"/"+keep, nil), 200, "")
}

func TestOwnerDeletesAsOutlook(t *testing.T) {
	e := newEnv(t)
	tid := e.tenant.ID
	fid, err := e.srv.OwnerCreateFolder(tid, alice, "Company")
	must(t, err)
	cid, err := e.srv.OwnerCreateContact(tid, alice, fid, json.RawMessage(`{"givenName":"A"}`))
	must(t, err)
	c2, err := e.srv.OwnerCreateContact(tid, alice, fid, json.RawMessage(`{"givenName":"B"}`))
	must(t, err)

	// Contact: into Deleted Items with a new id.
	must(t, e.srv.OwnerDeleteContact(tid, alice, cid))
	di := e.deletedItems(alice)
	if len(di.Contacts) != 1 || di.Contacts[0].ID == cid {
		t.Fatalf("owner contact delete: %+v", di)
	}
	if err := e.srv.OwnerDeleteContact(tid, alice, cid); err == nil {
		t.Error("old id still deletable")
	}
	// Folder: into Deleted Items, id kept.
	must(t, e.srv.OwnerDeleteFolder(tid, alice, fid))
	if f := folderByID(e.folders(alice), fid); f == nil || f.ParentFolderID != di.ID || len(f.Contacts) != 1 || f.Contacts[0].ID != c2 {
		t.Fatalf("owner folder delete: %+v", f)
	}
	// Move it back, then into Deleted Items again, then empty Deleted Items.
	must(t, e.srv.OwnerMoveFolder(tid, alice, fid, ""))
	if r := e.do("GET", "/users/"+alice+"/contactFolders/"+fid, nil); r.body["parentFolderId"] != e.folders(alice)[0].ID {
		t.Errorf("moved back: %s", r.raw)
	}
	if err := e.srv.OwnerMoveFolder(tid, alice, fid, fid); err == nil {
		t.Error("folder moved into itself")
	}
	must(t, e.srv.OwnerMoveFolder(tid, alice, fid, di.ID))
	must(t, e.srv.OwnerEmptyDeletedItems(tid, alice))
	if fs := e.folders(alice); len(fs) != 2 || len(fs[1].Contacts) != 0 {
		t.Errorf("after emptying: %+v", fs)
	}
	e.want(e.do("GET", "/users/"+alice+"/contactFolders/"+fid, nil), 404, "ErrorItemNotFound")
	// Permanent delete of a folder, and the distinguished folders refused.
	f2, err := e.srv.OwnerCreateFolder(tid, alice, "Two")
	must(t, err)
	must(t, e.srv.OwnerPermanentDeleteFolder(tid, alice, f2))
	if fs := e.folders(alice); len(fs) != 2 {
		t.Errorf("after permanent delete: %+v", fs)
	}
	for _, id := range []string{e.folders(alice)[0].ID, di.ID} {
		if err := e.srv.OwnerDeleteFolder(tid, alice, id); err == nil {
			t.Error("distinguished folder deleted")
		}
	}

	// The same over /_sim/.
	f3, err := e.srv.OwnerCreateFolder(tid, alice, "Three")
	must(t, err)
	steps := []struct {
		method, path string
		body         any
		status       int
	}{
		{"PATCH", "tenants/" + tid + "/users/" + alice + "/folders/" + f3, map[string]any{"displayName": "Renamed",
			"singleValueExtendedProperties": []map[string]string{{"id": "String {00020329-0000-0000-C000-000000000046} Name other.app", "value": "v"}}}, 204},
		{"PATCH", "tenants/" + tid + "/users/" + alice + "/folders/" + f3, map[string]any{"bogus": 1}, 400},
		{"DELETE", "tenants/" + tid + "/users/" + alice + "/folders/" + f3, nil, 204},
		{"POST", "tenants/" + tid + "/users/" + alice + "/folders/" + f3 + "/move", map[string]string{"destinationId": ""}, 204},
		{"POST", "tenants/" + tid + "/users/" + alice + "/folders/" + f3 + "/move", map[string]string{"destinationId": "AAMkbogus"}, 404},
		{"DELETE", "tenants/" + tid + "/users/" + alice + "/folders/" + f3 + "?permanent=true", nil, 204},
		{"POST", "tenants/" + tid + "/users/" + alice + "/empty-deleted-items", nil, 204},
		{"POST", "tenants/" + tid + "/users/ghost@x.y/empty-deleted-items", nil, 404},
	}
	for _, s := range steps {
		if st, b := e.ctl(s.method, s.path, "", s.body); st != s.status {
			t.Errorf("%s %s: %d %s, want %d", s.method, s.path, st, b, s.status)
		}
	}
	if folderByID(e.folders(alice), f3) != nil {
		t.Error("control HTTP permanent delete")
	}
	// Another client renames a folder and writes its own mark on it.
	f4, err := e.srv.OwnerCreateFolder(tid, alice, "Four")
	must(t, err)
	must(t, e.srv.OwnerUpdateFolder(tid, alice, f4, json.RawMessage(`{"displayName":"Vier","singleValueExtendedProperties":[{"id":"String {00020329-0000-0000-C000-000000000046} Name other.app","value":"x"}]}`)))
	if f := folderByID(e.folders(alice), f4); f == nil || f.DisplayName != "Vier" || len(f.ExtendedProperties) != 1 {
		t.Errorf("owner folder update: %+v", f)
	}
}

// The Deleted Items state survives a fixture round trip.
func TestDeletedItemsRoundTrip(t *testing.T) {
	e := newEnv(t)
	tid := e.tenant.ID
	base := "/users/" + alice + "/contactFolders"
	fid := e.mkFolder(alice, "Company")
	child := e.do("POST", base+"/"+fid+"/childFolders", map[string]any{"displayName": "Mine"}).body["id"].(string)
	e.mkContact(alice, child, map[string]any{"givenName": "Nested"})
	kept := e.mkFolder(alice, "Kept")
	gone := e.mkContact(alice, kept, map[string]any{"givenName": "Trash"})["id"].(string)
	e.want(e.do("DELETE", base+"/"+kept+"/contacts/"+gone, nil), 204, "")
	e.want(e.do("DELETE", base+"/"+fid, nil), 204, "")
	before := e.folders(alice)

	b, err := json.Marshal(e.srv.Fixture())
	must(t, err)
	var back Fixture
	must(t, json.Unmarshal(b, &back))
	srv2, err := Start(Options{Tenants: back.Tenants})
	must(t, err)
	defer srv2.Close()
	after, err := srv2.Folders(tid, alice)
	must(t, err)
	shape := func(fs []Folder) []string {
		var out []string
		for _, f := range fs {
			line := fmt.Sprintf("%s parent=%s %q wk=%v/%s", f.ID, f.ParentFolderID, f.DisplayName, f.WellKnown, f.WellKnownName)
			for _, c := range f.Contacts {
				line += " " + c.ID + string(c.Properties)
			}
			out = append(out, line)
		}
		slices.Sort(out)
		return out
	}
	if x, y := shape(before), shape(after); !slices.Equal(x, y) {
		t.Fatalf("round trip:\n%s\nvs\n%s", strings.Join(x, "\n"), strings.Join(y, "\n"))
	}
	// The restored mailbox behaves: the folder in Deleted Items goes for good.
	tok, err := srv2.AccessToken(tid, e.cred.ClientID)
	must(t, err)
	e2 := &testEnv{t: t, srv: srv2, tenant: e.tenant, cred: e.cred, token: tok, client: srv2.Client()}
	r := e2.do("GET", base+"/"+fid, nil)
	if r.body["parentFolderId"] != e2.deletedItems(alice).ID {
		t.Errorf("restored parent %s", r.raw)
	}
	e2.want(e2.do("DELETE", base+"/"+fid, nil), 204, "")
	e2.want(e2.do("GET", base+"/"+child, nil), 404, "ErrorItemNotFound")

	// A saved state with a parent cycle or unknown well-known name is refused.
	ten := e.tenant
	ten.Users = []User{e.tenant.Users[0]}
	ten.Users[0].ContactFolders = []Folder{
		{ID: before[2].ID, ParentFolderID: before[3].ID, DisplayName: "A"},
		{ID: before[3].ID, ParentFolderID: before[2].ID, DisplayName: "B"},
	}
	if err := e.srv.PutTenant(ten); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle accepted: %v", err)
	}
	ten.Users[0].ContactFolders = []Folder{{DisplayName: "X", WellKnownName: "inbox"}}
	if err := e.srv.PutTenant(ten); err == nil {
		t.Error("unknown wellKnownName accepted")
	}
}

func TestCloudAvailability(t *testing.T) {
	for _, c := range []struct {
		cloud                 string
		permanentDelete, dlta bool
	}{
		{"", true, true}, {"global", true, true}, {"usgov", false, true}, {"usgovdod", false, true}, {"china", false, false},
	} {
		t.Run(c.cloud, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Tenants[0].Cloud = c.cloud })
			fid := e.mkFolder(alice, "Company")
			cid := e.mkContact(alice, fid, map[string]any{"givenName": "A"})["id"].(string)
			r := e.do("POST", "/users/"+alice+"/contactFolders/"+fid+"/contacts/"+cid+"/permanentDelete", nil)
			if c.permanentDelete {
				e.want(r, 204, "")
			} else {
				e.want(r, 400, "BadRequest")
				if !strings.Contains(string(r.raw), "Resource not found for the segment 'permanentDelete'.") {
					t.Errorf("message %s", r.raw)
				}
				e.want(e.do("POST", "/users/"+alice+"/contactFolders/"+fid+"/permanentDelete", nil), 400, "BadRequest")
				e.want(e.do("POST", "/users/"+alice+"/contacts/"+cid+"/permanentDelete", nil), 400, "BadRequest")
			}
			for _, p := range []string{"/users/" + alice + "/contactFolders/" + fid + "/contacts/delta", "/users/" + alice + "/contacts/delta"} {
				r = e.do("GET", p, nil)
				if c.dlta {
					e.want(r, 200, "")
				} else {
					e.want(r, 400, "BadRequest")
					if !strings.Contains(string(r.raw), "Resource not found for the segment 'delta'.") {
						t.Errorf("message %s", r.raw)
					}
				}
			}
			// The same answer for a $batch item.
			r = e.do("POST", "/$batch", map[string]any{"requests": []any{item("1", "GET", "/users/"+alice+"/contacts/delta", nil)}})
			if st := status(responses(t, r)["1"]); c.dlta && st != 200 || !c.dlta && st != 400 {
				t.Errorf("batch delta %d", st)
			}
			ten, err := e.srv.Tenant(e.tenant.ID)
			must(t, err)
			if want := strings.ReplaceAll(c.cloud, "global", ""); ten.Cloud != want {
				t.Errorf("exported cloud %q", ten.Cloud)
			}
		})
	}
	ten, _ := smallTenant(t)
	ten.Cloud = "mars"
	if _, err := Start(Options{Tenants: []Tenant{ten}}); err == nil {
		t.Error("unknown cloud accepted")
	}
}
