package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/store"
)

// PurgeResult is the outcome of removing galmirror from a tenant.
type PurgeResult struct {
	Tenant          string      `json:"tenant"`
	Status          string      `json:"status"`
	Mailboxes       int         `json:"mailboxes"`
	ContactsDeleted int         `json:"contactsDeleted"`
	FoldersDeleted  int         `json:"foldersDeleted"`
	FoldersKept     int         `json:"foldersKept"`
	Errors          []ItemError `json:"errors"`
	Failure         *Failure    `json:"failure,omitempty"`
	// Purged: the tenant is marked purged, and no run of it starts until
	// it is re-enabled (also when the purge itself failed: run it again).
	Purged bool `json:"purged"`
}

// Reenable undoes Purge's mark: the tenant runs again (its next run reads
// the directory whole and makes every folder again).
func (e *Engine) Reenable(ctx context.Context, tenant string) error {
	hold, err := e.opts.Store.HoldTenant(ctx, tenant)
	if err != nil {
		return err
	}
	defer hold.Release()
	return e.opts.Store.SetPurged(ctx, tenant, time.Time{}, "")
}

// Purge removes every contact and folder galmirror created in a tenant's
// mailboxes, and nothing else: in each mailbox it deletes the contacts
// carrying galmirror's mark in the marked folder, then the folder itself
// only if nothing else is left in it (a contact or folder the owner put
// there is theirs, and so the folder stays). Mailboxes are the ones in the state
// database plus every user with mail in the directory, so a lost state
// directory does not leave folders behind. The tenant's state is
// forgotten when every mailbox was cleaned.
//
// Purge holds the tenant's run lock throughout, so no run of it (the
// service's) overlaps, and first marks the tenant purged in the store: no
// run of it starts afterwards, here or in the service, until it is
// re-enabled (Reenable). A tenant with a run in progress is refused.
func (e *Engine) Purge(ctx context.Context, t *config.Tenant) *PurgeResult {
	r := newRun(e, t, RunOptions{})
	out := &PurgeResult{Tenant: t.Name, Status: StatusOK, Errors: []ItemError{}}
	hold, err := r.st.HoldTenant(ctx, t.Name)
	var busy *store.BusyError
	switch {
	case errors.As(err, &busy):
		out.Status, out.Failure = StatusFailed, &Failure{Class: FailInternal, Code: "busy",
			Message: fmt.Sprintf("tenant %s is being synced by run %d in %s: purge it when the run has ended (or pause it first)", t.Name, busy.RunID, busy.Owner)}
		return out
	case err != nil:
		out.Status, out.Failure = StatusFailed, &Failure{Class: FailInternal, Message: fmt.Sprintf("state database: %v", err)}
		return out
	}
	defer hold.Release()
	if err := r.st.SetPurged(ctx, t.Name, time.Now(), owner()); err != nil {
		out.Status, out.Failure = StatusFailed, &Failure{Class: FailInternal, Message: fmt.Sprintf("state database: %v", err)}
		return out
	}
	out.Purged = true
	if err := r.connect(ctx); err != nil {
		out.Status, out.Failure = StatusFailed, r.failureOf(err)
		return out
	}
	defer r.startMailboxes(ctx)()

	targets := map[string]target{}
	mbs, err := r.st.Mailboxes(ctx, t.Name)
	if err != nil {
		out.Status, out.Failure = StatusFailed, &Failure{Class: FailInternal, Message: fmt.Sprintf("state database: %v", err)}
		return out
	}
	states := map[string]store.Mailbox{}
	for _, m := range mbs {
		targets[m.UserID] = target{ID: m.UserID, UPN: m.UPN}
		states[m.UserID] = m
	}
	err = graph.List(ctx, r.client, graph.Request{URL: "/users" + graph.Query{{"$select", strings.Join(graph.UserFields, ",")}, {"$top", "999"}}.Encode(), Scope: graph.DirectoryScope},
		func(p *graph.Page[graph.User]) error {
			for _, u := range p.Value {
				if pp := directory.FromUser(u); pp.Mail != "" && !pp.Guest {
					targets[u.ID] = target{ID: u.ID, UPN: u.UserPrincipalName}
				}
			}
			return nil
		})
	if err != nil {
		out.Status, out.Failure = StatusFailed, r.failureOf(r.sourceError("list users", err))
		return out
	}

	var mu sync.Mutex
	sem := make(chan struct{}, r.e.opts.MailboxWorkers)
	var wg sync.WaitGroup
	for _, tg := range targets {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m := r.newMailbox(tg)
			m.dirty, m.cmap, m.state = map[string]struct{}{}, map[string]store.ContactRef{}, states[tg.ID]
			deleted, folder, kept, err := m.purge(ctx, false)
			mu.Lock()
			defer mu.Unlock()
			out.ContactsDeleted += deleted
			if folder {
				out.FoldersDeleted++
			}
			if kept {
				out.FoldersKept++
			}
			if err != nil {
				if c := graph.Classify(err); c == graph.MailboxUnavailable || c == graph.OutOfScope {
					return
				}
				m.addError(err)
				out.Errors = append(out.Errors, m.errs...)
				return
			}
			out.Mailboxes++
			if err := r.st.DeleteMailbox(context.WithoutCancel(ctx), t.Name, tg.ID); err != nil {
				out.Errors = append(out.Errors, ItemError{Mailbox: tg.UPN, Code: "state", Message: err.Error()})
			}
		}()
	}
	wg.Wait()
	if len(out.Errors) > 0 || ctx.Err() != nil {
		out.Status = StatusPartial
		return out
	}
	if err := r.st.DeleteTenantState(context.WithoutCancel(ctx), t.Name); err != nil {
		out.Errors = append(out.Errors, ItemError{Code: "state", Message: err.Error()})
		out.Status = StatusPartial
	}
	return out
}

