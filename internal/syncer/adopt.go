package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/store"
)

// Adopting a folder another product made (`galmirror adopt-folder`): a
// customer switching from another GAL product has its folder, say "Company
// Directory", in every mailbox, which galmirror never adopts by itself
// (ForeignFolder). Asked to, explicitly and per tenant, galmirror marks that
// folder as its settings entry's, marks each contact it can attribute to
// exactly one current source (by email address or by name) with that
// source's id, and leaves every other contact as it is, reported, unless
// told to remove them (under the mass-delete guard). The sync that follows
// brings the marked contacts in line, creates the missing ones and treats
// two contacts of one source as it treats copies of its own.

// Match modes of AdoptOptions.
const (
	MatchEmail = "email" // a contact's email addresses against the sources' mail
	MatchName  = "name"  // a contact's display name against the sources'
)

// AdoptOptions are the choices of an adoption.
type AdoptOptions struct {
	// Folder is the display name of the folder to adopt, directly under
	// each mailbox's default Contacts folder.
	Folder string
	// Match is MatchEmail (default) or MatchName.
	Match string
	// DryRun reports what would be done and writes nothing.
	DryRun bool
	// RemoveUnmatched deletes the contacts no current source claims,
	// under the mass-delete guard (AllowMassDelete lifts it).
	RemoveUnmatched, AllowMassDelete bool
}

// AdoptResult is the outcome of an adoption; its JSON is `adopt-folder
// --json`'s.
type AdoptResult struct {
	Tenant string `json:"tenant"`
	Folder string `json:"folder"`
	Match  string `json:"match"`
	// Status: ok, partial (some mailboxes failed, or unmatched contacts
	// held back by the mass-delete guard), failed.
	Status    string         `json:"status"`
	DryRun    bool           `json:"dryRun,omitempty"`
	Mailboxes AdoptMailboxes `json:"mailboxes"`
	Contacts  AdoptContacts  `json:"contacts"`
	// Unmatched lists the contacts left alone (or removed), at most 500.
	Unmatched []UnmatchedContact `json:"unmatched"`
	Errors    []ItemError        `json:"errors"`
	Failure   *Failure           `json:"failure,omitempty"`
	// Sync is the sync run after the adoption (not after a dry run).
	Sync *Result `json:"sync,omitempty"`
}

// AdoptMailboxes counts target mailboxes by what the adoption found.
type AdoptMailboxes struct {
	// Adopted: the folder was found and marked (would be, in a dry run).
	Adopted int `json:"adopted"`
	// WithoutFolder: no folder of that name.
	WithoutFolder int `json:"withoutFolder"`
	// Skipped: no Exchange Online mailbox, or outside the app's access.
	Skipped int `json:"skipped"`
	// Already: the folder is this settings entry's already.
	Already int `json:"already"`
	// Refused: the folder belongs to another galmirror settings entry, or
	// the mailbox has this entry's folder under another name.
	Refused int `json:"refused"`
	Failed  int `json:"failed"`
}

// AdoptContacts counts the contacts of the adopted folders.
type AdoptContacts struct {
	// Matched contacts were marked with a source's id; Duplicates of them
	// are second and further contacts of one source (the sync keeps one).
	Matched    int `json:"matched"`
	Duplicates int `json:"duplicates"`
	// Marked carried a source's mark already.
	Marked int `json:"marked"`
	// Unmatched no current source claims: left alone, or Removed; Held
	// were to be removed but the mass-delete guard held them back.
	Unmatched int `json:"unmatched"`
	Removed   int `json:"removed"`
	Held      int `json:"held"`
}

// UnmatchedContact is a contact no current source claims.
type UnmatchedContact struct {
	Mailbox string `json:"mailbox"`
	Name    string `json:"name"`
	Email   string `json:"email,omitempty"`
	Reason  string `json:"reason"`
	// Removed: it was deleted (--remove-unmatched).
	Removed bool `json:"removed,omitempty"`

	contactID string
}

// maxUnmatchedListed bounds AdoptResult.Unmatched.
const maxUnmatchedListed = 500

