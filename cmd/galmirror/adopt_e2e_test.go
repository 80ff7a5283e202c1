//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/report/schemacheck"
)

// otherProduct fills each mailbox with a folder as another GAL product
// leaves it: no galmirror marks, a contact per colleague with a stale job
// title, in the first mailbox a second contact of one colleague, and extra
// contacts no user of the directory has (extras[i] in mailbox i). It
// returns each mailbox's folder id.
func otherProduct(t *testing.T, srv *graphsim.Server, tn graphsim.Tenant, name string, extras []int) []string {
	t.Helper()
	var ids []string
	for i, u := range tn.Users {
		fid, err := srv.OwnerCreateFolder(tn.ID, u.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fid)
		add := func(display, mail string) {
			b, _ := json.Marshal(map[string]any{"displayName": display, "jobTitle": "Stale title",
				"emailAddresses": []map[string]string{{"address": mail, "name": display}}})
			if _, err := srv.OwnerCreateContact(tn.ID, u.ID, fid, b); err != nil {
				t.Fatal(err)
			}
		}
		for j, v := range tn.Users {
			if j != i {
				add(v.DisplayName, strings.ToUpper(v.Mail)) // matched ignoring case
			}
		}
		if i == 0 {
			add(tn.Users[1].DisplayName+" (copy)", tn.Users[1].Mail)
		}
		if i < len(extras) {
			for k := range extras[i] {
				add(fmt.Sprintf("Partner %d", k), fmt.Sprintf("partner%d@example.org", k))
			}
		}
	}
	return ids
}

// Switching from another product: its folder makes every mailbox fail
// (ForeignFolder); adopt-folder --dry-run reports what it would take over
// and writes nothing; --yes marks the folder and the contacts it can
// attribute, leaves the partner contact alone, and the sync then brings the
// folder in line (titles, the second contact of one colleague gone).
func TestAdoptFolderThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 4)
	folders := otherProduct(t, srv, tn, "Company Directory", []int{1})
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	if code, out, errOut := c.run("sync", "--config", settings); code != exitPartial || !strings.Contains(out, "ForeignFolder") {
		t.Fatalf("sync beside another product's folder: exit %d\n%s\n%s", code, out, errOut)
	}
	srv.ResetCounters()
	code, out, errOut := c.run("adopt-folder", "--config", settings, "--tenant", "contoso", "--folder", "Company Directory", "--dry-run")
	if code != exitOK || srv.Counters().Writes != 0 ||
		!strings.Contains(out, `would take over folder "Company Directory" in 4 mailboxes`) ||
		!strings.Contains(out, "13 matched by email (1 of them second contacts of one source)") ||
		!strings.Contains(out, `unmatched, left alone: user0@contoso.example: "Partner 0" <partner0@example.org>: no current source has its email address`) {
		t.Fatalf("dry run: exit %d, %d writes\n%s\n%s", code, srv.Counters().Writes, out, errOut)
	}
	if code, _, _ := c.run("adopt-folder", "--config", settings, "--tenant", "contoso", "--folder", "Company Directory"); code != exitUsage {
		t.Errorf("without --dry-run or --yes: exit %d", code)
	}

	code, out, errOut = c.run("adopt-folder", "--config", settings, "--tenant", "contoso", "--folder", "Company Directory", "--yes")
	if code != exitOK || !strings.Contains(out, `took over folder "Company Directory" in 4 mailboxes`) || !strings.Contains(out, "then the sync:") {
		t.Fatalf("adopt: exit %d\n%s\n%s", code, out, errOut)
	}
	for i, u := range tn.Users {
		f := managed(t, srv, tn, u.ID) // fails on two contacts of one source
		if f == nil || f.ID != folders[i] {
			t.Fatalf("mailbox %s: the managed folder is not the adopted one: %+v", u.UserPrincipalName, f)
		}
		marked, partner := 0, 0
		for _, ct := range f.Contacts {
			b, _ := json.Marshal(ct)
			switch {
			case strings.Contains(string(b), "galmirror.sourceId"):
				marked++
				if strings.Contains(string(b), "Stale title") {
					t.Errorf("mailbox %s: a taken-over contact kept its stale title: %s", u.UserPrincipalName, b)
				}
			case strings.Contains(string(b), "partner0@example.org"):
				partner++
			default:
				t.Errorf("mailbox %s: an unexpected contact: %s", u.UserPrincipalName, b)
			}
		}
		if marked != 3 || partner != map[bool]int{true: 1, false: 0}[i == 0] {
			t.Errorf("mailbox %s: %d managed contacts, %d partner contacts", u.UserPrincipalName, marked, partner)
		}
	}
	srv.ResetCounters()
	if code, out, errOut := c.run("sync", "--config", settings); code != exitOK || srv.Counters().Writes != 0 {
		t.Fatalf("the sync after: exit %d, %d writes\n%s\n%s", code, srv.Counters().Writes, out, errOut)
	}
}

// --remove-unmatched removes the contacts no source claims, under the
// mass-delete guard: in a mailbox where they are too many they stay.
func TestAdoptFolderRemovesUnmatchedUnderTheGuardThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	otherProduct(t, srv, tn, "GAL", []int{4, 2})
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	code, out, errOut := c.run("adopt-folder", "--config", settings, "--tenant", "contoso", "--folder", "GAL", "--yes", "--remove-unmatched", "--json")
	b, _ := os.ReadFile("../../docs/report.schema.json")
	if schema, err := schemacheck.Parse(b); err != nil {
		t.Fatal(err)
	} else if errs := schema.Check("adoptResult", []byte(out)); len(errs) > 0 {
		t.Errorf("adopt-folder --json does not match the schema: %v", errs)
	}
	var res struct {
		Status   string
		Contacts struct{ Matched, Unmatched, Removed, Held int }
		Sync     struct{ Status string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitPartial || res.Status != "partial" ||
		res.Contacts.Removed != 2 || res.Contacts.Held != 4 || res.Contacts.Unmatched != 4 || res.Sync.Status != "ok" {
		t.Fatalf("adopt --remove-unmatched: exit %d %+v %v\n%s\n%s", code, res, err, out, errOut)
	}
	count := func(user string) int {
		f := managed(t, srv, tn, user)
		n := 0
		for _, ct := range f.Contacts {
			if b, _ := json.Marshal(ct); strings.Contains(string(b), "example.org") {
				n++
			}
		}
		return n
	}
	if a, b := count(tn.Users[0].ID), count(tn.Users[1].ID); a != 4 || b != 0 {
		t.Errorf("partner contacts left: %d (held back) and %d (removed)", a, b)
	}
}
