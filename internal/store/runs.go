package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Trigger says why a run started.
type Trigger string

// Triggers.
const (
	TriggerSchedule Trigger = "schedule"
	TriggerManual   Trigger = "manual" // the admin API's SyncNow (`galmirror admin sync`)
	TriggerStartup  Trigger = "startup"
	TriggerCLI      Trigger = "cli" // `galmirror sync` (an RMM's schedule, or by hand)
)

// RunStatus is a run's outcome.
type RunStatus string

// Run statuses. A run is RunRunning until Finish; a run whose process died
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

const countColumns = `mailboxes_synced, mailboxes_skipped, mailboxes_failed, created, updated, deleted, unchanged,
	held_back, graph_requests, batch_items, throttled_429, throttled_503`

func (c *Counts) args() []any {
	return []any{c.MailboxesSynced, c.MailboxesSkipped, c.MailboxesFailed, c.Created, c.Updated, c.Deleted,
		c.Unchanged, c.HeldBack, c.GraphRequests, c.BatchItems, c.Throttled429, c.Throttled503}
}

func (c *Counts) dests() []any {
	return []any{&c.MailboxesSynced, &c.MailboxesSkipped, &c.MailboxesFailed, &c.Created, &c.Updated, &c.Deleted,
		&c.Unchanged, &c.HeldBack, &c.GraphRequests, &c.BatchItems, &c.Throttled429, &c.Throttled503}
}

// Run is one tenant run's summary.
type Run struct {
	ID       int64
	Tenant   string
	Trigger  Trigger
	Status   RunStatus
	Started  time.Time
	Finished time.Time // zero while running
	// Heartbeat is when the run last showed it was alive (see
	// RunSpec.HeartbeatEvery).
	Heartbeat time.Time
	Duration  time.Duration
	Counts    Counts
	// FailureClass classifies a failed or interrupted run ("" when it
	// did not fail, and for runs a dead process left running).
	FailureClass FailureClass
	// Error is the whole-run failure as "<class>: <message>" ("" if none).
	Error string
	// Owner identifies the process that ran it (such as host:pid).
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

// RunResult is what ActiveRun.Finish records.
type RunResult struct {
	Status   RunStatus // RunOK, RunPartial, RunFailed, or RunInterrupted (stopped by shutdown: counts as neither failure nor success)
	Finished time.Time // zero: now
	Counts   Counts
	// Failure explains a failed or interrupted run (Run.FailureClass and
	// Run.Error); nil otherwise.
	Failure *Failure
	// CertExpiry, when not zero, is the NotAfter of the certificate the
	// run loaded (TenantState.CertExpiry).
	CertExpiry time.Time
	// Mailboxes are the per-mailbox outcomes (one per user id; a repeated
	// user id keeps the last).
	Mailboxes []RunMailbox
	// Usage, when set, is what the run served: a run that finished ok or
	// partial adds it to the usage ledger (RecordUsage's rules) in the
	// same transaction as its history.
	Usage *Usage
}

// BusyError is returned (wrapping ErrTenantBusy) when BeginRun finds a run
// of the tenant in progress.
type BusyError struct {
	Tenant string
	// RunID and Owner describe the run in progress when known (0 and ""
	// when the other process has not recorded it yet).
	RunID int64
	Owner string
}

func (e *BusyError) Error() string {
	if e.RunID == 0 {
		return fmt.Sprintf("store: tenant %q has a run in progress", e.Tenant)
	}
	return fmt.Sprintf("store: tenant %q has run %d in progress (%s)", e.Tenant, e.RunID, e.Owner)
}

// Unwrap makes errors.Is(err, ErrTenantBusy) true.
func (e *BusyError) Unwrap() error { return ErrTenantBusy }

// RunSpec describes a run for BeginRun.
type RunSpec struct {
	// Tenant is the tenant's name in the settings.
	Tenant string
	// TenantID is the Entra tenant id the settings give it now: when the
	// state belongs to another, BeginRun discards it (ActiveRun.Reset).
	TenantID string
	Trigger  Trigger
	// Started is the run's start (zero: now).
	Started time.Time
	// Owner identifies the process (such as host:pid).
	Owner string
	// HeartbeatEvery is how often the run's heartbeat (Run.Heartbeat) is
	// renewed (default DefaultHeartbeat).
	HeartbeatEvery time.Duration
	// OnHeartbeatError, when set, is told (on the heartbeat's goroutine)
	// of a heartbeat that could not be written; the run goes on.
	OnHeartbeatError func(error)
}

// DefaultHeartbeat is how often a run's heartbeat is renewed by default.
const DefaultHeartbeat = time.Minute

// ActiveRun is a run begun by BeginRun: it holds the tenant's run lock and
// keeps the run's heartbeat until Finish. It is safe for concurrent use.
type ActiveRun struct {
	// ID is the run's id in the history.
	ID     int64
	Tenant string
	// Reset reports that BeginRun discarded the tenant's state because
	// its tenant id changed.
	Reset bool

	s        *Store
	lock     *tenantLock
	finished atomic.Bool
	stopBeat context.CancelFunc
	beatDone chan struct{}
	stopOnce sync.Once
	unlocked sync.Once
}

// BeginRun starts a tenant run, the one way runs start: it refuses a
// tenant `galmirror purge` removed (*PurgedError, wrapping ErrPurged); it takes the
// tenant's run lock (an OS file lock under the data directory, released by
// Finish, Close or the process's death), so two runs of one tenant never
// overlap, whether in this process or another (the service and a
// `galmirror sync` beside it): a second BeginRun gets a *BusyError and
// changes nothing. Holding the lock, it records the run and ensures the
// tenant: its row is created if missing, and when the stored tenant id
// differs from spec.TenantID the tenant's directory, mailbox and contact
// state and its delta links are discarded (Reset; run history, events and
// the paused flag are kept). Runs of the tenant still marked running belong
// to a dead process and become RunInterrupted.
//
// The returned run renews its heartbeat every spec.HeartbeatEvery on a
// goroutine of its own until Finish (or Close), whatever becomes of ctx.
// Call Finish exactly once.
func (s *Store) BeginRun(ctx context.Context, spec RunSpec) (*ActiveRun, error) {
	if s.w == nil {
		return nil, ErrReadOnly
	}
	switch spec.Trigger {
	case TriggerSchedule, TriggerManual, TriggerStartup, TriggerCLI:
	default:
		return nil, fmt.Errorf("%w: run trigger %q", ErrInvalidArgument, spec.Trigger)
	}
	if spec.Started.IsZero() {
		spec.Started = time.Now()
	}
	lock, ok, err := lockTenant(s.dir, spec.Tenant)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.busy(ctx, spec.Tenant)
	}
	a := &ActiveRun{Tenant: spec.Tenant, s: s, lock: lock}
	var purged *PurgedError
	err = s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if purged, err = purgedOf(ctx, tx, spec.Tenant); err != nil || purged != nil {
			return err
		}
		if a.ID, err = insertRun(ctx, tx, spec); err != nil {
			return err
		}
		a.Reset, err = ensureTenant(ctx, tx, spec.Tenant, spec.TenantID)
		return err
	})
	if err == nil && purged != nil {
		err = purged
	}
	if err != nil {
		a.unlock()
		return nil, fmt.Errorf("store: start run of %q: %w", spec.Tenant, err)
	}
	if err := s.track(a); err != nil {
		a.unlock()
		return nil, err
	}
	a.startHeartbeat(context.WithoutCancel(ctx), spec)
	return a, nil
}

