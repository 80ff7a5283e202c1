package graph

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The dispatcher packs mailbox requests from many mailboxes into $batch
// requests of up to 20 items. It does not limit per-mailbox concurrency:
// the senders (Mailbox's calls and writes) hold a pacer unit for every item
// or dependsOn chain they submit, so at most four are in flight per mailbox
// whatever the packing. It does hold back an item whose mailbox's
// Retry-After gate closed after the item was submitted, so that nothing
// reaches a mailbox before the deadline a 429 or 503 named.

// maxLingerFactor bounds how long a partial batch waits for more calls, in
// lingers since its oldest call.
const maxLingerFactor = 10

// call is one mailbox request on its way through the dispatcher.
type call struct {
	scope  string
	method string
	url    string // relative to the Graph root
	header http.Header
	body   []byte // encoded JSON, or nil
	// patch, when set, gives the body at each send (encoded into the
	// batch request, not kept).
	patch func() *ContactPatch
	// idempotent marks a POST that may be sent again whatever its answer
	// (permanentDelete: a second one finds nothing, 404).
	idempotent bool

	// Filled in when the call completes.
	status     int
	respBody   []byte
	err        error // *Error for a Graph failure, or the batch's error
	retryAfter time.Duration
}

// failed reports whether the call ended in an error (a Graph error status
// or no response at all).
func (c *call) failed() bool { return c.err != nil || c.status >= 400 }

// reset readies the call to be sent again.
func (c *call) reset() {
	c.status, c.respBody, c.err, c.retryAfter = 0, nil, nil, 0
}

// callErr returns the error of a failed call: the Graph error of the item,
// or the batch's own failure.
func (c *call) callErr() error {
	if c.err != nil {
		return c.err
	}
	if c.status >= 400 {
		return &Error{Status: c.status, Code: "UnknownError", Message: "HTTP " + strconv.Itoa(c.status), Mailbox: IsMailboxScope(c.scope)}
	}
	return nil
}

// resendable reports whether c may be sent again: always when Graph
// certainly did not run it (NotExecuted), and after other transient
// failures (5xx, 509, no answer) only when resending is harmless (not a
// create).
func (c *call) resendable() bool {
	if NotExecuted(c.status) {
		return true
	}
	if errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded) {
		return false
	}
	switch Classify(c.callErr()) {
	case Retryable, Throttled:
		return c.method != http.MethodPost || c.idempotent
	}
	return false
}

// maybe reports whether a failed call may nevertheless have happened: a
// create without a definite answer (a 5xx, 503 and 509 included, a
// timeout, a dropped connection, a missing $batch item). Only a 429 (and a
// 424 in a chain) says it did not run.
func (c *call) maybe() bool {
	if c.method != http.MethodPost || c.idempotent || NotExecuted(c.status) {
		return false
	}
	switch Classify(c.callErr()) {
	case Retryable, Throttled, Canceled:
		return true
	}
	return false
}

// group is what a sender submits at once: one call, or a chain of calls for
// one mailbox that Graph runs in order (dependsOn), which fills a batch of
// its own.
type group struct {
	calls   []*call
	chained bool
	done    func() // called once every call of the group has completed
}

// Slots bounds the $batch requests in flight. One Slots may be shared by
// the Mailboxes of concurrent runs, so that the process's memory (each
// batch holds its bodies and answers) is bounded, not one run's.
type Slots chan struct{}

// NewSlots returns n slots.
func NewSlots(n int) Slots { return make(Slots, max(n, 1)) }

// dispatcher is the packing loop of a Mailboxes.
type dispatcher struct {
	c         *Client
	linger    time.Duration
	slots     Slots
	submitted chan *group

	wg sync.WaitGroup // batches in flight
}

