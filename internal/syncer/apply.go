package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/store"
)

// apply carries out a mailbox's planned writes through graph (chains of 20,
// four at a time, what Graph did not run sent again) and records their
// outcomes: what follows up is this package's business (a contact already
// gone, a create that may have happened, a cloud without permanentDelete).
// It reports whether any write failed.
func (m *mailbox) apply(ctx context.Context, ops []plan.Op) (failed bool) {
	work := make([]*plan.Op, len(ops))
	for i := range ops {
		work[i] = &ops[i]
	}
	tries := map[*plan.Op]*graph.Retrier{} // creates looked up by their mark
	for len(work) > 0 {
		ws := make([]graph.Write, len(work))
		for i, op := range work {
			ws[i] = m.writeOf(op)
		}
		var again []*plan.Op
		m.mb.Write(ctx, ws, func(i int, r graph.WriteResult) {
			op := work[i]
			next, ok := m.settle(ctx, op, ws[i].Kind, r, tries)
			switch {
			case next != nil:
				again = append(again, next)
			case !ok:
				failed = true
			}
		})
		work = again
	}
	return failed
}

// writeOf is an op's write. Its body is encoded when it is sent: the
// encoded kilobyte is what waits in flight, not the op's content.
func (m *mailbox) writeOf(op *plan.Op) graph.Write {
	w := graph.Write{FolderID: m.folderID, ContactID: op.ContactID}
	switch op.Kind {
	case plan.Create:
		w.Kind = graph.CreateContact
		w.Body = func() *graph.ContactPatch { return contactPatch(*op, true) }
	case plan.Update:
		w.Kind = graph.UpdateContact
		w.Body = func() *graph.ContactPatch { return contactPatch(*op, false) }
	case plan.Delete:
		// permanentDelete where Graph offers it (the global cloud), so that
		// what galmirror removes does not sit in the owner's Deleted Items;
		// elsewhere a DELETE, which moves it there.
		w.Kind = graph.PurgeContact
		if m.r.noPurge.Load() {
			w.Kind = graph.DeleteContact
		}
	}
	return w
}

// settle records the outcome of one write. It returns an op to send again
// (the same, or what replaces it), or ok false for a failed write.
func (m *mailbox) settle(ctx context.Context, op *plan.Op, kind graph.WriteKind, r graph.WriteResult, tries map[*plan.Op]*graph.Retrier) (next *plan.Op, ok bool) {
	if r.Err == nil {
		m.succeeded(op, r.Stamp)
		return nil, true
	}
	err := r.Err
	var maybe *graph.MaybeError
	switch c := graph.Classify(err); {
	case op.Kind == plan.Delete && c == graph.NotFound:
		// Already gone: the owner deleted it, or an earlier attempt whose
		// answer was lost.
		m.succeeded(op, graph.ContactStamp{})
		return nil, true
	case kind == graph.PurgeContact && graph.Unsupported(err):
		// No permanentDelete where this tenant lives: delete into the
		// mailbox's Deleted Items instead, from now on.
		m.r.noPurge.Store(true)
		return op, true
	case op.Kind == plan.Update && c == graph.NotFound:
		// The owner deleted it since the delta was read: create it again.
		cr := *op
		cr.Kind, cr.ContactID, cr.Mask, cr.Reason = plan.Create, "", m.r.write, "deleted by owner"
		m.forget(op.SourceID)
		return &cr, true
	case errors.As(err, &maybe) && op.Kind == plan.Create && ctx.Err() == nil:
		// The create may have happened: look for the contact by its
		// source-id mark before creating it again.
		ct, ferr := m.findByMark(ctx, op.SourceID)
		switch {
		case ferr != nil:
			err = fmt.Errorf("%w (looking for the contact by its mark: %w)", err, ferr)
		case ct != nil:
			m.upsert(store.ContactRef{SourceID: op.SourceID, ContactID: ct.ID, Hash: op.Hash, ChangeKey: ct.ChangeKey})
			m.counts.Created++
			return nil, true
		default:
			t := tries[op]
			if t == nil {
				t = m.mb.Retrier()
				tries[op] = t
			}
			werr := t.Wait(ctx, 0)
			if werr == nil {
				return op, true
			}
			err = fmt.Errorf("%w (last error: %w)", werr, err)
		}
	}
	if errors.As(r.Err, &maybe) || ctx.Err() != nil {
		m.uncertain = true
	}
	m.itemError(*op, err)
	return nil, false
}

// succeeded records a write Graph accepted.
func (m *mailbox) succeeded(op *plan.Op, st graph.ContactStamp) {
	switch op.Kind {
	case plan.Create:
		m.upsert(store.ContactRef{SourceID: op.SourceID, ContactID: st.ID, Hash: op.Hash, ChangeKey: st.ChangeKey})
		m.counts.Created++
	case plan.Update:
		m.upsert(store.ContactRef{SourceID: op.SourceID, ContactID: op.ContactID, Hash: op.Hash, ChangeKey: st.ChangeKey})
		m.counts.Updated++
	case plan.Delete:
		if ref, ok := m.cmap[op.SourceID]; ok && ref.ContactID == op.ContactID {
			m.forget(op.SourceID)
		}
		m.counts.Deleted++
	}
}

// forget drops a source id from the map.
func (m *mailbox) forget(sid string) {
	delete(m.cmap, sid)
	delete(m.dirty, sid)
	m.changes.Deletes = append(m.changes.Deletes, sid)
}

// itemError records a failed write.
func (m *mailbox) itemError(op plan.Op, err error) {
	m.itemFailures++
	if len(m.errs) < 20 {
		ie := ItemError{Mailbox: m.tg.UPN, Code: "error", Message: fmt.Sprintf("%s %s: %v", op.Kind, op.SourceID, err)}
		var ge *graph.Error
		if errors.As(err, &ge) {
			ie.Code, ie.RequestID = ge.Code, ge.RequestID
		}
		m.errs = append(m.errs, ie)
	}
}

// findByMark looks a contact up by galmirror's source-id mark in the
// managed folder (nil when there is none). Every page is read and every
// match checked against the mark itself: a filter the service ignored must
// not hide the contact (and make a second one).
func (m *mailbox) findByMark(ctx context.Context, sourceID string) (*graph.Contact, error) {
	q := graph.ContactQuery{
		Mark:        &graph.SingleValueExtendedProperty{ID: PropSourceID, Value: sourceID},
		Select:      []string{"id", "changeKey"},
		ExpandProps: []string{PropSourceID, PropHash},
		Top:         1000,
	}
	var found *graph.Contact
	err := m.mb.Contacts(ctx, m.folderID, q, func(cs []graph.Contact) error {
		for i := range cs {
			if err := expanded(cs[i].SingleValueExtendedProperties, "contact"); err != nil {
				return err
			}
			if sid, ok := cs[i].SingleValueExtendedProperties.Get(PropSourceID); ok && sid == sourceID && found == nil {
				found = &cs[i]
			}
		}
		return nil
	})
	return found, err
}
