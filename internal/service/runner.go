package service

import (
	"context"
	"time"

	"github.com/galmirror/galmirror/internal/config"
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
//   - The service has already called store.StartRun for run.ID and calls
//     store.FinishRun with the Result afterwards; RunTenant must not.
//   - err is non-nil exactly when the run failed as a whole (Result.Status
//     is store.RunFailed); Result.Failure then classifies it. Per-mailbox
//     errors are not an error: they make the status store.RunPartial.
//   - Result is filled as far as the run got, also on failure (counts,
//     Graph counters, the certificate if it was loaded).
type Runner interface {
	RunTenant(ctx context.Context, t config.Tenant, run RunInfo) (Result, error)
}

// RunInfo identifies the run the service started.
type RunInfo struct {
	// ID is the store's run id (store.StartRun).
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
	// store.RunFailed.
	Failure *Failure
}

// Certificate identifies a tenant's certificate for expiry tracking.
type Certificate struct {
	Thumbprint string // SHA-1, upper-case hex
	NotAfter   time.Time
}

// FailureClass is the kind of a whole-run failure. Each class maps to at
// most one condition event (see docs/events.md).
type FailureClass string

// Failure classes.
const (
	// FailAuth: Entra ID refused the token request; Failure.AADSTS holds
	// the code (event 300).
	FailAuth FailureClass = "auth"
	// FailConsent: the token lacks application permissions;
	// Failure.MissingRoles names them (event 301).
	FailConsent FailureClass = "consent"
	// FailCertNotFound: the certificate file or thumbprint was not found
	// (event 310).
	FailCertNotFound FailureClass = "cert_not_found"
	// FailCertUnreadable: the certificate was found but its private key
	// could not be read: wrong PFX password, no access to the key, bad
	// format (event 311).
	FailCertUnreadable FailureClass = "cert_unreadable"
	// FailThrottled: the run gave up because Graph kept throttling it
	// (retry budget exhausted) (event 203).
	FailThrottled FailureClass = "throttled"
	// FailSource: the directory could not be read.
	FailSource FailureClass = "source"
	// FailInternal: anything else (including an unclassified error).
	FailInternal FailureClass = "internal"
)

// Failure describes a whole-run failure. Message must be safe to log and
// show (no secret, no token).
type Failure struct {
	Class FailureClass
	// AADSTS is the Entra error code without prefix ("700027") for FailAuth.
	AADSTS string
	// MissingRoles are application permissions the token lacks
	// ("User.Read.All") for FailConsent.
	MissingRoles []string
	// Message is a one-line description.
	Message string
}
