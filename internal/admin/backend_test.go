package admin

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeBackend is a Backend with canned data for the auth, wire and input
// tests; the real one is the service's.
type fakeBackend struct {
	mu      sync.Mutex
	tenants map[string]*Tenant
	runs    []Run // oldest first
	events  []Event
	live    chan Event
	audits  []AuditRecord
	audited chan struct{} // a signal per audit record
	noLive  bool          // Events ends after the stored events
	nextRun int64
}

var fakeStart = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func newFakeBackend() *fakeBackend {
	b := &fakeBackend{tenants: map[string]*Tenant{}, live: make(chan Event, 16), audited: make(chan struct{}, 1), nextRun: 100}
	for _, n := range []string{"contoso", "fabrikam"} {
		b.tenants[n] = &Tenant{Name: n, TenantID: "00000000-0000-0000-0000-00000000000" + strconv.Itoa(len(n)%10), State: StateIdle}
	}
	for i := int64(1); i <= 45; i++ {
		b.runs = append(b.runs, Run{ID: i, Tenant: "contoso", Trigger: "schedule", Started: fakeStart.Add(time.Duration(i) * time.Hour),
			Finished: fakeStart.Add(time.Duration(i)*time.Hour + time.Minute), Outcome: OutcomeSucceeded, Counts: Counts{Mailboxes: 3, Created: int(i)}})
	}
	for i := int64(1); i <= 5; i++ {
		b.events = append(b.events, Event{Seq: i, Time: fakeStart, ID: 100 + int(i), Level: LevelInfo, Tenant: "contoso", Message: "stored " + strconv.FormatInt(i, 10)})
	}
	return b
}

func (b *fakeBackend) ServiceInfo(ctx context.Context) (ServiceInfo, error) {
	return ServiceInfo{Version: "test", Host: "testhost", ConfigPath: "/etc/galmirror/settings.json", StartedAt: time.Now().Add(-time.Hour), Tenants: len(b.tenants)}, nil
}

func (b *fakeBackend) Tenants(ctx context.Context) ([]Tenant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return []Tenant{*b.tenants["contoso"], *b.tenants["fabrikam"]}, nil
}

func (b *fakeBackend) Tenant(ctx context.Context, name string) (Tenant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tenants[name]
	if !ok {
		return Tenant{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	return *t, nil
}

// Runs pages with tokens "p<offset>:<tenant>".
func (b *fakeBackend) Runs(ctx context.Context, tenant string, pageSize int, pageToken string) ([]Run, string, error) {
	if _, err := b.Tenant(ctx, tenant); err != nil {
		return nil, "", err
	}
	off := 0
	if pageToken != "" {
		var tt string
		if n, err := fmt.Sscanf(pageToken, "p%d:%s", &off, &tt); n != 2 || err != nil || tt != tenant || off < 0 {
			return nil, "", fmt.Errorf("page token: %w", ErrInvalidArgument)
		}
	}
	var mine []Run
	for i := len(b.runs) - 1; i >= 0; i-- {
		if b.runs[i].Tenant == tenant {
			mine = append(mine, b.runs[i])
		}
	}
	if off > len(mine) {
		return nil, "", fmt.Errorf("page token: %w", ErrInvalidArgument)
	}
	end := min(off+pageSize, len(mine))
	next := ""
	if end < len(mine) {
		next = fmt.Sprintf("p%d:%s", end, tenant)
	}
	return mine[off:end], next, nil
}

func (b *fakeBackend) Run(ctx context.Context, id int64) (Run, []MailboxOutcome, error) {
	for _, r := range b.runs {
		if r.ID == id {
			return r, []MailboxOutcome{{Mailbox: "adele@contoso.example", Status: "succeeded"}, {Mailbox: "bob@contoso.example", Status: "failed", Error: "ErrorMailboxStoreUnavailable"}}, nil
		}
	}
	return Run{}, nil, fmt.Errorf("run %d: %w", id, ErrNotFound)
}

func (b *fakeBackend) Events(ctx context.Context, after int64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if after >= 0 {
			for _, e := range b.events {
				if e.Seq > after && !yield(e, nil) {
					return
				}
			}
		}
		if b.noLive {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-b.live:
				if !yield(e, nil) {
					return
				}
			}
		}
	}
}

func (b *fakeBackend) SyncNow(ctx context.Context, tenant, principal string) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tenants[tenant]
	switch {
	case !ok:
		return 0, fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
	case t.Paused:
		return 0, fmt.Errorf("tenant %q: %w", tenant, ErrPaused)
	case t.CurrentRunID != 0:
		return 0, fmt.Errorf("tenant %q: %w", tenant, &BusyError{RunID: t.CurrentRunID, Owner: "testhost:1"})
	}
	b.nextRun++
	t.CurrentRunID, t.State = b.nextRun, StateRunning
	return b.nextRun, nil
}

func (b *fakeBackend) SetPaused(ctx context.Context, tenant string, paused bool, principal string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tenants[tenant]
	if !ok {
		return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
	}
	t.Paused, t.PausedBy = paused, principal
	return nil
}

func (b *fakeBackend) Check(ctx context.Context, tenant string) (CheckResult, error) {
	if _, err := b.Tenant(ctx, tenant); err != nil {
		return CheckResult{}, err
	}
	if tenant == "fabrikam" {
		return CheckResult{}, fmt.Errorf("open /secret/path/db.sqlite: disk I/O error")
	}
	return CheckResult{Status: CheckOK, Checks: []Check{{Name: "certificate", Status: CheckOK, Detail: "valid until 2027-01-01"}}}, nil
}

func (b *fakeBackend) Audit(ctx context.Context, a AuditRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.audits = append(b.audits, a)
	select {
	case b.audited <- struct{}{}:
	default:
	}
}

// waitAudit waits until some audit record satisfies ok and returns them
// all.
func (b *fakeBackend) waitAudit(t testing.TB, ok func([]AuditRecord) bool) []AuditRecord {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		got := slices.Clone(b.audits)
		b.mu.Unlock()
		if ok(got) {
			return got
		}
		select {
		case <-b.audited:
		case <-deadline:
			t.Fatalf("audit records not as expected within 10s: %+v", got)
		}
	}
}

func (b *fakeBackend) auditsOf(kind AuditKind) []AuditRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []AuditRecord
	for _, a := range b.audits {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}
