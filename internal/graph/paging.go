package graph

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
)

// MaxPages bounds one listing or delta round. The largest round galmirror
// reads is users/delta, about 100 users a page: a million users is 10,000
// pages.
const MaxPages = 100_000

// PageGuard ends a paging loop that would not end: a nextLink Graph has
// sent before in the same round (a circle), or more than MaxPages pages.
// The zero value is ready; it remembers 8 bytes per page.
type PageGuard struct {
	seed  maphash.Seed
	seen  map[uint64]struct{}
	pages int
}

// Next checks the link of the next page before it is requested.
func (g *PageGuard) Next(link string) error {
	if g.seen == nil {
		g.seed = maphash.MakeSeed()
		g.seen = make(map[uint64]struct{})
	}
	g.pages++
	if g.pages > MaxPages {
		return fmt.Errorf("graph: %s: more than %d pages in one round", stripQuery(link), MaxPages)
	}
	h := maphash.String(g.seed, link)
	if _, dup := g.seen[h]; dup {
		return fmt.Errorf("graph: %s: a nextLink repeats an earlier page of the round", stripQuery(link))
	}
	g.seen[h] = struct{}{}
	return nil
}

// List fetches a collection page by page, calling fn for each page (empty
// pages included) and following @odata.nextLink verbatim. The request's
// headers, Eventual flag and scope are sent again on every page
// (ConsistencyLevel is not carried by nextLinks). Only one page is held in
// memory at a time. An error from fn stops the listing and is returned.
func List[T any](ctx context.Context, c *Client, r Request, fn func(*Page[T]) error) error {
	r.Scope = firstScope(r)
	var guard PageGuard
	for next := r.URL; next != ""; {
		if err := guard.Next(next); err != nil {
			return err
		}
		req := r
		req.URL = next
		var p Page[T]
		if err := c.DoJSON(ctx, &req, &p); err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			return err
		}
		next = p.NextLink
	}
	return nil
}

// firstScope is the scope of a paging loop: the request's, or the one
// derived from its first URL when galmirror built it; every page of the
// round is in it (the links that follow are opaque).
func firstScope(r Request) string {
	if r.Scope == "" && !strings.Contains(r.URL, "://") {
		return ScopeOf(r.URL)
	}
	return r.Scope
}

// ListAll is List collecting every item; use it only for collections known
// to be small (contact folders, a few pages).
func ListAll[T any](ctx context.Context, c *Client, r Request) ([]T, error) {
	var all []T
	err := List(ctx, c, r, func(p *Page[T]) error {
		all = append(all, p.Value...)
		return nil
	})
	return all, err
}

// Delta runs one delta round from r.URL (the initial delta URL with its
// query, or a saved deltaLink), calling fn for each page, and returns the
// round's new deltaLink to save. Items may repeat within a round; fn must
// be idempotent. When Graph says the token is no longer valid (410 Gone,
// syncStateNotFound, resyncRequired) or the saved link does not belong to
// the client's Graph root, the error wraps ErrResyncRequired (and the
// *Error, whose Location is the restart URL Graph suggested): drop the
// saved link and start a full round.
func Delta[T any](ctx context.Context, c *Client, r Request, fn func(*Page[T]) error) (deltaLink string, err error) {
	next := r.URL
	if next == "" {
		return "", errors.New("graph: delta round without a URL")
	}
	if _, _, err := c.resolve(next); err != nil {
		return "", fmt.Errorf("%w: %w", ErrResyncRequired, err)
	}
	r.Scope = firstScope(r)
	var guard PageGuard
	for {
		if err := guard.Next(next); err != nil {
			return "", err
		}
		req := r
		req.URL = next
		var p Page[T]
		if err := c.DoJSON(ctx, &req, &p); err != nil {
			if Classify(err) == ResyncRequired {
				return "", fmt.Errorf("%w: %w", ErrResyncRequired, err)
			}
			return "", err
		}
		if err := fn(&p); err != nil {
			return "", err
		}
		switch {
		case p.NextLink != "":
			next = p.NextLink
		case p.DeltaLink != "":
			return p.DeltaLink, nil
		default:
			return "", fmt.Errorf("graph: %s: delta page has neither nextLink nor deltaLink", stripQuery(next))
		}
	}
}