// busy describes the run in progress that holds the tenant's lock.
func (s *Store) busy(ctx context.Context, tenant string) error {
	busy := &BusyError{Tenant: tenant}
	s.r.QueryRowContext(ctx, `SELECT id, owner FROM runs WHERE tenant = ? AND status = 'running' ORDER BY id DESC LIMIT 1`,
		tenant).Scan(&busy.RunID, &busy.Owner)
	return busy
}

// insertRun records a run's start; whoever left runs of the tenant running
// is gone, since the caller holds the lock.
func insertRun(ctx context.Context, tx *sql.Tx, spec RunSpec) (int64, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'interrupted' WHERE tenant = ? AND status = 'running'`, spec.Tenant); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO runs (tenant, trigger_kind, status, owner, started, heartbeat)
		VALUES (?, ?, 'running', ?, ?, ?) RETURNING id`, spec.Tenant, string(spec.Trigger), spec.Owner,
		spec.Started.UnixMilli(), spec.Started.UnixMilli()).Scan(&id)
	return id, err
}

// track registers a begun run, so that Close can end it; a closed store
// begins none.
func (s *Store) track(a *ActiveRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store: start run of %q: store closed", a.Tenant)
	}
	s.runs[a.ID] = a
	return nil
}

// startHeartbeat starts the goroutine that renews the run's heartbeat
// until stopHeartbeat.
func (a *ActiveRun) startHeartbeat(ctx context.Context, spec RunSpec) {
	every := spec.HeartbeatEvery
	if every <= 0 {
		every = DefaultHeartbeat
	}
	ctx, a.stopBeat = context.WithCancel(ctx)
	a.beatDone = make(chan struct{})
	go func() {
		defer close(a.beatDone)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				err := a.s.touchRun(ctx, a.ID, now)
				if err != nil && ctx.Err() == nil && spec.OnHeartbeatError != nil {
					spec.OnHeartbeatError(err)
				}
			}
		}
	}()
}

