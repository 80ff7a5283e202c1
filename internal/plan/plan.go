package plan

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Desired is a contact the mailbox should have.
type Desired struct {
	SourceID string
	Fields   Fields
	// Hash is Hash(Fields, mask) when the caller computed it already (once
	// per person and run, not once per mailbox); empty means compute it.
	Hash string `json:",omitempty"`
}

// Existing is a managed contact (one carrying galmirror's source-id mark) in
// the mailbox's managed folder, as far as galmirror knows it.
type Existing struct {
	SourceID  string
	ContactID string
	// Hash is the content hash galmirror last wrote (from the store or the
	// contact's hash mark).
	Hash string
	// Actual is the contact's current content when it was read this run (a
	// contacts-delta change or a reconcile). Nil means the content is
	// believed to be what Hash says.
	Actual *Fields
	// Base is the content Hash stands for, when the caller knows it (the
	// previous desired content of the source, given only when its hash
	// equals Hash). It lets an update send only the fields that changed;
	// without it an update sends every field.
	Base *Fields
	// Mapped says galmirror's contact map holds this contact: of two
	// contacts with one source id, the mapped one is the original.
	Mapped bool
	// OwnerData says the contact holds data galmirror does not manage
	// (notes, home phone, ...): a copy the owner made and filled in, which
	// Outlook gave galmirror's mark too. Such a copy is never deleted.
	OwnerData bool
}

// Policy carries the decisions that are not about content.
type Policy struct {
	// Mask is the set of fields galmirror writes (a field outside it,
	// policy "never", is neither written nor cleared).
	Mask FieldMask
	// FillBlank are the fields of Mask that galmirror writes only into an
	// empty contact field (policy "fillBlank"): on create, and when the
	// contact is read (Existing.Actual) with the field empty. A value in
	// such a field, the owner's or one galmirror wrote before, stays;
	// source changes and clears of these fields are not written over it.
	// The content hash covers the other fields only (HashMask).
	FillBlank FieldMask
	// DeletesAllowed is false when the source read was incomplete or the
	// mailbox had errors this run: then nothing is deleted.
	DeletesAllowed bool
	// MaxDeleteFraction of the mailbox's managed contacts may be deleted in
	// one run; above it every delete of the run is held back.
	MaxDeleteFraction float64
	// MinDeletesGuarded is the number of deletes that never trips the guard,
	// so that one leaver in a ten-person tenant is not "mass" deletion.
	MinDeletesGuarded int
	// AllowMassDelete overrides the guard (--allow-mass-delete).
	AllowMassDelete bool
	// ExcludeSource is left out of the desired contacts: a mailbox never
	// receives its own owner's contact.
	ExcludeSource string
	// Managed, when set, is the number of managed contacts in the mailbox
	// for the mass-delete guard: a narrow plan (the caller passes only the
	// desired and existing contacts of the sources that changed) sees a
	// few of them, and the guard must weigh deletes against them all.
	Managed int
	// Keep are source-id prefixes whose sources are unknown this run (a
	// source tenant whose directory could not be read): an existing
	// contact under one of them that is not desired is left as it is,
	// neither deleted nor counted as gone (Result.Kept).
	Keep []string
}

// HashMask is the mask the content hash is computed over: the fields
// galmirror keeps equal to the source (policy "overwrite"). Callers that
// compute Desired.Hash use it.
func (p Policy) HashMask() FieldMask {
	mask := p.Mask
	if mask == 0 {
		mask = AllFields
	}
	return mask &^ (p.FillBlank &^ FieldMask(DisplayName))
}

// OpKind is what an operation does.
type OpKind uint8

// Operation kinds.
const (
	Create OpKind = iota + 1
	Update
	Delete
)

