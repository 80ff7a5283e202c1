package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPhotos(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	if ps, err := s.SourcePhotos(ctx, "contoso"); err != nil || len(ps) != 0 {
		t.Fatalf("unknown tenant: %v, %v", ps, err)
	}
	a := SourcePhoto{SourceID: "a", ETag: `"E1"`, Hash: "h1", Size: 10}
	b := SourcePhoto{SourceID: "b", Hash: "h2", Size: 20}
	if err := s.SaveSourcePhotos(ctx, "contoso", []SourcePhoto{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	a.ETag, a.Hash = `"E2"`, "h3"
	if err := s.SaveSourcePhotos(ctx, "contoso", []SourcePhoto{a}, []string{"b", "unknown"}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.SourcePhotos(ctx, "contoso")
	if err != nil || !maps.Equal(ps, map[string]SourcePhoto{"a": a}) {
		t.Fatalf("source photos %v, %v", ps, err)
	}

	if err := s.SaveContactPhotos(ctx, "contoso", "m1", []ContactPhoto{{SourceID: "a", ContactID: "c1", Hash: "h1"}}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown mailbox: %v", err)
	}
	if err := s.BeginMailbox(ctx, "contoso", "m1", "ann@contoso.com"); err != nil {
		t.Fatal(err)
	}
	ups := []ContactPhoto{{SourceID: "a", ContactID: "c1", Hash: "h1"}, {SourceID: "b", ContactID: "c2", Hash: "h2"}}
	if err := s.SaveContactPhotos(ctx, "contoso", "m1", ups, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveContactPhotos(ctx, "contoso", "m1", []ContactPhoto{{SourceID: "a", ContactID: "c9", Hash: "h3"}}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ContactPhotos(ctx, "contoso", "m1", []string{"a", "b", "z"})
	if err != nil || !maps.Equal(got, map[string]ContactPhoto{"a": {SourceID: "a", ContactID: "c9", Hash: "h3"}}) {
		t.Fatalf("contact photos %v, %v", got, err)
	}
	if got, err := s.ContactPhotos(ctx, "contoso", "nobody", []string{"a"}); err != nil || len(got) != 0 {
		t.Fatalf("unknown mailbox: %v, %v", got, err)
	}
}

func TestPhotoCache(t *testing.T) {
	s, dir := openTest(t, Options{})
	ctx := t.Context()
	data := []byte("\xff\xd8 a jpeg")
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if _, err := s.Photo(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty cache: %v", err)
	}
	if err := s.PutPhoto(h, []byte("other")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("wrong hash: %v", err)
	}
	if _, err := s.Photo("../../etc/passwd"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a path as hash: %v", err)
	}
	if err := s.PutPhoto(h, data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Photo(h); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Photo: %q, %v", got, err)
	}
	// Damaged: not served.
	path := filepath.Join(dir, "photos", h+".jpg")
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Photo(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("damaged: %v", err)
	}
	// Pruned once unreferenced and older than a day.
	if err := s.PutPhoto(h, data); err != nil {
		t.Fatal(err)
	}
	if err := s.PrunePhotos(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Photo(h); err != nil {
		t.Fatalf("a fresh photo was pruned: %v", err)
	}
	old := time.Now().Add(-25 * time.Hour)
	os.Chtimes(path, old, old)
	if err := s.SaveSourcePhotos(ctx, "contoso", []SourcePhoto{{SourceID: "a", Hash: h}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PrunePhotos(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Photo(h); err != nil {
		t.Fatalf("a referenced photo was pruned: %v", err)
	}
	if err := s.SaveSourcePhotos(ctx, "contoso", nil, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PrunePhotos(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Photo(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an old unreferenced photo stayed: %v", err)
	}
}