// AdoptFolder adopts the folder o.Folder of every target mailbox of the
// tenant for its settings entry, then (unless o.DryRun) syncs the tenant.
// It holds the tenant's run lock while it adopts, so no run of the tenant
// overlaps it.
func (e *Engine) AdoptFolder(ctx context.Context, t *config.Tenant, o AdoptOptions) *AdoptResult {
	if o.Match == "" {
		o.Match = MatchEmail
	}
	out := &AdoptResult{Tenant: t.Name, Folder: o.Folder, Match: o.Match, Status: StatusOK, DryRun: o.DryRun,
		Unmatched: []UnmatchedContact{}, Errors: []ItemError{}}
	if t.InDefaultFolder() {
		// adopt-folder makes a folder the managed folder: the default
		// folder mode has none (its contacts are known by their marks).
		out.Status, out.Failure = StatusFailed, &Failure{Class: FailConfig, Code: "DefaultFolderMode",
			Message: fmt.Sprintf("tenant %s uses the default folder mode (\"folder\": {\"mode\": \"default\"}): adopt-folder adopts a contact folder into the folder mode; switch the entry to the folder mode first", t.Name)}
		return out
	}
	if err := e.adoptAll(ctx, t, o, out); err != nil {
		out.Status, out.Failure = StatusFailed, err
		return out
	}
	if out.Errors = slices.Clip(out.Errors); len(out.Errors) > 0 || out.Contacts.Held > 0 {
		out.Status = StatusPartial
	}
	if o.DryRun || ctx.Err() != nil {
		return out
	}
	out.Sync = e.Run(ctx, t, RunOptions{Trigger: string(store.TriggerCLI)})
	return out
}

// adoptAll adopts the folder in every target mailbox, holding the tenant.
func (e *Engine) adoptAll(ctx context.Context, t *config.Tenant, o AdoptOptions, out *AdoptResult) *Failure {
	hold, err := e.opts.Store.HoldTenant(ctx, t.Name)
	var busy *store.BusyError
	switch {
	case errors.As(err, &busy):
		return &Failure{Class: FailInternal, Code: "busy",
			Message: fmt.Sprintf("tenant %s is being synced by run %d in %s: adopt the folder when the run has ended (or pause it first)", t.Name, busy.RunID, busy.Owner)}
	case err != nil:
		return &Failure{Class: FailInternal, Message: fmt.Sprintf("state database: %v", err)}
	}
	defer hold.Release()
	if ts, err := e.opts.Store.Tenant(ctx, t.Name); err == nil && !ts.PurgedAt.IsZero() {
		p := &store.PurgedError{Tenant: t.Name, At: ts.PurgedAt, By: ts.PurgedBy}
		return &Failure{Class: FailConfig, Code: "purged", Message: p.Error()}
	}
	r := newRun(e, t, RunOptions{DryRun: true})
	if err := r.connect(ctx); err != nil {
		return r.failureOf(err)
	}
	defer r.startMailboxes(ctx)()
	// The directory as a sync selects it, without the state database.
	st := r.st
	r.st = nil
	if err := r.readSource(ctx); err != nil {
		return r.failureOf(err)
	}
	sc, err := r.scope(ctx)
	if err != nil {
		return r.failureOf(err)
	}
	r.selectPeople(sc)
	r.st = st
	a := &adoption{r: r, o: o, out: out, idx: r.sourceIndex(o.Match)}
	a.run(ctx)
	return nil
}

// sourceIndex maps each source's email address (MatchEmail) or display
// name (MatchName), lower-cased, to its source ids.
func (r *run) sourceIndex(match string) map[string][]string {
	idx := map[string][]string{}
	for _, d := range r.desired {
		p, ok := r.persons[d.SourceID]
		if !ok {
			continue
		}
		key := p.Mail
		if match == MatchName {
			key = p.DisplayName
		}
		if k := strings.ToLower(strings.TrimSpace(key)); k != "" && !slices.Contains(idx[k], d.SourceID) {
			idx[k] = append(idx[k], d.SourceID)
		}
	}
	return idx
}

// adoption is one AdoptFolder's work over the mailboxes.
type adoption struct {
	r   *run
	o   AdoptOptions
	idx map[string][]string

	mu  sync.Mutex
	out *AdoptResult
}

