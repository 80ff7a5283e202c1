package syncer

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// places counts, per mailbox and source, galmirror's contacts in the
// default Contacts folder and in the managed folder; it fails on two for
// one source in one place.
func (e *env) places(userID string) (inDefault, inFolder map[string]int) {
	e.t.Helper()
	count := func(cs []graphsim.Contact, where string) map[string]int {
		out := map[string]int{}
		for _, c := range cs {
			for _, p := range c.ExtendedProperties {
				if strings.EqualFold(p.ID, PropSourceID) {
					if out[p.Value]++; out[p.Value] > 1 {
						e.t.Fatalf("mailbox %s: two contacts for %s in the %s", userID, p.Value, where)
					}
				}
			}
		}
		return out
	}
	inDefault = count(e.folders(userID)[0].Contacts, "default folder")
	inFolder = map[string]int{}
	if f := e.folder(userID); f != nil {
		inFolder = count(f.Contacts, "managed folder")
	}
	return inDefault, inFolder
}

// Moves between the modes under writes that commit and are answered 5xx
// and batches whose connection drops: no run makes a duplicate in either
// place or leaves a source without a contact in at least one of them, no
// old place loses a contact before the new place holds it, and runs
// without faults finish the move.
func TestFolderModeMovesUnderFaults(t *testing.T) {
	users := manyUsers(8)
	e := newEnv(t, users, func(o *graphsim.Options) {
		o.Faults = graphsim.Faults{AfterCommitRate: 0.25, BatchDropRate: 0.05, RetryAfter503: 10 * time.Millisecond}
	})
	e.opts.Pacer.RetryBudget = time.Minute
	e.opts.ItemAttempts = 16
	noLoss := func(when string) {
		t.Helper()
		for _, u := range users {
			d, f := e.places(u.ID)
			for _, s := range users {
				if s.ID != u.ID && d[s.ID]+f[s.ID] == 0 {
					t.Fatalf("%s: mailbox %s has no contact for %s in either place", when, u.UserPrincipalName, s.ID)
				}
			}
		}
	}
	in := func(want string) {
		t.Helper()
		for _, u := range users {
			d, f := e.places(u.ID)
			if n := map[string]int{"default": len(d), "folder": len(f)}; n[want] != len(users)-1 || len(d)+len(f) != len(users)-1 {
				t.Fatalf("mailbox %s: %d contacts of galmirror's in the default folder, %d in the managed folder; want all %d in the %s place",
					u.UserPrincipalName, len(d), len(f), len(users)-1, want)
			}
		}
	}
	for i, mode := range []string{"folder", "default", "folder", "default"} {
		e.settings = map[string]any{"folder": map[string]any{"mode": mode}}
		e.writeSettings()
		e.srv.SetFaults(graphsim.Faults{AfterCommitRate: 0.25, BatchDropRate: 0.05, RetryAfter503: 10 * time.Millisecond})
		for run := range 2 {
			if res := e.sync(RunOptions{}); res.Status == StatusFailed {
				t.Fatalf("%s run %d failed: %+v", mode, run, res.Failure)
			}
			if i > 0 {
				noLoss(fmt.Sprintf("move %d to %s, run %d", i, mode, run))
			}
		}
		e.srv.SetFaults(graphsim.Faults{})
		mustOK(t, e.sync(RunOptions{}))
		in(mode)
		if res := e.sync(RunOptions{}); res.Contacts.Created+res.Contacts.Updated+res.Contacts.Deleted != 0 {
			t.Fatalf("%s: a run after the move wrote %+v", mode, res.Contacts)
		}
	}
	if c := e.counters(); c.AfterCommitFaults == 0 {
		t.Fatal("no write was answered 5xx after committing: the test proves nothing")
	}
}
