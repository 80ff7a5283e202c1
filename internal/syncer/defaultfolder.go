package syncer

import (
	"context"
	"math"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
)

// The default folder mode (config.FolderModeDefault) puts the managed
// contacts into each mailbox's default Contacts folder, beside the owner's
// own. That folder is the owner's: galmirror never creates, marks, renames
// or removes it, and recognises its own contacts there by their source-id
// mark alone (a contact of the owner's with a colleague's name and address
// is not galmirror's). Everything else works as in a managed folder: the
// contacts delta of the folder, reconcile by marks, adoption, copies.
//
// The state stores the default folder with itself as parent
// (FolderID == ParentFolderID: a folder is never its own parent), so a
// mailbox's state says which mode wrote it. A run in the other mode moves
// the contacts: it makes them in the new place (reconcile by marks first,
// so a run that died mid-move makes no second copy), and once the new
// place is in line deletes galmirror's contacts in the old place (and a
// managed folder left empty), under the delete guard. Until that is done
// the state keeps naming the old place, so every later run finishes the
// move; a run killed in between repeats it without duplicates.

// defaultFolderName is Graph's well-known name of the default Contacts
// folder (GET /users/{id}/contactFolders/contacts).
const defaultFolderName = "contacts"

// inDefault reports whether a stored folder is the default Contacts folder
// (the default folder mode wrote the state).
func inDefault(folderID, parentID string) bool { return folderID != "" && folderID == parentID }

// ensureDefaultFolder learns the id of the mailbox's default Contacts
// folder. A mailbox without state may still hold a managed folder of this
// entry from an earlier folder mode: it becomes the old place to clean.
func (m *mailbox) ensureDefaultFolder(ctx context.Context) error {
	f, err := m.mb.Folder(ctx, defaultFolderName)
	if err != nil {
		return m.fail("find the default Contacts folder", err)
	}
	m.folderID, m.parentID = f.ID, f.ID
	if m.oldFolderID != "" || m.state.FolderID != "" {
		return nil
	}
	folders, err := m.getFolders(ctx, graph.FolderQuery{Mark: &graph.SingleValueExtendedProperty{ID: PropFolder, Value: m.r.mark}})
	if err != nil {
		return m.fail("look up a managed folder of the folder mode", err)
	}
	for i := range folders {
		if m.ours(&folders[i]) {
			m.oldFolderID, m.oldParentID = folders[i].ID, folders[i].ParentFolderID
			break
		}
	}
	return nil
}

// switched notes a state written by the other folder mode: its folder is
// the old place, cleaned once the new one is in line.
func (m *mailbox) switched() bool {
	st := m.state
	if st.FolderID == "" || inDefault(st.FolderID, st.ParentFolderID) == m.r.t.InDefaultFolder() {
		return false
	}
	m.oldFolderID, m.oldParentID = st.FolderID, st.ParentFolderID
	m.folderID, m.parentID, m.deltaLink = "", "", ""
	m.r.log.Info("the entry's folder mode changed: moving the managed contacts", "mailbox", m.tg.UPN,
		"to", m.r.t.FolderDescription())
	return true
}

