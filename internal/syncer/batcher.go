package syncer

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/pacer"
)

// The batcher packs mailbox requests from many mailbox workers into $batch
// requests of up to 20 items. It does not limit per-mailbox concurrency:
// workers hold a pacer unit for every item (or dependsOn chain) they submit,
// so at most four are in flight per mailbox whatever the packing. It does
// hold back an item whose mailbox's Retry-After gate closed after the item
// was submitted, so that nothing reaches a mailbox before the deadline a
// 429 or 503 named.

const maxBatchItems = 20

// maxLingerFactor bounds how long a partial batch waits for more calls, in
// lingers since its oldest call.
const maxLingerFactor = 10

// call is one mailbox request submitted to the batcher.
type call struct {
	scope  string
	method string
	url    string // relative to the Graph root
	header http.Header
	// body is nil, JSON bytes, or a *graph.ContactPatch (encoded by the
	// graph client without an extra validation pass).
	body any
	// idempotent marks a POST that may be sent again whatever its answer
	// (permanentDelete: a second one finds nothing, 404).
	idempotent bool

	// Filled in when the call completes.
	status     int
	respHeader http.Header
	respBody   []byte
	err        error // *graph.Error for a Graph failure, or the batch's error
	retryAfter time.Duration
}

// failed reports whether the call ended in an error (a Graph error status
// or no response at all).
func (c *call) failed() bool { return c.err != nil || c.status >= 400 }

// group is what a worker submits at once: one call, or a chain of calls for
// one mailbox that Graph runs in order (dependsOn), which fills a batch of
// its own.
type group struct {
	calls   []*call
	chained bool
	done    func() // called once every call of the group has completed
}

// batchSender sends one $batch.
type batchSender func(ctx context.Context, items []graph.BatchItem) ([]graph.BatchResult, error)

type batcher struct {
	send      batchSender
	pacer     *pacer.Pacer
	linger    time.Duration
	inflight  chan struct{} // semaphore of batches in flight
	submitted chan *group

	wg sync.WaitGroup // batches in flight
}

// newBatcher returns a batcher; run must be called for it to work.
func newBatcher(send batchSender, p *pacer.Pacer, maxInFlight int, linger time.Duration) *batcher {
	return &batcher{
		send:      send,
		pacer:     p,
		linger:    linger,
		inflight:  make(chan struct{}, maxInFlight),
		submitted: make(chan *group, 1024),
	}
}

