package syncer

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/report"
	"github.com/galmirror/galmirror/internal/store"
)

// Run statuses.
const (
	StatusOK      = "ok"      // every mailbox synced or skipped for a known reason
	StatusPartial = "partial" // finished with mailbox or item failures, or held-back deletes
	StatusFailed  = "failed"  // the run failed as a whole (auth, consent, source read)
	// StatusInterrupted: the run was stopped before it finished (Ctrl-C,
	// shutdown): neither a failure nor a success; the history records it
	// as interrupted and the next run continues.
	StatusInterrupted = "interrupted"
	// StatusSkipped: the run did not start, and that is no failure:
	// another run of the tenant is in progress (the service's), or the
	// tenant was purged. `sync` only: the history records nothing.
	StatusSkipped = "skipped"
)

// Failure classes of a run that failed as a whole. They are the store's
// (store.FailureClass), the one vocabulary the run history, the service's
// events and `sync --json` share; these names are kept for the engine's
// code.
const (
	FailAuth        = store.FailAuth        // Entra refused the token request (Code is the AADSTS code)
	FailConsent     = store.FailConsent     // the token lacks roles (MissingRoles)
	FailCertificate = store.FailCertificate // the certificate could not be read (wrong password, bad file, expired)
	FailCertMissing = store.FailCertMissing // the certificate file or thumbprint was not found
	FailSource      = store.FailSource      // the directory could not be read completely
	FailThrottled   = store.FailThrottled   // the retry budget ran out
	FailUnavailable = store.FailUnavailable // Microsoft or the network to it was unreachable
	FailConfig      = store.FailConfig      // the settings cannot work (e.g. an unknown cloud)
	FailInternal    = store.FailInternal    // state database or another local failure
	FailCanceled    = store.FailCanceled    // the run was stopped (shutdown, Ctrl-C)
	FailTimeout     = store.FailTimeout     // the run outlasted Options.RunTimeout
)

// Result is the outcome of one tenant run. Its JSON is the `sync --json`
// output, one object per tenant run (a public interface: keep the names):
// the run in the one vocabulary of every output (report.Run), and what
// only a run that just happened can say.
type Result struct {
	report.Run
	DryRun bool `json:"dryRun,omitempty"`
	// Reason says why a skipped run did not start; ReasonCode is "busy"
	// or "purged".
	Reason     string        `json:"reason,omitempty"`
	ReasonCode string        `json:"reasonCode,omitempty"`
	Duration   time.Duration `json:"-"`
	Errors     []ItemError   `json:"errors"`
	// Skipped lists the target mailboxes skipped for a known reason (no
	// Exchange Online mailbox, outside the app's mailbox access), each
	// with Graph's code; they are checked again next run.
	Skipped []SkippedMailbox `json:"skipped"`
	// MailboxAccess is how the app reaches mailboxes: "tenant-wide"
	// (Contacts.ReadWrite granted in Entra) or "rbac-scoped" (Exchange
	// RBAC for Applications decides per mailbox).
	MailboxAccess string `json:"mailboxAccess,omitempty"`
	// FolderMode is where the contacts go: "folder" (a folder of
	// galmirror's own, named Folder) or "default" (the mailbox's default
	// Contacts folder; Folder is then the contacts' category).
	FolderMode string `json:"folderMode,omitempty"`
	Folder     string `json:"folder,omitempty"`
	// Plan lists the planned operations per mailbox (dry runs).
	Plan []MailboxPlan `json:"plan,omitempty"`
	// SourceCount is the number of directory entries mirrored, other
	// tenants' people included.
	SourceCount int `json:"sources"`
	// SourcesByKind splits SourceCount by what the sources are, a kind
	// per key (directory.SourceUser, SourceOrgContact,
	// SourceSharedMailbox, SourceRoom, SourceEquipment, SourceGroup);
	// kinds without a source are left out.
	SourcesByKind map[string]int `json:"sourcesByKind,omitempty"`
	// SourceTenants are the entries of source.fromTenants: what each
	// contributed, or why its people were kept as they are.
	SourceTenants []SourceTenant `json:"sourceTenants,omitempty"`
	// Photos counts the photo work when the tenant has "photos": true.
	Photos *report.Photos `json:"photos,omitempty"`
	// Targets is the number of target mailboxes, when known.
	Targets int `json:"-"`
	// CertificateThumbprint is the tenant certificate's SHA-1 thumbprint.
	CertificateThumbprint string `json:"-"`
	// Mailboxes are the per-mailbox outcomes, as the run history records
	// them.
	MailboxOutcomes []store.RunMailbox `json:"-"`
	// ThrottleWait is the time the run spent waiting on Retry-After and
	// back-off.
	ThrottleWait time.Duration `json:"-"`
}

