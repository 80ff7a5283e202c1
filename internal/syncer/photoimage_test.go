package syncer

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

func noiseImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(7, 7))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	return img
}

func TestPreparePhoto(t *testing.T) {
	small := new(bytes.Buffer)
	jpeg.Encode(small, noiseImage(40, 30), nil)
	out, down, err := preparePhoto(small.Bytes())
	if err != nil || down || !bytes.Equal(out, small.Bytes()) {
		t.Fatalf("a small JPEG: %d bytes, downscaled %v, err %v; want it byte for byte", len(out), down, err)
	}

	pngb := new(bytes.Buffer)
	png.Encode(pngb, noiseImage(50, 40))
	out, down, err = preparePhoto(pngb.Bytes())
	if err != nil || down {
		t.Fatalf("a PNG: downscaled %v, err %v", down, err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(out)); err != nil || cfg.Width != 50 || cfg.Height != 40 {
		t.Fatalf("a PNG became %v, %v; want a 50×40 JPEG", cfg, err)
	}

	gifb := new(bytes.Buffer)
	gif.Encode(gifb, image.NewPaletted(image.Rect(0, 0, 10, 10), color.Palette{color.Black, color.White}), nil)
	if _, _, err := preparePhoto(gifb.Bytes()); err != nil {
		t.Fatalf("a GIF: %v", err)
	}

	// Over 4 MB: halved until the JPEG fits.
	big := new(bytes.Buffer)
	jpeg.Encode(big, noiseImage(2600, 2600), &jpeg.Options{Quality: 100})
	if big.Len() <= photoLimit {
		t.Fatalf("test image is %d bytes, want over %d", big.Len(), photoLimit)
	}
	out, down, err = preparePhoto(big.Bytes())
	if err != nil || !down || len(out) > photoLimit {
		t.Fatalf("a %d-byte JPEG: %d bytes, downscaled %v, err %v", big.Len(), len(out), down, err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(out)); err != nil || cfg.Width >= 2600 {
		t.Fatalf("downscaled photo %v, %v", cfg, err)
	}

	for name, data := range map[string][]byte{"empty": nil, "text": []byte("not an image"), "truncated png": pngb.Bytes()[:60]} {
		if _, _, err := preparePhoto(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzPreparePhoto: whatever a directory holds as a photo, preparing it
// never panics, and what it returns is a JPEG under the limit.
func FuzzPreparePhoto(f *testing.F) {
	for _, img := range []image.Image{noiseImage(8, 8), image.NewGray(image.Rect(0, 0, 3, 5))} {
		var b bytes.Buffer
		png.Encode(&b, img)
		f.Add(b.Bytes())
		b.Reset()
		jpeg.Encode(&b, img, nil)
		f.Add(b.Bytes())
	}
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := preparePhoto(data)
		if err != nil {
			return
		}
		if len(out) > photoLimit || len(out) == 0 {
			t.Fatalf("prepared photo of %d bytes", len(out))
		}
	})
}
