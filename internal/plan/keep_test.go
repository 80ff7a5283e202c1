package plan

import "testing"

// A source tenant whose directory could not be read: its contacts (under
// its prefix) are neither deleted nor counted as gone, copies included;
// the mailbox's own sources are planned as always.
func TestKeepUnreadSources(t *testing.T) {
	zoe, _, _, zoeHash := zoeFields()
	const fab = "11111111-2222-3333-4444-555555555555/"
	existing := []Existing{
		{SourceID: "1", ContactID: "c1", Hash: zoeHash, Mapped: true},
		{SourceID: "2", ContactID: "c2", Hash: zoeHash, Mapped: true},
		{SourceID: fab + "a", ContactID: "c3", Hash: zoeHash, Mapped: true},
		{SourceID: fab + "b", ContactID: "c4", Hash: zoeHash, Mapped: true},
		{SourceID: fab + "b", ContactID: "c5", Hash: zoeHash},
	}
	desired := []Desired{{SourceID: "1", Fields: zoe}}
	pol := allow()
	pol.MaxDeleteFraction = 1
	pol.Keep = []string{fab}
	res := Plan(desired, existing, pol)
	if len(res.Ops) != 1 || res.Ops[0].Kind != Delete || res.Ops[0].SourceID != "2" {
		t.Errorf("ops %+v, want the delete of source 2 only", res.Ops)
	}
	if res.Kept != 3 || res.Unchanged != 1 {
		t.Errorf("kept %d unchanged %d, want 3 and 1", res.Kept, res.Unchanged)
	}
	// Read again, the tenant's gone people go (under the guard).
	pol.Keep = nil
	if res := Plan(desired, existing, pol); len(res.Ops) != 4 || res.Kept != 0 {
		t.Errorf("without Keep: ops %+v kept %d, want 4 deletes", res.Ops, res.Kept)
	}
}
