package admin

import (
	"context"
	"errors"
	"iter"
	"time"
)

// Backend is what the admin API needs from the running service. The service
// (internal/service) implements it over its scheduler, the store and the
// event bus; tests implement it with canned data. Every method honours ctx.
//
// Errors: wrap ErrNotFound, ErrInvalidArgument, ErrBusy, ErrPaused or
// ErrUnavailable (fmt.Errorf("tenant %q: %w", name, admin.ErrNotFound)) so
// the API returns the right code; any other error becomes Internal and its
// text is logged, never sent (it may name paths or hosts the caller should
// not learn).
type Backend interface {
	// ServiceInfo describes the service.
	ServiceInfo(ctx context.Context) (ServiceInfo, error)
	// Tenants returns every configured tenant, sorted by name.
	Tenants(ctx context.Context) ([]Tenant, error)
	// Tenant returns one configured tenant, or ErrNotFound.
	Tenant(ctx context.Context, name string) (Tenant, error)
	// Runs returns the tenant's runs newest first, at most pageSize (1..200)
	// of them, after pageToken ("" for the first page); next is "" on the
	// last page. ErrNotFound for an unknown tenant, ErrInvalidArgument for a
	// page token the backend did not issue for this tenant.
	Runs(ctx context.Context, tenant string, pageSize int, pageToken string) (runs []Run, next string, err error)
	// Run returns one run with its per-mailbox outcomes, or ErrNotFound.
	Run(ctx context.Context, id int64) (Run, []MailboxOutcome, error)
	// Events yields the stored events with Seq > after (after < 0: none),
	// then live events as they happen, until ctx is done or the consumer
	// stops. A non-nil error ends the sequence. A consumer that falls too
	// far behind may get ErrUnavailable and resumes with its last Seq.
	Events(ctx context.Context, after int64) iter.Seq2[Event, error]
	// SyncNow starts a run of the tenant now, asked for by principal, and
	// returns its id. ErrNotFound, ErrPaused, or ErrBusy (wrapped in a
	// *BusyError naming the run in progress).
	SyncNow(ctx context.Context, tenant, principal string) (runID int64, err error)
	// SetPaused pauses or resumes scheduled runs of the tenant, persistently,
	// recording the principal. Idempotent. ErrNotFound for an unknown tenant.
	SetPaused(ctx context.Context, tenant string, paused bool, principal string) error
	// Check runs `galmirror check` for the tenant (no mailbox writes), or
	// answers with a recent or running one (CheckResult.CheckedAt).
	Check(ctx context.Context, tenant string) (CheckResult, error)
	// Audit records an admin API event (denied call, operator action,
	// repeated failed authentication) in the event catalog. It must not
	// block for long; errors are the backend's to log.
	Audit(ctx context.Context, a AuditRecord)
}

// Sentinel errors a Backend wraps; the API maps each to a gRPC code.
var (
	// ErrNotFound: no tenant or run by that name or id (NotFound).
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: a request value is malformed (InvalidArgument).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrBusy: the tenant has a run in progress (Aborted).
	ErrBusy = errors.New("tenant has a run in progress")
	// ErrPaused: the tenant is paused, so SyncNow refuses (FailedPrecondition).
	ErrPaused = errors.New("tenant is paused")
	// ErrUnavailable: the service is starting or stopping (Unavailable).
	ErrUnavailable = errors.New("service unavailable")
)

// BusyError is ErrBusy with the run in progress.
type BusyError struct {
	RunID int64
	// Owner is the process running it (host:pid).
	Owner string
}

func (e *BusyError) Error() string {
	if e.RunID == 0 {
		return ErrBusy.Error()
	}
	return "tenant has run " + itoa(e.RunID) + " in progress"
}

// Unwrap makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Unwrap() error { return ErrBusy }

// ServiceInfo describes the running service.
type ServiceInfo struct {
	Version    string
	Host       string
	ConfigPath string
	StartedAt  time.Time
	Tenants    int
	// Console is the push connection to the fleet console; nil when the
	// settings name none.
	Console *ConsoleConnection
}

// ConsoleConnection is the state of the service's push connection.
type ConsoleConnection struct {
	URL         string
	Connected   bool
	Since       time.Time
	LastError   string
	LastErrorAt time.Time
}

// TenantState is what the scheduler is doing with a tenant.
type TenantState int

// Tenant states (the proto's TenantState).
const (
	StateUnknown TenantState = iota
	StateIdle
	StateRunning
	StatePaused
	StateBackingOff
	StateDisabled
)

