package bench

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// PhasePhotos is the run after 1% of the users with a photo changed it
// (--photos): only those photos are downloaded, once each, and uploaded to
// their contacts.
const PhasePhotos = "photos1pct"

// benchPhoto is a small JPEG (96×96, about 1–2 KB) in a colour of its own:
// what a phone shows is a thumbnail anyway.
func benchPhoto(i, version int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	c := color.RGBA{uint8(37 * i), uint8(91*i + 53*version), uint8(17*i + 101*version), 255}
	for y := range 96 {
		for x := range 96 {
			p := c
			if (x/12+y/12)%2 == 0 {
				p.R, p.G = p.G, p.R
			}
			img.SetRGBA(x, y, p)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	return b.Bytes()
}

// hasPhoto says which users get a photo: every other one, user 0 too.
func hasPhoto(i int) bool { return i%2 == 0 }

// addPhotos gives every other user of the tenant a photo.
func (bt *benchTenant) addPhotos() {
	bt.photos = true
	for i := range bt.t.Users {
		if hasPhoto(i) {
			bt.t.Users[i].Photo = &graphsim.UserPhoto{ContentType: "image/jpeg", Data: benchPhoto(i, 0)}
		}
	}
}

// initialPhotos is what the first run must download (each source's photo)
// and upload (to each target mailbox but the source's own).
func (bt *benchTenant) initialPhotos() (want [2]int) {
	if !bt.photos {
		return want
	}
	for i := range bt.t.Users {
		if hasPhoto(i) && bt.shape.isSource(i) {
			want[0]++
			want[1] += bt.shape.Mailboxes
			if bt.shape.isTarget(i) {
				want[1]--
			}
		}
	}
	return want
}

// changePhotos gives the users of the change set that have a photo a new
// one and returns how many photos the phase must download and upload: one
// download per changed source, one upload per target mailbox showing it.
func (bt *benchTenant) changePhotos(ctx context.Context, s *sim) (downloads, uploads int, err error) {
	n := bt.shape.ChangedUsers()
	for k := range n {
		i := k * bt.shape.Users / n
		if !hasPhoto(i) {
			continue
		}
		if err := s.setPhoto(ctx, bt.t.ID, bt.t.Users[i].ID, benchPhoto(i, 1)); err != nil {
			return 0, 0, fmt.Errorf("set the photo of user %d: %w", i, err)
		}
		if bt.shape.isSource(i) {
			downloads++
			uploads += bt.shape.Mailboxes
			if bt.shape.isTarget(i) {
				uploads-- // no contact of oneself
			}
		}
	}
	return downloads, uploads, nil
}
