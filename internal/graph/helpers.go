package graph

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Typed calls of the directory. They build the URL (query escaped, path
// segments escaped), set the pacer scope (DirectoryScope) and decode.
// Mailbox calls are Mailbox's (mailboxes.go): they go through $batch.

// Query is an ordered list of OData query options. Keys keep their "$"
// ("$select"); values are escaped (spaces as %20).
type Query [][2]string

// Encode returns "?k=v&..." or "" when empty.
func (q Query) Encode() string {
	if len(q) == 0 {
		return ""
	}
	var b strings.Builder
	for i, kv := range q {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(escapeQueryValue(kv[1]))
	}
	return b.String()
}

func escapeQueryValue(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// Quote returns s as an OData string literal ('O”Brien').
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ExpandExtendedProperties returns the $expand value that returns the
// single-value extended properties with the given ids:
// singleValueExtendedProperties($filter=id eq 'A' or id eq 'B').
func ExpandExtendedProperties(ids ...string) string {
	var b strings.Builder
	b.WriteString("singleValueExtendedProperties($filter=")
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("id eq ")
		b.WriteString(Quote(id))
	}
	b.WriteByte(')')
	return b.String()
}

func seg(s string) string { return url.PathEscape(s) }

// UsersDeltaURL returns the URL of a first users/delta round selecting the
// given properties (UserFields when nil).
func UsersDeltaURL(selectFields []string) string {
	if selectFields == nil {
		selectFields = UserFields
	}
	return "/users/delta" + Query{{"$select", strings.Join(selectFields, ",")}}.Encode()
}

// UsersDelta runs one users/delta round: from link (a saved deltaLink) or,
// when link is empty, from a first round selecting selectFields (UserFields
// when nil). See Delta for the callback and ErrResyncRequired.
func (c *Client) UsersDelta(ctx context.Context, link string, selectFields []string, fn func(*Page[User]) error) (string, error) {
	if link == "" {
		link = UsersDeltaURL(selectFields)
	}
	return Delta(ctx, c, Request{URL: link, Scope: DirectoryScope}, fn)
}

// GroupTransitiveUsers lists the users among a group's transitive members
// (nested groups flattened), with the /microsoft.graph.user cast, which
// needs ConsistencyLevel: eventual and $count=true. selectFields nil means
// UserFields. fn receives each page's users.
func (c *Client) GroupTransitiveUsers(ctx context.Context, groupID string, selectFields []string, fn func([]User) error) error {
	if selectFields == nil {
		selectFields = UserFields
	}
	u := "/groups/" + seg(groupID) + "/transitiveMembers/microsoft.graph.user" +
		Query{{"$count", "true"}, {"$select", strings.Join(selectFields, ",")}, {"$top", "999"}}.Encode()
	return List(ctx, c, Request{URL: u, Scope: DirectoryScope, Eventual: true}, func(p *Page[User]) error {
		return fn(p.Value)
	})
}

// GroupMembers lists a group's direct members (users, groups, org contacts,
// devices: check ODataType). selectFields nil means UserFields.
func (c *Client) GroupMembers(ctx context.Context, groupID string, selectFields []string, fn func([]DirectoryObject) error) error {
	if selectFields == nil {
		selectFields = UserFields
	}
	u := "/groups/" + seg(groupID) + "/members" +
		Query{{"$select", strings.Join(selectFields, ",")}, {"$top", "999"}}.Encode()
	return List(ctx, c, Request{URL: u, Scope: DirectoryScope}, func(p *Page[DirectoryObject]) error {
		return fn(p.Value)
	})
}

// OrgContacts lists the tenant's organisational contacts. selectFields nil
// means OrgContactFields.
func (c *Client) OrgContacts(ctx context.Context, selectFields []string, fn func([]OrgContact) error) error {
	if selectFields == nil {
		selectFields = OrgContactFields
	}
	u := "/contacts" + Query{{"$select", strings.Join(selectFields, ",")}, {"$top", "999"}}.Encode()
	return List(ctx, c, Request{URL: u, Scope: DirectoryScope}, func(p *Page[OrgContact]) error {
		return fn(p.Value)
	})
}

// OrgContactsDeltaURL returns the URL of a first /contacts/delta round
// selecting the given properties (OrgContactDeltaFields when nil).
func OrgContactsDeltaURL(selectFields []string) string {
	if selectFields == nil {
		selectFields = OrgContactDeltaFields
	}
	return "/contacts/delta" + Query{{"$select", strings.Join(selectFields, ",")}}.Encode()
}

// OrgContactsDelta runs one /contacts/delta round (organisational
// contacts): from link (a saved deltaLink) or, when link is empty, from a
// first round selecting selectFields (OrgContactDeltaFields when nil). The
// round carries no addresses or phones (see OrgContactDeltaFields). See
// Delta for the callback and ErrResyncRequired.
func (c *Client) OrgContactsDelta(ctx context.Context, link string, selectFields []string, fn func(*Page[OrgContact]) error) (string, error) {
	if link == "" {
		link = OrgContactsDeltaURL(selectFields)
	}
	return Delta(ctx, c, Request{URL: link, Scope: DirectoryScope}, fn)
}

// OrgContactsDeltaLatest returns a /contacts/delta deltaLink that tracks
// changes from now on ($deltatoken=latest: no data), selecting
// selectFields (OrgContactDeltaFields when nil).
func (c *Client) OrgContactsDeltaLatest(ctx context.Context, selectFields []string) (string, error) {
	u := OrgContactsDeltaURL(selectFields) + "&$deltatoken=latest"
	var p Page[OrgContact]
	if err := c.DoJSON(ctx, &Request{URL: u, Scope: DirectoryScope}, &p); err != nil {
		return "", err
	}
	if p.DeltaLink == "" {
		return "", fmt.Errorf("graph: %s: no deltaLink in the answer", stripQuery(u))
	}
	return p.DeltaLink, nil
}

// OrgContact reads one organisational contact. selectFields nil means
// OrgContactFields.
func (c *Client) OrgContact(ctx context.Context, id string, selectFields []string) (OrgContact, error) {
	if selectFields == nil {
		selectFields = OrgContactFields
	}
	var oc OrgContact
	u := "/contacts/" + seg(id) + Query{{"$select", strings.Join(selectFields, ",")}}.Encode()
	err := c.DoJSON(ctx, &Request{URL: u, Scope: DirectoryScope}, &oc)
	return oc, err
}

// ContactsPath returns /users/{mailbox}/contactFolders/{folder}/contacts.
func ContactsPath(mailbox, folderID string) string {
	return "/users/" + seg(mailbox) + "/contactFolders/" + seg(folderID) + "/contacts"
}

// ContactPath returns the path of one contact in a folder.
func ContactPath(mailbox, folderID, contactID string) string {
	return ContactsPath(mailbox, folderID) + "/" + seg(contactID)
}

// ContactsDeltaURL returns the URL of a first contacts delta round of a
// folder.
func ContactsDeltaURL(mailbox, folderID string, q ContactQuery) string {
	return ContactsPath(mailbox, folderID) + "/delta" + q.query().Encode()
}

// Mailbox purposes (mailboxSettings.userPurpose): what an Exchange Online
// mailbox is for (https://learn.microsoft.com/graph/api/resources/mailboxsettings).
const (
	PurposeUser      = "user"
	PurposeLinked    = "linked"
	PurposeShared    = "shared"
	PurposeRoom      = "room"
	PurposeEquipment = "equipment"
	PurposeOthers    = "others"
)

// Group is a directory group as MailGroups reads it.
type Group struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName,omitempty"`
	Mail            string   `json:"mail,omitempty"`
	MailEnabled     bool     `json:"mailEnabled"`
	SecurityEnabled bool     `json:"securityEnabled"`
	GroupTypes      []string `json:"groupTypes,omitempty"`
	// HideFromAddressLists is returned only by GET /groups/{id} with
	// $select (GroupHidden), never in a list.
	HideFromAddressLists *bool `json:"hideFromAddressLists,omitempty"`
}

