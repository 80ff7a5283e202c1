package store

import (
	"errors"
	"maps"
	"testing"
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
