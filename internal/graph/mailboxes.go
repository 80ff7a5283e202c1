package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/pacer"
)

// Mailboxes sends the requests of mailbox content (contact folders and
// contacts) as $batch items: reads and single writes of many mailboxes
// packed twenty to a batch, a mailbox's bulk writes as dependsOn chains of
// twenty, at most four requests in flight per mailbox (pacer units), every
// Retry-After honoured, and the one policy of what may be resent. Start it
// with Client.StartMailboxes; its Mailbox handles make the typed calls.
type Mailboxes struct {
	c        *Client
	d        *dispatcher
	attempts int
}

// MailboxOptions configure Client.StartMailboxes.
type MailboxOptions struct {
	// Linger is how long a partly filled $batch waits for its next item;
	// while items keep arriving less than Linger apart it waits up to 10 ×
	// Linger. Default 50 ms.
	Linger time.Duration
	// Slots bound the $batch requests in flight; nil means 384 of its own.
	Slots Slots
	// WriteAttempts bounds the attempts of one write. Default 8.
	WriteAttempts int
}

// StartMailboxes starts the dispatcher of mailbox requests. Its requests are
// sent with ctx: once ctx ends nothing more is sent and every call returns
// ctx's error. Call stop after every caller has returned.
func (c *Client) StartMailboxes(ctx context.Context, o MailboxOptions) (ms *Mailboxes, stop func()) {
	if o.Linger <= 0 {
		o.Linger = 50 * time.Millisecond
	}
	if o.Slots == nil {
		o.Slots = NewSlots(384)
	}
	if o.WriteAttempts <= 0 {
		o.WriteAttempts = 8
	}
	d := &dispatcher{c: c, linger: o.Linger, slots: o.Slots, submitted: make(chan *group, 1024)}
	life := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.run(ctx, life)
	}()
	return &Mailboxes{c: c, d: d, attempts: o.WriteAttempts}, func() {
		close(life)
		wg.Wait()
	}
}

// Mailbox returns the handle of one user's mailbox, named by the user's
// object id (the same id for every call: it is the pacer scope).
func (ms *Mailboxes) Mailbox(user string) Mailbox {
	return Mailbox{ms: ms, user: user, scope: MailboxScope(user)}
}

// Mailbox makes the calls of one mailbox. It is a small value; copy it.
type Mailbox struct {
	ms    *Mailboxes
	user  string
	scope string
}

// User returns the mailbox's user id.
func (m Mailbox) User() string { return m.user }

// Retrier paces a caller's own retry loop in this mailbox (Retry-After
// gates, jittered back-off, the attempt and time budgets).
type Retrier struct{ r *pacer.Retry }

// Retrier starts counting the attempts of one operation in the mailbox.
func (m Mailbox) Retrier() *Retrier { return &Retrier{m.ms.c.pacer.Retry(m.scope)} }

// Wait waits before the next attempt; its error ends the retries.
func (r *Retrier) Wait(ctx context.Context, retryAfter time.Duration) error {
	return r.r.Wait(ctx, retryAfter)
}

// do sends one call through the dispatcher, holding one pacer unit of the
// mailbox while it is in flight, and resends it after transient failures
// it may resend (resendable), honouring Retry-After. It returns the answer
// body, or the last error. It waits for the dispatcher's answer even when
// ctx ends (the batch is cancelled with ctx), so no batch writes into the
// call after do returned.
func (m Mailbox) do(ctx context.Context, c *call) ([]byte, error) {
	c.scope = m.scope
	retry := m.ms.c.pacer.Retry(c.scope)
	for {
		c.reset()
		release, err := m.ms.c.pacer.Acquire(ctx, c.scope, 1)
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		if err := m.ms.d.submit(ctx, &group{calls: []*call{c}, done: func() { close(done) }}); err != nil {
			release()
			return nil, err
		}
		<-done
		release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !c.failed() {
			return c.respBody, nil
		}
		err = c.callErr()
		if !c.resendable() {
			return nil, markMaybe(c, err)
		}
		if werr := waitRetry(ctx, retry, c.retryAfter, err); werr != nil {
			return nil, markMaybe(c, werr)
		}
	}
}

