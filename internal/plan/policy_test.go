package plan

import (
	"strings"
	"testing"
)

// TestFieldPolicy plans one contact's mobile phone under each field policy
// (overwrite, fillBlank, never) against owner edits, owner clears and
// source changes. The mailbox's contact is described by what galmirror
// knows of it: Actual (read this run), Base (what the stored hash stands
// for) or neither.
func TestFieldPolicy(t *testing.T) {
	orig := person("1", "Zoë", "Ångström")
	orig.MobilePhone = "+1 425 555 0199"
	with := func(mobile, title string) *Fields {
		f := orig
		f.MobilePhone = mobile
		if title != "" {
			f.JobTitle = title
		}
		return &f
	}
	const src, owner, newSrc = "+1 425 555 0199", "+49 170 1234567", "+1 425 555 0111"
	policies := map[string]Policy{
		"overwrite": {Mask: AllFields},
		"fillBlank": {Mask: AllFields, FillBlank: FieldMask(MobilePhone)},
		"never":     {Mask: AllFields &^ FieldMask(MobilePhone)},
	}
	all := AllFields.String()
	noMobile := (AllFields &^ FieldMask(MobilePhone)).String()
	type scene struct {
		name    string
		desired *Fields // the source's content now
		actual  *Fields // the contact as read this run (nil: not read)
		base    bool    // the stored hash stands for orig and orig is given
		stale   bool    // the stored hash stands for something unknown
		created bool    // no contact yet
		want    map[string]string
	}
	scenes := []scene{
		{name: "new contact", desired: &orig, created: true, want: map[string]string{
			"overwrite": "create " + all + " new", "fillBlank": "create " + all + " new", "never": "create " + noMobile + " new"}},
		{name: "owner edits the field", desired: &orig, actual: with(owner, ""), want: map[string]string{
			"overwrite": "update displayName,mobilePhone edited", "fillBlank": "unchanged", "never": "unchanged"}},
		{name: "owner clears the field", desired: &orig, actual: with("", ""), want: map[string]string{
			"overwrite": "update displayName,mobilePhone edited", "fillBlank": "update displayName,mobilePhone edited", "never": "unchanged"}},
		{name: "source changes the field", desired: with(newSrc, ""), base: true, want: map[string]string{
			"overwrite": "update displayName,mobilePhone changed", "fillBlank": "unchanged", "never": "unchanged"}},
		{name: "source clears the field", desired: with("", ""), base: true, want: map[string]string{
			"overwrite": "update displayName,mobilePhone changed", "fillBlank": "unchanged", "never": "unchanged"}},
		{name: "source changes the field the owner edited", desired: with(newSrc, ""), actual: with(owner, ""), want: map[string]string{
			"overwrite": "update displayName,mobilePhone changed", "fillBlank": "unchanged", "never": "unchanged"}},
		{name: "source changes the field the owner cleared", desired: with(newSrc, ""), actual: with("", ""), want: map[string]string{
			"overwrite": "update displayName,mobilePhone changed", "fillBlank": "update displayName,mobilePhone edited", "never": "unchanged"}},
		{name: "owner clears the field the source cleared too", desired: with("", ""), actual: with("", ""), want: map[string]string{
			"overwrite": "adopt", "fillBlank": "unchanged", "never": "unchanged"}},
		{name: "owner edits the field and an overwrite field", desired: &orig, actual: with(owner, "Owner's title"), want: map[string]string{
			"overwrite": "update displayName,jobTitle,mobilePhone edited", "fillBlank": "update displayName,jobTitle edited", "never": "update displayName,jobTitle edited"}},
		{name: "source changes the field and another, contact unknown", desired: with(newSrc, "Director"), stale: true, want: map[string]string{
			"overwrite": "update " + all + " changed", "fillBlank": "update " + noMobile + " changed", "never": "update " + noMobile + " changed"}},
	}
	for _, sc := range scenes {
		for _, name := range []string{"overwrite", "fillBlank", "never"} {
			t.Run(sc.name+"/"+name, func(t *testing.T) {
				pol := policies[name]
				pol.DeletesAllowed = true
				hm := pol.HashMask()
				d := []Desired{{SourceID: "1", Fields: *sc.desired, Hash: Hash(*sc.desired, hm)}}
				var ex []Existing
				if !sc.created {
					e := Existing{SourceID: "1", ContactID: "c1", Hash: Hash(orig, hm), Actual: sc.actual, Mapped: true}
					if sc.base {
						b := orig
						e.Base = &b
					}
					if sc.stale {
						e.Hash = "1:stale"
					}
					ex = append(ex, e)
				}
				res := Plan(d, ex, pol)
				got := describe(res)
				if got != sc.want[name] {
					t.Errorf("got %q, want %q", got, sc.want[name])
				}
				// Pure: the caller's contents are not modified.
				if sc.actual != nil && sc.actual.MobilePhone != owner && sc.actual.MobilePhone != "" {
					t.Errorf("actual content modified: %+v", sc.actual)
				}
			})
		}
	}
}

// describe is a plan of at most one op in one line.
func describe(res Result) string {
	var parts []string
	for _, op := range res.Ops {
		parts = append(parts, op.Kind.String()+" "+op.Mask.String()+" "+op.Reason)
	}
	if res.Unchanged > 0 {
		parts = append(parts, "unchanged")
	}
	if len(res.Adopt) > 0 {
		parts = append(parts, "adopt")
	}
	return strings.Join(parts, "/")
}

func TestHashMask(t *testing.T) {
	if m := (Policy{}).HashMask(); m != AllFields {
		t.Fatalf("zero policy hash mask %v, want all fields", m)
	}
	p := Policy{Mask: AllFields, FillBlank: FieldMask(MobilePhone)}
	if p.HashMask().Has(MobilePhone) || !p.HashMask().Has(JobTitle) {
		t.Fatalf("hash mask %v: want every field but mobilePhone", p.HashMask())
	}
}

// TestFillBlankNeverDisplayName: displayName is always galmirror's
// (Exchange regenerates it), even if a caller marks it fillBlank.
func TestFillBlankNeverDisplayName(t *testing.T) {
	f := person("1", "Zoë", "Ångström")
	edited := f
	edited.DisplayName = "Zoë (owner)"
	pol := Policy{Mask: AllFields, FillBlank: FieldMask(DisplayName)}
	res := Plan([]Desired{{SourceID: "1", Fields: f}}, []Existing{{SourceID: "1", ContactID: "c1", Hash: Hash(f, AllFields), Actual: &edited}}, pol)
	if got := describe(res); got != "update displayName edited" {
		t.Fatalf("got %q, want the display name restored", got)
	}
}
