package graphsim

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
	"time"
)

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// User photos: metadata with etag and size, the bytes, 404 ImageNotFound
// without one, no users/delta change, User.Read.All needed.
func TestUserPhotos(t *testing.T) {
	e := newEnv(t)
	bob := e.user(1).ID
	e.want(e.do("GET", "/users/"+bob+"/photo", nil), 404, "ImageNotFound")
	e.want(e.do("GET", "/users/"+bob+"/photo/$value", nil), 404, "ImageNotFound")
	e.want(e.do("GET", "/users/00000000-0000-4000-8000-0000000000ff/photo", nil), 404, "Request_ResourceNotFound")

	d := e.do("GET", "/users/delta?$select=displayName", nil)
	e.want(d, 200, "")
	for d.body["@odata.deltaLink"] == nil {
		d = e.do("GET", d.body["@odata.nextLink"].(string), nil)
	}
	link := d.body["@odata.deltaLink"].(string)

	photo := jpegOf(t, 48, 64)
	if err := e.srv.SetUserPhoto(e.tenant.ID, bob, "image/jpeg", photo); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/users/"+bob+"/photo", nil)
	e.want(r, 200, "")
	etag, _ := r.body["@odata.mediaEtag"].(string)
	if len(etag) != 10 || etag[0] != '"' || r.body["@odata.mediaContentType"] != "image/jpeg" || r.body["width"] != 48.0 || r.body["height"] != 64.0 || r.body["id"] != "48x64" {
		t.Fatalf("metadata: %s", r.raw)
	}
	v := e.do("GET", "/users/"+bob+"/photo/$value", nil)
	if v.status != 200 || !bytes.Equal(v.raw, photo) || v.hdr.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("$value: %d %q, %d bytes", v.status, v.hdr.Get("Content-Type"), len(v.raw))
	}
	// A photo is no users/delta change.
	d = e.do("GET", link, nil)
	e.want(d, 200, "")
	if len(d.value()) != 0 {
		t.Fatalf("users/delta reports a photo change: %s", d.raw)
	}
	// A new photo has a new etag; removing it answers 404 again.
	if err := e.srv.SetUserPhoto(e.tenant.ID, bob, "", jpegOf(t, 96, 96)); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/users/"+bob+"/photo", nil); r.body["@odata.mediaEtag"] == etag {
		t.Fatalf("a changed photo kept its etag %s", etag)
	}
	if err := e.srv.SetUserPhoto(e.tenant.ID, bob, "", nil); err != nil {
		t.Fatal(err)
	}
	e.want(e.do("GET", "/users/"+bob+"/photo", nil), 404, "ImageNotFound")
	if err := e.srv.SetUserPhoto(e.tenant.ID, bob, "image/jpeg", []byte("not an image")); err == nil {
		t.Fatal("a photo that is no image was accepted")
	}

	// Contacts.ReadWrite alone does not read users' photos.
	ten, cred := smallTenant(t, "Contacts.ReadWrite", "GroupMember.Read.All")
	srv, err := Start(Options{Tenants: []Tenant{ten}, Throttle: ptr(NoThrottle())})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tok, err := srv.AccessToken(ten.ID, cred.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	e2 := &testEnv{t: t, srv: srv, tenant: ten, cred: cred, token: tok, client: srv.Client()}
	e2.want(e2.do("GET", "/users/"+bob+"/photo", nil), 403, "Authorization_RequestDenied")
}

// Contact photos: JPEG only, under 4 MB, a change of the contact (its
// delta reports it), read back, no DELETE; the upload budget.
func TestContactPhotos(t *testing.T) {
	clock := newClock()
	th := NoThrottle()
	th.UploadBytes, th.UploadWindow = 5000, 5*time.Minute
	e := newEnv(t, func(o *Options) { o.Now = clock.Now; o.Throttle = &th })
	fid := e.mkFolder(alice, "Company Directory")
	c := e.mkContact(alice, fid, map[string]any{"displayName": "Bob"})
	cid := c["id"].(string)
	base := "/users/" + alice + "/contactFolders/" + fid + "/contacts/" + cid + "/photo"
	e.want(e.do("GET", base, nil), 404, "ImageNotFound")
	d := e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts/delta", nil)
	e.want(d, 200, "")
	link := d.body["@odata.deltaLink"].(string)

	photo := jpegOf(t, 32, 32)
	var pngb bytes.Buffer
	png.Encode(&pngb, image.NewGray(image.Rect(0, 0, 4, 4)))
	e.want(e.do("PUT", base+"/$value", pngb.Bytes(), "Content-Type: image/png"), 415, "ErrorInvalidRequest")
	e.want(e.do("PUT", base+"/$value", []byte("xx"), "Content-Type: image/jpeg"), 400, "ErrorInvalidImage")
	r := e.do("PUT", base+"/$value", photo, "Content-Type: image/jpeg")
	e.want(r, 200, "")
	got := e.do("GET", base+"/$value", nil)
	if got.status != 200 || !bytes.Equal(got.raw, photo) {
		t.Fatalf("read back: %d, %d bytes", got.status, len(got.raw))
	}
	if data, _, err := e.srv.ContactPhoto(e.tenant.ID, alice, cid); err != nil || !bytes.Equal(data, photo) {
		t.Fatalf("ContactPhoto: %d bytes, %v", len(data), err)
	}
	d = e.do("GET", link, nil)
	if len(d.value()) != 1 {
		t.Fatalf("contacts delta after a photo upload: %s", d.raw)
	}
	e.want(e.do("DELETE", base+"/$value", nil), 405, "ErrorInvalidRequest")

	// The budget: 5,000 bytes per 5 minutes for the mailbox.
	big := make([]byte, 0, 6000)
	big = append(big, photo...)
	for len(big) < 4000 {
		big = append(big, photo...)
	}
	e.want(e.do("PUT", base+"/$value", big[:5001], "Content-Type: image/jpeg"), 413, "ErrorRequestEntityTooLarge")
	e.want(e.do("PUT", base+"/$value", photo, "Content-Type: image/jpeg"), 200, "")
	for e.do("PUT", base+"/$value", photo, "Content-Type: image/jpeg").status == 200 {
	}
	r = e.do("PUT", base+"/$value", photo, "Content-Type: image/jpeg")
	e.want(r, 429, "ApplicationThrottled")
	if r.hdr.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	clock.Add(5 * time.Minute)
	e.want(e.do("PUT", base+"/$value", photo, "Content-Type: image/jpeg"), 200, "")
}

