package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/store"
)

// readSource brings the directory up to date: users through users/delta
// (incremental from the stored delta link; a full round on the first run or
// when Graph asks for a resync), organizational contacts when enabled
// through /contacts/delta likewise (readOrgContacts), and the group scopes,
// re-read every run. Any failure fails the run as a whole: nothing is
// written on incomplete information.
func (r *run) readSource(ctx context.Context) error {
	r.persons = make(map[string]directory.Person)
	r.prev = make(map[string]directory.Person)
	r.added = make(map[string]bool)
	var ts store.TenantState
	if r.st != nil { // check reads the directory without the state database
		var err error
		ts, err = r.st.Tenant(ctx, r.t.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		for sp, err := range r.st.Persons(ctx, r.t.Name) {
			if err != nil {
				return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
			}
			p, err := directory.UnmarshalPerson(sp.Data)
			if err != nil {
				return fail(FailInternal, "", fmt.Sprintf("state database: person %s: %v", sp.SourceID, err))
			}
			r.persons[p.ID] = p
		}
	}

	r.lastDigest = ts.DesiredDigest
	if err := r.readUsers(ctx, ts.UsersDeltaLink); err != nil {
		if !errors.Is(err, graph.ErrResyncRequired) {
			return r.sourceError("read users", err)
		}
		r.log.Info("users delta token expired, reading the whole directory again")
		if err := r.readUsers(ctx, ""); err != nil {
			return r.sourceError("read users", err)
		}
	}
	if r.t.OrgContacts {
		if err := r.readOrgContacts(ctx, ts); err != nil {
			return r.sourceError("read organizational contacts", err)
		}
	} else if err := r.forgetOrgContacts(ctx, ts); err != nil {
		return err
	}
	if r.t.Source.MailboxPurposes() {
		if err := r.readPurposes(ctx); err != nil {
			return r.sourceError("read the mailbox purposes (mailboxSettings/userPurpose)", err)
		}
	}
	if r.t.Source.MailGroups {
		if err := r.readMailGroups(ctx); err != nil {
			return r.sourceError("read the mail-enabled groups", err)
		}
	} else if err := r.forgetGroups(ctx); err != nil {
		return err
	}
	r.sourceComplete = true
	return nil
}

// readUsers runs one users/delta round from link ("" for a full round).
// An incremental round applies each page to the store as it comes; a full
// round stages the pages and swaps them in at the end, so a failed full
// read leaves the previous directory in place.
func (r *run) readUsers(ctx context.Context, link string) error {
	full := link == ""
	var resync *store.PersonResync
	fresh := make(map[string]directory.Person)
	if full && !r.ro.DryRun {
		var err error
		resync, err = r.st.BeginPersonResync(ctx, r.t.Name, store.KindUser)
		if err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		defer resync.Abort(context.WithoutCancel(ctx))
	}
	newLink, err := r.usersDelta(ctx, link, func(page *graph.Page[graph.User]) error {
		var upserts []store.Person
		var deletes []string
		for _, u := range page.Value {
			if u.ID == "" {
				continue
			}
			if u.Removed != nil {
				deletes = append(deletes, u.ID)
				if !full {
					if old, ok := r.persons[u.ID]; ok {
						r.notePrev(old)
						delete(r.persons, u.ID)
					}
				}
				delete(fresh, u.ID)
				continue
			}
			p := directory.FromUser(u)
			if old, ok := r.persons[p.ID]; ok {
				p.KeepPurpose(old)
			}
			if full {
				fresh[p.ID] = p
			} else {
				if old, ok := r.persons[p.ID]; ok {
					r.notePrev(old)
				}
				r.put(p)
			}
			upserts = append(upserts, storePerson(p))
		}
		switch {
		case r.ro.DryRun:
			return nil
		case full:
			return resync.Add(ctx, upserts)
		default:
			return r.st.ApplyPersonDelta(ctx, r.t.Name, store.KindUser, upserts, deletes, page.DeltaLink)
		}
	})
	if err != nil {
		return err
	}
	if full {
		if resync != nil {
			if err := resync.Commit(ctx, newLink); err != nil {
				return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
			}
		}
		r.replaceKind(directory.KindUser, fresh)
	}
	return nil
}

// orgContactsRefresh is how long the org contacts may go without a whole
// read. /contacts/delta neither returns nor tracks their addresses and
// phones (docs/graph-fidelity.md D6): a change to those alone reaches the
// mailboxes at the next whole read, at most this long after.
const orgContactsRefresh = 24 * time.Hour

// readOrgContacts brings the organizational contacts up to date: an
// incremental /contacts/delta round from the stored link while the last
// whole read is younger than orgContactsRefresh, else (no link, Graph
// refused it, or the whole read is due) a whole read.
func (r *run) readOrgContacts(ctx context.Context, ts store.TenantState) error {
	now := time.Now()
	switch readAt := ts.OrgContactsReadAt; {
	case ts.OrgContactsDeltaLink == "":
	case readAt.IsZero() || now.Sub(readAt) >= orgContactsRefresh || readAt.After(now):
		r.log.Info("reading the organizational contacts whole: delta rounds do not carry their addresses and phones", "last_whole_read", readAt)
	default:
		err := r.orgContactsRound(ctx, ts.OrgContactsDeltaLink)
		if !errors.Is(err, graph.ErrResyncRequired) {
			return err
		}
		r.log.Info("organizational contacts delta token expired, reading them all again")
	}
	return r.readOrgContactsWhole(ctx, "")
}

// readOrgContactsWhole reads every organizational contact with every
// property and replaces the stored set, staged and swapped in at the end
// (a failed read leaves the previous set in place), with deltaLink as the
// next round's start: when empty, a link from now ($deltatoken=latest),
// taken before the list so that a change made during the list shows in the
// next round.
func (r *run) readOrgContactsWhole(ctx context.Context, deltaLink string) error {
	started := time.Now()
	if deltaLink == "" && !r.ro.DryRun {
		var err error
		if deltaLink, err = r.client.OrgContactsDeltaLatest(ctx, nil); err != nil {
			return err
		}
	}
	var rs *store.PersonResync
	if !r.ro.DryRun {
		var err error
		if rs, err = r.st.BeginPersonResync(ctx, r.t.Name, store.KindOrgContact); err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		defer rs.Abort(context.WithoutCancel(ctx))
	}
	fresh := make(map[string]directory.Person)
	err := r.client.OrgContacts(ctx, nil, func(cs []graph.OrgContact) error {
		page := make([]store.Person, 0, len(cs))
		for _, c := range cs {
			p := directory.FromOrgContact(c)
			fresh[p.ID] = p
			page = append(page, storePerson(p))
		}
		if rs == nil {
			return nil
		}
		if err := rs.Add(ctx, page); err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if rs != nil {
		if err := rs.Commit(ctx, deltaLink); err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		if err := r.st.SetOrgContactsReadAt(ctx, r.t.Name, started); err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
	}
	r.replaceKind(directory.KindOrgContact, fresh)
	return nil
}

// orgContactsRound runs one incremental /contacts/delta round from link
// and applies it: a contact the round reports removed leaves the sources;
// one created or changed is read whole (GET /contacts/{id}: the round
// carries no addresses or phones), unless more changed than a whole read
// takes pages, or one of them is gone by then: then all are read whole,
// starting the next round from this round's link.
func (r *run) orgContactsRound(ctx context.Context, link string) error {
	removed := make(map[string]bool) // id → reported removed (the last report wins)
	var ids []string
	newLink, err := r.client.OrgContactsDelta(ctx, link, nil, func(p *graph.Page[graph.OrgContact]) error {
		for _, c := range p.Value {
			if c.ID == "" {
				continue
			}
			if _, seen := removed[c.ID]; !seen {
				ids = append(ids, c.ID)
			}
			removed[c.ID] = c.Removed != nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	var changed, deletes []string
	for _, id := range ids {
		if removed[id] {
			deletes = append(deletes, id)
		} else {
			changed = append(changed, id)
		}
	}
	known := 0
	for _, p := range r.persons {
		if p.Kind == directory.KindOrgContact {
			known++
		}
	}
	if len(changed) > known/orgContactsPage+1 {
		return r.readOrgContactsWhole(ctx, newLink)
	}
	fresh := make([]directory.Person, 0, len(changed))
	for _, id := range changed {
		c, err := r.client.OrgContact(ctx, id, nil)
		if graph.Classify(err) == graph.NotFound {
			r.log.Info("an organizational contact the delta round reported is gone: reading them all again", "id", id)
			return r.readOrgContactsWhole(ctx, newLink)
		}
		if err != nil {
			return err
		}
		fresh = append(fresh, directory.FromOrgContact(c))
	}
	upserts := make([]store.Person, 0, len(fresh))
	for _, p := range fresh {
		if old, ok := r.persons[p.ID]; ok {
			r.notePrev(old)
		}
		r.put(p)
		upserts = append(upserts, storePerson(p))
	}
	for _, id := range deletes {
		if old, ok := r.persons[id]; ok && old.Kind == directory.KindOrgContact {
			r.notePrev(old)
			delete(r.persons, id)
		}
	}
	if r.ro.DryRun {
		return nil
	}
	return r.st.ApplyPersonDelta(ctx, r.t.Name, store.KindOrgContact, upserts, deletes, newLink)
}

// orgContactsPage is how many org contacts a page of a whole read holds
// (graph.OrgContacts asks for $top=999).
const orgContactsPage = 999

// forgetOrgContacts drops the organizational contacts when they are
// switched off: they are no longer sources, and their stored set, delta
// link and read time go, so that switching them on again reads them whole.
func (r *run) forgetOrgContacts(ctx context.Context, ts store.TenantState) error {
	had := false
	for id, p := range r.persons {
		if p.Kind == directory.KindOrgContact {
			r.notePrev(p)
			delete(r.persons, id)
			had = true
		}
	}
	if r.ro.DryRun || !had && ts.OrgContactsDeltaLink == "" && ts.OrgContactsReadAt.IsZero() {
		return nil
	}
	rs, err := r.st.BeginPersonResync(ctx, r.t.Name, store.KindOrgContact)
	if err == nil {
		defer rs.Abort(context.WithoutCancel(ctx))
		err = rs.Commit(ctx, "")
	}
	if err == nil {
		err = r.st.SetOrgContactsReadAt(ctx, r.t.Name, time.Time{})
	}
	if err != nil {
		return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
	}
	return nil
}

// replaceKind replaces the persons of one kind by a full read, noting the
// previous version of each person that changed or left.
func (r *run) replaceKind(kind directory.Kind, fresh map[string]directory.Person) {
	for id, p := range r.persons {
		if p.Kind != kind {
			continue
		}
		np, ok := fresh[id]
		if !ok || !samePerson(np, p) {
			r.notePrev(p)
		}
		if !ok {
			delete(r.persons, id)
		}
	}
	for _, p := range fresh {
		r.put(p)
	}
}

// put sets a person, noting one that is new this run.
func (r *run) put(p directory.Person) {
	if _, ok := r.persons[p.ID]; !ok {
		r.added[p.ID] = true
	}
	r.persons[p.ID] = p
}

// notePrev remembers a person's content before this run changed it (only
// the first version seen counts: a person may appear twice in one round).
func (r *run) notePrev(p directory.Person) {
	if _, ok := r.prev[p.ID]; !ok {
		r.prev[p.ID] = p
	}
}

func samePerson(a, b directory.Person) bool { return string(a.Marshal()) == string(b.Marshal()) }

func storePerson(p directory.Person) store.Person {
	ut := "Member"
	if p.Guest {
		ut = "Guest"
	}
	if p.Kind != directory.KindUser {
		ut = ""
	}
	return store.Person{
		SourceID: p.ID, Kind: store.PersonKind(p.Kind), Enabled: p.Enabled, UserType: ut,
		HasMail: strings.TrimSpace(p.Mail) != "", Data: p.Marshal(),
	}
}

// groupMembers reads the transitive user members of groups.
func (r *run) groupMembers(ctx context.Context, groups []string) (map[string]bool, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	set := make(map[string]bool)
	for _, g := range groups {
		err := r.client.GroupTransitiveUsers(ctx, g, []string{"id"}, func(us []graph.User) error {
			for _, u := range us {
				set[u.ID] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", g, err)
		}
	}
	return set, nil
}

// scope reads the group scopes of the settings.
func (r *run) scope(ctx context.Context) (directory.Scope, error) {
	var sc directory.Scope
	var err error
	if sc.SourceInclude, err = r.groupMembers(ctx, r.t.Source.IncludeGroups); err != nil {
		return sc, r.sourceError("read source.includeGroups", err)
	}
	if sc.SourceExclude, err = r.groupMembers(ctx, r.t.Source.ExcludeGroups); err != nil {
		return sc, r.sourceError("read source.excludeGroups", err)
	}
	if sc.Targets, err = r.groupMembers(ctx, r.t.Target.Groups); err != nil {
		return sc, r.sourceError("read target.groups", err)
	}
	return sc, nil
}

// selectPeople computes, once for the run, every source's desired contact
// and the target mailboxes.
func (r *run) selectPeople(sc directory.Scope) {
	sel := directory.NewSelector(r.t, sc)
	r.mapper = directory.NewMapper(r.t)
	r.mask, r.write, r.fill = r.mapper.HashMask(), r.mapper.Mask(), r.mapper.FillBlank()
	r.prevHash = make(map[string]string)
	r.prevFields = make(map[string]*plan.Fields)
	ids := make([]string, 0, len(r.persons))
	for id := range r.persons {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	r.desired = r.desired[:0]
	r.targets = r.targets[:0]
	r.res.SourcesByKind = map[string]int{}
	for _, id := range ids {
		p := r.persons[id]
		if ok, _ := sel.IsSource(p); ok {
			r.res.SourcesByKind[p.SourceKind()]++
			f := r.mapper.Fields(p)
			if n, m := capCollections(&f); n > 0 || m > 0 {
				r.log.Warn("a contact holds at most 2 business phones and 3 email addresses: keeping the first ones",
					"source", p.UserPrincipalName, "id", id, "business_phones", n, "email_addresses", m)
			}
			r.desired = append(r.desired, plan.Desired{SourceID: id, Fields: f, Hash: plan.Hash(f, r.mask)})
			if old, ok := r.prev[id]; ok {
				of := r.mapper.Fields(old)
				capCollections(&of)
				r.prevFields[id] = &of
				r.prevHash[id] = plan.Hash(of, r.mask)
			}
		}
		switch ok, why := sel.IsTarget(p); {
		case ok:
			r.targets = append(r.targets, target{ID: p.ID, UPN: p.UserPrincipalName})
		case why == directory.ReasonExcluded:
			r.res.Mailboxes.Skipped++
			r.res.Skipped = append(r.res.Skipped, SkippedMailbox{Mailbox: p.UserPrincipalName, Code: "Excluded", Reason: "excluded by target.excludeUsers"})
		}
	}
	r.foreignDesired()
	r.res.SourceCount = len(r.desired)
	r.digest = r.keepDigest(desiredDigest(r.desired, r.write))
	r.sinceLast(sel)
}

// sinceLast works out which sources' desired contacts differ from the
// previous run's, by undoing this run's directory changes (r.prev, r.added)
// on the desired contacts. When the result's digest is the stored digest
// of the previous run, the undoing was complete (the scope, settings and
// field mapping are unchanged too), and a mailbox that was in line with
// the previous run needs planning for those sources only (narrow).
func (r *run) sinceLast(sel *directory.Selector) {
	r.narrow, r.changedSources, r.prevDigest = false, nil, ""
	if r.lastDigest == "" {
		return
	}
	before := make(map[string]string, len(r.prev)+len(r.added)) // source id → hash then ("" = not a source)
	for id, old := range r.prev {
		before[id] = ""
		if ok, _ := sel.IsSource(old); ok {
			if h, ok := r.prevHash[id]; ok {
				before[id] = h
			} else {
				f := r.mapper.Fields(old)
				capCollections(&f)
				before[id] = plan.Hash(f, r.mask)
			}
		}
	}
	for id := range r.added {
		if _, ok := r.prev[id]; !ok {
			before[id] = ""
		}
	}
	prevDesired := make([]plan.Desired, 0, len(r.desired)+len(before))
	now := make(map[string]string, len(before))
	for _, d := range r.desired {
		if _, ok := before[d.SourceID]; ok {
			now[d.SourceID] = d.Hash
			continue
		}
		prevDesired = append(prevDesired, d)
	}
	for id, h := range before {
		if h != "" {
			prevDesired = append(prevDesired, plan.Desired{SourceID: id, Hash: h})
		}
		if now[id] != h {
			r.changedSources = append(r.changedSources, id)
		}
	}
	slices.SortFunc(prevDesired, func(a, b plan.Desired) int { return strings.Compare(a.SourceID, b.SourceID) })
	slices.Sort(r.changedSources)
	// Past a tenth of the sources a narrow plan saves little.
	r.prevDigest = r.keepDigest(desiredDigest(prevDesired, r.write))
	r.narrow = r.prevDigest == r.lastDigest && len(r.changedSources) <= 50+len(r.desired)/10
}

// desiredOf returns the desired contacts of the given sources (those that
// have one).
func (r *run) desiredOf(ids map[string]bool) []plan.Desired {
	out := make([]plan.Desired, 0, len(ids))
	for id := range ids {
		if i, ok := slices.BinarySearchFunc(r.desired, id, func(d plan.Desired, id string) int { return strings.Compare(d.SourceID, id) }); ok {
			out = append(out, r.desired[i])
		}
	}
	return out
}

// Exchange's limits on a contact's collections: more answers 400
// (docs/graph-fidelity.md).
const (
	maxBusinessPhones = 2
	maxEmailAddresses = 3
)

// capCollections cuts a contact's collections to what Exchange accepts and
// returns how many entries each had when it cut them (0 when it did not).
func capCollections(f *plan.Fields) (phones, emails int) {
	if n := len(f.BusinessPhones); n > maxBusinessPhones {
		f.BusinessPhones, phones = f.BusinessPhones[:maxBusinessPhones:maxBusinessPhones], n
	}
	if n := len(f.EmailAddresses); n > maxEmailAddresses {
		f.EmailAddresses, emails = f.EmailAddresses[:maxEmailAddresses:maxEmailAddresses], n
	}
	return phones, emails
}

// desiredDigest hashes the desired contacts (source ids and content hashes,
// in source-id order) with the mask.
func desiredDigest(desired []plan.Desired, mask plan.FieldMask) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", mask)
	for _, d := range desired {
		h.Write([]byte(d.SourceID))
		h.Write([]byte{0})
		h.Write([]byte(d.Hash))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// desiredFor is how many desired contacts a mailbox receives (all but its
// owner's).
func (r *run) desiredFor(owner string) int {
	n := len(r.desired)
	if _, found := slices.BinarySearchFunc(r.desired, owner, func(d plan.Desired, id string) int { return strings.Compare(d.SourceID, id) }); found {
		n--
	}
	return n
}

// sourceError turns a directory read failure into a whole-run failure,
// naming missing permissions where Graph said so.
func (r *run) sourceError(what string, err error) error {
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	var tok *graph.TokenError
	if errors.As(err, &tok) {
		// The token expired during the run and its renewal failed.
		return &failure{TokenFailure(tok.Err)}
	}
	if graphUnavailable(err) {
		fl := &Failure{Class: FailUnavailable, Service: store.ServiceGraph, Message: fmt.Sprintf("Microsoft Graph unavailable: %s: %v", what, err)}
		var ge *graph.Error
		if errors.As(err, &ge) {
			fl.Code, fl.RequestID = ge.Code, ge.RequestID
		}
		return &failure{fl}
	}
	var ge *graph.Error
	if errors.As(err, &ge) {
		class := FailSource
		switch graph.Classify(err) {
		case graph.DirectoryDenied:
			class = FailConsent
		case graph.Auth:
			class = FailAuth
		}
		return &failure{&Failure{Class: class, Code: ge.Code, Message: fmt.Sprintf("%s: %s", what, ge.Message), RequestID: ge.RequestID}}
	}
	var ae *authError
	if errors.As(err, &ae) {
		return ae.failure()
	}
	if graph.GaveUp(err) {
		return fail(FailThrottled, "", fmt.Sprintf("%s: %v", what, err))
	}
	return fail(FailSource, "", fmt.Sprintf("%s: %v", what, err))
}