// Tenant is one configured tenant with its state.
type Tenant struct {
	Name     string
	TenantID string
	State    TenantState
	Paused   bool
	// PausedBy is the principal that paused it.
	PausedBy string
	// LastRun is the last finished run; nil if none.
	LastRun             *Run
	LastSuccess         time.Time
	NextRun             time.Time
	ConsecutiveFailures int
	CertNotAfter        time.Time
	// CertError says why the certificate could not be read ("" if it could).
	CertError       string
	TargetMailboxes int
	// CurrentRunID is the run in progress (0 if none).
	CurrentRunID int64
}

// Outcome is how a run ended.
type Outcome int

// Run outcomes (the proto's RunOutcome).
const (
	OutcomeUnknown Outcome = iota
	OutcomeRunning
	OutcomeSucceeded
	OutcomePartial
	OutcomeFailed
	OutcomeCancelled
)

// Counts are a run's or a mailbox's tallies.
type Counts struct {
	Mailboxes, MailboxesFailed                   int
	Created, Updated, Deleted, Unchanged, Failed int
	DeletesHeld                                  int
	MailboxesSynced, MailboxesSkipped            int
	GraphRequests, BatchItems                    int
	Throttled, Unavailable                       int
}

// Run is one run's summary.
type Run struct {
	ID          int64
	Tenant      string
	Trigger     string
	RequestedBy string
	Started     time.Time
	Finished    time.Time
	Outcome     Outcome
	Counts      Counts
	// Error is the whole-run failure, without secrets.
	Error string
	// Status is the outcome in the one vocabulary (report.Status*);
	// FailureClass and FailureMessage split Error.
	Status         string
	FailureClass   string
	FailureMessage string
}

// MailboxOutcome is what a run did in one mailbox.
type MailboxOutcome struct {
	Mailbox string
	Status  string
	Counts  Counts
	Error   string
}

// Event is one event of the catalog.
type Event struct {
	// Seq is increasing and never reused; it is the resume cursor.
	Seq     int64
	Time    time.Time
	ID      int
	Level   Level
	Tenant  string
	RunID   int64
	Message string
	Attrs   map[string]string
}

// Level is an event's severity.
type Level int

// Event levels.
const (
	LevelUnknown Level = iota
	LevelInfo
	LevelWarning
	LevelError
)

// CheckStatus is one check's result.
type CheckStatus int

// Check statuses, in increasing severity except Skipped.
const (
	CheckUnknown CheckStatus = iota
	CheckOK
	CheckWarning
	CheckFailed
	CheckSkipped
)

// Check is one named check.
type Check struct {
	Name   string
	Status CheckStatus
	Detail string
}

// CheckResult is what `galmirror check` found.
type CheckResult struct {
	Status CheckStatus
	Checks []Check
	// CheckedAt is when the check ran (zero if unknown).
	CheckedAt time.Time
}

// OnBehalfOfHeader is the request header in which a caller that acts for
// someone else (the fleet console) names that person; operator actions
// record it in AuditRecord.OnBehalfOf.
const OnBehalfOfHeader = "Galmirror-On-Behalf-Of"

// AuditKind classifies an AuditRecord.
type AuditKind string

// Audit kinds; the service maps each to one catalog event id.
const (
	// AuditAction: an operator action succeeded or failed (SyncNow, Pause,
	// Resume).
	AuditAction AuditKind = "action"
	// AuditDenied: an authenticated principal called a method its role
	// does not allow (the first per principal and method, then a summary
	// per principal and window with Count).
	AuditDenied AuditKind = "denied"
	// AuditAuthFailed: a source (an IPv4 address, an IPv6 /64) failed
	// authentication repeatedly and is being rate-limited: reported at its
	// first lock-out, later ones summed up per window with Count.
	AuditAuthFailed AuditKind = "auth-failed"
)

// AuditRecord is one admin API event for the audit trail.
type AuditRecord struct {
	Kind      AuditKind
	Time      time.Time
	Principal string // "" for AuditAuthFailed
	Role      string
	// Method is the RPC, e.g. "SyncNow".
	Method string
	Tenant string
	// Source is the caller's address ("local" for the socket or pipe).
	Source string
	// Result is "ok" or the error code name for AuditAction.
	Result string
	// Detail is free text (the pause reason, the run id, why it failed).
	Detail string
	// OnBehalfOf is the person an operator action was taken for, as the
	// authenticated caller (a fleet console) stated it in the
	// Galmirror-On-Behalf-Of header; empty when none was sent. It is the
	// caller's claim: Principal stays who was authenticated.
	OnBehalfOf string
	// Count is how many denied calls or lock-outs this record sums up
	// (0 for a single one): floods are recorded as one record per
	// principal or source and window, see docs/events.md.
	Count int
}
