package syncer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/pacer"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/store"
)

func pathSeg(s string) string { return url.PathEscape(s) }

// deleteCall returns how to remove a managed contact or folder at path:
// permanentDelete where Graph offers it (the global cloud), so that what
// galmirror removes (a leaver's contact, a purged folder of hundreds) does
// not sit in the owner's Deleted Items; elsewhere a DELETE, which moves it
// there.
func (m *mailbox) deleteCall(path string) (method, url string) {
	if m.r.noPurge.Load() {
		return http.MethodDelete, path
	}
	return http.MethodPost, path + "/permanentDelete"
}

// work is one planned write on its way to Graph. It points at its op in
// the mailbox's plan (no copy), and gets its call, body and retry state
// only when its unit is sent (prepare): a mailbox's thousand pending
// writes then cost little more than the plan itself.
type work struct {
	op    *plan.Op
	call  *call
	retry *pacer.Retry
}

// unit is what holds one pacer unit: a single write, or a chain of up to 20
// writes of this mailbox that Graph runs in order.
type unit struct {
	works   []*work
	release func()
}

// apply sends the writes of one mailbox and records their outcomes. Bulk
// writes go as dependsOn chains of 20 (one unit each, four chains at once:
// Graph runs a chain one item at a time, so the mailbox sees at most four
// requests at once); the rest as single items that the batcher packs with
// other mailboxes' items. It reports whether any write failed.
func (m *mailbox) apply(ctx context.Context, ops []plan.Op) (failed bool) {
	if len(ops) == 0 {
		return false
	}
	r := m.r
	queue := make([]*work, 0, len(ops))
	for i := range ops {
		w, err := m.newWork(&ops[i])
		if err != nil {
			m.itemError(ops[i], err)
			failed = true
			continue
		}
		queue = append(queue, w)
	}
	done := make(chan *unit, len(queue)+r.pacer.Config().MaxInFlight)
	inflight := 0
	for len(queue) > 0 || inflight > 0 {
		if ctx.Err() != nil && len(queue) > 0 {
			// Stop sending; what is in flight finishes or fails with ctx.
			queue = nil
			m.uncertain = true
			continue
		}
		// Hand back finished units without blocking, then send more.
		select {
		case u := <-done:
			inflight--
			queue = append(queue, m.settle(ctx, u, &failed)...)
			continue
		default:
		}
		if len(queue) == 0 {
			u := <-done
			inflight--
			queue = append(queue, m.settle(ctx, u, &failed)...)
			continue
		}
		n := 1
		if len(queue) >= maxBatchItems {
			n = maxBatchItems
		}
		// The unit gets its own slice and the queue forgets the works it
		// took: the queue's backing array lives as long as apply, and
		// through it every finished write's body and answer did too.
		u := &unit{works: make([]*work, n)}
		copy(u.works, queue)
		clear(queue[:n])
		queue = queue[n:]
		for _, w := range u.works {
			w.prepare(m)
		}
		release, err := r.pacer.Acquire(ctx, m.scope, 1)
		if err != nil {
			m.uncertain = true
			for _, w := range u.works {
				m.itemError(*w.op, err)
			}
			failed = true
			continue
		}
		u.release = release
		g := &group{chained: n > 1, done: func() { u.release(); done <- u }}
		for _, w := range u.works {
			g.calls = append(g.calls, w.call)
		}
		if err := r.batcher.submit(ctx, g); err != nil {
			release()
			for _, w := range u.works {
				m.itemError(*w.op, err)
			}
			failed = true
			continue
		}
		inflight++
	}
	return failed
}

// newWork checks an op and wraps it for apply.
func (m *mailbox) newWork(op *plan.Op) (*work, error) {
	switch op.Kind {
	case plan.Create, plan.Update, plan.Delete:
		return &work{op: op}, nil
	}
	return nil, fmt.Errorf("unknown operation %v", op.Kind)
}

// prepare builds what sending the work needs and it lacks: its call (a
// resent work keeps its call, body and retry state).
func (w *work) prepare(m *mailbox) {
	if w.call != nil {
		return
	}
	// No Content-Type header: the graph client adds application/json to
	// an item with a body.
	op := w.op
	c := &call{scope: m.scope}
	switch op.Kind {
	case plan.Create:
		c.method, c.url = http.MethodPost, graph.ContactsPath(m.tg.ID, m.folderID)
		c.body = encodePatch(contactPatch(*op, true))
	case plan.Update:
		c.method, c.url = http.MethodPatch, graph.ContactPath(m.tg.ID, m.folderID, op.ContactID)
		c.body = encodePatch(contactPatch(*op, false))
	case plan.Delete:
		c.method, c.url = m.deleteCall(graph.ContactPath(m.tg.ID, m.folderID, op.ContactID))
		c.idempotent = c.method == http.MethodPost
	}
	w.call, w.retry = c, m.r.pacer.RetryUpTo(m.r.e.opts.ItemAttempts, m.scope)
}