// stopHeartbeat ends the heartbeat's goroutine and waits for it.
func (a *ActiveRun) stopHeartbeat() {
	a.stopOnce.Do(func() {
		a.stopBeat()
		<-a.beatDone
	})
}

func (a *ActiveRun) unlock() { a.unlocked.Do(a.lock.unlock) }

// touchRun records that a running run is alive (Run.Heartbeat), for status
// displays. Overlap protection comes from BeginRun's lock, not from
// heartbeats. ErrNotFound unless the run exists and is running.
func (s *Store) touchRun(ctx context.Context, runID int64, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", now.UnixMilli(), runID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("running run %d: %w", runID, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: touch run %d: %w", runID, err)
	}
	return nil
}

// finalWriteTimeout bounds writes that must happen after cancellation.
const finalWriteTimeout = 30 * time.Second

// Finish records the run's outcome and per-mailbox outcomes, updates the
// tenant's consecutive-failure count, last success and certificate expiry,
// and trims history per Options, in one transaction; then it ends the
// heartbeat and releases the tenant's run lock (also when the write fails,
// so a broken disk cannot wedge the tenant).
//
// It writes even when ctx is already done (a run stopped by shutdown must
// still leave its history), bounded by 30 seconds. A run that failed with
// class FailCanceled is recorded as RunInterrupted: a stopped run is
// neither a failure nor a success. A second Finish returns
// ErrInvalidArgument and records nothing.
func (a *ActiveRun) Finish(ctx context.Context, res RunResult) error {
	if a.finished.Swap(true) {
		return fmt.Errorf("%w: run %d finished already", ErrInvalidArgument, a.ID)
	}
	a.stopHeartbeat()
	defer a.s.release(a)
	return a.s.finishRun(ctx, a.ID, res)
}

// release forgets a finished run and releases its lock.
func (s *Store) release(a *ActiveRun) {
	s.mu.Lock()
	if s.runs[a.ID] == a {
		delete(s.runs, a.ID)
	}
	s.mu.Unlock()
	a.unlock()
}

// finishRun is Finish's write.
func (s *Store) finishRun(ctx context.Context, runID int64, res RunResult) error {
	switch res.Status {
	case RunOK, RunPartial, RunFailed, RunInterrupted:
	default:
		return fmt.Errorf("%w: run status %q", ErrInvalidArgument, res.Status)
	}
	if res.Status == RunFailed && res.Failure != nil && res.Failure.Class == FailCanceled {
		res.Status = RunInterrupted
	}
	if res.Finished.IsZero() {
		res.Finished = time.Now()
	}
	// The run is usually finished because ctx was cancelled (shutdown,
	// reload); its history must not be lost with it. WithoutCancel keeps
	// ctx's values, and the timeout still bounds the write.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWriteTimeout)
	defer cancel()
	err := s.write(ctx, func(tx *sql.Tx) error {
		tenant, err := recordRunOutcome(ctx, tx, runID, &res)
		if err != nil {
			return err
		}
		if err := recordRunMailboxes(ctx, tx, runID, res.Mailboxes); err != nil {
			return err
		}
		if err := recordTenantOutcome(ctx, tx, tenant, &res); err != nil {
			return err
		}
		if u := res.Usage; u != nil && (res.Status == RunOK || res.Status == RunPartial) {
			if err := s.recordUsage(ctx, tx, tenant, *u); err != nil {
				return err
			}
		}
		return s.trimRuns(ctx, tx, tenant)
	})
	if err != nil {
		return fmt.Errorf("store: finish run %d: %w", runID, err)
	}
	return nil
}

