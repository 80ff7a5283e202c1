package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/pacer"
)

// callErr returns the error of a failed call: the Graph error of the item,
// or the batch's own failure.
func callErr(c *call) error {
	if c.err != nil {
		return c.err
	}
	if c.status >= 400 {
		return &graph.Error{Status: c.status, Code: "UnknownError", Message: fmt.Sprintf("HTTP %d", c.status), Mailbox: graph.IsMailboxScope(c.scope)}
	}
	return nil
}

// retryable reports whether c may be sent again: always when Graph
// certainly did not run it (graph.NotExecuted), and after other transient
// failures (5xx, no response) only when resending is harmless (not a
// create).
func retryable(c *call) bool {
	if c == nil {
		return false
	}
	if graph.NotExecuted(c.status) {
		return true
	}
	if errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded) {
		return false
	}
	switch graph.Classify(callErr(c)) {
	case graph.Retryable, graph.Throttled: // 5xx, no answer; 509
		return c.method != http.MethodPost || c.idempotent
	}
	return false
}

// ambiguous reports whether a failed write may nevertheless have happened:
// a create without a definite answer (a 5xx, 503 and 509 included, a
// timeout, a dropped connection, a missing $batch item). What it would
// have made must be looked for before it is made again. Only a 429 (and a
// 424 in a chain) says it did not run.
func ambiguous(c *call) bool {
	if c == nil || c.method != http.MethodPost || c.idempotent || graph.NotExecuted(c.status) {
		return false
	}
	switch graph.Classify(callErr(c)) {
	case graph.Retryable, graph.Throttled:
		return true
	}
	return false
}

func isGiveUp(err error) bool {
	var gu *pacer.GiveUpError
	return errors.As(err, &gu)
}

// do sends one call through the batcher, holding one pacer unit of its
// scope while it is in flight, and resends it after transient failures
// (honouring Retry-After through the scope's gate). It returns the call
// when it succeeded, or its last error; the call is nil when the run was
// stopped first. It waits for the batcher's answer even when ctx ends (the
// batch is cancelled with ctx), so no batch writes into the call after do
// returned.
func (r *run) do(ctx context.Context, c *call) (*call, error) {
	retry := r.pacer.Retry(c.scope)
	for {
		reset(c)
		release, err := r.pacer.Acquire(ctx, c.scope, 1)
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		if err := r.batcher.submit(ctx, &group{calls: []*call{c}, done: func() { close(done) }}); err != nil {
			release()
			return nil, err
		}
		<-done
		release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !c.failed() {
			return c, nil
		}
		err = callErr(c)
		if !retryable(c) {
			return c, err
		}
		if werr := retry.Wait(ctx, c.retryAfter); werr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return c, fmt.Errorf("%w (last error: %w)", werr, err)
		}
	}
}

// pages reads a mailbox collection (or delta round) page by page through
// the batcher, following nextLinks verbatim, and returns the round's
// deltaLink when it has one. header is resent with every page (Prefer:
// odata.maxpagesize must be).
func pages[T any](ctx context.Context, r *run, scope, url string, header http.Header, fn func(*graph.Page[T]) error) (deltaLink string, err error) {
	var guard graph.PageGuard
	for url != "" {
		if err := guard.Next(url); err != nil {
			return "", err
		}
		rel, err := r.client.RelativeURL(url)
		if err != nil {
			return "", err
		}
		c, err := r.do(ctx, &call{scope: scope, method: http.MethodGet, url: rel, header: header})
		if err != nil {
			return "", err
		}
		var page graph.Page[T]
		if err := json.Unmarshal(c.respBody, &page); err != nil {
			return "", fmt.Errorf("decode %s: %w", stripQuery(rel), err)
		}
		if err := fn(&page); err != nil {
			return "", err
		}
		if page.DeltaLink != "" {
			return page.DeltaLink, nil
		}
		url = page.NextLink
	}
	return "", nil
}

func stripQuery(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p
}

// deltaPageHeader asks for contacts delta pages of Graph's maximum size.
func deltaPageHeader() http.Header {
	return http.Header{"Prefer": {fmt.Sprintf("odata.maxpagesize=%d", contactsDelta)}}
}
