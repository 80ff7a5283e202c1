package plan

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update_ = flag.Bool("update", false, "rewrite golden files")

func person(id, given, sur string) Fields {
	return Fields{
		DisplayName:    given + " " + sur,
		GivenName:      given,
		Surname:        sur,
		FileAs:         sur + ", " + given,
		JobTitle:       "Engineer",
		BusinessPhones: []string{"+1 425 555 0100"},
		EmailAddresses: []Email{{Name: given + " " + sur, Address: strings.ToLower(given) + "@contoso.example"}},
	}
}

func allow() Policy {
	return Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, MinDeletesGuarded: 0}
}

// planCase is a mailbox's desired and existing contacts and the plan
// Plan must make for them.
type planCase struct {
	name     string
	desired  []Desired
	existing []Existing
	pol      Policy
	want     []string // "kind source mask reason"
	unchg    int
	held     int
	adopt    int
	kept     int
}

// zoeFields are a contact's fields, with its hash and two variants.
func zoeFields() (f, newTitle, noPhone Fields, hash string) {
	f = person("1", "Zoë", "Ångström")
	newTitle, noPhone = f, f
	newTitle.JobTitle = "Director"
	noPhone.BusinessPhones = nil
	return f, newTitle, noPhone, Hash(f, AllFields)
}

// planWriteCases are the creates, updates and adoptions.
func planWriteCases() []planCase {
	zoe, zoeNewTitle, zoeNoPhone, zoeHash := zoeFields()
	return []planCase{
		{
			name:    "new contact is created with every managed field",
			desired: []Desired{{SourceID: "1", Fields: zoe}},
			pol:     allow(),
			want:    []string{"create 1 " + AllFields.String() + " new"},
		},
		{
			name:     "same hash is unchanged",
			desired:  []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: zoeHash}},
			pol:      allow(),
			unchg:    1,
		},
		{
			name:     "changed source with known base patches only the changed field and displayName",
			desired:  []Desired{{SourceID: "1", Fields: zoeNewTitle}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: zoeHash, Base: &zoe}},
			pol:      allow(),
			want:     []string{"update 1 displayName,jobTitle changed"},
		},
		{
			name:     "cleared field is sent",
			desired:  []Desired{{SourceID: "1", Fields: zoeNoPhone}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: zoeHash, Base: &zoe}},
			pol:      allow(),
			want:     []string{"update 1 displayName,businessPhones changed"},
		},
		{
			name:     "changed source with unknown base sends every field",
			desired:  []Desired{{SourceID: "1", Fields: zoeNewTitle}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: "1:stale"}},
			pol:      allow(),
			want:     []string{"update 1 " + AllFields.String() + " changed"},
		},
		{
			name:     "owner edit is restored",
			desired:  []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: zoeHash, Actual: &zoeNewTitle}},
			pol:      allow(),
			want:     []string{"update 1 displayName,jobTitle edited"},
		},
		{
			name:     "read content equal to desired adopts without writing",
			desired:  []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: "", Actual: &zoe}},
			pol:      allow(),
			adopt:    1,
		},
	}
}

// planNarrowCases are plans of part of a mailbox (Policy.Managed).
func planNarrowCases() []planCase {
	return []planCase{
		{
			name:     "a narrow plan weighs deletes against every managed contact",
			desired:  nil,
			existing: []Existing{{SourceID: "2", ContactID: "c2"}},
			pol:      Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, Managed: 10},
			want:     []string{"delete 2 - gone"},
		},
		{
			name:     "a narrow plan of a small mailbox still holds a mass delete",
			desired:  nil,
			existing: []Existing{{SourceID: "2", ContactID: "c2"}, {SourceID: "3", ContactID: "c3"}},
			pol:      Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, Managed: 10},
			held:     2,
		},
	}
}

