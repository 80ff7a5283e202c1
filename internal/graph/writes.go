package graph

import (
	"context"
	"errors"
	"net/http"

	"github.com/galmirror/galmirror/internal/pacer"
)

// WriteKind is what a Write does to a contact.
type WriteKind uint8

// The contact writes.
const (
	// CreateContact is a POST to the folder's contacts.
	CreateContact WriteKind = iota + 1
	// UpdateContact is a PATCH of the contact (with If-Match when given).
	UpdateContact
	// DeleteContact is a DELETE: the contact moves to the mailbox's
	// Deleted Items.
	DeleteContact
	// PurgeContact is a POST .../permanentDelete: the contact leaves the
	// mailbox (Graph's global cloud only).
	PurgeContact
)

// Write is one contact write of a mailbox.
type Write struct {
	Kind      WriteKind
	FolderID  string
	ContactID string // update, delete, purge
	// Body gives the create or update body when the write is sent; it is
	// encoded straight into the $batch request, so a mailbox's thousand
	// pending writes, and those in flight, hold no encoded bodies.
	Body func() *ContactPatch
	// IfMatch, when set, makes an update conditional (412 if the contact
	// changed since that etag).
	IfMatch string
}

// WriteResult is a write's outcome.
type WriteResult struct {
	// Status is Graph's answer (0 when none came).
	Status int
	// Stamp is the id and change key of the contact a create or update
	// returned.
	Stamp ContactStamp
	// Err is nil on success. A create that failed without a definite
	// answer is a *MaybeError: it may have been carried out.
	Err error
}

// pendingWrite is a write on its way: its call and retry state are made
// when it is first sent.
type pendingWrite struct {
	i     int
	call  *call
	retry *pacer.Retry
}

// writeUnit holds one pacer unit: a single write, or a chain of up to 20
// writes that Graph runs in order.
type writeUnit struct {
	ws      []*pendingWrite
	release func()
}

// Write sends a mailbox's writes and calls settled with each one's outcome
// as it settles, always from the calling goroutine, before it returns.
// Bulk writes go as dependsOn chains of 20 (one pacer unit each, so four
// chains at once: Graph runs a chain one item at a time and the mailbox
// sees at most four requests); the rest as single items the dispatcher
// packs with other mailboxes'. A write Graph did not run (429, 424 in a
// chain) is sent again, and so is one that failed transiently where that
// is harmless (not a create), within WriteAttempts and the mailbox's retry
// budget; any other failure is settled as it is. Once ctx ends, writes not
// yet sent settle with ctx's error.
func (m Mailbox) Write(ctx context.Context, ws []Write, settled func(i int, r WriteResult)) {
	if len(ws) == 0 {
		return
	}
	queue := make([]*pendingWrite, len(ws))
	for i := range ws {
		queue[i] = &pendingWrite{i: i}
	}
	done := make(chan *writeUnit, len(queue)+m.ms.c.pacer.Config().MaxInFlight)
	inflight := 0
	for len(queue) > 0 || inflight > 0 {
		if ctx.Err() != nil && len(queue) > 0 {
			// Stop sending; what is in flight finishes or fails with ctx.
			for _, p := range queue {
				settled(p.i, WriteResult{Err: ctx.Err()})
			}
			queue = nil
			continue
		}
		// Hand back finished units without blocking, then send more.
		select {
		case u := <-done:
			inflight--
			queue = append(queue, m.settle(ctx, ws, u, settled)...)
			continue
		default:
		}
		if len(queue) == 0 {
			u := <-done
			inflight--
			queue = append(queue, m.settle(ctx, ws, u, settled)...)
			continue
		}
		var u *writeUnit
		u, queue = takeUnit(queue)
		if m.send(ctx, ws, u, done, settled) {
			inflight++
		}
	}
}