// A user's photo is throttled as an Outlook resource of the user's
// mailbox (its request quota and Retry-After), not by directory resource
// units, and needs no mailbox.
func TestUserPhotoThrottledAsMailbox(t *testing.T) {
	th := GraphThrottle()
	th.MailboxRequests = 2
	e := newEnv(t, func(o *Options) { o.Throttle = &th })
	dave := e.user(3).ID // no mailbox
	if err := e.srv.SetUserPhoto(e.tenant.ID, dave, "", jpegOf(t, 8, 8)); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/users/"+dave+"/photo", nil)
	e.want(r, 200, "")
	if r.hdr.Get("x-ms-resource-unit") != "" {
		t.Errorf("a photo request charged directory resource units")
	}
	e.want(e.do("GET", "/users/"+dave+"/photo/$value", nil), 200, "")
	r = e.do("GET", "/users/"+dave+"/photo", nil)
	e.want(r, 429, "ApplicationThrottled")
	// Another user's photo is another mailbox's quota.
	e.want(e.do("GET", "/users/"+e.user(1).ID+"/photo", nil), 404, "ImageNotFound")
}

// A user's photo metadata as a $batch item answers as outside one (Graph
// runs each item as its own request): the metadata with its etag, 404
// ImageNotFound without a photo, 404 Request_ResourceNotFound for an
// unknown user; the items are throttled as their users' mailboxes (their
// concurrency slots are taken as the batch's mailbox items' are).
func TestUserPhotosInBatch(t *testing.T) {
	strict := GraphThrottle()
	strict.ReactionTime = -1
	e := newEnv(t, func(o *Options) { o.Throttle = &strict })
	bob, dave := e.user(1).ID, e.user(3).ID
	if err := e.srv.SetUserPhoto(e.tenant.ID, dave, "", jpegOf(t, 48, 64)); err != nil {
		t.Fatal(err)
	}
	unknown := "00000000-0000-4000-8000-0000000000ff"
	alone := map[string]result{}
	for _, u := range []string{bob, dave, unknown} {
		alone[u] = e.do("GET", "/users/"+u+"/photo", nil)
	}
	r := e.do("POST", "/$batch", map[string]any{"requests": []any{
		item("bob", "GET", "/users/"+bob+"/photo", nil),
		item("dave", "GET", "users/"+dave+"/photo", nil),
		item("unknown", "GET", "/users/"+unknown+"/photo", nil),
	}})
	e.want(r, 200, "")
	rs := responses(t, r)
	for id, u := range map[string]string{"bob": bob, "dave": dave, "unknown": unknown} {
		a, b := alone[u], rs[id]
		body, _ := b["body"].(map[string]any)
		if status(b) != a.status {
			t.Fatalf("%s: item %d, alone %d: %v", id, status(b), a.status, b)
		}
		for _, k := range []string{"@odata.mediaEtag", "@odata.mediaContentType", "width", "height", "id"} {
			if body[k] != a.body[k] {
				t.Errorf("%s: item's %s %v, alone %v", id, k, body[k], a.body[k])
			}
		}
		ec, _ := body["error"].(map[string]any)
		if code, _ := ec["code"].(string); code != a.errCode() {
			t.Errorf("%s: item's error %v, alone %s", id, ec["code"], a.errCode())
		}
	}
	if rs["dave"]["body"].(map[string]any)["@odata.mediaEtag"] == nil || rs["bob"]["body"].(map[string]any)["error"].(map[string]any)["code"] != "ImageNotFound" {
		t.Fatalf("answers %s", r.raw)
	}

	// Six items of one user: four take its mailbox's concurrency slots,
	// two get their 429 with Retry-After, like mailbox items.
	var reqs []any
	for i := range 6 {
		reqs = append(reqs, item(fmt.Sprint(i), "GET", "/users/"+dave+"/photo", nil))
	}
	e.srv.ResetCounters()
	r = e.do("POST", "/$batch", map[string]any{"requests": reqs})
	e.want(r, 200, "")
	n429 := 0
	for _, m := range responses(t, r) {
		switch status(m) {
		case 200:
		case 429:
			n429++
			if m["headers"].(map[string]any)["Retry-After"] == nil {
				t.Errorf("429 item without Retry-After: %v", m)
			}
		default:
			t.Errorf("item %v", m)
		}
	}
	if c := e.srv.Counters(); n429 != 2 || c.ByMailbox[dave] != 6 || c.ByRoute["GET /users/{id}/photo"] != 6 {
		t.Fatalf("%d items throttled (want 2); counters %+v", n429, c)
	}
}
