//go:build linux

package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/report/schemacheck"
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

// photoCase is one tenant of three users syncing photos through the
// binary, and its steps.
type photoCase struct {
	t          *testing.T
	c          *customer
	srv        *graphsim.Server
	tn         graphsim.Tenant
	settings   string
	u0, u1, u2 string
}

func (p *photoCase) sync(wants ...string) string {
	p.t.Helper()
	code, out, errOut := p.c.run("sync", "--config", p.settings)
	for _, want := range wants {
		if code != exitOK || !strings.Contains(out, want) {
			p.t.Fatalf("sync exit %d, want %q\n%s\n%s", code, want, out, errOut)
		}
	}
	return out
}

func (p *photoCase) route(r string) int64 { return p.srv.Counters().ByRoute[r] }

func (p *photoCase) downloads() int64 { return p.route("GET /users/{id}/photo/$value") }

func (p *photoCase) setPhoto(user, ctype string, data []byte) {
	p.t.Helper()
	if err := p.srv.SetUserPhoto(p.tn.ID, user, ctype, data); err != nil {
		p.t.Fatal(err)
	}
}

// Photos through the built binary: check names the permission; a dry run
// counts; the first run uploads each source's photo to its contacts; a run
// with no change downloads and uploads nothing; a changed photo is
// downloaded once and uploaded to its contacts only; a photo changed in a
// mailbox is put back; a removed photo leaves its contacts without one
// (made again: Graph deletes no contact photo); a photo over 4 MB is
// downscaled under it; a photo Graph refuses is reported (event 700) and
// fails nothing.
func TestPhotosThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	p := &photoCase{t: t, c: c, srv: srv, tn: tn, u0: tn.Users[0].ID, u1: tn.Users[1].ID, u2: tn.Users[2].ID}
	blue := testPhoto(t, 96, 96, color.RGBA{0, 0, 200, 255}, false, false)
	p.setPhoto(p.u1, "image/jpeg", blue)
	p.setPhoto(p.u2, "image/png", testPhoto(t, 64, 64, color.RGBA{0, 200, 0, 255}, true, false))
	ten := c.tenant("contoso", srv, tn, cred)
	ten["photos"] = true
	p.settings = c.settings(ten)

	p.firstRuns(blue)
	p.changeAndRestore()
	p.removeAndDownscale()
	p.refused()
}

// firstRuns: check, a dry run, the first run, and two runs with no change.
func (p *photoCase) firstRuns(blue []byte) {
	t, u0, u1, u2 := p.t, p.u0, p.u1, p.u2
	code, out, errOut := p.c.run("check", "--config", p.settings)
	if code != exitOK || !strings.Contains(out, "ok    photos          User.Read.All reads users' photos (user") {
		t.Fatalf("check exit %d\n%s\n%s", code, out, errOut)
	}
	// A dry run counts what the first run will upload, and downloads nothing.
	code, out, errOut = p.c.run("sync", "--config", p.settings, "--dry-run")
	if code != exitOK || !strings.Contains(out, "photos: 3 checked, 4 to upload, 0 to remove") || p.downloads() != 0 {
		t.Fatalf("dry run exit %d, %d downloads\n%s\n%s", code, p.downloads(), out, errOut)
	}
	p.matchesSchema("--dry-run", `"toUpload":4`, `"photoUploads":2`)

	// u1's photo goes to mailboxes 0 and 2, u2's (a PNG, made a JPEG) to 0 and 1.
	p.sync("6 created", "photos: 3 checked, 2 downloaded", "4 uploaded", "0 failed")
	if got := contactPhotos(t, p.srv, p.tn, u0); !bytes.Equal(got[u1], blue) || len(got[u2]) == 0 || got[u2][0] != 0xFF {
		t.Fatalf("mailbox 0 photos: u1 %d bytes (want the source's %d), u2 %d bytes (want a JPEG)", len(got[u1]), len(blue), len(got[u2]))
	}
	// Nothing changed: metadata only, no photo bytes either way.
	before := p.downloads()
	p.sync("photos: 3 checked, 0 downloaded (0 bytes), 0 uploaded (0 bytes)")
	p.sync("photos: 3 checked, 0 downloaded (0 bytes), 0 uploaded (0 bytes)", "0 created, 0 updated, 0 deleted, 6 unchanged")
	p.matchesSchema("", `"photos":{"checked":3,"downloaded":0,"downloadedBytes":0,"downscaled":0,"uploaded":0,"uploadedBytes":0`)
	if n := p.downloads() - before; n != 0 {
		t.Fatalf("no-change runs downloaded %d photos", n)
	}
}

// matchesSchema runs sync --json (with flag, if any): its result matches
// docs/report.schema.json's syncResult and holds each of wants.
func (p *photoCase) matchesSchema(flag string, wants ...string) {
	p.t.Helper()
	b, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		p.t.Fatal(err)
	}
	schema, err := schemacheck.Parse(b)
	if err != nil {
		p.t.Fatal(err)
	}
	args := []string{"sync", "--config", p.settings, "--json"}
	if flag != "" {
		args = append(args, flag)
	}
	code, out, errOut := p.c.run(args...)
	out = strings.TrimSpace(out)
	if errs := schema.Check("syncResult", []byte(out)); code != exitOK || len(errs) > 0 {
		p.t.Fatalf("sync %s --json: exit %d, schema: %s\n%s\n%s", flag, code, strings.Join(errs, "\n"), out, errOut)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			p.t.Fatalf("sync %s --json lacks %s:\n%s", flag, w, out)
		}
	}
}