// submit hands a group to the dispatcher. It blocks only while the
// dispatcher's input queue is full, and returns ctx's error if ctx ends
// first (the group's done is then never called). Once submitted, a group's
// done is always called (run).
func (d *dispatcher) submit(ctx context.Context, g *group) error {
	select {
	case d.submitted <- g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run dispatches batches until life is closed. It sends with ctx: once
// ctx is done it sends nothing more and answers every group still queued,
// or submitted later, with ctx's error, until life is closed. So every
// group a sender managed to submit gets its done exactly once, and a
// sender may wait for it without watching ctx. The owner closes life after
// every sender has returned.
func (d *dispatcher) run(ctx context.Context, life <-chan struct{}) {
	defer d.wg.Wait()
	var (
		open    []*group  // single calls waiting to be packed
		first   time.Time // when the oldest of them arrived
		timer   = time.NewTimer(time.Hour)
		timerOn bool
	)
	timer.Stop()
	defer timer.Stop()
	stopped := func(gs ...[]*group) {
		for _, g := range gs {
			failGroups(g, ctx.Err())
		}
		d.refuse(ctx, life)
	}
	for {
		// Ship every full batch we can; with a partial one, wait for more
		// calls until the linger ends.
		var ready []*group
		ready, open = d.pick(open, false)
		if len(open) == 0 {
			first = time.Time{}
		}
		if ready != nil {
			if !d.dispatch(ctx, ready) {
				stopped(ready, open)
				return
			}
			continue
		}
		if len(open) > 0 && !timerOn {
			first = d.arm(timer, open, first)
			timerOn = true
		}
		select {
		case g := <-d.submitted:
			if g.chained {
				if !d.dispatch(ctx, []*group{g}) {
					stopped([]*group{g}, open)
					return
				}
				continue
			}
			open = append(open, g)
			if timerOn {
				timer.Stop()
				timerOn = false
			}
		case <-timer.C:
			timerOn = false
			// Ship what we have, full or not.
			var ready []*group
			ready, open = d.pick(open, true)
			first = time.Time{}
			if ready != nil && !d.dispatch(ctx, ready) {
				stopped(ready, open)
				return
			}
		case <-ctx.Done():
			stopped(open)
			return
		case <-life:
			// Every sender has returned: nothing is waiting.
			failGroups(open, errMailboxesStopped)
			return
		}
	}
}

// arm sets the timer of a partial batch. It waits while calls keep coming
// less than a linger apart (every arrival re-arms the timer), up to
// maxLingerFactor lingers since its oldest call (mailboxes reach their
// reads one after another, and a fixed short linger shipped them in
// batches of a few items), and at least until the earliest closed gate
// among them opens. It returns when the oldest call arrived.
func (d *dispatcher) arm(timer *time.Timer, open []*group, first time.Time) time.Time {
	now := time.Now()
	if first.IsZero() {
		first = now
	}
	wait := max(min(d.linger, first.Add(maxLingerFactor*d.linger).Sub(now)), 0)
	if at := d.nextGate(open); !at.IsZero() {
		if w := time.Until(at); w > wait {
			wait = w
		}
	}
	timer.Reset(wait)
	return first
}

var errMailboxesStopped = errors.New("graph: the mailbox dispatcher has stopped")

func failGroups(gs []*group, err error) {
	for _, g := range gs {
		for _, c := range g.calls {
			c.err = err
		}
		g.done()
	}
}

// refuse answers every group submitted after ctx ended with ctx's error,
// until life is closed.
func (d *dispatcher) refuse(ctx context.Context, life <-chan struct{}) {
	for {
		select {
		case g := <-d.submitted:
			failGroups([]*group{g}, ctx.Err())
		case <-life:
			return
		}
	}
}

// pick takes up to 20 single calls whose mailbox gate is open. It returns
// them when they fill a batch, or when partial is allowed and there is at
// least one.
func (d *dispatcher) pick(open []*group, partial bool) (ready, rest []*group) {
	n := 0
	for _, g := range open {
		if n < MaxBatchItems && d.gateOpen(g.calls[0].scope) {
			ready = append(ready, g)
			n++
			continue
		}
		rest = append(rest, g)
	}
	if n == MaxBatchItems || (partial && n > 0) {
		return ready, rest
	}
	return nil, open
}

func (d *dispatcher) gateOpen(scope string) bool {
	ok, _ := d.c.pacer.Ready(scope)
	return ok
}

// nextGate returns the earliest of the waiting calls' closed gates, or
// zero when none is closed.
func (d *dispatcher) nextGate(open []*group) time.Time {
	var at time.Time
	for _, g := range open {
		if ok, gate := d.c.pacer.Ready(g.calls[0].scope); !ok && (at.IsZero() || gate.Before(at)) {
			at = gate
		}
	}
	return at
}

// dispatch sends one batch in its own goroutine once a slot is free. It
// reports false when ctx ended first.
func (d *dispatcher) dispatch(ctx context.Context, gs []*group) bool {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() { <-d.slots }()
		d.sendBatch(ctx, gs)
	}()
	return true
}

func (d *dispatcher) sendBatch(ctx context.Context, gs []*group) {
	items := make([]BatchItem, 0, MaxBatchItems)
	calls := make([]*call, 0, MaxBatchItems)
	for _, g := range gs {
		// Never start a request in a scope before its gate passes (a gate
		// may have closed while the group waited).
		if err := d.c.pacer.Wait(ctx, g.calls[0].scope); err != nil {
			for _, c := range g.calls {
				c.err = err
			}
			continue
		}
		for i, c := range g.calls {
			it := BatchItem{ID: strconv.Itoa(len(items) + 1), Method: c.method, URL: c.url, Scope: c.scope, Header: c.header}
			switch {
			case c.patch != nil:
				it.Body = c.patch()
			case c.body != nil:
				it.Body = rawBody(c.body)
			}
			if g.chained && i > 0 {
				it.DependsOn = []string{strconv.Itoa(len(items))}
			}
			items = append(items, it)
			calls = append(calls, c)
		}
	}
	if len(items) > 0 {
		results, err := d.c.Batch(ctx, items)
		for i, c := range calls {
			if err != nil {
				c.err = err
				continue
			}
			r := &results[i]
			c.status, c.respBody, c.retryAfter, c.err = r.Status, r.Body, r.RetryAfter, nil
			if r.Err != nil {
				c.err = r.Err
			}
		}
	}
	for _, g := range gs {
		g.done()
	}
}