// planDeleteCases are the deletes, the mass-delete guard and duplicates.
func planDeleteCases() []planCase {
	zoe, zoeNewTitle, _, zoeHash := zoeFields()
	return []planCase{
		{
			name:     "gone source is deleted",
			desired:  []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: zoeHash}, {SourceID: "2", ContactID: "c2", Hash: "x"}},
			pol:      Policy{DeletesAllowed: true, MaxDeleteFraction: 0.5},
			want:     []string{"delete 2 - gone"},
			unchg:    1,
		},
		{
			name:     "no deletes when not allowed",
			desired:  nil,
			existing: []Existing{{SourceID: "2", ContactID: "c2", Hash: "x"}},
			pol:      Policy{DeletesAllowed: false, MaxDeleteFraction: 1},
		},
		{
			name:     "mass delete is held",
			desired:  []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "c1", Hash: zoeHash}, {SourceID: "2", ContactID: "c2"}, {SourceID: "3", ContactID: "c3"}},
			pol:      allow(),
			unchg:    1,
			held:     2,
		},
		{
			name:     "mass delete allowed by override",
			desired:  nil,
			existing: []Existing{{SourceID: "2", ContactID: "c2"}, {SourceID: "3", ContactID: "c3"}},
			pol:      Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, AllowMassDelete: true},
			want:     []string{"delete 2 - gone", "delete 3 - gone"},
		},
		{
			name:     "few deletes never trip the guard",
			desired:  nil,
			existing: []Existing{{SourceID: "2", ContactID: "c2"}},
			pol:      Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, MinDeletesGuarded: 3},
			want:     []string{"delete 2 - gone"},
		},
		{
			name:     "duplicates of one source collapse to the hashed one",
			desired:  []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "a", Hash: ""}, {SourceID: "1", ContactID: "b", Hash: zoeHash}},
			pol:      Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, MinDeletesGuarded: 3},
			want:     []string{"delete 1 a duplicate"},
			unchg:    1,
		},
		{
			name:    "the mapped original is kept, not the copy with the lowest id",
			desired: []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "a", Hash: zoeHash},
				{SourceID: "1", ContactID: "b", Hash: zoeHash, Mapped: true}},
			pol:   Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, MinDeletesGuarded: 3},
			want:  []string{"delete 1 a duplicate"},
			unchg: 1,
		},
		{
			name:    "a copy holding the owner's data is left alone",
			desired: []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "a", Hash: zoeHash, OwnerData: true},
				{SourceID: "1", ContactID: "b", Hash: zoeHash, Mapped: true}},
			pol:   Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, MinDeletesGuarded: 3},
			unchg: 1,
			kept:  1,
		},
		{
			name:    "unmapped: the copy holding the owner's data is the one set aside",
			desired: []Desired{{SourceID: "1", Fields: zoe}},
			existing: []Existing{{SourceID: "1", ContactID: "a", Hash: zoeHash, OwnerData: true},
				{SourceID: "1", ContactID: "b", Hash: zoeHash}},
			pol:   Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, MinDeletesGuarded: 3},
			unchg: 1,
			kept:  1,
		},
		{
			name:    "surplus copies count against the mass-delete guard",
			desired: []Desired{{SourceID: "1", Fields: zoe}, {SourceID: "2", Fields: zoe}, {SourceID: "3", Fields: zoe}, {SourceID: "4", Fields: zoe}},
			existing: []Existing{
				{SourceID: "1", ContactID: "a1", Hash: zoeHash, Mapped: true}, {SourceID: "1", ContactID: "b1", Hash: zoeHash},
				{SourceID: "2", ContactID: "a2", Hash: zoeHash, Mapped: true}, {SourceID: "2", ContactID: "b2", Hash: zoeHash},
				{SourceID: "3", ContactID: "a3", Hash: zoeHash, Mapped: true}, {SourceID: "3", ContactID: "b3", Hash: zoeHash},
				{SourceID: "4", ContactID: "a4", Hash: zoeHash, Mapped: true}, {SourceID: "4", ContactID: "b4", Hash: zoeHash}},
			pol:   Policy{DeletesAllowed: true, MaxDeleteFraction: 0.1, MinDeletesGuarded: 3},
			unchg: 4,
			held:  4,
		},
		{
			name:    "repeated desired source is planned once",
			desired: []Desired{{SourceID: "1", Fields: zoe}, {SourceID: "1", Fields: zoeNewTitle}, {SourceID: "", Fields: zoe}},
			pol:     allow(),
			want:    []string{"create 1 " + AllFields.String() + " new"},
		},
	}
}

func TestPlanTable(t *testing.T) {
	for _, tc := range slices.Concat(planWriteCases(), planDeleteCases(), planNarrowCases()) {
		t.Run(tc.name, func(t *testing.T) { checkPlan(t, tc) })
	}
}