func (a *adoption) run(ctx context.Context) {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, tg := range a.r.targets {
		if acquire(ctx, sem) != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			m := a.r.newMailbox(tg)
			if err := a.mailbox(ctx, m); err != nil {
				m.addError(err)
				a.mu.Lock()
				a.out.Mailboxes.Failed++
				a.out.Errors = append(a.out.Errors, m.errs...)
				a.mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		a.out.Errors = append(a.out.Errors, ItemError{Code: "canceled", Message: "stopped before every mailbox was done: run it again"})
	}
}

// mailbox adopts the folder of one mailbox.
func (a *adoption) mailbox(ctx context.Context, m *mailbox) error {
	f, err := a.findFolder(ctx, m)
	if f == nil || err != nil {
		return err
	}
	contacts, err := a.contacts(ctx, m, f.ID)
	if err != nil {
		return err
	}
	marks, unmatched := a.match(m, contacts)
	remove, held := a.guard(unmatched, len(contacts))
	if !a.o.DryRun {
		m.folderID = f.ID
		if err := a.write(ctx, m, marks, unmatched, remove); err != nil {
			return err
		}
		props := graph.ExtendedProperties{{ID: PropFolder, Value: a.r.mark}, {ID: PropInstall, Value: a.r.stamp.String()}}
		if err := m.mb.SetFolderProps(ctx, f.ID, props); err != nil {
			return fmt.Errorf("mark the folder as galmirror's: %w", err)
		}
		// The next sync reads the folder whole and adopts the marked
		// contacts into its map.
		if err := a.r.st.DeleteMailbox(context.WithoutCancel(ctx), a.r.t.Name, m.tg.ID); err != nil {
			return fmt.Errorf("state database: %w", err)
		}
	}
	a.record(m, marks, unmatched, remove, held)
	return nil
}

// findFolder finds the folder to adopt among the children of the default
// Contacts folder; nil when the mailbox has none to adopt (counted).
func (a *adoption) findFolder(ctx context.Context, m *mailbox) (*graph.ContactFolder, error) {
	named, err := m.getFolders(ctx, graph.FolderQuery{Name: a.o.Folder})
	if err != nil {
		if c := graph.Classify(err); c == graph.MailboxUnavailable || c == graph.OutOfScope {
			a.count(func(c *AdoptMailboxes) { c.Skipped++ })
			return nil, nil
		}
		return nil, fmt.Errorf("look up the folder: %w", err)
	}
	var f *graph.ContactFolder
	for i := range named {
		if strings.EqualFold(named[i].DisplayName, a.o.Folder) {
			f = &named[i]
		}
	}
	switch {
	case f == nil:
		a.count(func(c *AdoptMailboxes) { c.WithoutFolder++ })
		return nil, nil
	case m.ours(f):
		a.count(func(c *AdoptMailboxes) { c.Already++ })
		return nil, nil
	}
	if v, ok := f.SingleValueExtendedProperties.Get(PropFolder); ok && v != "" {
		return nil, a.refuse(m, fmt.Sprintf("the folder belongs to another galmirror settings entry (%s): it is not adopted", v))
	}
	own, err := m.getFolders(ctx, graph.FolderQuery{Mark: &graph.SingleValueExtendedProperty{ID: PropFolder, Value: a.r.mark}})
	if err != nil {
		return nil, fmt.Errorf("look up the managed folder: %w", err)
	}
	for i := range own {
		if m.ours(&own[i]) {
			return nil, a.refuse(m, fmt.Sprintf("the mailbox has this entry's folder already (%q): adopting another would make two", own[i].DisplayName))
		}
	}
	return f, nil
}

// refuse counts a mailbox whose folder is not adopted, with why.
func (a *adoption) refuse(m *mailbox, why string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.out.Mailboxes.Refused++
	a.out.Errors = append(a.out.Errors, ItemError{Mailbox: m.tg.UPN, Code: "NotAdopted", Message: why})
	return nil
}

func (a *adoption) count(f func(*AdoptMailboxes)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.out.Mailboxes)
}

