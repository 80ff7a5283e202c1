package graph

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Typed helpers for the calls the sync engine makes. They build the URL
// (query escaped, path segments escaped), set the pacer scope (the mailbox
// argument for mailbox calls, DirectoryScope otherwise), and decode. A
// mailbox is named by the user's object id (preferred) or UPN.

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

// ContactFoldersURL returns the URL listing a mailbox's contact folders
// named displayName (all when empty), expanding the given extended
// properties.
func ContactFoldersURL(mailbox, displayName string, expandProps ...string) string {
	var q Query
	if displayName != "" {
		q = append(q, [2]string{"$filter", "displayName eq " + Quote(displayName)})
	}
	if len(expandProps) > 0 {
		q = append(q, [2]string{"$expand", ExpandExtendedProperties(expandProps...)})
	}
	return "/users/" + seg(mailbox) + "/contactFolders" + q.Encode()
}

// ContactFolders lists the folders under a mailbox's default Contacts
// folder named displayName (all when empty), with the extended properties
// expandProps expanded (to recognise galmirror's mark).
func (c *Client) ContactFolders(ctx context.Context, mailbox, displayName string, expandProps ...string) ([]ContactFolder, error) {
	return ListAll[ContactFolder](ctx, c, Request{
		URL: ContactFoldersURL(mailbox, displayName, expandProps...), Scope: MailboxScope(mailbox),
	})
}

