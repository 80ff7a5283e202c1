package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/store"
)

// syncMailboxes syncs every target mailbox, in two phases per mailbox.
// Reading what changed (the folder check and the contacts delta) is light:
// MailboxReaders mailboxes do it at once, so a run with little to do sends
// all its reads together. Planning and writing hold the mailbox's plan and
// contact map: MailboxWorkers mailboxes at once, across the engine's runs.
// A mailbox's failure is recorded in the result and never stops the
// others. Mailboxes that had nothing to write are saved together.
func (r *run) syncMailboxes(ctx context.Context) error {
	lim := r.e.limits()
	r.saves = newSaver(r)
	defer r.saves.flush(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, tg := range r.targets {
		if err := acquire(ctx, lim.readers); err != nil {
			return err
		}
		wg.Go(func() {
			m := r.newMailbox(tg)
			m.sync(ctx, lim)
			r.record(m)
		})
	}
	return nil
}

// saver gathers the saves of mailboxes that had nothing to write and
// stores them together, saverBatch at a time.
type saver struct {
	r       *run
	mu      sync.Mutex
	pending []store.MailboxSave
}

const saverBatch = 500

func newSaver(r *run) *saver { return &saver{r: r} }

func (s *saver) add(ctx context.Context, sv store.MailboxSave) {
	s.mu.Lock()
	s.pending = append(s.pending, sv)
	full := len(s.pending) >= saverBatch
	s.mu.Unlock()
	if full {
		s.flush(ctx)
	}
}

// flush stores what is pending. A failure loses nothing Graph holds: the
// mailboxes keep their previous delta links, which still work.
func (s *saver) flush(ctx context.Context) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := s.r.st.SaveMailboxes(ctx, s.r.t.Name, batch); err != nil {
		s.r.log.Error("save mailbox state", "mailboxes", len(batch), "error", err)
		s.r.mu.Lock()
		s.r.res.Errors = append(s.r.res.Errors, ItemError{Code: "state", Message: err.Error()})
		s.r.mu.Unlock()
	}
}

// mailbox is one target mailbox's sync within a run.
type mailbox struct {
	r  *run
	tg target
	mb graph.Mailbox // the mailbox's Graph calls

	state    store.Mailbox
	folderID string
	parentID string // the folder the managed folder sits in (default Contacts)
	// oldFolderID and oldParentID name the old place of a folder mode
	// change until galmirror's contacts there are gone (defaultfolder.go).
	oldFolderID, oldParentID string
	deltaLink                string
	// checked: the managed folder was found this run where it belongs.
	checked   bool
	cmap      map[string]store.ContactRef // source id → contact
	byContact map[string]string           // contact id → source id
	// resetMap: the map was rebuilt from the mailbox (reconcile) and
	// replaces the stored one.
	resetMap bool
	// narrow: cmap holds only the entries the plan needs (learnChanges),
	// of managed contacts in all.
	narrow  bool
	managed int
	// seen holds contacts read this run (delta changes or a reconcile);
	// seenKey the change keys the contacts delta gave them.
	seen    map[string]*plan.Fields // source id → actual content
	seenKey map[string]string
	// changed are the contacts delta's items, until applyDelta sorts them.
	changed []*graph.Contact
	// inLine is true when the mailbox ends the run exactly as the desired
	// contacts say (its digest is then stored).
	inLine  bool
	gone    map[string]bool // source ids whose contact the owner deleted
	extra   []plan.Existing // marked contacts not in the map (adopted)
	changes store.ContactChanges
	// dirty names the map entries this run set (they are in cmap).
	dirty map[string]struct{}

	status    store.MailboxStatus
	uncertain bool // a write may have happened that the map does not know
	// recheck: the next run reads the folder whole again (surplus copies
	// whose deletes did not happen are not in the map, so only a read of
	// the folder finds them again).
	recheck bool
	// began: BeginMailbox marked the mailbox before its writes.
	began   bool
	readErr bool // the read phase had an error: no deletes
	// itemFailures counts writes that failed.
	itemFailures int
	// stopped: the run was stopped while this mailbox synced.
	stopped    bool
	counts     store.Counts
	keptCopies int
	errs       []ItemError
	plan       *MailboxPlan
}

