//go:build linux

package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// testPhoto is a w×h image filled with c; noise makes it incompressible.
func testPhoto(t *testing.T, w, h int, c color.RGBA, asPNG, noise bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, uint64(w)))
	for y := range h {
		for x := range w {
			p := c
			if noise {
				p = color.RGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255}
			}
			img.SetRGBA(x, y, p)
		}
	}
	var b bytes.Buffer
	var err error
	if asPNG {
		err = (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// contactPhotos returns, by source id, the photo of each managed contact
// in a mailbox (nil: none).
func contactPhotos(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, mailbox string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, ct := range managed(t, srv, tn, mailbox).Contacts {
		for _, p := range ct.ExtendedProperties {
			if strings.Contains(p.ID, "galmirror.sourceId") {
				data, _, err := srv.ContactPhoto(tn.ID, mailbox, ct.ID)
				if err != nil {
					t.Fatal(err)
				}
				out[p.Value] = data
			}
		}
	}
	return out
}

// Photos through the built binary: the first run uploads each source's
// photo to its contacts; a run with no change downloads and uploads
// nothing; a changed photo is downloaded once and uploaded to its contacts
// only; a removed photo leaves its contacts without one (made again: Graph
// deletes no contact photo); a photo over 4 MB is downscaled under it; a
// photo Graph refuses is reported and fails nothing.
func TestPhotosThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	u0, u1, u2 := tn.Users[0].ID, tn.Users[1].ID, tn.Users[2].ID
	blue := testPhoto(t, 96, 96, color.RGBA{0, 0, 200, 255}, false, false)
	green := testPhoto(t, 64, 64, color.RGBA{0, 200, 0, 255}, true, false)
	if err := srv.SetUserPhoto(tn.ID, u1, "image/jpeg", blue); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetUserPhoto(tn.ID, u2, "image/png", green); err != nil {
		t.Fatal(err)
	}
	ten := c.tenant("contoso", srv, tn, cred)
	ten["photos"] = true
	settings := c.settings(ten)
	sync := func(wants ...string) string {
		t.Helper()
		code, out, errOut := c.run("sync", "--config", settings)
		for _, want := range wants {
			if code != exitOK || !strings.Contains(out, want) {
				t.Fatalf("sync exit %d, want %q\n%s\n%s", code, want, out, errOut)
			}
		}
		return out
	}
	downloads := func() int64 {
		return srv.Counters().ByRoute["GET /users/{id}/photo/$value"]
	}

	// check names the permission photos need, reading one source's photo.
	code, out, errOut := c.run("check", "--config", settings)
	if code != exitOK || !strings.Contains(out, "ok    photos          User.Read.All reads users' photos (user") {
		t.Fatalf("check exit %d\n%s\n%s", code, out, errOut)
	}

	// A dry run counts what the first run will upload, and downloads nothing.
	code, out, errOut = c.run("sync", "--config", settings, "--dry-run")
	if code != exitOK || !strings.Contains(out, "photos: 3 checked, 4 to upload, 0 to remove") || downloads() != 0 {
		t.Fatalf("dry run exit %d, %d downloads\n%s\n%s", code, downloads(), out, errOut)
	}

	// u1's photo goes to mailboxes 0 and 2, u2's (a PNG, made a JPEG) to 0 and 1.
	sync("6 created", "photos: 3 checked, 2 downloaded", "4 uploaded", "0 failed")
	if got := contactPhotos(t, srv, tn, u0); !bytes.Equal(got[u1], blue) || len(got[u2]) == 0 || got[u2][0] != 0xFF {
		t.Fatalf("mailbox 0 photos: u1 %d bytes (want the source's %d), u2 %d bytes (want a JPEG)", len(got[u1]), len(blue), len(got[u2]))
	}

	// Nothing changed: metadata only, no photo bytes either way.
	before := downloads()
	sync("photos: 3 checked, 0 downloaded (0 bytes), 0 uploaded (0 bytes)")
	sync("photos: 3 checked, 0 downloaded (0 bytes), 0 uploaded (0 bytes)", "0 created, 0 updated, 0 deleted, 6 unchanged")
	if n := downloads() - before; n != 0 {
		t.Fatalf("no-change runs downloaded %d photos", n)
	}

	// u1 changes their photo: downloaded once, uploaded to its 2 contacts.
	red := testPhoto(t, 120, 120, color.RGBA{200, 0, 0, 255}, false, false)
	green2 := testPhoto(t, 80, 80, color.RGBA{0, 150, 0, 255}, false, false)
	if err := srv.SetUserPhoto(tn.ID, u1, "image/jpeg", red); err != nil {
		t.Fatal(err)
	}
	before = downloads()
	sync("photos: 3 checked, 1 downloaded", "2 uploaded", "0 removed")
	if n := downloads() - before; n != 1 {
		t.Fatalf("a changed photo was downloaded %d times, want 1", n)
	}
	if got := contactPhotos(t, srv, tn, u2); !bytes.Equal(got[u1], red) {
		t.Fatalf("mailbox 2 shows u1's old photo after the change")
	}

	// The owner of mailbox 0 puts another picture on u1's contact: the
	// next run reads that one photo back and puts u1's back; the run after
	// reads nothing back.
	var cid string
	for _, ct := range managed(t, srv, tn, u0).Contacts {
		for _, p := range ct.ExtendedProperties {
			if strings.Contains(p.ID, "galmirror.sourceId") && p.Value == u1 {
				cid = ct.ID
			}
		}
	}
	if err := srv.OwnerSetContactPhoto(tn.ID, u0, cid, green2); err != nil {
		t.Fatal(err)
	}
	readBacks := func() int64 {
		return srv.Counters().ByRoute["GET /users/{id}/contactFolders/{id}/contacts/{id}/photo/$value"]
	}
	sync("0 downloaded (0 bytes), 1 uploaded", "1 restored", "0 failed") // from the photo cache
	if got := contactPhotos(t, srv, tn, u0); !bytes.Equal(got[u1], red) {
		t.Fatalf("the owner's picture on u1's contact was not replaced by u1's photo")
	}
	before = readBacks()
	sync("0 uploaded (0 bytes), 0 removed, 0 restored")
	sync("0 uploaded (0 bytes), 0 removed, 0 restored")
	if n := readBacks() - before; n != 0 {
		t.Fatalf("runs after the restore read %d contact photos back", n)
	}

	// u2 removes theirs: the contacts are made again without a photo.
	if err := srv.SetUserPhoto(tn.ID, u2, "", nil); err != nil {
		t.Fatal(err)
	}
	sync("2 removed", "0 created, 0 updated, 0 deleted")
	for _, mb := range []string{u0, u1} {
		if got := contactPhotos(t, srv, tn, mb); got[u2] != nil {
			t.Fatalf("mailbox %s still shows u2's removed photo", mb)
		}
	}
	sync("photos: 3 checked, 0 downloaded (0 bytes), 0 uploaded (0 bytes), 0 removed")

	// u0's photo is over 4 MB: uploaded downscaled, as a JPEG under 4 MB.
	big := testPhoto(t, 1300, 1300, color.RGBA{}, true, true)
	if len(big) <= 4<<20 {
		t.Fatalf("test photo is %d bytes, want over 4 MB", len(big))
	}
	if err := srv.SetUserPhoto(tn.ID, u0, "image/png", big); err != nil {
		t.Fatal(err)
	}
	sync("1 downloaded", "2 uploaded", "0 failed")
	got := contactPhotos(t, srv, tn, u1)[u0]
	if len(got) == 0 || len(got) >= 4<<20 {
		t.Fatalf("u0's contact photo is %d bytes, want a JPEG under 4 MB", len(got))
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(got)); err != nil {
		t.Fatalf("u0's contact photo is not a JPEG: %v", err)
	}

	// Graph refuses u1's new photo (over a tiny upload budget): the run
	// reports it in each mailbox and the text sync goes on.
	th := srv.Throttle()
	th.UploadBytes, th.UploadWindow = 20_000, graphsim.UploadWindow
	srv.SetThrottle(th)
	if err := srv.SetUserPhoto(tn.ID, u1, "image/jpeg", testPhoto(t, 200, 200, color.RGBA{}, false, true)); err != nil {
		t.Fatal(err)
	}
	if err := srv.PatchUser(tn.ID, u1, map[string]any{"jobTitle": "Director"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = c.run("sync", "--config", settings)
	if code != exitOK || !strings.Contains(out, "contoso: ok") || !strings.Contains(out, "0 created, 2 updated, 0 deleted") ||
		!strings.Contains(out, "0 uploaded (0 bytes), 0 removed, 0 restored, 2 failed") || strings.Count(out, "ErrorRequestEntityTooLarge") < 2 {
		t.Fatalf("the refused photos are not reported per mailbox, or failed the run: exit %d\n%s\n%s", code, out, errOut)
	}
	// One event 700 for the run (the RMM's alert), naming the first failure.
	if strings.Count(errOut, "event_id=700") != 1 || !strings.Contains(errOut, "ErrorRequestEntityTooLarge") {
		t.Fatalf("want one event 700 naming the refusal:\n%s", errOut)
	}
}