func (r *run) failureOf(err error) *Failure {
	if f, ok := err.(*failure); ok {
		return f.f
	}
	return &Failure{Class: FailInternal, Message: err.Error()}
}

// purge removes this entry's managed folder from one mailbox, and nothing
// of the owner's: a folder that holds only contacts carrying galmirror's
// mark goes as a whole (permanentDelete where Graph offers it, else to the
// mailbox's Deleted Items: one folder there rather than hundreds of
// contacts); a folder that also holds the owner's contacts, a marked
// contact the owner filled with data of their own (notes, home phone, ...)
// or a folder of theirs keeps those and loses only galmirror's contacts.
// keepOthers leaves a folder another installation maintains alone (a
// mailbox that is no longer a target here); `purge` removes it all the same.
func (m *mailbox) purge(ctx context.Context, keepOthers bool) (deleted int, folderDeleted, folderKept bool, err error) {
	r := m.r
	if r.t.InDefaultFolder() || inDefault(m.state.FolderID, m.state.ParentFolderID) {
		if deleted, err = m.purgeDefault(ctx); err != nil {
			return deleted, false, false, err
		}
	}
	folders, err := m.getFolders(ctx, graph.FolderQuery{Mark: &graph.SingleValueExtendedProperty{ID: PropFolder, Value: r.mark}})
	if err != nil {
		return 0, false, false, err
	}
	for i := range folders {
		f := &folders[i]
		if !m.ours(f) {
			continue
		}
		if v, ok := f.SingleValueExtendedProperties.Get(PropInstall); keepOthers && ok && v != "" && parseStamp(v).id != r.stamp.id {
			r.log.Warn("managed folder left alone: another installation maintains it", "mailbox", m.tg.UPN, "installation", v)
			folderKept = true
			continue
		}
		m.folderID = f.ID
		others := 0
		var ops []plan.Op
		err := m.mb.Contacts(ctx, f.ID, graph.ContactQuery{
			Select: append([]string{"id"}, ownerFields...), ExpandProps: []string{PropSourceID}, Top: 1000,
		}, func(cs []graph.Contact) error {
			for i := range cs {
				ct := &cs[i]
				if sid, ok := ct.SingleValueExtendedProperties.Get(PropSourceID); ok && sid != "" && !ownerData(ct) {
					ops = append(ops, plan.Op{Kind: plan.Delete, SourceID: sid, ContactID: ct.ID})
				} else {
					others++
				}
			}
			return nil
		})
		if err != nil {
			return deleted, false, false, err
		}
		if others == 0 {
			// A folder the owner made inside ours is theirs too: one
			// page of one tells.
			has, err := m.mb.HasChildFolder(ctx, f.ID)
			if err != nil {
				return deleted, false, false, err
			}
			if has {
				others = 1
			}
		}
		if others > 0 {
			if m.apply(ctx, ops) {
				return deleted + m.counts.Deleted, false, false, fmt.Errorf("delete managed contacts: %d failed", m.itemFailures)
			}
			deleted += m.counts.Deleted
			m.counts.Deleted = 0
			r.log.Info("managed folder kept: it holds contacts or folders of the owner's", "mailbox", m.tg.UPN, "items", others)
			folderKept = true
			continue
		}
		if err := m.removeFolder(ctx, f.ID); err != nil {
			return deleted, false, folderKept, err
		}
		deleted += len(ops)
		folderDeleted = true
	}
	return deleted, folderDeleted, folderKept, nil
}

// removeFolder removes a managed folder and what it holds: permanentDelete
// where Graph offers it, else DELETE (to the mailbox's Deleted Items).
func (m *mailbox) removeFolder(ctx context.Context, folderID string) error {
	for {
		permanent := !m.r.noPurge.Load()
		err := m.mb.RemoveFolder(ctx, folderID, permanent)
		switch {
		case err == nil, graph.Classify(err) == graph.NotFound:
			return nil
		case permanent && graph.Unsupported(err):
			m.r.noPurge.Store(true)
			continue
		}
		return err
	}
}

// purgeDefault deletes galmirror's contacts (those with its source-id mark
// and no data of the owner's) from the mailbox's default Contacts folder,
// and nothing else: the folder and every other contact in it are the
// owner's (the default folder mode, or a move from it not finished).
func (m *mailbox) purgeDefault(ctx context.Context) (int, error) {
	f, err := m.mb.Folder(ctx, defaultFolderName)
	if err != nil {
		return 0, err
	}
	var ops []plan.Op
	err = m.mb.Contacts(ctx, f.ID, graph.ContactQuery{
		Select: append([]string{"id"}, ownerFields...), ExpandProps: []string{PropSourceID}, Top: 1000,
	}, func(cs []graph.Contact) error {
		for i := range cs {
			ct := &cs[i]
			if err := expanded(ct.SingleValueExtendedProperties, "contact"); err != nil {
				return err
			}
			if sid, ok := ct.SingleValueExtendedProperties.Get(PropSourceID); ok && sid != "" && !ownerData(ct) {
				ops = append(ops, plan.Op{Kind: plan.Delete, SourceID: sid, ContactID: ct.ID})
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	cur := m.folderID
	m.folderID = f.ID // apply writes to m.folderID
	failed := m.apply(ctx, ops)
	m.folderID = cur
	n := m.counts.Deleted
	m.counts.Deleted = 0
	if failed {
		return n, fmt.Errorf("delete managed contacts in the default Contacts folder: %d failed", m.itemFailures)
	}
	return n, nil
}
