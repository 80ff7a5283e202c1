package syncer

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/store"
)

// removeUntargeted cleans the mailboxes that were synced before but are no
// longer targets (removed from target.groups, excluded, disabled, left):
// their managed contacts are deleted and the managed folder too when
// nothing else is in it, exactly as purge does, so that a person who is no
// longer served does not keep a directory that goes stale on their phone.
// It runs only after a complete directory read, and it holds back (and
// reports) when more than deletes.maxFraction of the synced mailboxes
// would go at once: a wrong group id must not empty a tenant.
func (r *run) removeUntargeted(ctx context.Context) error {
	if !r.sourceComplete || r.ro.DryRun {
		return nil
	}
	mbs, err := r.st.Mailboxes(ctx, r.t.Name)
	if err != nil {
		return fmt.Errorf("state database: %w", err)
	}
	targets := make(map[string]bool, len(r.targets))
	for _, tg := range r.targets {
		targets[tg.ID] = true
	}
	var gone []store.Mailbox
	for _, mb := range mbs {
		if !targets[mb.UserID] {
			gone = append(gone, mb)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	limit := int(math.Floor(r.t.Deletes.MaxFraction * float64(len(mbs))))
	if len(gone) > r.t.Deletes.MinCount && len(gone) > limit && !r.ro.AllowMassDelete {
		r.log.Warn("mass-delete guard held back the removal of mailboxes that are no longer targets",
			"mailboxes", len(gone), "synced", len(mbs), "max_fraction", r.t.Deletes.MaxFraction)
		r.mu.Lock()
		r.res.Mailboxes.HeldRemovals += len(gone)
		r.mu.Unlock()
		return nil
	}
	sem := make(chan struct{}, r.e.opts.MailboxWorkers)
	var wg sync.WaitGroup
	for _, mb := range gone {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tg := target{ID: mb.UserID, UPN: mb.UPN}
			m := r.newMailbox(tg)
			m.dirty, m.cmap = map[string]struct{}{}, map[string]store.ContactRef{}
			deleted, _, _, err := m.purge(ctx, true)
			switch c := graph.Classify(err); {
			case err == nil, c == graph.MailboxUnavailable, c == graph.NotFound:
				// Cleaned, or the mailbox itself is gone.
			default:
				m.addError(fmt.Errorf("remove the managed folder of a mailbox that is no longer a target: %w", err))
				r.mu.Lock()
				r.res.Errors = append(r.res.Errors, m.errs...)
				r.res.Mailboxes.Failed++
				r.mu.Unlock()
				return
			}
			if err := r.st.DeleteMailbox(context.WithoutCancel(ctx), r.t.Name, tg.ID); err != nil {
				r.log.Error("forget a mailbox that is no longer a target", "mailbox", tg.UPN, "error", err)
			}
			r.mu.Lock()
			r.res.Mailboxes.Removed++
			r.res.Contacts.Deleted += deleted
			r.mu.Unlock()
			r.log.Info("mailbox is no longer a target: removed its managed contacts", "mailbox", tg.UPN, "deleted", deleted)
		}()
	}
	wg.Wait()
	return ctx.Err()
}