// oldPlace reads the old place of a move: galmirror's contacts there (by
// their mark, without the owner's data) and whether anything else is. A
// managed folder that is gone, or that its owner moved or deleted, or that
// is not this entry's, is left alone (ok false: nothing to clean).
func (m *mailbox) oldPlace(ctx context.Context) (ops []plan.Op, others int, ok bool, err error) {
	folderMode := !inDefault(m.oldFolderID, m.oldParentID)
	if folderMode {
		f, err := m.mb.Folder(ctx, m.oldFolderID, folderProps...)
		switch {
		case graph.Classify(err) == graph.NotFound:
			return nil, 0, false, nil
		case err != nil:
			return nil, 0, false, err
		}
		if err := expanded(f.SingleValueExtendedProperties, "the old managed folder"); err != nil {
			return nil, 0, false, err
		}
		if f.ParentFolderID != m.oldParentID || !m.ours(f) {
			return nil, 0, false, nil
		}
		// Another installation's folder is left alone, unless it ran on
		// this host (this machine's state was lost) or the operator takes
		// over: claim's rule, without the restamp.
		if v, has := f.SingleValueExtendedProperties.Get(PropInstall); has && v != "" {
			if st := parseStamp(v); st.id != m.r.stamp.id && st.host != m.r.stamp.host && !m.r.ro.TakeOver {
				m.r.log.Warn("old managed folder left alone: another installation maintains it", "mailbox", m.tg.UPN, "installation", v)
				return nil, 0, false, nil
			}
		}
	}
	err = m.mb.Contacts(ctx, m.oldFolderID, graph.ContactQuery{
		Select: append([]string{"id"}, ownerFields...), ExpandProps: []string{PropSourceID}, Top: 1000,
	}, func(cs []graph.Contact) error {
		for i := range cs {
			ct := &cs[i]
			if err := expanded(ct.SingleValueExtendedProperties, "contact"); err != nil {
				return err
			}
			if sid, has := ct.SingleValueExtendedProperties.Get(PropSourceID); has && sid != "" && !ownerData(ct) {
				ops = append(ops, plan.Op{Kind: plan.Delete, SourceID: sid, ContactID: ct.ID, Reason: "moved"})
			} else {
				others++
			}
		}
		return nil
	})
	if graph.Classify(err) == graph.NotFound {
		return nil, 0, false, nil
	}
	if err == nil && folderMode && others == 0 {
		var has bool
		if has, err = m.mb.HasChildFolder(ctx, m.oldFolderID); has {
			others = 1
		}
	}
	return ops, others, err == nil, err
}

// finishMove deletes galmirror's contacts in the old place of a move, once
// the new place is in line, and a managed folder that holds nothing else.
// Contacts whose source has no contact in the new place (leavers since)
// fall under the mass-delete guard. A dry run only counts. The move is
// done (m.oldFolderID cleared) when the old place is clean or not ours.
func (m *mailbox) finishMove(ctx context.Context) {
	r := m.r
	if m.oldFolderID == "" {
		return
	}
	if !r.ro.DryRun && (!m.inLine || !r.sourceComplete || m.readErr) {
		r.log.Warn("the move to the new folder mode waits: the new place is not yet in line", "mailbox", m.tg.UPN)
		return
	}
	ops, others, ok, err := m.oldPlace(ctx)
	if err != nil {
		m.readErr = true
		m.addError(m.fail("read the old place of a folder mode change", err))
		return
	}
	if !ok {
		m.oldFolderID, m.oldParentID = "", ""
		return
	}
	// A contact has its counterpart in the new place: the map says so
	// after the writes; a dry run wrote nothing, so the desired set does.
	moved := func(sid string) bool { _, has := m.cmap[sid]; return has }
	if r.ro.DryRun {
		want := make(map[string]bool, len(r.desired))
		for _, d := range r.desired {
			want[d.SourceID] = d.SourceID != m.tg.ID
		}
		moved = func(sid string) bool { return want[sid] }
	}
	leavers := 0
	for _, op := range ops {
		if !moved(op.SourceID) {
			leavers++
		}
	}
	limit := int(math.Floor(r.t.Deletes.MaxFraction * float64(len(ops))))
	if leavers > r.t.Deletes.MinCount && leavers > limit && !r.ro.AllowMassDelete {
		r.log.Warn("mass-delete guard held the old place of a folder mode change back", "mailbox", m.tg.UPN, "leavers", leavers, "contacts", len(ops))
		m.counts.HeldBack += len(ops)
		return
	}
	if r.ro.DryRun {
		m.counts.Deleted += len(ops)
		if m.plan != nil {
			m.plan.Deletes += len(ops)
		}
		return
	}
	switch {
	case others == 0 && !inDefault(m.oldFolderID, m.oldParentID):
		// A managed folder of galmirror's contacts only goes as a whole
		// (one request, as purge does), contents and all.
		if err := m.removeFolder(ctx, m.oldFolderID); err != nil {
			m.addError(m.fail("remove the old managed folder", err))
			return
		}
		m.counts.Deleted += len(ops)
	case len(ops) > 0:
		cur := m.folderID
		m.folderID = m.oldFolderID // apply writes to m.folderID
		failed := m.apply(ctx, ops)
		m.folderID = cur
		if failed {
			return
		}
	}
	r.log.Info("moved the managed contacts to the new folder mode", "mailbox", m.tg.UPN, "deleted_in_old_place", len(ops), "owner_items_kept", others)
	m.oldFolderID, m.oldParentID = "", ""
}