func (k OpKind) String() string {
	switch k {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// Op is one write to the mailbox.
type Op struct {
	Kind     OpKind
	SourceID string
	// ContactID is the contact to update or delete; empty for a create.
	ContactID string
	// Fields is the full desired content (create, update). It points at
	// the caller's Desired entry: a plan holds no copy of any content, so
	// many mailboxes' plans can be in memory at once.
	Fields *Fields
	// Mask is, for an update, the fields to send (cleared fields included,
	// as explicit empty values); for a create, the managed fields.
	Mask FieldMask
	// Hash is the content hash to write with the contact and store.
	Hash string
	// Reason says why, for dry runs and logs: "new", "changed", "edited",
	// "duplicate", "gone".
	Reason string
}

// Result is the plan for one mailbox.
type Result struct {
	Ops []Op
	// Unchanged counts desired contacts that need no write.
	Unchanged int
	// Adopt lists existing contacts whose stored hash must be refreshed
	// without a write (their content already equals the desired content).
	Adopt []Existing
	// Duplicates are the contacts set aside because another contact has
	// the same source id (one per source id is kept): deleted, held back,
	// or left alone when they hold the owner's data.
	Duplicates []Existing
	// KeptCopies counts duplicates left alone because they hold data
	// galmirror does not manage.
	KeptCopies int
	// HeldDeletes counts deletes held back by the mass-delete guard
	// (contacts whose source is gone, and surplus copies).
	HeldDeletes int
	// SkippedDeletes counts deletes not planned because deletes were not
	// allowed this run.
	SkippedDeletes int
	// Kept counts contacts left as they are because their source is
	// unknown this run (Policy.Keep), their copies included.
	Kept int
}

// Counts returns the number of creates, updates and deletes in the plan.
func (r Result) Counts() (creates, updates, deletes int) {
	for _, op := range r.Ops {
		switch op.Kind {
		case Create:
			creates++
		case Update:
			updates++
		case Delete:
			deletes++
		}
	}
	return
}

// Plan computes the operations that make a mailbox's managed contacts equal
// the desired ones. Desired entries with an empty or repeated SourceID are
// ignored after the first; existing contacts that share a source id are
// duplicates: one is kept (better) and the others deleted, under the mass-delete guard
// like any delete, except copies that hold the owner's data, which are
// left alone and counted.
func Plan(desired []Desired, existing []Existing, pol Policy) Result {
	var res Result
	mask := pol.Mask
	if mask == 0 {
		mask = AllFields
	}
	fill := mask &^ pol.HashMask()
	have := res.index(existing)
	seen := make(map[string]bool, len(desired))
	for i := range desired {
		d := &desired[i]
		if d.SourceID == "" || seen[d.SourceID] || d.SourceID == pol.ExcludeSource {
			continue
		}
		seen[d.SourceID] = true
		res.planOne(d, have, mask, fill)
	}
	res.planDeletes(have, seen, pol)
	return res
}

// index indexes the existing contacts by source id, setting duplicates
// aside (res.Duplicates).
func (res *Result) index(existing []Existing) map[string]Existing {
	have := make(map[string]Existing, len(existing))
	for _, e := range sortedExisting(existing) {
		if prev, ok := have[e.SourceID]; ok {
			keep, drop := prev, e
			if better(e, prev) {
				keep, drop = e, prev
			}
			have[e.SourceID] = keep
			res.Duplicates = append(res.Duplicates, drop)
			continue
		}
		have[e.SourceID] = e
	}
	return have
}

// planOne plans one desired contact: create it, update it, refresh its
// mark, or count it unchanged. mask is every field written, fill the
// fillBlank ones among them: the hash and the restoring of owner edits
// cover mask&^fill; a fill field is written on create and into an empty
// field of a contact read this run.
func (res *Result) planOne(d *Desired, have map[string]Existing, mask, fill FieldMask) {
	want := &d.Fields
	over := mask &^ fill
	hash := d.Hash
	if hash == "" {
		hash = Hash(d.Fields, over)
	}
	e, ok := have[d.SourceID]
	if !ok {
		res.Ops = append(res.Ops, Op{Kind: Create, SourceID: d.SourceID, Fields: want, Mask: mask, Hash: hash, Reason: "new"})
		return
	}
	switch {
	case e.Actual != nil:
		changed := Diff(*e.Actual, d.Fields, over) | blanks(*e.Actual, d.Fields, fill)
		if changed == 0 {
			if e.Hash != hash {
				e.Hash = hash
				res.Adopt = append(res.Adopt, e)
			} else {
				res.Unchanged++
			}
			return
		}
		reason := "edited"
		if e.Hash != hash {
			reason = "changed"
		}
		res.Ops = append(res.Ops, update(e, want, changed, hash, reason))
	case e.Hash == hash:
		res.Unchanged++
	case e.Base != nil:
		changed := Diff(*e.Base, d.Fields, over)
		if changed == 0 {
			// Same content under a different hash (a mask change):
			// only the mark needs refreshing.
			changed = FieldMask(DisplayName)
		}
		res.Ops = append(res.Ops, update(e, want, changed, hash, "changed"))
	default:
		// The contact's content is unknown: every field but the
		// fillBlank ones, which may hold the owner's value.
		res.Ops = append(res.Ops, update(e, want, over, hash, "changed"))
	}
}

// planDeletes plans the deletes: contacts whose source is gone, then
// surplus copies; one guard over both (a doubling bug must not delete half
// a folder).
func (res *Result) planDeletes(have map[string]Existing, seen map[string]bool, pol Policy) {
	var gone, surplus []Existing
	for _, e := range have {
		switch {
		case seen[e.SourceID]:
		case kept(e.SourceID, pol.Keep):
			res.Kept++
		default:
			gone = append(gone, e)
		}
	}
	slices.SortFunc(gone, func(a, b Existing) int { return cmp.Compare(a.SourceID, b.SourceID) })
	for _, e := range res.Duplicates {
		if !seen[e.SourceID] && kept(e.SourceID, pol.Keep) {
			res.Kept++
			continue
		}
		if e.OwnerData {
			res.KeptCopies++
			continue
		}
		surplus = append(surplus, e)
	}
	n := len(gone) + len(surplus)
	switch {
	case !pol.DeletesAllowed:
		res.SkippedDeletes = n
	case n > 0 && massDelete(n, max(pol.Managed, len(have)+len(res.Duplicates)), pol):
		res.HeldDeletes = n
	default:
		for _, e := range gone {
			res.Ops = append(res.Ops, Op{Kind: Delete, SourceID: e.SourceID, ContactID: e.ContactID, Reason: "gone"})
		}
		for _, e := range surplus {
			res.Ops = append(res.Ops, Op{Kind: Delete, SourceID: e.SourceID, ContactID: e.ContactID, Reason: "duplicate"})
		}
	}
}

// kept reports whether id is under one of the prefixes.
func kept(id string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// better reports whether a, of two contacts with one source id, is the one
// to keep: the mapped original; else one without the owner's own data (the
// filled-in copy is theirs and stays aside); else one with a hash mark;
// else (sortedExisting) the lowest id.
func better(a, b Existing) bool {
	switch {
	case a.Mapped != b.Mapped:
		return a.Mapped
	case a.OwnerData != b.OwnerData:
		return !a.OwnerData
	}
	return b.Hash == "" && a.Hash != ""
}

// update builds an update op. displayName is always sent: Exchange
// regenerates it when name parts change, so an update that omitted it could
// leave a name galmirror did not choose.
func update(e Existing, want *Fields, changed FieldMask, hash, reason string) Op {
	return Op{
		Kind:      Update,
		SourceID:  e.SourceID,
		ContactID: e.ContactID,
		Fields:    want,
		Mask:      changed | FieldMask(DisplayName),
		Hash:      hash,
		Reason:    reason,
	}
}

// massDelete reports whether deleting n of total managed contacts trips the
// guard.
func massDelete(n, total int, pol Policy) bool {
	if pol.AllowMassDelete || n <= pol.MinDeletesGuarded {
		return false
	}
	limit := int(math.Floor(pol.MaxDeleteFraction * float64(total)))
	return n > limit
}

// sortedExisting orders existing contacts by source id, then contact id, so
// that duplicate resolution does not depend on input order.
func sortedExisting(in []Existing) []Existing {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b Existing) int {
		return cmp.Or(cmp.Compare(a.SourceID, b.SourceID), cmp.Compare(a.ContactID, b.ContactID))
	})
	return out
}

// MarshalText encodes the kind by name.
func (k OpKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