func (r *run) newMailbox(tg target) *mailbox {
	return &mailbox{r: r, tg: tg, mb: r.mail.Mailbox(tg.ID)}
}

// mailboxError is a failure that ends a mailbox's sync.
type mailboxError struct {
	status store.MailboxStatus
	code   string // for failures that are not Graph's own (ForeignFolder, OtherInstallation)
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

// sync runs the mailbox's sync and records how it ended. It holds a
// reader slot (taken by syncMailboxes) until the mailbox has read what
// changed and, if it must write, has a worker slot.
func (m *mailbox) sync(ctx context.Context, lim limits) {
	m.dirty = make(map[string]struct{})
	err := m.run(ctx, lim)
	if err == nil {
		if m.status == "" {
			m.status = store.MailboxOK
		}
		return
	}
	m.failed(ctx, err)
}

// failed records a mailbox's sync that ended with err: its status, what
// state it keeps, and a log line.
func (m *mailbox) failed(ctx context.Context, err error) {
	var me *mailboxError
	if errors.As(err, &me) {
		m.status = me.status
	} else {
		m.status = store.MailboxFailed
	}
	if ctx.Err() != nil {
		// Stopped (Ctrl-C, shutdown, the run's time limit): not a
		// failure of the mailbox; the next run continues it.
		m.status, m.stopped = store.MailboxFailed, true
	}
	m.addError(err)
	if !m.r.ro.DryRun {
		// Keep the folder and delta link: a mailbox out of scope today
		// may be back tomorrow. Once writes began, though, the map may
		// miss what they made (a run stopped mid-write): keep what this
		// run learnt of the folder and read the mailbox whole next run.
		st := m.state
		if m.began {
			if m.folderID != "" && m.oldFolderID == "" {
				st.FolderID, st.ParentFolderID = m.folderID, m.parentID
			}
			st.ContactsDeltaLink, st.Digest, st.Uncertain = "", "", true
		}
		st.UserID, st.UPN, st.Status = m.tg.ID, m.tg.UPN, m.status
		st.ErrorCode, st.ErrorMessage, st.RequestID = m.errs[0].Code, m.errs[0].Message, m.errs[0].RequestID
		ch := store.ContactChanges{Deletes: m.changes.Deletes, Upserts: m.dirtyRefs()}
		if err := m.r.st.SaveMailbox(context.WithoutCancel(ctx), m.r.t.Name, st, ch); err != nil {
			m.r.log.Error("save mailbox state", "mailbox", m.tg.UPN, "error", err)
		}
	}
	switch {
	case m.stopped:
		m.r.log.Debug("mailbox stopped", "mailbox", m.tg.UPN, "error", err)
	case m.status == store.MailboxNoMailbox, m.status == store.MailboxOutOfScope:
		m.r.log.Info("mailbox skipped", "mailbox", m.tg.UPN, "code", m.errs[0].Code, "reason", skipReason(m.status))
	default:
		var reqID string
		var ge *graph.Error
		if errors.As(err, &ge) {
			reqID = ge.RequestID
		}
		m.r.log.Warn("mailbox failed", "mailbox", m.tg.UPN, "code", m.errs[0].Code, "request_id", reqID, "error", err)
	}
}

func (m *mailbox) addError(err error) {
	ie := ItemError{Mailbox: m.tg.UPN, Code: "error", Message: err.Error()}
	var ge *graph.Error
	if errors.As(err, &ge) {
		ie.Code, ie.RequestID = ge.Code, ge.RequestID
	}
	var me *mailboxError
	if errors.As(err, &me) && me.code != "" {
		ie.Code = me.code
	}
	m.errs = append(m.errs, ie)
}

// run syncs the mailbox: learn what changed in it (or that it must be
// read whole), then, unless nothing changed, plan and write.
func (m *mailbox) run(ctx context.Context, lim limits) error {
	reading := true
	done := func() {
		if reading {
			<-lim.readers
			reading = false
		}
	}
	defer done()
	reconcile, err := m.load(ctx)
	if err == nil && !reconcile {
		reconcile, err = m.readChanges(ctx)
	}
	if err != nil {
		return err
	}
	if m.inLine {
		// Neither the directory nor the mailbox changed since the mailbox
		// was last brought in line: nothing to plan.
		m.counts.Unchanged = m.r.desiredFor(m.tg.ID)
		m.r.saves.add(ctx, m.stateSave())
		return nil
	}
	if err := acquire(ctx, lim.workers); err != nil {
		return err
	}
	defer func() { <-lim.workers }()
	release, err := lim.contacts.acquire(ctx, m.weight())
	if err != nil {
		return err
	}
	defer release()
	done()
	if reconcile {
		if err := m.reconcile(ctx); err != nil {
			return err
		}
	}
	return m.write(ctx)
}

// weight is what the mailbox holds in memory while it writes, in
// contacts: the whole desired set, or for a narrow plan the map entries it
// loaded (the changed sources' and the contacts delta's).
func (m *mailbox) weight() int {
	if m.narrow {
		return max(1, len(m.cmap))
	}
	return max(1, len(m.r.desired))
}

// load reads the mailbox's state. It returns true when the mailbox must be
// reconciled (read whole from its marks): no usable state.
func (m *mailbox) load(ctx context.Context) (reconcile bool, err error) {
	st, err := m.r.st.Mailbox(ctx, m.r.t.Name, m.tg.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("state database: %w", err)
	default:
		m.state = st
	}
	m.folderID, m.parentID, m.deltaLink = st.FolderID, st.ParentFolderID, st.ContactsDeltaLink
	if m.switched() {
		return true, nil
	}
	return m.folderID == "" || m.parentID == "" || st.Uncertain, nil
}

// errNoDelta stands for a contacts delta galmirror does not read this run
// (no link yet, or a cloud that offers none).
var errNoDelta = errors.New("no contacts delta")

// readChanges learns what changed in the mailbox since the last run. It
// checks that the managed folder is still where galmirror made it, and in
// the same wave reads the folder's contacts delta. It returns true when the
// mailbox must be reconciled instead: read whole from its marks (no usable
// state, a delta link Graph refused, a folder that is gone or was moved).
func (m *mailbox) readChanges(ctx context.Context) (reconcile bool, err error) {
	r := m.r
	var moved bool
	var ferr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		moved, ferr = m.checkFolder(ctx)
	}()
	derr := errNoDelta
	if r.deltaOffered() && m.deltaLink != "" {
		derr = m.readDelta(ctx)
	}
	<-done
	// The folder's verdict first: it decides what the delta read means.
	switch {
	case ferr != nil && graph.Classify(ferr) == graph.NotFound:
		r.log.Info("managed folder is gone, creating it again", "mailbox", m.tg.UPN)
		m.folderID, m.deltaLink = "", ""
		return true, nil
	case ferr != nil:
		var me *mailboxError
		if errors.As(ferr, &me) {
			return false, ferr
		}
		return false, m.fail("check the managed folder", ferr)
	case moved:
		r.log.Warn("the managed folder is no longer in the Contacts folder (its owner deleted or moved it): it is left where it is, and a new one is made",
			"mailbox", m.tg.UPN)
		m.folderID, m.parentID, m.deltaLink = "", "", ""
		return true, nil
	}
	m.checked = true
	switch c := graph.Classify(derr); {
	case derr == errNoDelta:
		return true, nil
	case derr == nil:
		st := m.state
		if len(m.changed) == 0 && st.Digest != "" && st.Digest == r.digest && st.Status == store.MailboxOK && !r.ro.DryRun {
			m.inLine = true
			return false, nil
		}
		return false, m.learnChanges(ctx)
	case c == graph.ResyncRequired:
		r.log.Info("contacts delta link refused, reading the managed folder again", "mailbox", m.tg.UPN, "error", derr)
		m.deltaLink = ""
		return true, nil
	case c == graph.NotFound:
		m.folderID, m.deltaLink = "", ""
		return true, nil
	case graph.Unsupported(derr):
		r.noDelta.Store(true)
		r.log.Warn("this cloud offers no contacts delta: managed folders are read whole every run", "error", derr)
		m.deltaLink = ""
		return true, nil
	}
	return false, m.fail("read contacts delta", derr)
}

