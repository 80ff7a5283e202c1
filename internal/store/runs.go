package store

import (
	"context"
	"fmt"
	"time"
)

// Trigger says why a run started.
type Trigger string

// Triggers.
const (
	TriggerSchedule Trigger = "schedule"
	TriggerManual   Trigger = "manual" // `galmirror sync` or the admin API's SyncNow
	TriggerStartup  Trigger = "startup"
)

// RunStatus is a run's outcome.
type RunStatus string

// Run statuses. A run is RunRunning until FinishRun; a run whose process died
// becomes RunInterrupted when the next run of its tenant starts.
const (
	RunRunning     RunStatus = "running"
	RunOK          RunStatus = "ok"
	RunPartial     RunStatus = "partial"
	RunFailed      RunStatus = "failed"
	RunInterrupted RunStatus = "interrupted"
)

// Counts are a run's (or a mailbox's) tallies.
type Counts struct {
	MailboxesSynced  int `json:"mailboxesSynced"`
	MailboxesSkipped int `json:"mailboxesSkipped"`
	MailboxesFailed  int `json:"mailboxesFailed"`
	Created          int `json:"created"`
	Updated          int `json:"updated"`
	Deleted          int `json:"deleted"`
	Unchanged        int `json:"unchanged"`
	// HeldBack counts deletes held back by the mass-delete guard.
	HeldBack      int `json:"heldBack"`
	GraphRequests int `json:"graphRequests"`
	BatchItems    int `json:"batchItems"`
	Throttled429  int `json:"throttled429"`
	Throttled503  int `json:"throttled503"`
}

// Run is one tenant run's summary.
type Run struct {
	ID       int64
	Tenant   string
	Trigger  Trigger
	Status   RunStatus
	Started  time.Time
	Finished time.Time // zero while running
	Duration time.Duration
	Counts   Counts
	// Error is the whole-run failure (auth, consent, source read), if any.
	Error string
	// Owner identifies the process running it (host:pid), for busy errors.
	Owner string
}

// RunMailbox is one mailbox's outcome in a run.
type RunMailbox struct {
	UserID       string
	UPN          string
	Status       MailboxStatus
	Counts       Counts // contact counts and Graph counters for this mailbox
	ErrorCode    string
	ErrorMessage string
	RequestID    string
}

// RunResult is what FinishRun records.
type RunResult struct {
	Status    RunStatus // RunOK, RunPartial or RunFailed
	Finished  time.Time
	Counts    Counts
	Error     string
	Mailboxes []RunMailbox
}

// BusyError is returned (wrapping ErrTenantBusy) when StartRun finds a live
// run of the tenant.
type BusyError struct {
	RunID int64
	Owner string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("store: tenant has run %d in progress (%s)", e.RunID, e.Owner)
}

// Unwrap makes errors.Is(err, ErrTenantBusy) true.
func (e *BusyError) Unwrap() error { return ErrTenantBusy }

// RunLease is how long a running run counts as alive without TouchRun; a
// run not touched for longer is taken to be dead (its process crashed).
const RunLease = 5 * time.Minute

// StartRun records the start of a run and returns its id. It refuses with a
// *BusyError when the tenant has a run that is still running and was touched
// within RunLease (by this or another process: `galmirror sync` beside the
// service must not overlap it); older running runs of the tenant become
// RunInterrupted. The caller calls TouchRun at least every minute while the
// run lasts. owner identifies the process (host:pid).
func (s *Store) StartRun(ctx context.Context, tenant string, trigger Trigger, started time.Time, owner string) (int64, error) {
	return 0, errNotYet
}

// TouchRun renews a running run's lease.
func (s *Store) TouchRun(ctx context.Context, runID int64, now time.Time) error { return errNotYet }

// FinishRun records a run's outcome, its per-mailbox outcomes and the
// tenant's consecutive-failure count and last success, in one transaction,
// then trims history per Options. It writes even when ctx is already
// cancelled (a run cancelled by shutdown still gets its history).
func (s *Store) FinishRun(ctx context.Context, runID int64, res RunResult) error { return errNotYet }

// ListRuns returns runs newest first, pageSize at a time (1..1000, default
// 50 when 0), for one tenant or all when tenant is "". pageToken is "" or a
// token from the previous call with the same tenant; a token from elsewhere
// is ErrInvalidPageToken. next is "" on the last page.
func (s *Store) ListRuns(ctx context.Context, tenant string, pageSize int, pageToken string) (runs []Run, next string, err error) {
	return nil, "", errNotYet
}

// GetRun returns a run and its per-mailbox outcomes (nil when trimmed), or
// ErrNotFound.
func (s *Store) GetRun(ctx context.Context, runID int64) (Run, []RunMailbox, error) {
	return Run{}, nil, errNotYet
}

// LastRun returns the tenant's most recent run, or ErrNotFound.
func (s *Store) LastRun(ctx context.Context, tenant string) (Run, error) { return Run{}, errNotYet }
