package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/store"
)

// Other tenants' people (source.fromTenants): an entry's sources include
// the people of the entries it lists, each selected by its own entry's
// source rules. A tenant's directory is read once for every run that needs
// it within ShareWindow, whoever reads it first: its own run (which
// publishes what its rules select) or a consumer's run, which reads it
// from the tenant's stored state and delta link without storing anything,
// and records its users delta round so that the tenant's own run, when it
// starts from the same link, replays the round instead of asking Graph
// again.

// ShareWindow is how long a tenant's directory read serves the other runs
// of the process that need it (consumers, and the tenant's own run
// replaying a consumer's round): the service's tenants on one schedule,
// jitter included, read each source directory once per round.
const ShareWindow = 15 * time.Minute

// SourceTenant is what another tenant contributed to a run
// (source.fromTenants), in sync --json and the report.
type SourceTenant struct {
	Name     string `json:"name"`
	TenantID string `json:"tenantId"`
	// Status: "read" (this run read the directory), "shared" (another run
	// of the process read it within ShareWindow), or "kept" (it could not
	// be read: its people already in the mailboxes are kept as they are,
	// neither updated nor deleted, until a read succeeds).
	Status string `json:"status"`
	// Sources counts the people it contributed (0 when kept).
	Sources int `json:"sources"`
	// Error says why it could not be read (status kept).
	Error string `json:"error,omitempty"`
}

// Source tenant statuses.
const (
	SourceRead   = "read"
	SourceShared = "shared"
	SourceKept   = "kept"
)

// dirShare holds each tenant's latest directory read of the engine.
type dirShare struct {
	mu sync.Mutex
	m  map[string]*dirRead // tenant name → latest read
}

// dirRead is one read of a tenant's directory; its results are set before
// done closes.
type dirRead struct {
	tenantID string
	// rules are the tenant's source rules the read selected by.
	rules   []byte
	started time.Time
	done    chan struct{}
	once    sync.Once
	// byOwn: the tenant's own run read it (and stored it).
	byOwn bool

	err error
	// base is the users delta link the round started from, next the one
	// it ended with; pages the round (a consumer's read only).
	base, next string
	pages      []*graph.Page[graph.User]
	// sources are the tenant's users its own source rules select.
	sources []directory.Person
}

func (d *dirRead) finish(err error) {
	d.once.Do(func() {
		d.err = err
		close(d.done)
	})
}

