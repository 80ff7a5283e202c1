//go:build linux

package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// fieldPolicy through the built binary: an owner's edit of a fillBlank
// field survives a source change while an overwrite field is restored to
// the directory's new value; a never field is not written at all; a
// fillBlank field the owner clears is filled again.
func TestFieldPolicyThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	owner, other, person := tn.Users[0].ID, tn.Users[2].ID, tn.Users[1].ID
	if err := srv.PatchUser(tn.ID, person, map[string]any{"mobilePhone": "+1 425 555 0100", "jobTitle": "Engineer",
		"officeLocation": "Building 1"}); err != nil {
		t.Fatal(err)
	}
	ten := c.tenant("contoso", srv, tn, cred)
	ten["fieldPolicy"] = map[string]any{"mobilePhone": "fillBlank", "officeLocation": "never"}
	settings := c.settings(ten)
	sync := func(want string) {
		t.Helper()
		code, out, errOut := c.run("sync", "--config", settings)
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("sync exit %d, want %q\n%s\n%s", code, want, out, errOut)
		}
	}
	contact := func(mailbox string) (string, map[string]any) {
		t.Helper()
		f := managed(t, srv, tn, mailbox)
		for _, ct := range f.Contacts {
			for _, p := range ct.ExtendedProperties {
				if strings.Contains(p.ID, "galmirror.sourceId") && p.Value == person {
					var props map[string]any
					if err := json.Unmarshal(ct.Properties, &props); err != nil {
						t.Fatal(err)
					}
					return ct.ID, props
				}
			}
		}
		t.Fatalf("mailbox %s has no contact for %s", mailbox, person)
		return "", nil
	}
	check := func(mailbox, mobile, title, office string) {
		t.Helper()
		_, p := contact(mailbox)
		got := [3]any{p["mobilePhone"], p["jobTitle"], p["officeLocation"]}
		for i, w := range [3]string{mobile, title, office} {
			if w == "" && (got[i] == nil || got[i] == "") {
				got[i] = ""
			}
		}
		if got != [3]any{mobile, title, office} {
			t.Errorf("mailbox %s: mobilePhone, jobTitle, officeLocation = %q, want %q", mailbox, got, [3]string{mobile, title, office})
		}
	}

	sync("6 created")
	check(owner, "+1 425 555 0100", "Engineer", "") // never: officeLocation not written

	id, _ := contact(owner)
	if err := srv.OwnerUpdateContact(tn.ID, owner, id, json.RawMessage(
		`{"mobilePhone": "+49 170 1234567", "jobTitle": "Owner's title", "officeLocation": "My desk"}`)); err != nil {
		t.Fatal(err)
	}
	if err := srv.PatchUser(tn.ID, person, map[string]any{"mobilePhone": "+1 425 555 0199", "jobTitle": "Director"}); err != nil {
		t.Fatal(err)
	}
	sync("0 created, 2 updated, 0 deleted")
	check(owner, "+49 170 1234567", "Director", "My desk") // the owner's mobile and office stay; the title is the directory's
	// fillBlank writes only into an empty field: the untouched mailbox
	// keeps the value it was filled with.
	check(other, "+1 425 555 0100", "Director", "")

	if err := srv.OwnerUpdateContact(tn.ID, owner, id, json.RawMessage(`{"mobilePhone": ""}`)); err != nil {
		t.Fatal(err)
	}
	sync("0 created, 1 updated, 0 deleted")
	check(owner, "+1 425 555 0199", "Director", "My desk") // cleared: filled with the directory's value

	sync("0 created, 0 updated, 0 deleted, 6 unchanged")

	// Back to overwrite everywhere: one rewrite of every contact puts the
	// directory's values back, the owner's office included.
	delete(ten, "fieldPolicy")
	settings = c.settings(ten)
	sync("0 created, 6 updated, 0 deleted")
	check(owner, "+1 425 555 0199", "Director", "Building 1")
	check(other, "+1 425 555 0199", "Director", "Building 1")
	sync("0 created, 0 updated, 0 deleted, 6 unchanged")
}
