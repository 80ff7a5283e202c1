package entra

import (
	"encoding/base64"
	"slices"
	"testing"
)

func TestMissingRoles(t *testing.T) {
	need := RequiredRoles(false)
	cases := []struct {
		have, want []string
	}{
		{[]string{"User.Read.All", "GroupMember.Read.All", "Contacts.ReadWrite"}, nil},
		{[]string{"User.Read.All", "Group.Read.All", "Contacts.ReadWrite"}, nil},
		{[]string{"Directory.Read.All", "Contacts.ReadWrite"}, nil},
		{[]string{"user.read.all", "groupmember.read.all", "contacts.readwrite"}, nil},
		// No Contacts role: mailbox access through Exchange RBAC for
		// Applications, not a missing consent.
		{[]string{"User.Read.All", "GroupMember.Read.All"}, nil},
		{[]string{"User.Read.All"}, []string{"GroupMember.Read.All"}},
		{[]string{"Contacts.Read", "User.ReadBasic.All"}, []string{"GroupMember.Read.All", "User.Read.All"}},
		{nil, []string{"GroupMember.Read.All", "User.Read.All"}},
	}
	for _, c := range cases {
		if got := MissingRoles(c.have, need); !slices.Equal(got, c.want) {
			t.Errorf("MissingRoles(%v) = %v, want %v", c.have, got, c.want)
		}
	}
	if got := MissingRoles([]string{"User.Read.All", "GroupMember.Read.All", "Contacts.ReadWrite"}, RequiredRoles(true)); !slices.Equal(got, []string{"OrgContact.Read.All"}) {
		t.Errorf("org contacts: %v", got)
	}
}

func TestMailboxAccessOf(t *testing.T) {
	if got := MailboxAccessOf([]string{"User.Read.All", "contacts.readwrite"}); got != MailboxAccessTenantWide {
		t.Errorf("with Contacts.ReadWrite: %s", got)
	}
	for _, roles := range [][]string{nil, {"User.Read.All", "GroupMember.Read.All"}, {"Contacts.Read"}} {
		if got := MailboxAccessOf(roles); got != MailboxAccessRBAC {
			t.Errorf("%v: %s", roles, got)
		}
	}
}

func TestParseAccessTokenRejects(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, raw := range []string{"", "abc", "a.b", "a.!!!.c", "a." + enc([]byte("[1]")) + ".c", "a." + enc([]byte(`{"exp":"soon"}`)) + ".c", "a." + enc([]byte(`{"exp":1e300}`)) + ".c"} {
		if _, err := ParseAccessToken(raw); err == nil {
			t.Errorf("ParseAccessToken(%q) accepted", raw)
		}
	}
	c, err := ParseAccessToken("a." + enc([]byte(`{"azp":"x","aud":["a"],"roles":["R"],"exp":1767225600}`)) + ".c")
	if err != nil || c.AppID != "x" || c.Roles[0] != "R" || c.ExpiresAt.Unix() != 1767225600 {
		t.Errorf("%+v %v", c, err)
	}
}

func TestTokenErrorRetryable(t *testing.T) {
	for _, c := range []struct {
		e    TokenError
		want bool
	}{
		{TokenError{Status: 503, Code: 90033, OAuthError: "temporarily_unavailable"}, true},
		{TokenError{Status: 429, Code: 90055}, true},
		{TokenError{Status: 401, Code: 700027}, false},
		{TokenError{Status: 400, Code: 90002}, false},
	} {
		if c.e.Retryable() != c.want {
			t.Errorf("%+v: Retryable = %v", c.e, !c.want)
		}
	}
	e := TokenError{Status: 400, Code: 123456, OAuthError: "invalid_request", Description: "AADSTS123456: Something odd."}
	if e.Error() != "AADSTS123456: Something odd. (invalid_request, HTTP 400)" {
		t.Errorf("%q", e.Error())
	}
}