// encodePatch encodes a body at once: the encoded kilobyte is what waits
// in flight, not the 1.3 KB ContactPatch struct and its slices.
func encodePatch(p *graph.ContactPatch) []byte {
	b, _ := p.MarshalJSON() // never fails
	return b
}

// settle records the outcome of a unit's writes and returns the writes to
// send again.
func (m *mailbox) settle(ctx context.Context, u *unit, failed *bool) []*work {
	var again []*work
	for _, w := range u.works {
		c := w.call
		if !c.failed() {
			m.succeeded(w)
			continue
		}
		err := callErr(c)
		switch {
		case c.status == http.StatusFailedDependency:
			// An earlier item of the chain failed; this one never ran.
			reset(c)
			again = append(again, w)
			continue
		case c.status == http.StatusNotFound && w.op.Kind == plan.Delete:
			// Already gone: the owner deleted it, or an earlier attempt
			// whose answer was lost.
			m.succeeded(w)
			continue
		case w.op.Kind == plan.Delete && c.idempotent && graph.Unsupported(err):
			// No permanentDelete where this tenant lives: delete to the
			// mailbox's Deleted Items instead, from now on.
			m.r.noPurge.Store(true)
			w.call = nil
			w.prepare(m)
			again = append(again, w)
			continue
		case c.status == http.StatusNotFound && w.op.Kind == plan.Update:
			// The owner deleted it since the delta was read: create it again.
			op := *w.op
			op.Kind, op.ContactID, op.Mask, op.Reason = plan.Create, "", m.r.mask, "deleted by owner"
			if nw, err := m.newWork(&op); err == nil {
				m.forget(w.op.SourceID)
				again = append(again, nw)
				continue
			}
		case ambiguous(c) && w.op.Kind == plan.Create && ctx.Err() == nil:
			// The create may have happened: look for the contact by its
			// source-id mark before creating it again.
			ct, ferr := m.findByMark(ctx, w.op.SourceID)
			switch {
			case ferr != nil:
				err = fmt.Errorf("%w (looking for the contact by its mark: %w)", err, ferr)
			case ct != nil:
				m.upsert(store.ContactRef{SourceID: w.op.SourceID, ContactID: ct.ID, Hash: w.op.Hash, ChangeKey: ct.ChangeKey})
				m.counts.Created++
				continue
			default:
				if err = wait(ctx, w, err); err == nil {
					again = append(again, w)
					continue
				}
			}
		case retryable(c) && ctx.Err() == nil:
			if err = wait(ctx, w, err); err == nil {
				again = append(again, w)
				continue
			}
		}
		if ambiguous(c) || ctx.Err() != nil {
			m.uncertain = true
		}
		*failed = true
		m.itemError(*w.op, err)
	}
	return again
}

// wait waits before a write is sent again (Retry-After, or back-off) and
// readies its call; it returns nil to send it again, or the error to
// record when the write's attempts or its mailbox's retry budget are spent.
func wait(ctx context.Context, w *work, last error) error {
	werr := w.retry.Wait(ctx, w.call.retryAfter)
	switch {
	case werr == nil:
		reset(w.call)
		return nil
	case errors.Is(werr, context.Canceled):
		return last
	}
	return fmt.Errorf("%w (last error: %w)", werr, last)
}

func reset(c *call) {
	c.status, c.respHeader, c.respBody, c.err, c.retryAfter = 0, nil, nil, nil, 0
}

// succeeded records a write Graph accepted.
func (m *mailbox) succeeded(w *work) {
	op := w.op
	switch op.Kind {
	// Only the id and change key of the answer are needed: stampOf reads
	// them without decoding the whole contact.
	case plan.Create:
		st, err := stampOf(w.call.respBody)
		if err != nil || st.ID == "" {
			// Created, but we cannot tell its id: reconcile next run.
			m.uncertain = true
			return
		}
		m.upsert(store.ContactRef{SourceID: op.SourceID, ContactID: st.ID, Hash: op.Hash, ChangeKey: st.ChangeKey})
		m.counts.Created++
	case plan.Update:
		st, _ := stampOf(w.call.respBody)
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
	delete(m.upserts, sid)
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
	url := graph.ContactsPath(m.tg.ID, m.folderID) + graph.Query{
		{"$filter", "singleValueExtendedProperties/Any(ep: ep/id eq " + graph.Quote(PropSourceID) + " and ep/value eq " + graph.Quote(sourceID) + ")"},
		{"$select", "id,changeKey"},
		{"$expand", graph.ExpandExtendedProperties(PropSourceID, PropHash)},
		{"$top", "1000"},
	}.Encode()
	var found *graph.Contact
	_, err := pages(ctx, m.r, m.scope, url, nil, func(page *graph.Page[graph.Contact]) error {
		for i := range page.Value {
			if err := expanded(page.Value[i].SingleValueExtendedProperties, "contact"); err != nil {
				return err
			}
			if sid, ok := page.Value[i].SingleValueExtendedProperties.Get(PropSourceID); ok && sid == sourceID && found == nil {
				found = &page.Value[i]
			}
		}
		return nil
	})
	return found, err
}
