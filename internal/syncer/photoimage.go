package syncer

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/gif" // source photos Entra holds may be GIF or PNG
	"image/jpeg"
	_ "image/png"
	"net/http"
)

// photoLimit is the largest photo galmirror uploads: Exchange takes a
// contact photo "less than 4 MB" (profilephoto-update.md).
const photoLimit = 4<<20 - 1

// maxPhotoPixels refuses images whose decoding alone would take more
// memory than a photo deserves (a 20-megapixel RGBA image is 80 MB).
const maxPhotoPixels = 20_000_000

// preparePhoto turns a source photo into what a contact takes: a JPEG under
// photoLimit. A JPEG that fits is kept byte for byte; anything else is
// decoded and encoded again as JPEG, halved in size until it fits
// (downscaled reports that).
func preparePhoto(data []byte) (out []byte, downscaled bool, err error) {
	if len(data) == 0 {
		return nil, false, errors.New("the photo is empty")
	}
	if http.DetectContentType(data) == "image/jpeg" && len(data) <= photoLimit {
		return data, false, nil
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, false, fmt.Errorf("the photo is not an image galmirror reads (JPEG, PNG, GIF): %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPhotoPixels {
		return nil, false, fmt.Errorf("the photo is %d×%d pixels: more than galmirror decodes (%d pixels)", cfg.Width, cfg.Height, maxPhotoPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, false, fmt.Errorf("the %s photo does not decode: %w", format, err)
	}
	for {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 88}); err != nil {
			return nil, false, fmt.Errorf("encode the photo as JPEG: %w", err)
		}
		if buf.Len() <= photoLimit {
			return buf.Bytes(), downscaled, nil
		}
		b := img.Bounds()
		if b.Dx() < 32 || b.Dy() < 32 {
			return nil, false, fmt.Errorf("the photo does not fit in %d bytes", photoLimit)
		}
		img, downscaled = halve(img), true
	}
}

// halve scales an image to half its width and height, each pixel the
// average of the four it replaces.
func halve(src image.Image) *image.RGBA {
	b := src.Bounds()
	in, ok := src.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) {
		in = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(in, in.Bounds(), src, b.Min, draw.Src)
	}
	w, h := b.Dx()/2, b.Dy()/2
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		r0 := in.Pix[(2*y)*in.Stride:]
		r1 := in.Pix[(2*y+1)*in.Stride:]
		o := out.Pix[y*out.Stride:]
		for x := range w {
			for c := range 4 {
				i := 8*x + c
				sum := int(r0[i]) + int(r0[i+4]) + int(r1[i]) + int(r1[i+4])
				o[4*x+c] = uint8((sum + 2) / 4)
			}
		}
	}
	return out
}
