package service

import (
	"context"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

// Runner performs one tenant run. The syncer implements it; the service
// decides when to call it, records the run in the store and chooses events
// from the Result.
//
// Contract:
//   - RunTenant honours ctx: on cancellation (shutdown, tenant removed from
//     the configuration) it stops promptly, leaves no duplicate-making state
//     and returns an error wrapping ctx.Err().
//   - The service has already begun run.ID in the store (store.BeginRun:
//     the run lock, the tenant ensured, the heartbeat) and finishes it with
//     the Result afterwards; RunTenant must not.
//   - err is non-nil exactly when the run failed as a whole (Result.Status
//     is store.RunFailed); Result.Failure then classifies it, in the one
//     vocabulary of store.FailureClass, and the service passes it on as
//     is. Per-mailbox errors are not an error: they make the status
//     store.RunPartial.
//   - Result is filled as far as the run got, also on failure (counts,
//     Graph counters, the certificate if it was loaded).
type Runner interface {
	RunTenant(ctx context.Context, t config.Tenant, run RunInfo) (Result, error)
}

// RunInfo identifies the run the service started.
type RunInfo struct {
	// ID is the store's run id (store.ActiveRun.ID).
	ID int64
	// Trigger says why the run started.
	Trigger store.Trigger
}

// Result is the outcome of one tenant run.
type Result struct {
	// Status is store.RunOK, store.RunPartial or store.RunFailed.
	Status store.RunStatus
	// Counts are the run's tallies, including Graph requests and 429/503
	// responses (store.Counts.Throttled429/Throttled503) and deletes held
	// back by the mass-delete guard (HeldBack).
	Counts store.Counts
	// Mailboxes are the per-mailbox outcomes recorded with the run.
	Mailboxes []store.RunMailbox
	// ThrottleWait is the total time the run waited on Retry-After and
	// back-off; with the throttling counts it decides "throttled heavily".
	ThrottleWait time.Duration
	// Certificate describes the certificate the run loaded; zero when it
	// was not loaded.
	Certificate Certificate
	// Failure classifies a whole-run failure; nil unless Status is
	// store.RunFailed. Its class chooses the condition event (see
	// docs/events.md): FailAuth 300 (Code is the AADSTS code), FailConsent
	// 301 (MissingRoles), FailCertMissing 310, FailCertificate 311,
	// FailThrottled 203.
	Failure *store.Failure
	// Events are further events of the run (certificate renewal, 440-445),
	// without tenant and run: the service fills them in. A renewal's
	// failure (444) and block (445) are emitted at most once a day per
	// tenant.
	Events []events.Event
}

// Certificate identifies a tenant's certificate for expiry tracking.
type Certificate struct {
	Thumbprint string // SHA-1, upper-case hex
	NotAfter   time.Time
}
