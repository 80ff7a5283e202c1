package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/store"
)

// syncMailboxes syncs every target mailbox, MailboxWorkers at a time. A
// mailbox's failure is recorded in the result and never stops the others.
func (r *run) syncMailboxes(ctx context.Context) error {
	sem, _ := r.e.limits()
	var wg sync.WaitGroup
	for _, tg := range r.targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m := &mailbox{r: r, tg: tg, scope: graph.MailboxScope(tg.ID)}
			m.sync(ctx)
			r.record(m)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// mailbox is one target mailbox's sync within a run.
type mailbox struct {
	r     *run
	tg    target
	scope string

	state     store.Mailbox
	folderID  string
	deltaLink string
	cmap      map[string]store.ContactRef // source id → contact
	byContact map[string]string           // contact id → source id
	// seen holds contacts read this run (delta changes or a reconcile).
	seen map[string]*plan.Fields // source id → actual content
	// changed are the contacts delta's items, until applyDelta sorts them.
	changed []*graph.Contact
	// inLine is true when the mailbox ends the run exactly as the desired
	// contacts say (its digest is then stored).
	inLine  bool
	gone    map[string]bool // source ids whose contact the owner deleted
	extra   []plan.Existing // marked contacts not in the map (adopted)
	changes store.ContactChanges
	upserts map[string]store.ContactRef

	status    store.MailboxStatus
	uncertain bool // a write may have happened that the map does not know
	readErr   bool // the read phase had an error: no deletes
	// itemFailures counts writes that failed.
	itemFailures int
	counts       store.Counts
	errs         []ItemError
	plan         *MailboxPlan
}

// mailboxError is a failure that ends a mailbox's sync.
type mailboxError struct {
	status store.MailboxStatus
	err    error
	what   string
}

func (e *mailboxError) Error() string { return e.what + ": " + e.err.Error() }
func (e *mailboxError) Unwrap() error { return e.err }

func (m *mailbox) fail(what string, err error) error {
	st := store.MailboxFailed
	switch graph.Classify(err) {
	case graph.MailboxUnavailable:
		st = store.MailboxNoMailbox
	case graph.OutOfScope:
		st = store.MailboxOutOfScope
	}
	return &mailboxError{status: st, err: err, what: what}
}

func (m *mailbox) sync(ctx context.Context) {
	m.upserts = make(map[string]store.ContactRef)
	err := m.run(ctx)
	if err == nil {
		if m.status == "" {
			m.status = store.MailboxOK
		}
		return
	}
	var me *mailboxError
	if errors.As(err, &me) {
		m.status = me.status
	} else {
		m.status = store.MailboxFailed
	}
	if ctx.Err() != nil {
		m.status = store.MailboxFailed
	}
	m.addError(err)
	if !m.r.ro.DryRun {
		// Keep the folder and delta link: a mailbox out of scope today
		// may be back tomorrow.
		st := m.state
		st.UserID, st.UPN, st.Status = m.tg.ID, m.tg.UPN, m.status
		st.ErrorCode, st.ErrorMessage, st.RequestID = m.errs[0].Code, m.errs[0].Message, m.errs[0].RequestID
		ch := store.ContactChanges{Deletes: m.changes.Deletes}
		for _, ref := range m.upserts {
			ch.Upserts = append(ch.Upserts, ref)
		}
		if err := m.r.st.SaveMailbox(context.WithoutCancel(ctx), m.r.t.Name, st, ch); err != nil {
			m.r.log.Error("save mailbox state", "mailbox", m.tg.UPN, "error", err)
		}
	}
	if m.status == store.MailboxFailed || m.status == store.MailboxForeignFolder {
		var code, reqID string
		var ge *graph.Error
		if errors.As(err, &ge) {
			code, reqID = ge.Code, ge.RequestID
		}
		m.r.log.Warn("mailbox failed", "mailbox", m.tg.UPN, "code", code, "request_id", reqID, "error", err)
	}
}

func (m *mailbox) addError(err error) {
	ie := ItemError{Mailbox: m.tg.UPN, Code: "error", Message: err.Error()}
	var ge *graph.Error
	if errors.As(err, &ge) {
		ie.Code, ie.RequestID = ge.Code, ge.RequestID
	}
	var me *mailboxError
	if errors.As(err, &me) && me.status == store.MailboxForeignFolder {
		ie.Code = "ForeignFolder"
	}
	m.errs = append(m.errs, ie)
}

func (m *mailbox) run(ctx context.Context) error {
	r := m.r
	st, err := r.st.Mailbox(ctx, r.t.Name, m.tg.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("state database: %w", err)
	default:
		m.state = st
	}
	m.folderID, m.deltaLink = st.FolderID, st.ContactsDeltaLink
	reconcile := st.Uncertain || m.folderID == ""
	if !reconcile {
		switch err := m.readDelta(ctx); {
		case err == nil:
			if len(m.changed) == 0 && st.Digest != "" && st.Digest == r.digest && st.Status == store.MailboxOK && !r.ro.DryRun {
				// Neither the directory nor the mailbox changed since the
				// mailbox was last brought in line: nothing to plan.
				m.counts.Unchanged = r.desiredFor(m.tg.ID)
				m.inLine = true
				if err := m.save(ctx); err != nil {
					return fmt.Errorf("state database: %w", err)
				}
				return nil
			}
			if m.cmap, err = r.st.ContactMap(ctx, r.t.Name, m.tg.ID); err != nil {
				return fmt.Errorf("state database: %w", err)
			}
			if err := m.applyDelta(ctx); err != nil {
				return m.fail("read contacts delta", err)
			}
		case graph.Classify(err) == graph.NotFound:
			// The owner deleted the managed folder: make a new one.
			r.log.Info("managed folder is gone, creating it again", "mailbox", m.tg.UPN)
			m.folderID, m.deltaLink = "", ""
			reconcile = true
		case graph.Classify(err) == graph.ResyncRequired:
			m.deltaLink = ""
			reconcile = true
		default:
			return m.fail("read contacts delta", err)
		}
	}
	if reconcile {
		m.cmap = map[string]store.ContactRef{}
		m.seen, m.gone, m.extra = nil, nil, nil
		created, err := m.ensureFolder(ctx)
		if err != nil {
			return err
		}
		if !created && m.folderID != "" {
			if err := m.reconcile(ctx); err != nil {
				return m.fail("reconcile managed contacts", err)
			}
		}
		m.deltaLink = ""
	}
	m.index()

	res := plan.Plan(r.desired, m.existing(), plan.Policy{
		Mask:              r.mask,
		DeletesAllowed:    r.sourceComplete && !m.readErr,
		MaxDeleteFraction: r.t.Deletes.MaxFraction,
		MinDeletesGuarded: r.t.Deletes.MinCount,
		AllowMassDelete:   r.ro.AllowMassDelete,
		ExcludeSource:     m.tg.ID,
	})
	for _, e := range res.Adopt {
		m.upsert(store.ContactRef{SourceID: e.SourceID, ContactID: e.ContactID, Hash: e.Hash})
	}
	m.counts.Unchanged = res.Unchanged
	m.counts.HeldBack = res.HeldDeletes
	if res.HeldDeletes > 0 {
		r.log.Warn("mass-delete guard held deletes back", "mailbox", m.tg.UPN, "deletes", res.HeldDeletes,
			"managed", len(m.cmap), "max_fraction", r.t.Deletes.MaxFraction)
	}
	if r.ro.DryRun {
		m.describe(res)
		return nil
	}

	// Writes first, deletes last, partitioned in place: the plan (about
	// half a kilobyte per op) is not copied.
	ops, k := res.Ops, 0
	for i := range ops {
		if ops[i].Kind != plan.Delete {
			ops[k], ops[i] = ops[i], ops[k]
			k++
		}
	}
	writes, deletes := ops[:k], ops[k:]
	if len(res.Ops) > 0 || m.folderID == "" {
		if err := r.st.BeginMailbox(ctx, r.t.Name, m.tg.ID, m.tg.UPN); err != nil {
			return fmt.Errorf("state database: %w", err)
		}
	}
	if m.folderID == "" {
		if err := m.createFolder(ctx); err != nil {
			return err
		}
	}
	failed := m.apply(ctx, writes)
	// Deletes only in a mailbox whose every other step succeeded this run.
	if !failed && !m.readErr && len(deletes) > 0 {
		failed = m.apply(ctx, deletes)
	} else if len(deletes) > 0 {
		r.log.Warn("deletes skipped: the mailbox had errors this run", "mailbox", m.tg.UPN, "deletes", len(deletes))
	}
	if ctx.Err() != nil {
		m.save(context.WithoutCancel(ctx))
		return ctx.Err()
	}
	// In line when every planned write landed and nothing was held back.
	m.inLine = !failed && !m.readErr && res.HeldDeletes == 0 && res.SkippedDeletes == 0
	if m.deltaLink == "" {
		// A new or reconciled folder: start its contacts delta now, so
		// the next run reads only what changed after this one.
		if err := m.startDelta(ctx); err != nil {
			m.readErr = true
			m.addError(fmt.Errorf("start contacts delta: %w", err))
		}
	}
	if err := m.save(ctx); err != nil {
		return fmt.Errorf("state database: %w", err)
	}
	if failed || m.readErr {
		m.status = store.MailboxFailed
	}
	return nil
}

// index builds the contact-id index of the map.
func (m *mailbox) index() {
	m.byContact = make(map[string]string, len(m.cmap))
	for sid, ref := range m.cmap {
		m.byContact[ref.ContactID] = sid
	}
}

// existing lists the managed contacts for the planner.
func (m *mailbox) existing() []plan.Existing {
	r := m.r
	out := make([]plan.Existing, 0, len(m.cmap)+len(m.extra))
	for sid, ref := range m.cmap {
		if m.gone[sid] {
			continue
		}
		e := plan.Existing{SourceID: sid, ContactID: ref.ContactID, Hash: ref.Hash}
		if f := m.seen[sid]; f != nil {
			e.Actual = f
		} else if ph, ok := r.prevHash[sid]; ok && ph == ref.Hash {
			e.Base = r.prevFields[sid]
		}
		out = append(out, e)
	}
	return append(out, m.extra...)
}

func (m *mailbox) upsert(ref store.ContactRef) {
	m.upserts[ref.SourceID] = ref
	m.cmap[ref.SourceID] = ref
}

// readDelta reads the managed folder's changes since the last run: contacts
// the owner edited (compared with what galmirror wants by the planner),
// deleted (re-created), or added (left alone, unless they carry galmirror's
// mark: a contact created by a run that died before saving its state).
func (m *mailbox) readDelta(ctx context.Context) error {
	m.changed = nil
	link, err := pages(ctx, m.r, m.scope, m.deltaLink, deltaPageHeader(), func(page *graph.Page[graph.Contact]) error {
		for i := range page.Value {
			m.changed = append(m.changed, &page.Value[i])
		}
		return nil
	})
	if err != nil {
		return err
	}
	if link == "" {
		return errors.New("contacts delta round ended without a deltaLink")
	}
	m.deltaLink = link
	return nil
}

// applyDelta sorts the contacts delta's items against the contact map:
// known contacts edited (their content goes to the planner) or deleted
// (re-created), unknown ones inspected for galmirror's mark.
func (m *mailbox) applyDelta(ctx context.Context) error {
	m.seen = make(map[string]*plan.Fields)
	m.gone = make(map[string]bool)
	var unknown []string
	for _, ct := range m.changed {
		sid, known := m.byContactID(ct.ID)
		switch {
		case ct.Removed != nil:
			if known {
				m.gone[sid] = true
			}
		case known:
			f := fieldsOf(ct)
			m.seen[sid] = &f
		default:
			unknown = append(unknown, ct.ID)
		}
	}
	m.changed = nil
	for _, id := range unknown {
		if err := m.inspect(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (m *mailbox) byContactID(id string) (string, bool) {
	if m.byContact == nil {
		m.index()
	}
	sid, ok := m.byContact[id]
	return sid, ok
}

// inspect reads one contact the map does not know and adopts it if it
// carries galmirror's mark.
func (m *mailbox) inspect(ctx context.Context, contactID string) error {
	r := m.r
	url := graph.ContactPath(m.tg.ID, m.folderID, contactID) + graph.Query{
		{"$select", strings.Join(contactSelect(), ",")},
		{"$expand", graph.ExpandExtendedProperties(PropSourceID, PropHash)},
	}.Encode()
	c, err := r.do(ctx, &call{scope: m.scope, method: http.MethodGet, url: url})
	if err != nil {
		if graph.Classify(err) == graph.NotFound {
			return nil // deleted again since
		}
		return err
	}
	var ct graph.Contact
	if err := json.Unmarshal(c.respBody, &ct); err != nil {
		return fmt.Errorf("decode contact: %w", err)
	}
	m.adopt(&ct)
	return nil
}

// adopt takes a contact read with its marks into the planner's view if it
// is galmirror's; contacts without the source-id mark are the owner's and
// are never touched.
func (m *mailbox) adopt(ct *graph.Contact) {
	sid, ok := ct.SingleValueExtendedProperties.Get(PropSourceID)
	if !ok || sid == "" {
		return
	}
	hash, _ := ct.SingleValueExtendedProperties.Get(PropHash)
	f := fieldsOf(ct)
	m.extra = append(m.extra, plan.Existing{SourceID: sid, ContactID: ct.ID, Hash: hash, Actual: &f})
}

// ensureFolder finds the managed folder by galmirror's mark (even if the
// owner renamed it), refuses a folder of the configured name that lacks
// the mark, and otherwise leaves m.folderID empty for createFolder (a dry
// run creates nothing). created reports a folder made this run.
func (m *mailbox) ensureFolder(ctx context.Context) (created bool, err error) {
	r := m.r
	folders, err := m.getFolders(ctx, m.markedFoldersURL())
	if err != nil {
		return false, m.fail("look up the managed folder", err)
	}
	for _, f := range folders {
		if v, ok := f.SingleValueExtendedProperties.Get(PropFolder); ok && strings.EqualFold(v, r.t.TenantID) {
			m.folderID = f.ID
			return false, nil
		}
	}
	named, err := m.getFolders(ctx, graph.ContactFoldersURL(m.tg.ID, r.t.Folder, PropFolder))
	if err != nil {
		return false, m.fail("look up the managed folder", err)
	}
	for _, f := range named {
		if strings.EqualFold(f.DisplayName, r.t.Folder) {
			return false, &mailboxError{status: store.MailboxForeignFolder, what: "managed folder",
				err: fmt.Errorf("a contact folder named %q exists in this mailbox and was not created by galmirror: it is left alone; rename or remove it, or choose another folder name in the settings", r.t.Folder)}
		}
	}
	m.folderID = ""
	return false, nil
}

// markedFoldersURL lists the folders carrying this tenant's folder mark.
func (m *mailbox) markedFoldersURL() string {
	return "/users/" + pathSeg(m.tg.ID) + "/contactFolders" + graph.Query{
		{"$filter", "singleValueExtendedProperties/Any(ep: ep/id eq " + graph.Quote(PropFolder) + " and ep/value eq " + graph.Quote(m.r.t.TenantID) + ")"},
		{"$expand", graph.ExpandExtendedProperties(PropFolder)},
	}.Encode()
}

func (m *mailbox) getFolders(ctx context.Context, url string) ([]graph.ContactFolder, error) {
	var out []graph.ContactFolder
	_, err := pages(ctx, m.r, m.scope, url, nil, func(p *graph.Page[graph.ContactFolder]) error {
		out = append(out, p.Value...)
		return nil
	})
	return out, err
}

// createFolder creates the managed folder with galmirror's mark. After an
// answer that leaves it unknown whether the folder was made (a 5xx, no
// answer) or a 409, it looks for the marked folder before trying again;
// it never adopts a folder without the mark.
func (m *mailbox) createFolder(ctx context.Context) error {
	r := m.r
	body, err := json.Marshal(&graph.NewContactFolder{
		DisplayName:                   r.t.Folder,
		SingleValueExtendedProperties: graph.ExtendedProperties{{ID: PropFolder, Value: r.t.TenantID}},
	})
	if err != nil {
		return err
	}
	retry := r.pacer.Retry(m.scope)
	for {
		c, err := r.do(ctx, &call{scope: m.scope, method: http.MethodPost, url: "/users/" + pathSeg(m.tg.ID) + "/contactFolders",
			header: http.Header{"Content-Type": {"application/json"}}, body: body})
		if err == nil {
			var f graph.ContactFolder
			if err := json.Unmarshal(c.respBody, &f); err != nil || f.ID == "" {
				return m.fail("create the managed folder", fmt.Errorf("decode the created folder: %v", err))
			}
			m.folderID = f.ID
			r.log.Debug("created the managed folder", "mailbox", m.tg.UPN)
			return nil
		}
		if graph.Classify(err) != graph.Conflict && !ambiguous(c) {
			return m.fail("create the managed folder", err)
		}
		// Made by an earlier attempt whose answer was lost, or a folder of
		// that name appeared: look again (ensureFolder refuses a foreign one).
		if _, ferr := m.ensureFolder(ctx); ferr != nil {
			return ferr
		}
		if m.folderID != "" {
			return nil
		}
		if werr := retry.Wait(ctx, 0); werr != nil {
			return m.fail("create the managed folder", fmt.Errorf("%w (last error: %w)", werr, err))
		}
	}
}

// reconcile reads every contact of the managed folder with its marks, when
// the map may be incomplete (a lost state directory, a run that died
// mid-write, a folder found again): contacts with galmirror's mark are
// adopted, others left alone. This is what makes a killed run never leave
// duplicates.
func (m *mailbox) reconcile(ctx context.Context) error {
	url := graph.ContactsPath(m.tg.ID, m.folderID) + graph.Query{
		{"$select", strings.Join(contactSelect(), ",")},
		{"$expand", graph.ExpandExtendedProperties(PropSourceID, PropHash)},
		{"$top", "1000"},
	}.Encode()
	_, err := pages(ctx, m.r, m.scope, url, nil, func(p *graph.Page[graph.Contact]) error {
		for i := range p.Value {
			m.adopt(&p.Value[i])
		}
		return nil
	})
	return err
}

// startDelta runs a first contacts delta round over the folder to obtain a
// delta link. The contacts it returns are the ones just written; one that
// differs from what was written (an owner edit during the run) gets its
// stored hash replaced, so the next run restores it.
func (m *mailbox) startDelta(ctx context.Context) error {
	r := m.r
	m.index()
	url := graph.ContactsDeltaURL(m.tg.ID, m.folderID, graph.ContactQuery{Select: contactSelect()})
	// This round returns every contact just written. One whose change key
	// is the one its write returned is as galmirror wrote it, and is not
	// decoded: decoding them all was most of a first sync's CPU time. The
	// pages are walked in place (pages[T] would copy each contact).
	var link string
	var err error
	var guard graph.PageGuard
	for url != "" && err == nil {
		if err = guard.Next(url); err != nil {
			break
		}
		var rel string
		if rel, err = r.client.RelativeURL(url); err != nil {
			break
		}
		var c *call
		if c, err = r.do(ctx, &call{scope: m.scope, method: http.MethodGet, url: rel, header: deltaPageHeader()}); err != nil {
			break
		}
		url, link, err = m.checkWritten(c.respBody)
		if link != "" {
			break
		}
	}
	if err != nil {
		return err
	}
	if link == "" {
		return errors.New("contacts delta round ended without a deltaLink")
	}
	m.deltaLink = link
	return nil
}

// checkWritten goes through one page of startDelta's round: a contact of
// the map whose change key is not the one its write returned is decoded
// and, if its content is not what was written, its stored hash replaced.
func (m *mailbox) checkWritten(page []byte) (next, delta string, err error) {
	var verr error
	err = eachMember(page, func(k, v []byte) bool {
		switch {
		case keyIs(k, "@odata.nextLink"):
			next, _ = rawString(v)
		case keyIs(k, "@odata.deltaLink"):
			delta, _ = rawString(v)
		case keyIs(k, "value"):
			verr = eachElement(v, func(el []byte) bool {
				verr = m.checkContact(el)
				return verr == nil
			})
			return verr == nil
		}
		return true
	})
	if err == nil {
		err = verr
	}
	if err != nil {
		return "", "", fmt.Errorf("decode contacts delta page: %w", err)
	}
	return next, delta, nil
}

func (m *mailbox) checkContact(el []byte) error {
	st, err := stampOf(el)
	if err != nil {
		return err
	}
	sid, ok := m.byContact[st.ID]
	if !ok || st.Removed {
		return nil
	}
	ref := m.cmap[sid]
	if ref.ChangeKey != "" && st.ChangeKey == ref.ChangeKey {
		return nil
	}
	var ct graph.Contact
	if err := json.Unmarshal(el, &ct); err != nil {
		return err
	}
	if h := plan.Hash(fieldsOf(&ct), m.r.mask); h != ref.Hash {
		// Edited while the run wrote: the next run restores it.
		ref.Hash = h
		m.upsert(ref)
		m.inLine = false
	}
	return nil
}

// save stores the mailbox's state and contact map changes.
func (m *mailbox) save(ctx context.Context) error {
	r := m.r
	ch := store.ContactChanges{Deletes: m.changes.Deletes}
	for _, ref := range m.upserts {
		ch.Upserts = append(ch.Upserts, ref)
	}
	st := store.Mailbox{
		UserID: m.tg.ID, UPN: m.tg.UPN, FolderID: m.folderID, ContactsDeltaLink: m.deltaLink,
		Status: store.MailboxOK, Uncertain: m.uncertain || m.folderID == "", LastSynced: time.Now(),
	}
	if m.uncertain || m.readErr {
		st.Status = store.MailboxFailed
	}
	if len(m.errs) > 0 {
		st.ErrorCode, st.ErrorMessage, st.RequestID = m.errs[0].Code, m.errs[0].Message, m.errs[0].RequestID
	}
	if m.inLine && !m.uncertain && !m.readErr && len(m.errs) == 0 && m.folderID != "" {
		st.Digest = r.digest
	}
	return r.st.SaveMailbox(ctx, r.t.Name, st, ch)
}

// describe records a dry run's plan for the mailbox.
func (m *mailbox) describe(res plan.Result) {
	c, u, d := res.Counts()
	mp := &MailboxPlan{Mailbox: m.tg.UPN, Status: "planned", Creates: c, Updates: u, Deletes: d, Held: res.HeldDeletes}
	if m.r.ro.PlanItems {
		for _, op := range res.Ops {
			it := PlanItem{Op: op.Kind.String(), SourceID: op.SourceID, Reason: op.Reason}
			if p, ok := m.r.persons[op.SourceID]; ok {
				it.Name = p.DisplayName
			}
			if op.Kind == plan.Update {
				it.Fields = op.Mask.String()
			}
			mp.Items = append(mp.Items, it)
		}
	}
	m.counts.Created, m.counts.Updated, m.counts.Deleted = c, u, d
	m.plan = mp
}

// record adds a finished mailbox to the run's result.
func (r *run) record(m *mailbox) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	switch m.status {
	case store.MailboxOK:
		res.Mailboxes.Synced++
	case store.MailboxNoMailbox, store.MailboxOutOfScope:
		res.Mailboxes.Skipped++
	default:
		res.Mailboxes.Failed++
	}
	res.Contacts.Created += m.counts.Created
	res.Contacts.Updated += m.counts.Updated
	res.Contacts.Deleted += m.counts.Deleted
	res.Contacts.Unchanged += m.counts.Unchanged
	res.Contacts.HeldDeletes += m.counts.HeldBack
	res.Contacts.Failed += m.itemFailures
	if m.status != store.MailboxNoMailbox && m.status != store.MailboxOutOfScope {
		res.Errors = append(res.Errors, m.errs...)
	}
	if m.plan != nil {
		res.Plan = append(res.Plan, *m.plan)
	}
	rm := store.RunMailbox{UserID: m.tg.ID, UPN: m.tg.UPN, Status: m.status, Counts: m.counts}
	if len(m.errs) > 0 {
		rm.ErrorCode, rm.ErrorMessage, rm.RequestID = m.errs[0].Code, m.errs[0].Message, m.errs[0].RequestID
	}
	r.mbs = append(r.mbs, rm)
}
