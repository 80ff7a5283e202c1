package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/store"
)

// purposeRefresh is how long a mailbox purpose is trusted: converting a
// disabled leaver's user mailbox to a shared one (the usual way to keep
// it) changes nothing users/delta is known to report.
const purposeRefresh = 24 * time.Hour

// stale reports whether a read at unix seconds is older than d, or in
// the future (a clock set back).
func stale(unix int64, now time.Time, d time.Duration) bool {
	at := time.Unix(unix, 0)
	return unix <= 0 || now.Sub(at) >= d || at.After(now)
}

// readPurposes asks Exchange what the mailbox of each purpose candidate
// (a disabled user with a mail address, directory.Person.PurposeCandidate)
// is for, when not known yet or read more than purposeRefresh ago: a user
// keeps its purpose while the directory reports no change of its sign-in
// state or address (Person.KeepPurpose), so a steady tenant costs one
// request per candidate a day. A user
// without a mailbox is remembered as such (PurposeNone). Any other
// failure fails the read: a shared mailbox must not be removed because
// its purpose could not be read.
func (r *run) readPurposes(ctx context.Context) error {
	now := time.Now()
	var ids []string
	for id, p := range r.persons {
		if p.PurposeCandidate() && (p.Purpose == "" || stale(p.PurposeRead, now, purposeRefresh)) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	r.log.Info("reading the mailbox purpose of disabled accounts with an address", "count", len(ids))
	purposes, errs := r.userPurposes(ctx, ids)
	upserts := make([]store.Person, 0, len(ids))
	for i, id := range ids {
		purpose, err := purposes[i], errs[i]
		switch graph.Classify(err) {
		case graph.OK:
			if purpose == "" {
				purpose = graph.PurposeOthers
			}
		case graph.MailboxUnavailable:
			purpose = directory.PurposeNone
		case graph.OutOfScope:
			f := &Failure{Class: FailConsent, MissingRoles: []string{entra.RoleMailboxSettingsRead},
				Message: fmt.Sprintf("read the mailbox purpose of %s: access denied: source.includeShared, includeRooms and includeEquipment need %s (admin consent in Entra ID, or \"Application MailboxSettings.Read\" in the app's Exchange RBAC scope)",
					r.persons[id].UserPrincipalName, entra.RoleMailboxSettingsRead)}
			var ge *graph.Error
			if errors.As(err, &ge) {
				f.Code, f.RequestID = ge.Code, ge.RequestID
			}
			return &failure{f}
		default:
			return fmt.Errorf("user %s: %w", r.persons[id].UserPrincipalName, err)
		}
		p := r.persons[id]
		r.notePrev(p)
		p.Purpose, p.PurposeRead = purpose, now.Unix()
		r.persons[id] = p
		upserts = append(upserts, storePerson(p))
	}
	if r.st == nil || r.ro.DryRun {
		return nil
	}
	if err := r.st.ApplyPersonDelta(ctx, r.t.Name, store.KindUser, upserts, nil, ""); err != nil {
		return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
	}
	return nil
}

// purposeReaders is how many mailbox purposes are read at once: enough
// for the dispatcher to fill $batch requests (graph.MaxBatchItems each).
const purposeReaders = 2 * graph.MaxBatchItems

// userPurposes reads the mailbox purposes of ids concurrently through the
// run's mailbox dispatcher, which packs them into $batch requests; it
// returns when every read has ended (each honours ctx).
func (r *run) userPurposes(ctx context.Context, ids []string) ([]string, []error) {
	purposes, errs := make([]string, len(ids)), make([]error, len(ids))
	sem := make(chan struct{}, purposeReaders)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			purposes[i], errs[i] = r.mail.Mailbox(id).UserPurpose(ctx)
		}()
	}
	wg.Wait()
	return purposes, errs
}

// groupHiddenRefresh is how long a Microsoft 365 group's
// hideFromAddressLists is trusted: Graph returns it only one group at a
// time, so it is read for a new or changed group and again after this.
const groupHiddenRefresh = 24 * time.Hour

// readMailGroups lists the mail-enabled groups and replaces the stored
// set. A Microsoft 365 group's hideFromAddressLists is read when the
// group is new, its name or address changed, or the last read is older
// than groupHiddenRefresh.
func (r *run) readMailGroups(ctx context.Context) error {
	now := time.Now()
	fresh := make(map[string]directory.Person)
	err := r.client.MailGroups(ctx, func(gs []graph.Group) error {
		for _, g := range gs {
			if g.ID == "" || !g.MailEnabled {
				continue
			}
			fresh[g.ID] = directory.FromGroup(g)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(fresh))
	for id := range fresh {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := fresh[id]
		if !p.Unified || strings.TrimSpace(p.Mail) == "" {
			continue
		}
		old, ok := r.persons[id]
		if ok && old.Kind == directory.KindGroup && old.DisplayName == p.DisplayName && old.Mail == p.Mail &&
			!stale(old.HiddenRead, now, groupHiddenRefresh) {
			p.Hidden, p.HiddenRead = old.Hidden, old.HiddenRead
			fresh[id] = p
			continue
		}
		hidden, err := r.client.GroupHidden(ctx, id)
		if graph.Classify(err) == graph.NotFound {
			// Deleted between the list and now: gone.
			delete(fresh, id)
			continue
		}
		if err != nil {
			return fmt.Errorf("group %s: %w", p.Mail, err)
		}
		p.Hidden, p.HiddenRead = hidden, now.Unix()
		fresh[id] = p
	}
	if r.st != nil && !r.ro.DryRun {
		rs, err := r.st.BeginPersonResync(ctx, r.t.Name, store.KindGroup)
		if err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		defer rs.Abort(context.WithoutCancel(ctx))
		page := make([]store.Person, 0, len(fresh))
		for _, id := range ids {
			if p, ok := fresh[id]; ok {
				page = append(page, storePerson(p))
			}
		}
		if err := rs.Add(ctx, page); err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		if err := rs.Commit(ctx, ""); err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
	}
	r.replaceKind(directory.KindGroup, fresh)
	return nil
}

// forgetGroups drops the mail groups when source.mailGroups is off: they
// are no longer sources (their contacts go, under the delete guard), and
// their stored set goes, so that switching them on reads them afresh.
func (r *run) forgetGroups(ctx context.Context) error {
	had := false
	for id, p := range r.persons {
		if p.Kind == directory.KindGroup {
			r.notePrev(p)
			delete(r.persons, id)
			had = true
		}
	}
	if !had || r.st == nil || r.ro.DryRun {
		return nil
	}
	rs, err := r.st.BeginPersonResync(ctx, r.t.Name, store.KindGroup)
	if err == nil {
		defer rs.Abort(context.WithoutCancel(ctx))
		err = rs.Commit(ctx, "")
	}
	if err != nil {
		return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
	}
	return nil
}

// missingPurposeRole names MailboxSettings.Read when the settings need
// mailbox purposes, mailbox access is granted tenant-wide in Entra ID
// (Contacts.ReadWrite in the token) and the token lacks it. With Exchange
// RBAC for Applications the role may come from Exchange instead, which
// only the read itself tells.
func missingPurposeRole(t *config.Tenant, roles []string) []string {
	if !t.Source.MailboxPurposes() || entra.MailboxAccessOf(roles) != entra.MailboxAccessTenantWide {
		return nil
	}
	return entra.MissingRoles(roles, []string{entra.RoleMailboxSettingsRead})
}