// MaybeError wraps the failure of a create that may nevertheless have
// happened (no definite answer): look for what it would have made before
// making it again.
type MaybeError struct{ Err error }

func (e *MaybeError) Error() string { return e.Err.Error() + " (it may have been carried out)" }

// Unwrap returns the failure.
func (e *MaybeError) Unwrap() error { return e.Err }

func markMaybe(c *call, err error) error {
	if c.maybe() {
		return &MaybeError{Err: err}
	}
	return err
}

// get reads one URL (relative, or a link of this mailbox's) and returns
// the body.
func (m Mailbox) get(ctx context.Context, url string, header http.Header) ([]byte, error) {
	rel, err := m.ms.c.RelativeURL(url)
	if err != nil {
		return nil, err
	}
	return m.do(ctx, &call{method: http.MethodGet, url: rel, header: header})
}

// UserPurpose reads what the mailbox is for (GET
// /users/{id}/mailboxSettings?$select=userPurpose; MailboxSettings.Read),
// one of the Purpose constants, through the dispatcher like every mailbox
// call, so that concurrent reads of many mailboxes share $batch requests.
// A user without an Exchange Online mailbox answers 404
// MailboxNotEnabledForRESTAPI (Classify: MailboxUnavailable); outside the
// app's access, 403 ErrorAccessDenied (OutOfScope).
func (m Mailbox) UserPurpose(ctx context.Context) (string, error) {
	body, err := m.get(ctx, "/users/"+seg(m.user)+"/mailboxSettings"+Query{{"$select", "userPurpose"}}.Encode(), nil)
	if err != nil {
		return "", err
	}
	var s struct {
		UserPurpose string `json:"userPurpose"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return "", fmt.Errorf("graph: mailboxSettings of %s: %w", m.user, err)
	}
	return s.UserPurpose, nil
}

// pages reads a collection or delta round page by page, following
// nextLinks as opaque URLs, calling fn with each page's raw JSON; it
// returns the round's deltaLink when it has one.
func (m Mailbox) pages(ctx context.Context, url string, header http.Header, fn func(page []byte, next, delta string) error) (deltaLink string, err error) {
	var guard PageGuard
	for url != "" {
		if err := guard.Next(url); err != nil {
			return "", err
		}
		body, err := m.get(ctx, url, header)
		if err != nil {
			return "", err
		}
		next, delta, err := pageLinks(body)
		if err != nil {
			return "", fmt.Errorf("graph: %s: %w", stripQuery(url), err)
		}
		if err := fn(body, next, delta); err != nil {
			return "", err
		}
		if delta != "" {
			return delta, nil
		}
		url = next
	}
	return "", nil
}

// list reads every page of a collection or delta round into Page[T]s.
func list[T any](ctx context.Context, m Mailbox, url string, header http.Header, fn func(*Page[T]) error) (deltaLink string, err error) {
	return m.pages(ctx, url, header, func(body []byte, _, _ string) error {
		var p Page[T]
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("graph: decode %s: %w", stripQuery(url), err)
		}
		return fn(&p)
	})
}

// pageLinks reads a page's nextLink and deltaLink.
func pageLinks(page []byte) (next, delta string, err error) {
	err = eachMember(page, func(k, v []byte) bool {
		switch {
		case keyIs(k, "@odata.nextLink"):
			next, _ = rawString(v)
		case keyIs(k, "@odata.deltaLink"):
			delta, _ = rawString(v)
		}
		return true
	})
	return next, delta, err
}

// FolderQuery selects contact folders among the children of a mailbox's
// default Contacts folder (a folder in Deleted Items is not among them).
type FolderQuery struct {
	// Mark, when set, keeps the folders whose extended property Mark.ID
	// has the value Mark.Value.
	Mark *SingleValueExtendedProperty
	// Name, when set, keeps the folders of this display name.
	Name string
	// Props are the extended properties read with each folder.
	Props []string
}

// Folders lists the folders q selects, each with q.Props.
func (m Mailbox) Folders(ctx context.Context, q FolderQuery) ([]ContactFolder, error) {
	var query Query
	switch {
	case q.Mark != nil:
		query = append(query, [2]string{"$filter", markFilter(*q.Mark)})
	case q.Name != "":
		query = append(query, [2]string{"$filter", "displayName eq " + Quote(q.Name)})
	}
	if len(q.Props) > 0 {
		query = append(query, [2]string{"$expand", ExpandExtendedProperties(q.Props...)})
	}
	var out []ContactFolder
	_, err := list(ctx, m, "/users/"+seg(m.user)+"/contactFolders"+query.Encode(), nil, func(p *Page[ContactFolder]) error {
		out = append(out, p.Value...)
		return nil
	})
	return out, err
}

// markFilter is the $filter keeping items with an extended property of a
// value.
func markFilter(p SingleValueExtendedProperty) string {
	return "singleValueExtendedProperties/Any(ep: ep/id eq " + Quote(p.ID) + " and ep/value eq " + Quote(p.Value) + ")"
}

// FolderPath returns /users/{mailbox}/contactFolders/{folder}.
func FolderPath(mailbox, folderID string) string {
	return "/users/" + seg(mailbox) + "/contactFolders/" + seg(folderID)
}

// Folder reads one folder (id, name, parent) with the extended properties
// props.
func (m Mailbox) Folder(ctx context.Context, folderID string, props ...string) (*ContactFolder, error) {
	q := Query{{"$select", "id,displayName,parentFolderId"}}
	if len(props) > 0 {
		q = append(q, [2]string{"$expand", ExpandExtendedProperties(props...)})
	}
	body, err := m.get(ctx, FolderPath(m.user, folderID)+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	var f ContactFolder
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("graph: decode a contact folder: %w", err)
	}
	return &f, nil
}

// HasChildFolder reports whether a folder holds a folder (one page of one).
func (m Mailbox) HasChildFolder(ctx context.Context, folderID string) (bool, error) {
	body, err := m.get(ctx, FolderPath(m.user, folderID)+"/childFolders?$select=id&$top=1", nil)
	if err != nil {
		return false, err
	}
	var p Page[ContactFolder]
	if err := json.Unmarshal(body, &p); err != nil {
		return false, fmt.Errorf("graph: decode child folders: %w", err)
	}
	return len(p.Value) > 0, nil
}

// Probe reads one page of one of the mailbox's contact folders: whether
// the app reaches the mailbox at all.
func (m Mailbox) Probe(ctx context.Context) error {
	_, err := m.get(ctx, "/users/"+seg(m.user)+"/contactFolders?$top=1&$select=id", nil)
	return err
}

// CreateFolder creates a folder under the default Contacts folder. A
// failure that may have created it all the same is a *MaybeError; a
// folder of that name answers 409 ErrorFolderExists (class Conflict).
func (m Mailbox) CreateFolder(ctx context.Context, f *NewContactFolder) (*ContactFolder, error) {
	body, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	resp, err := m.do(ctx, &call{method: http.MethodPost, url: "/users/" + seg(m.user) + "/contactFolders",
		header: http.Header{"Content-Type": {"application/json"}}, body: body})
	if err != nil {
		return nil, err
	}
	var out ContactFolder
	if err := json.Unmarshal(resp, &out); err != nil || out.ID == "" {
		return nil, &MaybeError{Err: fmt.Errorf("graph: decode the created folder: %v", err)}
	}
	return &out, nil
}

// SetFolderProps writes extended properties on a folder.
func (m Mailbox) SetFolderProps(ctx context.Context, folderID string, props ExtendedProperties) error {
	body, err := json.Marshal(map[string]any{"singleValueExtendedProperties": props})
	if err != nil {
		return err
	}
	_, err = m.do(ctx, &call{method: http.MethodPatch, url: FolderPath(m.user, folderID),
		header: http.Header{"Content-Type": {"application/json"}}, body: body})
	return err
}

// RemoveFolder removes a folder and what it holds: permanentDelete (gone
// from the mailbox; Graph's global cloud only), or DELETE (into the
// mailbox's Deleted Items). A folder already gone answers 404.
func (m Mailbox) RemoveFolder(ctx context.Context, folderID string, permanent bool) error {
	c := &call{method: http.MethodDelete, url: FolderPath(m.user, folderID)}
	if permanent {
		c.method, c.url, c.idempotent = http.MethodPost, c.url+"/permanentDelete", true
	}
	_, err := m.do(ctx, c)
	return err
}

// ContactQuery shapes contact reads.
type ContactQuery struct {
	// Select lists the properties to return (id is always returned); nil
	// returns Graph's default set.
	Select []string
	// ExpandProps are extended property ids to read with each contact.
	ExpandProps []string
	// Mark, when set, keeps the contacts whose extended property Mark.ID
	// has the value Mark.Value (lists only).
	Mark *SingleValueExtendedProperty
	// Top is the page size of a list (Graph allows 1 to 1,000).
	Top int
	// PageSize sets Prefer: odata.maxpagesize for delta rounds (Graph caps
	// contacts at 200); 0 leaves Graph's default.
	PageSize int
}

func (q *ContactQuery) query() Query {
	var out Query
	if q.Mark != nil {
		out = append(out, [2]string{"$filter", markFilter(*q.Mark)})
	}
	if len(q.Select) > 0 {
		out = append(out, [2]string{"$select", strings.Join(q.Select, ",")})
	}
	if len(q.ExpandProps) > 0 {
		out = append(out, [2]string{"$expand", ExpandExtendedProperties(q.ExpandProps...)})
	}
	if q.Top > 0 {
		out = append(out, [2]string{"$top", strconv.Itoa(q.Top)})
	}
	return out
}

func (q *ContactQuery) header() http.Header {
	if q.PageSize <= 0 {
		return nil
	}
	return http.Header{"Prefer": {"odata.maxpagesize=" + strconv.Itoa(q.PageSize)}}
}

// Contacts lists a folder's contacts page by page.
func (m Mailbox) Contacts(ctx context.Context, folderID string, q ContactQuery, fn func([]Contact) error) error {
	_, err := list(ctx, m, ContactsPath(m.user, folderID)+q.query().Encode(), q.header(), func(p *Page[Contact]) error {
		return fn(p.Value)
	})
	return err
}

// Contact reads one contact of a folder.
func (m Mailbox) Contact(ctx context.Context, folderID, contactID string, q ContactQuery) (*Contact, error) {
	body, err := m.get(ctx, ContactPath(m.user, folderID, contactID)+q.query().Encode(), nil)
	if err != nil {
		return nil, err
	}
	var c Contact
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("graph: decode a contact: %w", err)
	}
	return &c, nil
}

// ContactsDelta runs one contacts delta round of a folder, from link (a
// saved deltaLink, followed as an opaque URL) or, when link is empty, from
// a first round shaped by q (Select; q.PageSize is sent with every page).
// Removed contacts come with Removed set. It returns the round's
// deltaLink; a round that ends without one is an error.
func (m Mailbox) ContactsDelta(ctx context.Context, folderID, link string, q ContactQuery, fn func([]Contact) error) (string, error) {
	if link == "" {
		link = ContactsDeltaURL(m.user, folderID, ContactQuery{Select: q.Select})
	}
	delta, err := list(ctx, m, link, q.header(), func(p *Page[Contact]) error { return fn(p.Value) })
	if err == nil && delta == "" {
		err = fmt.Errorf("graph: %s: the delta round ended without a deltaLink", stripQuery(link))
	}
	return delta, err
}

// ContactsDeltaStamps runs a first contacts delta round of a folder like
// ContactsDelta, but hands fn each contact's stamp and raw JSON without
// decoding it (decode the few that need it).
func (m Mailbox) ContactsDeltaStamps(ctx context.Context, folderID string, q ContactQuery, fn func(st ContactStamp, raw []byte) error) (string, error) {
	link := ContactsDeltaURL(m.user, folderID, ContactQuery{Select: q.Select})
	delta, err := m.pages(ctx, link, q.header(), func(page []byte, _, _ string) error {
		var ferr error
		err := eachMember(page, func(k, v []byte) bool {
			if !keyIs(k, "value") {
				return true
			}
			ferr = eachElement(v, func(el []byte) bool {
				st, err := StampOf(el)
				if err == nil {
					err = fn(st, el)
				}
				ferr = err
				return err == nil
			})
			return false
		})
		if err == nil {
			err = ferr
		}
		return err
	})
	if err == nil && delta == "" {
		err = fmt.Errorf("graph: %s: the delta round ended without a deltaLink", stripQuery(link))
	}
	return delta, err
}