// recordRunOutcome writes the run's row and returns its tenant.
func recordRunOutcome(ctx context.Context, tx *sql.Tx, runID int64, res *RunResult) (tenant string, err error) {
	var started int64
	err = tx.QueryRowContext(ctx, "SELECT tenant, started FROM runs WHERE id = ?", runID).Scan(&tenant, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("run %d: %w", runID, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	dur := max(0, res.Finished.UnixMilli()-started)
	var class FailureClass
	var msg string
	if f := res.Failure; f != nil {
		class, msg = f.Class, string(f.Class)+": "+f.Message
	}
	args := append([]any{string(res.Status), res.Finished.UnixMilli(), dur, msg, string(class)}, res.Counts.args()...)
	args = append(args, runID)
	_, err = tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished = ?, duration_ms = ?, error = ?, failure_class = ?,
		mailboxes_synced = ?, mailboxes_skipped = ?, mailboxes_failed = ?, created = ?, updated = ?, deleted = ?,
		unchanged = ?, held_back = ?, graph_requests = ?, batch_items = ?, throttled_429 = ?, throttled_503 = ?
		WHERE id = ?`, args...)
	return tenant, err
}

// recordRunMailboxes writes a run's per-mailbox outcomes.
func recordRunMailboxes(ctx context.Context, tx *sql.Tx, runID int64, mbs []RunMailbox) error {
	if len(mbs) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO run_mailboxes (run, user_id, upn, status,
		error_code, error_message, request_id, `+countColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, m := range mbs {
		a := append([]any{runID, m.UserID, m.UPN, string(m.Status), m.ErrorCode, m.ErrorMessage, m.RequestID}, m.Counts.args()...)
		if _, err := st.ExecContext(ctx, a...); err != nil {
			return err
		}
	}
	return nil
}

// recordTenantOutcome updates the tenant's failure count, last success and
// certificate expiry after a run.
func recordTenantOutcome(ctx context.Context, tx *sql.Tx, tenant string, res *RunResult) error {
	tid, err := ensureTenantRow(ctx, tx, tenant)
	if err != nil {
		return err
	}
	switch res.Status {
	case RunInterrupted:
		// Stopped by shutdown or removal: neither a failure nor a success.
	case RunFailed:
		_, err = tx.ExecContext(ctx, "UPDATE tenants SET consecutive_failures = consecutive_failures + 1 WHERE id = ?", tid)
	default:
		_, err = tx.ExecContext(ctx, "UPDATE tenants SET consecutive_failures = 0, last_success = ? WHERE id = ?", res.Finished.UnixMilli(), tid)
	}
	if err != nil || res.CertExpiry.IsZero() {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE tenants SET cert_expiry = ? WHERE id = ?", res.CertExpiry.UnixMilli(), tid)
	return err
}

// trimRuns keeps the tenant's newest KeepRuns runs and the per-mailbox
// outcomes of the newest KeepRunMailboxes.
func (s *Store) trimRuns(ctx context.Context, tx *sql.Tx, tenant string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM run_mailboxes WHERE run IN (SELECT id FROM runs WHERE tenant = ?1 AND id <=
		(SELECT id FROM runs WHERE tenant = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2))`, tenant, s.opts.KeepRunMailboxes); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE tenant = ?1 AND id <=
		(SELECT id FROM runs WHERE tenant = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`, tenant, s.opts.KeepRuns)
	return err
}

const runColumns = `id, tenant, trigger_kind, status, owner, started, heartbeat, finished, duration_ms, error, failure_class, ` + countColumns

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started int64
	var finished, heartbeat sql.NullInt64
	var dur int64
	dests := append([]any{&r.ID, &r.Tenant, &r.Trigger, &r.Status, &r.Owner, &started, &heartbeat, &finished, &dur, &r.Error, &r.FailureClass},
		r.Counts.dests()...)
	err := sc.Scan(dests...)
	r.Started = time.UnixMilli(started).UTC()
	r.Heartbeat = fromMS(heartbeat)
	r.Finished = fromMS(finished)
	r.Duration = time.Duration(dur) * time.Millisecond
	return r, err
}

// pageToken encodes the position after the last run of a page, bound to the
// query's tenant so a token cannot be replayed against another filter.
func makePageToken(tenant string, lastID int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("r1:" + strconv.FormatInt(lastID, 10) + ":" + tenant))
}

func parsePageToken(tok, tenant string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(tok) > 512 {
		return 0, ErrInvalidPageToken
	}
	rest, ok := strings.CutPrefix(string(b), "r1:")
	if !ok {
		return 0, ErrInvalidPageToken
	}
	idS, t, ok := strings.Cut(rest, ":")
	id, err := strconv.ParseInt(idS, 10, 64)
	if !ok || err != nil || id <= 0 || t != tenant {
		return 0, ErrInvalidPageToken
	}
	return id, nil
}