// CreateContactFolder creates a folder under the mailbox's default Contacts
// folder, with its extended properties. A duplicate name fails with 409
// ErrorFolderExists (class Conflict): look the folder up.
func (c *Client) CreateContactFolder(ctx context.Context, mailbox string, f *NewContactFolder) (*ContactFolder, error) {
	var out ContactFolder
	err := c.DoJSON(ctx, &Request{
		Method: http.MethodPost, URL: "/users/" + seg(mailbox) + "/contactFolders",
		Scope: MailboxScope(mailbox), Body: f, Idempotent: true, // a replay answers 409
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteContactFolder deletes a contact folder and everything in it.
func (c *Client) DeleteContactFolder(ctx context.Context, mailbox, folderID string) error {
	_, err := c.Do(ctx, &Request{
		Method: http.MethodDelete, URL: "/users/" + seg(mailbox) + "/contactFolders/" + seg(folderID),
		Scope: MailboxScope(mailbox),
	})
	return err
}

// ContactQuery shapes contact reads.
type ContactQuery struct {
	// Select lists the properties to return (id is always returned); nil
	// returns Graph's default set.
	Select []string
	// ExpandProps are extended property ids to expand (galmirror's marks).
	ExpandProps []string
	// PageSize sets Prefer: odata.maxpagesize (Graph caps contacts at 200);
	// 0 leaves Graph's default.
	PageSize int
}

func (q *ContactQuery) query() Query {
	var out Query
	if len(q.Select) > 0 {
		out = append(out, [2]string{"$select", strings.Join(q.Select, ",")})
	}
	if len(q.ExpandProps) > 0 {
		out = append(out, [2]string{"$expand", ExpandExtendedProperties(q.ExpandProps...)})
	}
	return out
}

func (q *ContactQuery) header() http.Header {
	if q.PageSize <= 0 {
		return nil
	}
	return http.Header{"Prefer": {"odata.maxpagesize=" + strconv.Itoa(q.PageSize)}}
}

// ContactsPath returns /users/{mailbox}/contactFolders/{folder}/contacts.
func ContactsPath(mailbox, folderID string) string {
	return "/users/" + seg(mailbox) + "/contactFolders/" + seg(folderID) + "/contacts"
}

// ContactPath returns the path of one contact in a folder.
func ContactPath(mailbox, folderID, contactID string) string {
	return ContactsPath(mailbox, folderID) + "/" + seg(contactID)
}

// Contacts lists a folder's contacts page by page.
func (c *Client) Contacts(ctx context.Context, mailbox, folderID string, q ContactQuery, fn func([]Contact) error) error {
	return List(ctx, c, Request{
		URL: ContactsPath(mailbox, folderID) + q.query().Encode(), Scope: MailboxScope(mailbox), Header: q.header(),
	}, func(p *Page[Contact]) error { return fn(p.Value) })
}

// Contact reads one contact.
func (c *Client) Contact(ctx context.Context, mailbox, folderID, contactID string, q ContactQuery) (*Contact, error) {
	var out Contact
	err := c.DoJSON(ctx, &Request{
		URL: ContactPath(mailbox, folderID, contactID) + q.query().Encode(), Scope: MailboxScope(mailbox),
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ContactsDeltaURL returns the URL of a first contacts delta round of a
// folder.
func ContactsDeltaURL(mailbox, folderID string, q ContactQuery) string {
	return ContactsPath(mailbox, folderID) + "/delta" + q.query().Encode()
}

// ContactsDelta runs one contacts delta round of a folder, from link (a
// saved deltaLink) or, when empty, from a first round shaped by q.
// q.PageSize is sent as Prefer: odata.maxpagesize on every page. Removed
// contacts come with Removed set. See Delta.
func (c *Client) ContactsDelta(ctx context.Context, mailbox, folderID, link string, q ContactQuery, fn func(*Page[Contact]) error) (string, error) {
	if link == "" {
		link = ContactsDeltaURL(mailbox, folderID, q)
	}
	return Delta(ctx, c, Request{URL: link, Scope: MailboxScope(mailbox), Header: q.header()}, fn)
}

// CreateContact creates a contact in a folder. It is not retried after an
// ambiguous failure (the create may have happened): look for the contact's
// source-id mark before creating it again.
func (c *Client) CreateContact(ctx context.Context, mailbox, folderID string, body *ContactPatch) (*Contact, error) {
	var out Contact
	err := c.DoJSON(ctx, &Request{
		Method: http.MethodPost, URL: ContactsPath(mailbox, folderID), Scope: MailboxScope(mailbox), Body: body,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateContact PATCHes a contact with the fields present in body. With a
// non-empty ifMatch (an @odata.etag) Graph answers 412 (class
// PreconditionFailed) if the contact changed since.
func (c *Client) UpdateContact(ctx context.Context, mailbox, folderID, contactID string, body *ContactPatch, ifMatch string) (*Contact, error) {
	var h http.Header
	if ifMatch != "" {
		h = http.Header{"If-Match": {ifMatch}}
	}
	var out Contact
	err := c.DoJSON(ctx, &Request{
		Method: http.MethodPatch, URL: ContactPath(mailbox, folderID, contactID), Scope: MailboxScope(mailbox),
		Body: body, Header: h,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteContact deletes a contact (to Deleted Items). A contact already
// gone answers 404 (class NotFound), which callers may treat as done.
func (c *Client) DeleteContact(ctx context.Context, mailbox, folderID, contactID string) error {
	_, err := c.Do(ctx, &Request{
		Method: http.MethodDelete, URL: ContactPath(mailbox, folderID, contactID), Scope: MailboxScope(mailbox),
	})
	return err
}

// CreateContactItem returns a $batch item creating a contact.
func CreateContactItem(id, mailbox, folderID string, body *ContactPatch) BatchItem {
	return BatchItem{ID: id, Method: http.MethodPost, URL: ContactsPath(mailbox, folderID), Body: body,
		Scope: MailboxScope(mailbox)}
}

// UpdateContactItem returns a $batch item PATCHing a contact (ifMatch
// optional).
func UpdateContactItem(id, mailbox, folderID, contactID string, body *ContactPatch, ifMatch string) BatchItem {
	it := BatchItem{ID: id, Method: http.MethodPatch, URL: ContactPath(mailbox, folderID, contactID), Body: body,
		Scope: MailboxScope(mailbox)}
	if ifMatch != "" {
		it.Header = http.Header{"If-Match": {ifMatch}}
	}
	return it
}

// DeleteContactItem returns a $batch item deleting a contact.
func DeleteContactItem(id, mailbox, folderID, contactID string) BatchItem {
	return BatchItem{ID: id, Method: http.MethodDelete, URL: ContactPath(mailbox, folderID, contactID),
		Scope: MailboxScope(mailbox)}
}

// GetItem returns a $batch GET item for a URL (relative, or an absolute
// nextLink/deltaLink of this client, which Batch makes relative); Prefer
// and ConsistencyLevel go in header.
func GetItem(id, url, scope string, header http.Header) BatchItem {
	return BatchItem{ID: id, Method: http.MethodGet, URL: url, Scope: scope, Header: header}
}