// submit hands a group to the batcher. It blocks only while the batcher's
// input queue is full, and returns ctx's error if ctx ends first (the
// group's done is then never called). Once submitted, a group's done is
// always called (run).
func (b *batcher) submit(ctx context.Context, g *group) error {
	select {
	case b.submitted <- g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run dispatches batches until life is closed. It sends with ctx: once
// ctx is done it sends nothing more and answers every group still queued,
// or submitted later, with ctx's error, until life is closed. So every
// group a caller managed to submit gets its done exactly once, and a
// caller may wait for it without watching ctx. The owner closes life after
// every caller has returned.
func (b *batcher) run(ctx context.Context, life <-chan struct{}) {
	defer b.wg.Wait()
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
		b.refuse(ctx, life)
	}
	for {
		// Ship every full batch we can; with a partial one, wait for more
		// calls until the linger ends.
		var ready []*group
		ready, open = b.pick(open, false)
		if len(open) == 0 {
			first = time.Time{}
		}
		if ready != nil {
			if !b.dispatch(ctx, ready) {
				stopped(ready, open)
				return
			}
			continue
		}
		if len(open) > 0 && !timerOn {
			// A partial batch waits while calls keep coming less than a
			// linger apart (every arrival re-arms the timer), up to
			// maxLingerFactor lingers since its oldest call: mailboxes
			// reach their reads one after another, and a fixed short
			// linger shipped them in batches of a few items.
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			wait := max(min(b.linger, first.Add(maxLingerFactor*b.linger).Sub(now)), 0)
			if at := b.nextGate(open); !at.IsZero() {
				if d := time.Until(at); d > wait {
					wait = d
				}
			}
			timer.Reset(wait)
			timerOn = true
		}
		select {
		case g := <-b.submitted:
			if g.chained {
				if !b.dispatch(ctx, []*group{g}) {
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
			ready, open = b.pick(open, true)
			first = time.Time{}
			if ready != nil && !b.dispatch(ctx, ready) {
				stopped(ready, open)
				return
			}
		case <-ctx.Done():
			stopped(open)
			return
		case <-life:
			// Every caller has returned: nothing is waiting.
			failGroups(open, errBatcherStopped)
			return
		}
	}
}

var errBatcherStopped = errors.New("syncer: the run's batcher has stopped")

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
func (b *batcher) refuse(ctx context.Context, life <-chan struct{}) {
	for {
		select {
		case g := <-b.submitted:
			failGroups([]*group{g}, ctx.Err())
		case <-life:
			return
		}
	}
}

// pick takes up to 20 single calls whose mailbox gate is open. It returns
// them when they fill a batch, or when partial is allowed and there is at
// least one.
func (b *batcher) pick(open []*group, partial bool) (ready, rest []*group) {
	n := 0
	for _, g := range open {
		if n < maxBatchItems && b.gateOpen(g.calls[0].scope) {
			ready = append(ready, g)
			n++
			continue
		}
		rest = append(rest, g)
	}
	if n == maxBatchItems || (partial && n > 0) {
		return ready, rest
	}
	return nil, open
}

func (b *batcher) gateOpen(scope string) bool {
	ok, _ := b.pacer.Ready(scope)
	return ok
}

// nextGate returns the latest gate among the waiting calls' closed gates, or
// zero when none is closed.
func (b *batcher) nextGate(open []*group) time.Time {
	var at time.Time
	for _, g := range open {
		if ok, gate := b.pacer.Ready(g.calls[0].scope); !ok && (at.IsZero() || gate.Before(at)) {
			at = gate
		}
	}
	return at
}

// dispatch sends one batch in its own goroutine once a slot is free. It
// reports false when ctx ended first.
func (b *batcher) dispatch(ctx context.Context, gs []*group) bool {
	select {
	case b.inflight <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	// A chained group whose gate closed while it waited is held, not sent:
	// re-check right before sending.
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.inflight }()
		b.sendBatch(ctx, gs)
	}()
	return true
}

func (b *batcher) sendBatch(ctx context.Context, gs []*group) {
	var items []graph.BatchItem
	var calls []*call
	for _, g := range gs {
		// Never start a request in a scope before its gate passes.
		if err := b.pacer.Wait(ctx, g.calls[0].scope); err != nil {
			for _, c := range g.calls {
				c.err = err
			}
			continue
		}
		for i, c := range g.calls {
			id := strconv.Itoa(len(items) + 1)
			it := graph.BatchItem{ID: id, Method: c.method, URL: c.url, Scope: c.scope, Header: c.header}
			if c.body != nil {
				it.Body = c.body
			}
			if g.chained && i > 0 {
				it.DependsOn = []string{strconv.Itoa(len(items))}
			}
			items = append(items, it)
			calls = append(calls, c)
		}
	}
	if len(items) > 0 {
		results, err := b.send(ctx, items)
		if err != nil {
			for _, c := range calls {
				c.err = err
			}
		} else {
			byID := make(map[string]*graph.BatchResult, len(results))
			for i := range results {
				byID[results[i].ID] = &results[i]
			}
			for i, c := range calls {
				r := byID[items[i].ID]
				if r == nil {
					c.err = errMissingItem
					continue
				}
				c.status, c.respHeader, c.respBody, c.retryAfter, c.err = r.Status, r.Header, r.Body, r.RetryAfter, nil
				if r.Err != nil {
					c.err = r.Err
				}
			}
		}
	}
	for _, g := range gs {
		g.done()
	}
}

// errMissingItem: Graph's answer named no outcome for the call, so it may
// or may not have run (graph classifies it Retryable: a create is then
// looked up by its mark).
var errMissingItem = &graph.Error{Code: "MissingBatchResponse", Message: "the $batch response lacks this item", NotGraph: true}
