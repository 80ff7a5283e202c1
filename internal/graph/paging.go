package graph

import (
	"context"
	"errors"
	"fmt"
)

// List fetches a collection page by page, calling fn for each page (empty
// pages included) and following @odata.nextLink verbatim. The request's
// headers, Eventual flag and scope are sent again on every page
// (ConsistencyLevel is not carried by nextLinks). Only one page is held in
// memory at a time. An error from fn stops the listing and is returned.
func List[T any](ctx context.Context, c *Client, r Request, fn func(*Page[T]) error) error {
	next := r.URL
	for pages := 0; next != ""; pages++ {
		req := r
		req.URL = next
		var p Page[T]
		if err := c.DoJSON(ctx, &req, &p); err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			return err
		}
		if p.NextLink == next {
			return fmt.Errorf("graph: %s: nextLink repeats the request URL", stripQuery(next))
		}
		next = p.NextLink
	}
	return nil
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
	for {
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
			if p.NextLink == next {
				return "", fmt.Errorf("graph: %s: nextLink repeats the request URL", stripQuery(next))
			}
			next = p.NextLink
		case p.DeltaLink != "":
			return p.DeltaLink, nil
		default:
			return "", fmt.Errorf("graph: %s: delta page has neither nextLink nor deltaLink", stripQuery(next))
		}
	}
}
