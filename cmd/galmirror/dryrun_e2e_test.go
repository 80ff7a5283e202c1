//go:build linux

package main

import (
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// The dry run of an offboarding: narrowing target.groups previews the
// mailboxes that stop being targets and what goes from them, or what the
// mass-delete guard would hold back, with the exit code the real run then
// has; the real run does exactly that.
func TestDryRunPreviewsRemovalsThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 10)
	grp := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Phones"}
	for _, u := range tn.Users {
		grp.Members = append(grp.Members, u.ID)
	}
	if err := srv.PutGroup(tn.ID, grp); err != nil {
		t.Fatal(err)
	}
	ten := c.tenant("contoso", srv, tn, cred)
	ten["target"] = map[string]any{"groups": []string{grp.ID}}
	settings := c.settings(ten)
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK {
		t.Fatalf("sync exit %d\n%s\n%s", code, out, errOut)
	}

	// Two people leave the group: within the guard (minCount 3).
	grp.Members = grp.Members[2:]
	if err := srv.PutGroup(tn.ID, grp); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounters()
	code, out, errOut := c.run("sync", "--config", settings, "--dry-run")
	if code != exitOK || !strings.Contains(out, "2 no longer targets (their managed contacts to remove)") ||
		!strings.Contains(out, tn.Users[0].UserPrincipalName+": no longer a target: 9 managed contacts to delete") ||
		!strings.Contains(out, "0 to create, 0 to update, 18 to delete") || srv.Counters().Writes != 0 {
		t.Fatalf("dry run: exit %d, %d writes\n%s\n%s", code, srv.Counters().Writes, out, errOut)
	}
	code, out, errOut = c.run("sync", "--config", settings, "--dry-run", "--json")
	preview := jsonResult(t, out)
	if code != exitOK || preview["mailboxes"].(map[string]any)["removed"] != float64(2) {
		t.Fatalf("dry run --json: exit %d\n%s\n%s", code, out, errOut)
	}
	removals := 0
	for _, p := range preview["plan"].([]any) {
		if p := p.(map[string]any); p["status"] == "remove" && p["deletes"] == float64(9) {
			removals++
		}
	}
	if removals != 2 {
		t.Errorf("plan lists %d removals: %v", removals, preview["plan"])
	}
	code, out, errOut = c.run("sync", "--config", settings, "--json")
	real := jsonResult(t, out)
	if code != exitOK || real["mailboxes"].(map[string]any)["removed"] != float64(2) ||
		real["contacts"].(map[string]any)["deleted"] != preview["contacts"].(map[string]any)["deleted"] {
		t.Fatalf("real run: exit %d\n%s\n%s", code, out, errOut)
	}
	if f := managed(t, srv, tn, tn.Users[0].ID); f != nil {
		t.Errorf("a mailbox no longer a target kept its folder")
	}

	// A wrong group of one member: seven of eight would go; the guard
	// holds back, in the preview as in the run, with exit code 3.
	one := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Typo", Members: []string{tn.Users[9].ID}}
	if err := srv.PutGroup(tn.ID, one); err != nil {
		t.Fatal(err)
	}
	ten["target"] = map[string]any{"groups": []string{one.ID}}
	settings = c.settings(ten)
	code, out, errOut = c.run("sync", "--config", settings, "--dry-run")
	if code != exitPartial || !strings.Contains(out, "7 no longer targets HELD BACK") ||
		!strings.Contains(out, "no longer a target: removal of 9 managed contacts HELD BACK") {
		t.Fatalf("dry run of a wrong group: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = c.run("sync", "--config", settings, "--json")
	if res := jsonResult(t, out); code != exitPartial || res["mailboxes"].(map[string]any)["heldRemovals"] != float64(7) ||
		res["contacts"].(map[string]any)["heldDeletes"] != float64(63) {
		t.Fatalf("real run of a wrong group: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, u := range tn.Users[2:] {
		if managed(t, srv, tn, u.ID) == nil {
			t.Fatalf("mailbox %s lost its folder to a wrong target group", u.UserPrincipalName)
		}
	}
}