// ListRuns returns runs newest first, pageSize at a time (1..1000; 0 means
// 50), for one tenant or all when tenant is "". pageToken is "" or a token
// from the previous call with the same tenant; anything else is
// ErrInvalidPageToken. next is "" on the last page.
func (s *Store) ListRuns(ctx context.Context, tenant string, pageSize int, pageToken string) (runs []Run, next string, err error) {
	switch {
	case pageSize == 0:
		pageSize = 50
	case pageSize < 0 || pageSize > 1000:
		return nil, "", fmt.Errorf("%w: page size %d (1..1000)", ErrInvalidArgument, pageSize)
	}
	before := int64(1<<63 - 1)
	if pageToken != "" {
		if before, err = parsePageToken(pageToken, tenant); err != nil {
			return nil, "", err
		}
	}
	q := "SELECT " + runColumns + " FROM runs WHERE id < ?1 AND (?2 = '' OR tenant = ?2) ORDER BY id DESC LIMIT ?3"
	rows, err := s.r.QueryContext(ctx, q, before, tenant, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("store: list runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list runs: %w", err)
	}
	if len(runs) > pageSize {
		runs = runs[:pageSize]
		next = makePageToken(tenant, runs[len(runs)-1].ID)
	}
	return runs, next, nil
}

// GetRun returns a run and its per-mailbox outcomes ordered by user id (none
// when trimmed), or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, runID int64) (Run, []RunMailbox, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, "SELECT "+runColumns+" FROM runs WHERE id = ?", runID))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, nil, fmt.Errorf("run %d: %w", runID, ErrNotFound)
	}
	if err != nil {
		return Run{}, nil, fmt.Errorf("store: run %d: %w", runID, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT user_id, upn, status, error_code, error_message, request_id, `+countColumns+`
		FROM run_mailboxes WHERE run = ? ORDER BY user_id`, runID)
	if err != nil {
		return Run{}, nil, fmt.Errorf("store: run %d: %w", runID, err)
	}
	defer rows.Close()
	var mbs []RunMailbox
	for rows.Next() {
		var m RunMailbox
		if err := rows.Scan(append([]any{&m.UserID, &m.UPN, &m.Status, &m.ErrorCode, &m.ErrorMessage, &m.RequestID}, m.Counts.dests()...)...); err != nil {
			return Run{}, nil, fmt.Errorf("store: run %d: %w", runID, err)
		}
		mbs = append(mbs, m)
	}
	if err := rows.Err(); err != nil {
		return Run{}, nil, fmt.Errorf("store: run %d: %w", runID, err)
	}
	return r, mbs, nil
}

// LastRun returns the tenant's most recent run, or ErrNotFound.
func (s *Store) LastRun(ctx context.Context, tenant string) (Run, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, "SELECT "+runColumns+" FROM runs WHERE tenant = ? ORDER BY id DESC LIMIT 1", tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("runs of %q: %w", tenant, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: last run of %q: %w", tenant, err)
	}
	return r, nil
}

// Streak describes a tenant's current run of whole-run failures.
type Streak struct {
	// Runs counts the failed runs since the last run that did not fail
	// (ok or partial), as far as the history still holds them.
	Runs int
	// Since is when the first of them started (zero without failures).
	Since time.Time
	// Unavailable reports that every one of them failed because Microsoft
	// or the network was unreachable (FailUnavailable): an outage, not a
	// problem of the tenant.
	Unavailable bool
	// Last is the failure class of the newest of them, LastFinished when
	// it finished.
	Last         FailureClass
	LastFinished time.Time
}

// FailureStreak returns the tenant's current streak of failed runs
// (interrupted runs neither end nor extend it).
func (s *Store) FailureStreak(ctx context.Context, tenant string) (Streak, error) {
	var st Streak
	var since, lastFinished sql.NullInt64
	var other int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(started), COALESCE(SUM(failure_class != ?2), 0),
		COALESCE((SELECT failure_class FROM runs WHERE tenant = ?1 AND status = 'failed' ORDER BY id DESC LIMIT 1), ''),
		(SELECT finished FROM runs WHERE tenant = ?1 AND status = 'failed' ORDER BY id DESC LIMIT 1) FROM runs
		WHERE tenant = ?1 AND status = 'failed' AND id > COALESCE((SELECT MAX(id) FROM runs WHERE tenant = ?1 AND status IN ('ok', 'partial')), 0)`,
		tenant, string(FailUnavailable)).Scan(&st.Runs, &since, &other, &st.Last, &lastFinished)
	if err != nil {
		return Streak{}, fmt.Errorf("store: failure streak of %q: %w", tenant, err)
	}
	st.Since = fromMS(since)
	st.Unavailable = st.Runs > 0 && other == 0
	if st.Runs == 0 {
		st.Last = ""
	} else {
		st.LastFinished = fromMS(lastFinished)
	}
	return st, nil
}