// checkPlan plans tc and compares the operations and counts.
func checkPlan(t *testing.T, tc planCase) {
	res := Plan(tc.desired, tc.existing, tc.pol)
	var got []string
	for _, op := range res.Ops {
		mask := op.Mask.String()
		if op.Kind == Delete {
			mask = "-"
			if op.Reason == "duplicate" {
				mask = op.ContactID
			}
		}
		got = append(got, fmt.Sprintf("%s %s %s %s", op.Kind, op.SourceID, mask, op.Reason))
	}
	if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
		t.Errorf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
	}
	if res.Unchanged != tc.unchg || res.HeldDeletes != tc.held || len(res.Adopt) != tc.adopt || res.KeptCopies != tc.kept {
		t.Errorf("unchanged %d held %d adopt %d kept %d, want %d %d %d %d", res.Unchanged, res.HeldDeletes, len(res.Adopt), res.KeptCopies,
			tc.unchg, tc.held, tc.adopt, tc.kept)
	}
}

func TestHashStable(t *testing.T) {
	a := person("1", "José", "Núñez")
	b := a
	b.BusinessPhones = append(make([]string, 0, 10), a.BusinessPhones...)
	if Hash(a, AllFields) != Hash(b, AllFields) {
		t.Fatal("hash depends on slice capacity")
	}
	c := a
	c.BusinessPhones = []string{}
	d := a
	d.BusinessPhones = nil
	if Hash(c, AllFields) != Hash(d, AllFields) {
		t.Fatal("empty and nil slices hash differently")
	}
	e := a
	e.JobTitle = "Other"
	if Hash(a, AllFields) == Hash(e, AllFields) {
		t.Fatal("different content, same hash")
	}
	// Unmanaged fields do not affect the hash.
	if Hash(a, AllFields&^FieldMask(JobTitle)) != Hash(e, AllFields&^FieldMask(JobTitle)) {
		t.Fatal("unmanaged field changed the hash")
	}
	if !strings.HasPrefix(Hash(a, AllFields), hashVersion) {
		t.Fatal("hash lacks its version prefix")
	}
}

func TestEmailCaseIsNotAChange(t *testing.T) {
	a := person("1", "Anna", "Berg")
	b := a
	b.EmailAddresses = []Email{{Name: a.EmailAddresses[0].Name, Address: strings.ToUpper(a.EmailAddresses[0].Address)}}
	if d := Diff(a, b, AllFields); d != 0 {
		t.Fatalf("diff %v, want none", d)
	}
}

func TestFieldNames(t *testing.T) {
	for _, f := range AllFields.Fields() {
		g, ok := FieldByName(f.GraphName())
		if !ok || g != f {
			t.Fatalf("field %v does not round-trip through its name %q", f, f.GraphName())
		}
	}
	if _, ok := FieldByName("nickName"); ok {
		t.Fatal("unknown name resolved")
	}
}

// goldenCase is one file in testdata/golden: the input of a plan and the
// operations it must produce.
type goldenCase struct {
	Desired  []Desired  `json:"desired"`
	Existing []Existing `json:"existing"`
	Policy   Policy     `json:"policy"`
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.in.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var c goldenCase
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			res := Plan(c.Desired, c.Existing, c.Policy)
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out := strings.TrimSuffix(in, ".in.json") + ".out.json"
			if *update_ {
				if err := os.WriteFile(out, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
				t.Errorf("plan differs from %s:\n%s", out, got)
			}
		})
	}
}

func BenchmarkPlan5000(b *testing.B) {
	var desired []Desired
	var existing []Existing
	for i := range 5000 {
		id := fmt.Sprintf("%08d-0000-0000-0000-000000000000", i)
		f := person(id, fmt.Sprintf("Given%d", i), fmt.Sprintf("Sur%d", i))
		desired = append(desired, Desired{SourceID: id, Fields: f, Hash: Hash(f, AllFields)})
		h := Hash(f, AllFields)
		if i%100 == 0 {
			h = "1:old" // 1% changed
		}
		existing = append(existing, Existing{SourceID: id, ContactID: "c" + id, Hash: h, Base: &f})
	}
	b.ReportAllocs()
	for b.Loop() {
		Plan(desired, existing, allow())
	}
}

func BenchmarkHash(b *testing.B) {
	f := person("1", "Zoë", "Ångström")
	b.ReportAllocs()
	for b.Loop() {
		Hash(f, AllFields)
	}
}