// result reports whether the read is done (nil is), and its error then.
func (d *dirRead) result() (done bool, err error) {
	if d == nil {
		return true, nil
	}
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

func (d *dirRead) ok() bool {
	done, err := d.result()
	return done && err == nil
}

// begin waits while a read of t is under way, then returns the latest
// read (nil when none is left within ShareWindow) and, unless reuse is set
// and the latest read succeeded, a new read in flight (cur) that the
// caller must finish.
func (s *dirShare) begin(ctx context.Context, t *config.Tenant, reuse bool) (prev, cur *dirRead, err error) {
	for {
		now := time.Now()
		s.mu.Lock()
		if s.m == nil {
			s.m = make(map[string]*dirRead)
		}
		for name, d := range s.m {
			if done, err := d.result(); done && (err != nil || now.Sub(d.started) > ShareWindow) {
				delete(s.m, name)
			}
		}
		prev = s.m[t.Name]
		rules := sourceRules(t)
		if prev != nil && (!strings.EqualFold(prev.tenantID, t.TenantID) || !bytes.Equal(prev.rules, rules)) {
			prev = nil // another tenant, or rules changed by a reload since
		}
		if done, _ := prev.result(); !done {
			s.mu.Unlock()
			select {
			case <-prev.done:
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		if prev != nil && reuse {
			s.mu.Unlock()
			return prev, nil, nil
		}
		cur = &dirRead{tenantID: t.TenantID, rules: rules, started: now, done: make(chan struct{})}
		s.m[t.Name] = cur
		s.mu.Unlock()
		return prev, cur, nil
	}
}

// sourceRules identifies a tenant's source rules (its fromTenants aside:
// they do not change what it contributes).
func sourceRules(t *config.Tenant) []byte {
	src := t.Source
	src.FromTenants, src.From = nil, nil
	b, _ := json.Marshal(src)
	return b
}

// usersDelta runs a users delta round from link: a replay of a consumer's
// round from the same link when one is fresh (r.replay), else Graph's,
// recorded when r.recording is set.
func (r *run) usersDelta(ctx context.Context, link string, fn func(*graph.Page[graph.User]) error) (string, error) {
	if d := r.replay; d != nil && d.base == link && d.next != "" {
		r.replay = nil
		r.log.Debug("users delta round replayed from another run's read", "pages", len(d.pages))
		for _, p := range d.pages {
			if err := fn(p); err != nil {
				return "", err
			}
		}
		return d.next, nil
	}
	if r.recording == nil {
		return r.client.UsersDelta(ctx, link, nil, fn)
	}
	d := r.recording
	d.base, d.pages = link, nil
	next, err := r.client.UsersDelta(ctx, link, nil, func(p *graph.Page[graph.User]) error {
		d.pages = append(d.pages, p)
		return fn(p)
	})
	d.next = next
	return next, err
}

// beginOwnRead registers this run's read of its own directory, so that
// consumers wait for it instead of reading it too, and picks a consumer's
// fresh round to replay. The read is finished by publish, or by the
// returned function (deferred) when the run fails before.
func (r *run) beginOwnRead(ctx context.Context) (done func(), err error) {
	prev, cur, err := r.e.share.begin(ctx, r.t, false)
	if err != nil {
		return func() {}, err
	}
	cur.byOwn = true
	r.own = cur
	if prev != nil && !prev.byOwn && prev.pages != nil {
		r.replay = prev
	}
	return func() { cur.finish(errors.New("the tenant's own run did not get to select its sources")) }, nil
}

// publish finishes this run's own read with the users its source rules
// select, for the runs that list this tenant in source.fromTenants.
func (r *run) publish(sel *directory.Selector) {
	if r.own == nil {
		return
	}
	r.own.sources = selectedUsers(r.persons, sel)
	r.own.finish(nil)
}

func selectedUsers(persons map[string]directory.Person, sel *directory.Selector) []directory.Person {
	var out []directory.Person
	for _, p := range persons {
		if ok, _ := sel.IsSource(p); ok && p.Kind == directory.KindUser {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b directory.Person) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// foreignSource is one source tenant's contribution to this run.
type foreignSource struct {
	t       *config.Tenant
	sources []directory.Person
}

// readForeign gets the directory of each entry of source.fromTenants: a
// read of this process within ShareWindow, or a read of its own. One that
// fails is kept (r.keep): its people stay in the mailboxes as they are.
func (r *run) readForeign(ctx context.Context) error {
	for i := range r.t.Source.From {
		ft := &r.t.Source.From[i]
		st := SourceTenant{Name: ft.Name, TenantID: strings.ToLower(ft.TenantID), Status: SourceShared}
		prev, cur, err := r.e.share.begin(ctx, ft, true)
		if err != nil {
			return err
		}
		d := prev
		if cur != nil {
			st.Status, d = SourceRead, cur
			cur.finish(r.readTenant(ctx, ft, cur, r.st))
		}
		if d.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.Status, st.Error = SourceKept, d.err.Error()
			r.keep = append(r.keep, foreignPrefix(ft))
			r.log.Warn("the directory of a source tenant could not be read: its people are kept as they are",
				"source_tenant", ft.Name, "error", d.err)
		} else {
			st.Sources = len(d.sources)
			r.foreign = append(r.foreign, foreignSource{t: ft, sources: d.sources})
		}
		r.res.SourceTenants = append(r.res.SourceTenants, st)
	}
	return nil
}

// foreignPrefix begins the source ids (and marks) of a source tenant's
// people in a consumer's mailboxes: its tenant id, so that they say whose
// they are.
func foreignPrefix(t *config.Tenant) string { return strings.ToLower(t.TenantID) + "/" }

// readTenant reads another tenant's directory for this run, with that
// tenant's own credentials, from its stored state and delta link, storing
// nothing (the tenant's own run does), and records the users delta round
// in d for the tenant's own run to replay. Without a state database (st
// nil: check) it reads the directory whole.
func (r *run) readTenant(ctx context.Context, t *config.Tenant, d *dirRead, st *store.Store) error {
	sub := newRun(r.e, t, RunOptions{DryRun: true})
	sub.st = st
	sub.log = r.log.With("source_tenant", t.Name)
	sub.recording = d
	err := sub.readTenantUsers(ctx)
	if sub.client != nil {
		s := sub.client.Stats()
		r.foreignGraph.Requests += s.Requests
		r.foreignGraph.BatchItems += s.BatchItems
		r.foreignGraph.Throttled += s.Status429
		r.foreignGraph.Unavailable += s.Status503
		r.foreignGraph.Retries += s.Retries
	}
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			return fmt.Errorf("%s (%s)", f.f.Message, f.f.Class)
		}
		return err
	}
	var sc directory.Scope
	if sc.SourceInclude, err = sub.groupMembers(ctx, t.Source.IncludeGroups); err == nil {
		sc.SourceExclude, err = sub.groupMembers(ctx, t.Source.ExcludeGroups)
	}
	if err != nil {
		return fmt.Errorf("read source groups: %w", err)
	}
	d.sources = selectedUsers(sub.persons, directory.NewSelector(t, sc))
	return nil
}

// readTenantUsers connects as the tenant and brings its stored users up
// to date in memory.
func (r *run) readTenantUsers(ctx context.Context) error {
	if err := r.connect(ctx); err != nil {
		return err
	}
	r.persons = make(map[string]directory.Person)
	r.prev = make(map[string]directory.Person)
	r.added = make(map[string]bool)
	var ts store.TenantState
	if r.st != nil {
		var err error
		if ts, err = r.st.Tenant(ctx, r.t.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
	}
	link := ""
	if r.st != nil && strings.EqualFold(ts.TenantID, r.t.TenantID) {
		link = ts.UsersDeltaLink
		for sp, err := range r.st.Persons(ctx, r.t.Name) {
			if err != nil {
				return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
			}
			if sp.Kind != store.KindUser {
				continue
			}
			p, err := directory.UnmarshalPerson(sp.Data)
			if err != nil {
				return fail(FailInternal, "", fmt.Sprintf("state database: person %s: %v", sp.SourceID, err))
			}
			r.persons[p.ID] = p
		}
	}
	err := r.readUsers(ctx, link)
	if errors.Is(err, graph.ErrResyncRequired) {
		err = r.readUsers(ctx, "")
	}
	if err != nil {
		return r.sourceError("read users", err)
	}
	return nil
}

// foreignDesired adds the source tenants' people to the desired contacts,
// mapped by this entry's fields, under their tenants' prefixes, and sorts
// them all by source id.
func (r *run) foreignDesired() {
	for _, fs := range r.foreign {
		prefix := foreignPrefix(fs.t)
		for _, p := range fs.sources {
			f := r.mapper.Fields(p)
			capCollections(&f)
			r.desired = append(r.desired, plan.Desired{SourceID: prefix + p.ID, Fields: f, Hash: plan.Hash(f, r.mask)})
		}
	}
	if len(r.foreign) > 0 {
		slices.SortFunc(r.desired, func(a, b plan.Desired) int { return strings.Compare(a.SourceID, b.SourceID) })
	}
}

// keepDigest folds the kept source tenants into a desired digest: a tenant
// kept and the same tenant removed from the list must not look alike.
func (r *run) keepDigest(digest string) string {
	if len(r.keep) == 0 {
		return digest
	}
	return digest + "+keep:" + strings.Join(r.keep, ",")
}

// checkFromTenants reads each source tenant's directory whole with its own
// credentials, as a sync would, writing nothing: one step per tenant.
func (r *run) checkFromTenants(ctx context.Context, rep *CheckReport) {
	for i := range r.t.Source.From {
		ft := &r.t.Source.From[i]
		d := &dirRead{}
		if err := r.readTenant(ctx, ft, d, nil); err != nil {
			rep.add("source tenant "+ft.Name, false, "tenant %s: %v: its people cannot be added; a sync keeps those already in the mailboxes", ft.TenantID, err)
			continue
		}
		rep.add("source tenant "+ft.Name, true, "tenant %s: %d people by its own source rules, with its app %s", ft.TenantID, len(d.sources), ft.ClientID)
		r.foreign = append(r.foreign, foreignSource{t: ft, sources: d.sources})
	}
}