// Unified reports a Microsoft 365 group (groupTypes contains "Unified").
func (g Group) Unified() bool {
	return slices.ContainsFunc(g.GroupTypes, func(t string) bool { return strings.EqualFold(t, "Unified") })
}

// MailGroupFields is MailGroups' $select.
var MailGroupFields = []string{"id", "displayName", "mail", "mailEnabled", "securityEnabled", "groupTypes"}

// MailGroups lists the mail-enabled groups ($filter=mailEnabled eq true):
// distribution lists, mail-enabled security groups and Microsoft 365
// groups. fn receives each page.
func (c *Client) MailGroups(ctx context.Context, fn func([]Group) error) error {
	u := "/groups" + Query{{"$filter", "mailEnabled eq true"}, {"$select", strings.Join(MailGroupFields, ",")}, {"$top", "999"}}.Encode()
	return List(ctx, c, Request{URL: u, Scope: DirectoryScope}, func(p *Page[Group]) error {
		return fn(p.Value)
	})
}

// GroupHidden reads a group's hideFromAddressLists, which Graph returns
// only for one group at a time and only when selected. A group that does
// not return it (Graph documents it for Microsoft 365 groups) is not hidden.
func (c *Client) GroupHidden(ctx context.Context, id string) (bool, error) {
	var g Group
	u := "/groups/" + seg(id) + Query{{"$select", "id,hideFromAddressLists"}}.Encode()
	err := c.DoJSON(ctx, &Request{URL: u, Scope: DirectoryScope}, &g)
	return g.HideFromAddressLists != nil && *g.HideFromAddressLists, err
}