// takeUnit takes the next unit off the queue: a chain of 20 while 20 are
// left, else one write. The unit gets its own slice and the queue forgets
// the writes it took (its backing array lives as long as Write, and
// through it every finished write's body and answer would too).
func takeUnit(queue []*pendingWrite) (*writeUnit, []*pendingWrite) {
	n := 1
	if len(queue) >= MaxBatchItems {
		n = MaxBatchItems
	}
	u := &writeUnit{ws: make([]*pendingWrite, n)}
	copy(u.ws, queue)
	clear(queue[:n])
	return u, queue[n:]
}

// send submits a unit holding one pacer unit of the mailbox; it reports
// false (the unit's writes settled with the error) when it could not.
func (m Mailbox) send(ctx context.Context, ws []Write, u *writeUnit, done chan<- *writeUnit, settled func(int, WriteResult)) bool {
	for _, p := range u.ws {
		if p.call == nil {
			p.call = m.writeCall(&ws[p.i])
			p.retry = m.ms.c.pacer.RetryUpTo(m.ms.attempts, m.scope)
		}
	}
	fail := func(err error) bool {
		for _, p := range u.ws {
			settled(p.i, WriteResult{Err: err})
		}
		return false
	}
	release, err := m.ms.c.pacer.Acquire(ctx, m.scope, 1)
	if err != nil {
		return fail(err)
	}
	u.release = release
	g := &group{chained: len(u.ws) > 1, done: func() { u.release(); done <- u }}
	for _, p := range u.ws {
		g.calls = append(g.calls, p.call)
	}
	if err := m.ms.d.submit(ctx, g); err != nil {
		release()
		return fail(err)
	}
	return true
}

// writeCall builds a write's call.
func (m Mailbox) writeCall(w *Write) *call {
	c := &call{scope: m.scope}
	switch w.Kind {
	case CreateContact:
		c.method, c.url = http.MethodPost, ContactsPath(m.user, w.FolderID)
	case UpdateContact:
		c.method, c.url = http.MethodPatch, ContactPath(m.user, w.FolderID, w.ContactID)
		if w.IfMatch != "" {
			c.header = http.Header{"If-Match": {w.IfMatch}}
		}
	case DeleteContact:
		c.method, c.url = http.MethodDelete, ContactPath(m.user, w.FolderID, w.ContactID)
	case PurgeContact:
		c.method, c.url, c.idempotent = http.MethodPost, ContactPath(m.user, w.FolderID, w.ContactID)+"/permanentDelete", true
	}
	if w.Kind == CreateContact || w.Kind == UpdateContact {
		c.patch = w.Body
	}
	return c
}

// errNoStamp: a create answered 201 without an id galmirror could read.
var errNoStamp = errors.New("graph: the created contact's id could not be read from Graph's answer")

// settle records the outcome of a unit's writes and returns the writes to
// send again.
func (m Mailbox) settle(ctx context.Context, ws []Write, u *writeUnit, settled func(int, WriteResult)) (again []*pendingWrite) {
	for _, p := range u.ws {
		c := p.call
		if !c.failed() {
			r := WriteResult{Status: c.status}
			if k := ws[p.i].Kind; k == CreateContact || k == UpdateContact {
				st, err := stampOf(c.respBody, true)
				r.Stamp = st
				if k == CreateContact && (err != nil || st.ID == "") {
					r.Err = &MaybeError{Err: errNoStamp}
				}
			}
			p.call = nil
			settled(p.i, r)
			continue
		}
		if c.status == http.StatusFailedDependency {
			// An earlier item of the chain failed; this one never ran.
			c.reset()
			again = append(again, p)
			continue
		}
		err := c.callErr()
		if c.resendable() && ctx.Err() == nil {
			werr := waitRetry(ctx, p.retry, c.retryAfter, err)
			if werr == nil {
				c.reset()
				again = append(again, p)
				continue
			}
			err = werr
		}
		settled(p.i, WriteResult{Status: c.status, Err: markMaybe(c, err)})
		p.call = nil
	}
	return again
}