// reconcile rebuilds the mailbox's contact map from the mailbox itself
// (lost state, a run that died mid-write, a refused delta link, a cloud
// without contacts delta): the managed folder is found again by its mark
// unless this run already checked it, and every contact in it is read with
// its marks; contacts with galmirror's mark are adopted, others left alone.
// This is what makes a killed run never leave duplicates.
func (m *mailbox) reconcile(ctx context.Context) error {
	m.cmap = map[string]store.ContactRef{}
	m.seen, m.gone, m.extra = nil, nil, nil
	m.resetMap = true
	if !m.checked {
		if err := m.ensureFolder(ctx); err != nil {
			return err
		}
	}
	m.deltaLink = ""
	if m.folderID == "" {
		return nil
	}
	err := m.mb.Contacts(ctx, m.folderID, graph.ContactQuery{
		Select: readSelect(), ExpandProps: []string{PropSourceID, PropHash}, Top: 1000,
	}, func(cs []graph.Contact) error {
		for i := range cs {
			if err := m.adopt(&cs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return m.fail("reconcile managed contacts", err)
	}
	return nil
}

// write plans the mailbox's writes and carries them out.
func (m *mailbox) write(ctx context.Context) error {
	r := m.r
	m.index()
	desired, pol := r.desired, plan.Policy{
		Mask:              r.write,
		FillBlank:         r.fill,
		DeletesAllowed:    r.sourceComplete && !m.readErr,
		MaxDeleteFraction: r.t.Deletes.MaxFraction,
		MinDeletesGuarded: r.t.Deletes.MinCount,
		AllowMassDelete:   r.ro.AllowMassDelete,
		ExcludeSource:     m.tg.ID,
		Keep:              r.keep,
	}
	outside := 0 // desired contacts a narrow plan leaves out: in line
	if m.narrow {
		desired, pol.Managed = m.narrowDesired(), m.managed
		outside = r.desiredFor(m.tg.ID) - len(desired)
		if slices.ContainsFunc(desired, func(d plan.Desired) bool { return d.SourceID == m.tg.ID }) {
			outside++
		}
	}
	res := plan.Plan(desired, m.existing(), pol)
	m.keep(res)
	m.counts.Unchanged = res.Unchanged + outside
	m.counts.HeldBack = res.HeldDeletes
	m.keptCopies = res.KeptCopies
	m.warnPlan(res)
	if r.ro.DryRun {
		m.describe(res)
		m.describePhotos(ctx, res)
		m.finishMove(ctx)
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
	if len(res.Ops) > 0 || m.folderID == "" || m.resetMap {
		if err := r.st.BeginMailbox(ctx, r.t.Name, m.tg.ID, m.tg.UPN); err != nil {
			return fmt.Errorf("state database: %w", err)
		}
		m.began = true
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
		return ctx.Err()
	}
	// Photos once the contacts are there; their failures are the
	// mailbox's errors (not in line: tried again next run), not its failure.
	photos := !failed && !m.readErr && m.syncPhotos(ctx)
	// In line when every planned write landed and nothing was held back.
	m.inLine = !failed && !m.readErr && photos && res.HeldDeletes == 0 && res.SkippedDeletes == 0
	// Surplus copies are not in the map: unless they went, only a read of
	// the whole folder finds them again.
	m.recheck = len(res.Duplicates) > res.KeptCopies && !m.inLine
	m.finishMove(ctx)
	if m.deltaLink == "" && r.deltaOffered() {
		// A new or reconciled folder: start its contacts delta now, so
		// the next run reads only what changed after this one. A round
		// that fails leaves no link: the next run reconciles.
		if err := m.startDelta(ctx); err != nil {
			m.deltaLink = ""
			if graph.Unsupported(err) {
				r.noDelta.Store(true)
			} else {
				m.readErr = true
				m.addError(fmt.Errorf("start contacts delta: %w", err))
			}
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

// warnPlan logs what the plan leaves undone on purpose: deletes held by
// the mass-delete guard, copies holding their owner's own data.
func (m *mailbox) warnPlan(res plan.Result) {
	r := m.r
	if res.HeldDeletes > 0 {
		r.log.Warn("mass-delete guard held deletes back", "mailbox", m.tg.UPN, "deletes", res.HeldDeletes,
			"managed", len(m.cmap), "max_fraction", r.t.Deletes.MaxFraction)
	}
	if res.KeptCopies > 0 {
		r.log.Warn("copies of managed contacts hold the owner's own data (notes, home phone, ...): left alone",
			"mailbox", m.tg.UPN, "copies", res.KeptCopies)
	}
}

// keep puts every contact the plan keeps into the contact map: an adopted
// contact (reconcile, or an unknown marked contact in the delta) enters it
// whatever the plan does with it, so the map never misses a contact the
// folder holds (a missed one would be created a second time). Set-aside
// duplicates stay out: deleting them is planned, or they are the owner's.
func (m *mailbox) keep(res plan.Result) {
	if len(m.extra) == 0 {
		return
	}
	dup := make(map[string]bool, len(res.Duplicates))
	for _, d := range res.Duplicates {
		dup[d.ContactID] = true
	}
	for _, e := range m.extra {
		if !dup[e.ContactID] {
			m.upsert(store.ContactRef{SourceID: e.SourceID, ContactID: e.ContactID, Hash: e.Hash})
		}
	}
	for _, e := range res.Adopt {
		m.upsert(store.ContactRef{SourceID: e.SourceID, ContactID: e.ContactID, Hash: e.Hash})
	}
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
		e := plan.Existing{SourceID: sid, ContactID: ref.ContactID, Hash: ref.Hash, Mapped: true}
		if f := m.seen[sid]; f != nil {
			e.Actual = f
		} else if ph, ok := r.prevHash[sid]; ok && ph == ref.Hash {
			e.Base = r.prevFields[sid]
		}
		out = append(out, e)
	}
	return append(out, m.extra...)
}

// dirtyRefs returns the map entries this run set.
func (m *mailbox) dirtyRefs() []store.ContactRef {
	out := make([]store.ContactRef, 0, len(m.dirty))
	for sid := range m.dirty {
		out = append(out, m.cmap[sid])
	}
	return out
}

func (m *mailbox) upsert(ref store.ContactRef) {
	m.dirty[ref.SourceID] = struct{}{}
	m.cmap[ref.SourceID] = ref
}

// readDelta reads the managed folder's changes since the last run: contacts
// the owner edited (compared with what galmirror wants by the planner),
// deleted (re-created), or added (left alone, unless they carry galmirror's
// mark: a contact created by a run that died before saving its state).
func (m *mailbox) readDelta(ctx context.Context) error {
	m.changed = nil
	link, err := m.mb.ContactsDelta(ctx, m.folderID, m.deltaLink, graph.ContactQuery{PageSize: contactsDelta}, func(cs []graph.Contact) error {
		for i := range cs {
			m.changed = append(m.changed, &cs[i])
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.deltaLink = link
	return nil
}

// learnChanges loads what the plan needs of the contact map and sorts the
// contacts delta's items against it. A mailbox that was in line with the
// previous run's desired contacts, in a run whose directory changes since
// are known exactly (run.narrow), loads only the entries of the sources
// that changed and of the contacts in the delta, and is planned from
// those (narrow); any other loads its whole map.
func (m *mailbox) learnChanges(ctx context.Context) error {
	r, st := m.r, m.state
	if !r.narrow || st.Digest != r.lastDigest || st.Status != store.MailboxOK || st.Uncertain {
		var err error
		if m.cmap, err = r.st.ContactMap(ctx, r.t.Name, m.tg.ID); err != nil {
			return fmt.Errorf("state database: %w", err)
		}
		if err := m.applyDelta(ctx); err != nil {
			return m.fail("read contacts delta", err)
		}
		return nil
	}
	m.cmap = make(map[string]store.ContactRef)
	for _, ct := range m.changed {
		ref, err := r.st.ContactByID(ctx, r.t.Name, m.tg.ID, ct.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("state database: %w", err)
		default:
			m.cmap[ref.SourceID] = ref
		}
	}
	m.byContact = nil
	if err := m.applyDelta(ctx); err != nil {
		return m.fail("read contacts delta", err)
	}
	want := slices.Clone(r.changedSources)
	for _, e := range m.extra {
		want = append(want, e.SourceID)
	}
	refs, err := r.st.ContactsFor(ctx, r.t.Name, m.tg.ID, want)
	if err != nil {
		return fmt.Errorf("state database: %w", err)
	}
	maps.Copy(m.cmap, refs)
	m.byContact = nil
	if m.managed, err = r.st.ContactCount(ctx, r.t.Name, m.tg.ID); err != nil {
		return fmt.Errorf("state database: %w", err)
	}
	m.narrow = true
	r.log.Debug("planning from the changes since the last run", "mailbox", m.tg.UPN,
		"changed_sources", len(r.changedSources), "delta_items", len(m.changed), "managed", m.managed)
	return nil
}

// narrowDesired is a narrow plan's desired contacts: those of the sources
// that changed, of the contacts the map names, and of adopted contacts.
func (m *mailbox) narrowDesired() []plan.Desired {
	ids := make(map[string]bool, len(m.cmap)+len(m.r.changedSources)+len(m.extra))
	for _, id := range m.r.changedSources {
		ids[id] = true
	}
	for id := range m.cmap {
		ids[id] = true
	}
	for _, e := range m.extra {
		ids[e.SourceID] = true
	}
	return m.r.desiredOf(ids)
}

// applyDelta sorts the contacts delta's items against the contact map:
// known contacts edited (their content goes to the planner) or deleted
// (re-created), unknown ones inspected for galmirror's mark.
func (m *mailbox) applyDelta(ctx context.Context) error {
	m.seen = make(map[string]*plan.Fields)
	m.seenKey = make(map[string]string)
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
			m.seenKey[sid] = changeKeyOf(ct)
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
	ct, err := m.mb.Contact(ctx, m.folderID, contactID, graph.ContactQuery{
		Select: readSelect(), ExpandProps: []string{PropSourceID, PropHash},
	})
	if err != nil {
		if graph.Classify(err) == graph.NotFound {
			return nil // deleted again since
		}
		return err
	}
	return m.adopt(ct)
}

// adopt takes a contact read with its marks into the planner's view if it
// is galmirror's; contacts without the source-id mark are the owner's and
// are never touched.
func (m *mailbox) adopt(ct *graph.Contact) error {
	if err := expanded(ct.SingleValueExtendedProperties, "contact"); err != nil {
		return err
	}
	sid, ok := ct.SingleValueExtendedProperties.Get(PropSourceID)
	if !ok || sid == "" {
		return nil
	}
	hash, _ := ct.SingleValueExtendedProperties.Get(PropHash)
	f := fieldsOf(ct)
	m.extra = append(m.extra, plan.Existing{SourceID: sid, ContactID: ct.ID, Hash: hash, Actual: &f, OwnerData: ownerData(ct)})
	return nil
}

// errNotExpanded: Graph answered a read that asked for galmirror's marks
// ($expand=singleValueExtendedProperties(...)) without the expanded array
// at all (an empty one means "no marks"). Microsoft documents that
// $expand on single items; should a list ever ignore it, galmirror must not
// take its own contacts and folders for the owner's (and make them again):
// it stops, and says so.
var errNotExpanded = errors.New("Graph returned no extended properties for an item although the request expanded them: galmirror cannot tell its own items from the owner's and stops here")

// expanded checks that an item read with its marks came with them.
func expanded(p graph.ExtendedProperties, what string) error {
	if p == nil {
		return fmt.Errorf("%s: %w", what, errNotExpanded)
	}
	return nil
}

// startDelta runs a first contacts delta round over the folder to obtain a
// delta link. The contacts it returns are the ones just written; one that
// differs from what was written (an owner edit during the run) gets its
// stored hash replaced, so the next run restores it.
func (m *mailbox) startDelta(ctx context.Context) error {
	m.index()
	// This round returns every contact just written. One whose change key
	// is the one its write returned is as galmirror wrote it, and is not
	// decoded: decoding them all was most of a first sync's CPU time.
	link, err := m.mb.ContactsDeltaStamps(ctx, m.folderID, graph.ContactQuery{Select: contactSelect(), PageSize: contactsDelta}, m.checkContact)
	if err != nil {
		return err
	}
	m.deltaLink = link
	return nil
}

// checkContact looks at one contact of startDelta's round: a contact of
// the map whose change key is not the one its write returned is decoded
// and, if its content is not what was written, its stored hash replaced.
func (m *mailbox) checkContact(st graph.ContactStamp, el []byte) error {
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
		return fmt.Errorf("decode a contact of the delta round: %w", err)
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
	sv := m.stateSave()
	if len(sv.Changes.Upserts)+len(sv.Changes.Deletes) <= smallSave && !sv.Changes.Reset {
		// A few map entries (a run after a small change): saved with
		// other mailboxes in one transaction, not one each (the single
		// writer spent a second per 1,000 mailboxes). A save lost with
		// the process loses nothing: BeginMailbox marked the mailbox
		// uncertain, and its next run finds its contacts by their marks.
		m.r.saves.add(ctx, sv)
		return nil
	}
	return m.r.st.SaveMailbox(ctx, m.r.t.Name, sv.Mailbox, sv.Changes)
}

// smallSave is the most map entries a mailbox save may carry to be
// batched with others: saverBatch of them stay small in memory.
const smallSave = 100

// stateSave is what save stores.
func (m *mailbox) stateSave() store.MailboxSave {
	r := m.r
	ch := store.ContactChanges{Deletes: m.changes.Deletes, Reset: m.resetMap, Upserts: m.dirtyRefs()}
	st := store.Mailbox{
		UserID: m.tg.ID, UPN: m.tg.UPN, FolderID: m.folderID, ParentFolderID: m.parentID, ContactsDeltaLink: m.deltaLink,
		Status: store.MailboxOK, Uncertain: m.uncertain || m.recheck || m.folderID == "", LastSynced: time.Now(),
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
	if m.oldFolderID != "" {
		// A folder mode change not finished: the state keeps naming the
		// old place, so the next run finishes the move.
		st.FolderID, st.ParentFolderID, st.ContactsDeltaLink = m.oldFolderID, m.oldParentID, ""
		st.Uncertain, st.Digest = true, ""
	}
	return store.MailboxSave{Mailbox: st, Changes: ch}
}

// describe records a dry run's plan for the mailbox.
func (m *mailbox) describe(res plan.Result) {
	c, u, d := res.Counts()
	mp := &MailboxPlan{Mailbox: m.tg.UPN, Status: PlanPlanned, Creates: c, Updates: u, Deletes: d, Held: res.HeldDeletes}
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

// skipReason says why a mailbox with status st was skipped.
func skipReason(st store.MailboxStatus) string {
	switch st {
	case store.MailboxNoMailbox:
		return "no Exchange Online mailbox (unlicensed, on-premises or soft-deleted); checked again next run"
	case store.MailboxOutOfScope:
		return "outside the app's mailbox access (Exchange RBAC for Applications scope or application access policy); checked again next run"
	}
	return string(st)
}

// record adds a finished mailbox to the run's result.
func (r *run) record(m *mailbox) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	if p := r.ro.Progress; p != nil {
		p.done.Add(1)
		p.writes.Add(int64(m.counts.Created + m.counts.Updated + m.counts.Deleted))
	}
	if m.stopped {
		// Neither synced nor failed: what it wrote is counted, and the
		// next run continues it.
		r.stopped++
		res.Contacts.Created += m.counts.Created
		res.Contacts.Updated += m.counts.Updated
		res.Contacts.Deleted += m.counts.Deleted
		return
	}
	r.finished++
	switch m.status {
	case store.MailboxOK:
		res.Mailboxes.Synced++
	case store.MailboxNoMailbox, store.MailboxOutOfScope:
		res.Mailboxes.Skipped++
		sk := SkippedMailbox{Mailbox: m.tg.UPN, Reason: skipReason(m.status)}
		if len(m.errs) > 0 {
			sk.Code, sk.RequestID = m.errs[0].Code, m.errs[0].RequestID
		}
		res.Skipped = append(res.Skipped, sk)
		if m.status == store.MailboxOutOfScope {
			r.denied++
		} else {
			r.absent++
		}
	default:
		res.Mailboxes.Failed++
	}
	res.Contacts.Created += m.counts.Created
	res.Contacts.Updated += m.counts.Updated
	res.Contacts.Deleted += m.counts.Deleted
	res.Contacts.Unchanged += m.counts.Unchanged
	res.Contacts.HeldDeletes += m.counts.HeldBack
	res.Contacts.Failed += m.itemFailures
	res.Contacts.KeptCopies += m.keptCopies
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