// The counts of a run, in the one vocabulary (package report).
type (
	MailboxCounts = report.Mailboxes
	ContactCounts = report.Contacts
	GraphCounts   = report.Graph
)

// ItemError is one mailbox's (or item's) failure.
type ItemError struct {
	Mailbox   string `json:"mailbox"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
}

// SkippedMailbox is a target mailbox skipped for a known reason.
type SkippedMailbox struct {
	Mailbox   string `json:"mailbox"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
	RequestID string `json:"requestId,omitempty"`
}

// Failure explains why a run failed as a whole; its JSON is part of `sync
// --json`'s output.
type Failure = store.Failure

// Plan statuses of a mailbox (dry run).
const (
	PlanPlanned = "planned" // a target mailbox: Creates, Updates, Deletes (and Held)
	// PlanRemove: a mailbox that is no longer a target: its Deletes
	// managed contacts and the managed folder (when nothing else is in it)
	// would go.
	PlanRemove = "remove"
	// PlanRemovalHeld: as PlanRemove, but the mass-delete guard would hold
	// the removal back (Held contacts): too many mailboxes would go at
	// once.
	PlanRemovalHeld = "removal-held"
)

// MailboxPlan is a mailbox's planned operations (dry run).
type MailboxPlan struct {
	Mailbox string `json:"mailbox"`
	Status  string `json:"status"`
	Creates int    `json:"creates"`
	Updates int    `json:"updates"`
	Deletes int    `json:"deletes"`
	Held    int    `json:"heldDeletes,omitempty"`
	// PhotoUploads and PhotoRemovals are the contact photos the run would
	// upload and remove ("photos": true).
	PhotoUploads  int        `json:"photoUploads,omitempty"`
	PhotoRemovals int        `json:"photoRemovals,omitempty"`
	Items         []PlanItem `json:"items,omitempty"`
}

// PlanItem is one planned operation.
type PlanItem struct {
	Op       string `json:"op"`
	SourceID string `json:"sourceId"`
	Name     string `json:"name,omitempty"`
	Fields   string `json:"fields,omitempty"`
	Reason   string `json:"reason"`
}

// ExitCode maps a result to galmirror sync's exit codes: 0 ok (or
// skipped), 3 partial, 1 failed, 130 interrupted.
func (r *Result) ExitCode() int {
	switch r.Status {
	case StatusOK, StatusSkipped:
		return 0
	case StatusPartial:
		return 3
	case StatusInterrupted:
		return 130
	}
	return 1
}

// StoreCounts returns the run's tallies as the run history records them.
func (r *Result) StoreCounts() store.Counts {
	return store.Counts{
		MailboxesSynced: r.Mailboxes.Synced, MailboxesSkipped: r.Mailboxes.Skipped, MailboxesFailed: r.Mailboxes.Failed,
		Created: r.Contacts.Created, Updated: r.Contacts.Updated, Deleted: r.Contacts.Deleted,
		// HeldDeletes counts the contacts of mailbox removals the guard
		// held back too, so the service's mass-delete event covers both.
		Unchanged: r.Contacts.Unchanged, HeldBack: r.Contacts.HeldDeletes,
		GraphRequests: int(r.Graph.Requests), BatchItems: int(r.Graph.BatchItems),
		Throttled429: int(r.Graph.Throttled), Throttled503: int(r.Graph.Unavailable),
	}
}

// Progress counts runs' target mailboxes and those finished, and the
// contacts written, as the runs go: what `galmirror sync` shows on a
// terminal. Runs running at once may share one. Safe for concurrent use.
type Progress struct {
	targets, done, writes atomic.Int64
}

// Snapshot returns the target mailboxes the runs know of so far, those
// finished, and the contacts written.
func (p *Progress) Snapshot() (targets, done, writes int64) {
	return p.targets.Load(), p.done.Load(), p.writes.Load()
}

// kindsText renders sources by kind as "3 user, 1 sharedMailbox", in a
// fixed order of kinds (others after, by name); "none" when empty.
func kindsText(kinds map[string]int) string {
	order := []string{directory.SourceUser, directory.SourceOrgContact, directory.SourceSharedMailbox,
		directory.SourceRoom, directory.SourceEquipment, directory.SourceGroup}
	var rest []string
	for k := range kinds {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	var parts []string
	for _, k := range append(order, rest...) {
		if n := kinds[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// KindsText is kindsText for the command line.
func (r *Result) KindsText() string { return kindsText(r.SourcesByKind) }
