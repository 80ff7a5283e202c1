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
// would go at once: a wrong group id must not empty a tenant. A dry run
// reports the same removals, held back or not, and writes nothing.
func (r *run) removeUntargeted(ctx context.Context) error {
	if !r.sourceComplete {
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
	held := len(gone) > r.t.Deletes.MinCount && len(gone) > limit && !r.ro.AllowMassDelete
	if held || r.ro.DryRun {
		return r.reportRemovals(ctx, gone, len(mbs), held)
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
			m.dirty, m.cmap, m.state = map[string]struct{}{}, map[string]store.ContactRef{}, mb
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
			r.mbs = append(r.mbs, store.RunMailbox{UserID: tg.ID, UPN: tg.UPN, Status: store.MailboxRemoved,
				Counts: store.Counts{Deleted: deleted}})
			r.mu.Unlock()
			r.log.Info("mailbox is no longer a target: removed its managed contacts", "mailbox", tg.UPN, "deleted", deleted)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// reportRemovals reports the removals of mailboxes that are no longer
// targets without making them: held back by the mass-delete guard (the run
// is partial, as the history records), or planned by a dry run. What would
// go from each is what the contact map holds.
func (r *run) reportRemovals(ctx context.Context, gone []store.Mailbox, synced int, held bool) error {
	counts, err := r.st.ContactCounts(ctx, r.t.Name)
	if err != nil {
		return fmt.Errorf("state database: %w", err)
	}
	if held {
		r.log.Warn("mass-delete guard held back the removal of mailboxes that are no longer targets",
			"mailboxes", len(gone), "synced", synced, "max_fraction", r.t.Deletes.MaxFraction, "dry_run", r.ro.DryRun)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, mb := range gone {
		n := counts[mb.UserID]
		rm := store.RunMailbox{UserID: mb.UserID, UPN: mb.UPN, Status: store.MailboxRemoved, Counts: store.Counts{Deleted: n}}
		mp := MailboxPlan{Mailbox: mb.UPN, Status: PlanRemove, Deletes: n}
		if held {
			r.res.Mailboxes.HeldRemovals++
			r.res.Contacts.HeldDeletes += n
			rm.Status, rm.Counts = store.MailboxRemovalHeld, store.Counts{HeldBack: n}
			mp.Status, mp.Deletes, mp.Held = PlanRemovalHeld, 0, n
		} else {
			r.res.Mailboxes.Removed++
			r.res.Contacts.Deleted += n
		}
		if r.ro.DryRun {
			r.res.Plan = append(r.res.Plan, mp)
		} else {
			r.mbs = append(r.mbs, rm)
		}
	}
	return nil
}