// contacts reads the folder's contacts with their source marks.
func (a *adoption) contacts(ctx context.Context, m *mailbox, folderID string) ([]graph.Contact, error) {
	var out []graph.Contact
	err := m.mb.Contacts(ctx, folderID, graph.ContactQuery{
		Select: []string{"id", "displayName", "emailAddresses"}, ExpandProps: []string{PropSourceID}, Top: 1000,
	}, func(cs []graph.Contact) error {
		for i := range cs {
			if err := expanded(cs[i].SingleValueExtendedProperties, "contact"); err != nil {
				return err
			}
		}
		out = append(out, cs...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the folder's contacts: %w", err)
	}
	return out, nil
}

// mark is a contact to mark with a source's id.
type mark struct {
	contactID, sourceID string
	duplicate           bool
}

// match attributes each unmarked contact to the one current source its
// email addresses (or name) name; the others are unmatched.
func (a *adoption) match(m *mailbox, contacts []graph.Contact) (marks []mark, unmatched []UnmatchedContact) {
	seen := map[string]bool{}
	for i := range contacts {
		c := &contacts[i]
		if sid, ok := c.SingleValueExtendedProperties.Get(PropSourceID); ok && sid != "" {
			seen[sid] = true
			a.mu.Lock()
			a.out.Contacts.Marked++
			a.mu.Unlock()
			continue
		}
		keys, email := []string{c.DisplayName}, ""
		if a.o.Match == MatchEmail {
			keys = keys[:0]
			for _, e := range c.EmailAddresses {
				keys = append(keys, e.Address)
			}
		}
		if len(c.EmailAddresses) > 0 {
			email = c.EmailAddresses[0].Address
		}
		var sids []string
		for _, k := range keys {
			for _, sid := range a.idx[strings.ToLower(strings.TrimSpace(k))] {
				if !slices.Contains(sids, sid) {
					sids = append(sids, sid)
				}
			}
		}
		switch len(sids) {
		case 1:
			marks = append(marks, mark{contactID: c.ID, sourceID: sids[0], duplicate: seen[sids[0]]})
			seen[sids[0]] = true
		case 0:
			why := "no current source has its email address"
			if a.o.Match == MatchName {
				why = "no current source has its name"
			}
			unmatched = append(unmatched, UnmatchedContact{Mailbox: m.tg.UPN, Name: c.DisplayName, Email: email, Reason: why, contactID: c.ID})
		default:
			unmatched = append(unmatched, UnmatchedContact{Mailbox: m.tg.UPN, Name: c.DisplayName, Email: email,
				Reason: fmt.Sprintf("ambiguous: %d current sources match it", len(sids)), contactID: c.ID})
		}
	}
	return marks, unmatched
}

// guard decides which unmatched contacts go (--remove-unmatched): all, or
// none when they are more than deletes.maxFraction of the folder's
// contacts and more than deletes.minCount (AllowMassDelete lifts it).
func (a *adoption) guard(unmatched []UnmatchedContact, total int) (remove []int, held int) {
	if !a.o.RemoveUnmatched || len(unmatched) == 0 {
		return nil, 0
	}
	if a.r.t.Deletes.HoldsBack(len(unmatched), total) && !a.o.AllowMassDelete {
		return nil, len(unmatched)
	}
	for i := range unmatched {
		remove = append(remove, i)
	}
	return remove, 0
}

// write marks the matched contacts and removes the unmatched ones to go
// (permanentDelete where Graph offers it, as for galmirror's own deletes).
func (a *adoption) write(ctx context.Context, m *mailbox, marks []mark, unmatched []UnmatchedContact, remove []int) error {
	ws := make([]graph.Write, 0, len(marks)+len(remove))
	for _, mk := range marks {
		props := graph.ExtendedProperties{{ID: PropSourceID, Value: mk.sourceID}}
		ws = append(ws, graph.Write{Kind: graph.UpdateContact, FolderID: m.folderID, ContactID: mk.contactID,
			Body: func() *graph.ContactPatch { return &graph.ContactPatch{SingleValueExtendedProperties: props} }})
	}
	del := graph.PurgeContact
	if a.r.noPurge.Load() {
		del = graph.DeleteContact
	}
	for _, i := range remove {
		ws = append(ws, graph.Write{Kind: del, FolderID: m.folderID, ContactID: unmatched[i].contactID})
	}
	var failed []error
	m.mb.Write(ctx, ws, func(i int, r graph.WriteResult) {
		if r.Err != nil && graph.Classify(r.Err) != graph.NotFound {
			failed = append(failed, r.Err)
		}
	})
	if len(failed) > 0 {
		return fmt.Errorf("mark or remove %d of %d contacts: %w", len(failed), len(ws), failed[0])
	}
	return nil
}

// record adds a mailbox's adoption to the result.
func (a *adoption) record(m *mailbox, marks []mark, unmatched []UnmatchedContact, remove []int, held int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.out
	o.Mailboxes.Adopted++
	for _, mk := range marks {
		o.Contacts.Matched++
		if mk.duplicate {
			o.Contacts.Duplicates++
		}
	}
	o.Contacts.Unmatched += len(unmatched) - len(remove)
	o.Contacts.Removed += len(remove)
	o.Contacts.Held += held
	for i := range unmatched {
		if slices.Contains(remove, i) {
			unmatched[i].Removed = true
		}
		if len(o.Unmatched) < maxUnmatchedListed {
			o.Unmatched = append(o.Unmatched, unmatched[i])
		}
	}
}