// changeAndRestore: u1 changes their photo; then mailbox 0's owner puts
// another picture on u1's contact, and galmirror puts u1's back.
func (p *photoCase) changeAndRestore() {
	t, u0, u1, u2 := p.t, p.u0, p.u1, p.u2
	red := testPhoto(t, 120, 120, color.RGBA{200, 0, 0, 255}, false, false)
	p.setPhoto(u1, "image/jpeg", red)
	before := p.downloads()
	p.sync("photos: 3 checked, 1 downloaded", "2 uploaded", "0 removed")
	if n := p.downloads() - before; n != 1 {
		t.Fatalf("a changed photo was downloaded %d times, want 1", n)
	}
	if got := contactPhotos(t, p.srv, p.tn, u2); !bytes.Equal(got[u1], red) {
		t.Fatalf("mailbox 2 shows u1's old photo after the change")
	}

	var cid string
	for _, ct := range managed(t, p.srv, p.tn, u0).Contacts {
		for _, e := range ct.ExtendedProperties {
			if strings.Contains(e.ID, "galmirror.sourceId") && e.Value == u1 {
				cid = ct.ID
			}
		}
	}
	if err := p.srv.OwnerSetContactPhoto(p.tn.ID, u0, cid, testPhoto(t, 80, 80, color.RGBA{0, 150, 0, 255}, false, false)); err != nil {
		t.Fatal(err)
	}
	p.sync("0 downloaded (0 bytes), 1 uploaded", "1 restored", "0 failed") // from the photo cache
	if got := contactPhotos(t, p.srv, p.tn, u0); !bytes.Equal(got[u1], red) {
		t.Fatalf("the owner's picture on u1's contact was not replaced by u1's photo")
	}
	readBacks := func() int64 { return p.route("GET /users/{id}/contactFolders/{id}/contacts/{id}/photo/$value") }
	before = readBacks()
	p.sync("0 uploaded (0 bytes), 0 removed, 0 restored")
	p.sync("0 uploaded (0 bytes), 0 removed, 0 restored")
	if n := readBacks() - before; n != 0 {
		t.Fatalf("runs after the restore read %d contact photos back", n)
	}
}

// removeAndDownscale: u2 removes theirs (the contacts are made again
// without a photo); u0's new photo is over 4 MB.
func (p *photoCase) removeAndDownscale() {
	t, u0, u1, u2 := p.t, p.u0, p.u1, p.u2
	p.setPhoto(u2, "", nil)
	p.sync("2 removed", "0 created, 0 updated, 0 deleted")
	for _, mb := range []string{u0, u1} {
		if got := contactPhotos(t, p.srv, p.tn, mb); got[u2] != nil {
			t.Fatalf("mailbox %s still shows u2's removed photo", mb)
		}
	}
	p.sync("photos: 3 checked, 0 downloaded (0 bytes), 0 uploaded (0 bytes), 0 removed")

	big := testPhoto(t, 1300, 1300, color.RGBA{}, true, true)
	if len(big) <= 4<<20 {
		t.Fatalf("test photo is %d bytes, want over 4 MB", len(big))
	}
	p.setPhoto(u0, "image/png", big)
	p.sync("1 downloaded", "2 uploaded", "0 failed")
	got := contactPhotos(t, p.srv, p.tn, u1)[u0]
	if len(got) == 0 || len(got) >= 4<<20 {
		t.Fatalf("u0's contact photo is %d bytes, want a JPEG under 4 MB", len(got))
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(got)); err != nil {
		t.Fatalf("u0's contact photo is not a JPEG: %v", err)
	}
}

// refused: Graph refuses u1's new photo (over a tiny upload budget): the
// run reports it in each mailbox and by event 700, and the text sync goes on.
func (p *photoCase) refused() {
	t := p.t
	th := p.srv.Throttle()
	th.UploadBytes, th.UploadWindow = 20_000, graphsim.UploadWindow
	p.srv.SetThrottle(th)
	p.setPhoto(p.u1, "image/jpeg", testPhoto(t, 200, 200, color.RGBA{}, false, true))
	if err := p.srv.PatchUser(p.tn.ID, p.u1, map[string]any{"jobTitle": "Director"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := p.c.run("sync", "--config", p.settings)
	if code != exitOK || !strings.Contains(out, "contoso: ok") || !strings.Contains(out, "0 created, 2 updated, 0 deleted") ||
		!strings.Contains(out, "0 uploaded (0 bytes), 0 removed, 0 restored, 2 failed") || strings.Count(out, "ErrorRequestEntityTooLarge") < 2 {
		t.Fatalf("the refused photos are not reported per mailbox, or failed the run: exit %d\n%s\n%s", code, out, errOut)
	}
	// One event 700 for the run (the RMM's alert), naming the first failure.
	if strings.Count(errOut, "event_id=700") != 1 || !strings.Contains(errOut, "ErrorRequestEntityTooLarge") {
		t.Fatalf("want one event 700 naming the refusal:\n%s", errOut)
	}
}
