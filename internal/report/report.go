// Package report is galmirror's one vocabulary for what its outputs say
// about runs: `sync --json`, `status --json`, `admin --json`, the events'
// fields and the metrics' labels use these names and values
// (docs/vocabulary.md; the JSON Schema is docs/report.schema.json).
//
// The names are a public interface: RMM scripts parse them. Add, never
// rename.
package report

import (
	"time"

	"github.com/galmirror/galmirror/internal/store"
)

// Run statuses: how a run ended (store.RunStatus). "running" only in the
// history and in status, for a run in progress.
const (
	StatusOK          = string(store.RunOK)          // every mailbox synced or skipped for a known reason
	StatusPartial     = string(store.RunPartial)     // finished with mailbox or item failures, or held-back deletes
	StatusFailed      = string(store.RunFailed)      // failed as a whole (failure.class says why)
	StatusInterrupted = string(store.RunInterrupted) // stopped before it finished (Ctrl-C, shutdown): neither success nor failure
	StatusRunning     = string(store.RunRunning)
)

// Run is a tenant run as every output names it. `sync --json` prints it
// with more (report of the run's mailboxes, errors, skipped, plan); status
// and admin print it from the run history.
type Run struct {
	Tenant string `json:"tenant"`
	// RunID is the run's id in the history (0 and left out for a dry run).
	RunID int64 `json:"runId,omitempty"`
	// Trigger says how the run started: schedule, startup, manual (the
	// admin API's sync now), cli (`galmirror sync`).
	Trigger string `json:"trigger,omitempty"`
	// Status: ok, partial, failed, interrupted (running in the history).
	Status   string    `json:"status"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Seconds is the run's duration.
	Seconds   float64   `json:"seconds"`
	Mailboxes Mailboxes `json:"mailboxes"`
	Contacts  Contacts  `json:"contacts"`
	Graph     Graph     `json:"graph"`
	// Failure says why a failed (or interrupted) run ended.
	Failure *store.Failure `json:"failure,omitempty"`
	// CertificateExpires is the NotAfter of the certificate the run used.
	CertificateExpires time.Time `json:"certificateExpires,omitzero"`
}

// Photos counts a run's photo work ("photos": true). Checked are the
// source photos whose metadata was read; Downloaded those read whole
// (changed since the last run); Uploaded the contact photos written;
// Removed the contacts made again without a photo because their source
// removed theirs; Restored the contact photos someone changed in the
// mailbox, put back (counted in Uploaded too); Failed the photos that failed (reported per mailbox).
// A dry run fills ToUpload and ToRemove instead.
type Photos struct {
	Checked         int   `json:"checked"`
	Downloaded      int   `json:"downloaded"`
	DownloadedBytes int64 `json:"downloadedBytes"`
	Downscaled      int   `json:"downscaled"`
	Uploaded        int   `json:"uploaded"`
	UploadedBytes   int64 `json:"uploadedBytes"`
	Removed         int   `json:"removed"`
	Restored        int   `json:"restored"`
	Failed          int   `json:"failed"`
	ToUpload        int   `json:"toUpload,omitempty"`
	ToRemove        int   `json:"toRemove,omitempty"`
}

// Mailboxes counts target mailboxes by outcome.
type Mailboxes struct {
	Synced  int `json:"synced"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	// Removed counts mailboxes that stopped being targets and were
	// cleaned; HeldRemovals those the mass-delete guard held back. The
	// history records them per mailbox (statuses removed and
	// removal_held); sync --json counts them.
	Removed      int `json:"removed"`
	HeldRemovals int `json:"heldRemovals"`
}

// Contacts counts contact writes.
type Contacts struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Deleted   int `json:"deleted"`
	Unchanged int `json:"unchanged"`
	// HeldDeletes counts deletes the mass-delete guard held back, the
	// contacts of held-back mailbox removals included.
	HeldDeletes int `json:"heldDeletes"`
	Failed      int `json:"failed"`
	// KeptCopies counts copies of managed contacts (same source mark) left
	// alone because they hold the owner's own data.
	KeptCopies int `json:"keptCopies"`
}

// Graph counts the Graph requests of a run.
type Graph struct {
	Requests   int64 `json:"requests"`
	BatchItems int64 `json:"batchItems"`
	// Throttled counts 429 answers, Unavailable 503 answers, batch items
	// included.
	Throttled   int64 `json:"throttled"`
	Unavailable int64 `json:"unavailable"`
	Retries     int64 `json:"retries"`
}

// FromCounts splits the run history's tallies into the vocabulary's
// groups.
func FromCounts(c store.Counts) (Mailboxes, Contacts, Graph) {
	return Mailboxes{Synced: c.MailboxesSynced, Skipped: c.MailboxesSkipped, Failed: c.MailboxesFailed},
		Contacts{Created: c.Created, Updated: c.Updated, Deleted: c.Deleted, Unchanged: c.Unchanged, HeldDeletes: c.HeldBack},
		Graph{Requests: int64(c.GraphRequests), BatchItems: int64(c.BatchItems), Throttled: int64(c.Throttled429), Unavailable: int64(c.Throttled503)}
}

// FromHistory is a run of the history in the vocabulary.
func FromHistory(r store.Run) Run {
	out := Run{Tenant: r.Tenant, RunID: r.ID, Trigger: string(r.Trigger), Status: string(r.Status),
		Started: r.Started, Finished: r.Finished, Seconds: r.Duration.Round(time.Millisecond).Seconds()}
	out.Mailboxes, out.Contacts, out.Graph = FromCounts(r.Counts)
	if r.FailureClass != "" || r.Error != "" {
		msg := r.Error
		if r.FailureClass != "" {
			if m, ok := cutClass(r.Error, string(r.FailureClass)); ok {
				msg = m
			}
		}
		out.Failure = &store.Failure{Class: r.FailureClass, Message: msg}
	}
	return out
}

// cutClass removes the "<class>: " prefix the history keeps in Run.Error.
func cutClass(s, class string) (string, bool) {
	p := class + ": "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}
