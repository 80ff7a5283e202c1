// Package syncer runs one tenant's sync: it reads the directory
// incrementally, decides who is a source and who is a target, and makes the
// managed folder of every target mailbox match the directory, with the
// fewest Graph requests the limits allow. It never touches a contact or
// folder that does not carry galmirror's mark, and never deletes on
// incomplete information.
package syncer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/store"
)

// The hidden single-value extended properties that mark what galmirror owns
// (docs/architecture.md). The property set GUID never changes: customers'
// mailboxes carry it for years.
const (
	propertySet  = "{831CFECE-66B1-45B0-B604-2B01E00812F8}"
	PropFolder   = "String " + propertySet + " Name galmirror.folder"
	PropSourceID = "String " + propertySet + " Name galmirror.sourceId"
	PropHash     = "String " + propertySet + " Name galmirror.hash"
	// PropInstall stamps the managed folder with the installation that
	// maintains it (folder.go).
	PropInstall   = "String " + propertySet + " Name galmirror.installation"
	contactsDelta = 200 // contacts per delta page (Graph's cap)
)

// Defaults for Options.
//
// They are sized by Graph's limits and the memory target (250 MB at 1,000
// users × 1,000 mailboxes): Graph lets an app keep four requests in
// flight per mailbox and 13,000 items a second in all (130,000 per 10 s).
// A mailbox writing holds its plan and contact map (about 0.7 KB per
// contact in a first sync), so the mailboxes writing at once are bounded
// by their contacts (WriterContacts): 128 mailboxes of 1,000 contacts
// keep 512 dependsOn chains of 20 in flight, about 5,000 writes a second
// at 100 ms an item; at 320,000 contacts (13,000 a second) the live heap
// passed 230 MB. Mailboxes of 20 contacts are bounded by MailboxWorkers
// instead. Reading what changed costs a mailbox two items and almost no
// memory: 2,000 mailboxes read at once, so a run with no change sends its
// 100 batches per 1,000 mailboxes together.
const (
	DefaultMailboxWorkers  = 320
	DefaultWriterContacts  = 192_000
	DefaultMailboxReaders  = 2000
	DefaultBatchesInFlight = 1600
	DefaultLinger          = 50 * time.Millisecond
	DefaultItemAttempts    = 8
	DefaultRunTimeout      = 6 * time.Hour
)

// Options configure an Engine.
type Options struct {
	// Store holds the state between runs. Required.
	Store *store.Store
	// Logger receives one summary line per run and one line per failed
	// mailbox; nil discards.
	Logger *slog.Logger
	// MailboxWorkers is how many mailboxes plan and write at once,
	// across the engine's concurrent runs; each holds its plan and
	// contact map in memory. Default 320.
	MailboxWorkers int
	// WriterContacts bounds the desired contacts of the mailboxes writing
	// at once (each holds its plan op and map entry, about 0.7 KB per
	// contact in a first sync): 192 writers of 1,000 contacts, or 19 of
	// 10,000. Default 192,000.
	WriterContacts int
	// MailboxReaders is how many mailboxes read what changed in them at
	// once (the light first phase of a mailbox's sync), across the
	// engine's runs. Default 2,000.
	MailboxReaders int
	// BatchesInFlight caps concurrent $batch requests, across the
	// engine's concurrent runs. Default 1,600.
	BatchesInFlight int
	// Linger is how long a partly filled $batch waits for its next item;
	// while items keep arriving less than Linger apart it waits up to 10
	// × Linger for its first one. Default 50 ms.
	Linger time.Duration
	// Pacer tunes back-off and retry budgets (tests shorten them).
	Pacer graph.PacerConfig
	// ItemAttempts bounds the attempts of one $batch item. Default 8.
	ItemAttempts int
	// RunTimeout bounds one tenant run as a whole, whatever Graph does
	// (each request, retry and page is bounded too; this is the last
	// line). Default 6 h.
	RunTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MailboxWorkers <= 0 {
		o.MailboxWorkers = DefaultMailboxWorkers
	}
	if o.WriterContacts <= 0 {
		o.WriterContacts = DefaultWriterContacts
	}
	if o.MailboxReaders <= 0 {
		o.MailboxReaders = DefaultMailboxReaders
	}
	if o.BatchesInFlight <= 0 {
		o.BatchesInFlight = DefaultBatchesInFlight
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.ItemAttempts <= 0 {
		o.ItemAttempts = DefaultItemAttempts
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = DefaultRunTimeout
	}
	return o
}

// Engine runs tenant syncs. It is safe for concurrent use by runs of
// different tenants; the caller (the service or the sync command) must not
// run one tenant twice at once.
type Engine struct {
	opts Options

	// lim holds the MailboxReaders, MailboxWorkers and BatchesInFlight
	// slots, shared by every run of the engine: the service runs several
	// tenants at once, and the limits bound the process's memory (each
	// mailbox writing holds its plan, each batch its bodies), not one
	// run's. Made on first use, from the options then.
	once sync.Once
	lim  limits
	// share holds each tenant's latest directory read, for the runs
	// that list it in source.fromTenants (fromtenants.go).
	share dirShare
}

// limits are an engine's shared slots.
type limits struct {
	readers, workers chan struct{}
	contacts         *budget
	batches          graph.Slots
}

// limits returns the engine's shared slots.
func (e *Engine) limits() limits {
	e.once.Do(func() {
		e.lim = limits{
			readers:  make(chan struct{}, e.opts.MailboxReaders),
			workers:  make(chan struct{}, e.opts.MailboxWorkers),
			contacts: newBudget(e.opts.WriterContacts),
			batches:  graph.NewSlots(e.opts.BatchesInFlight),
		}
	})
	return e.lim
}

// acquire takes a slot of sem, or returns ctx's error.
func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns an Engine.
func New(opts Options) *Engine {
	return &Engine{opts: opts.withDefaults()}
}

// RunOptions are the choices of one run.
type RunOptions struct {
	// DryRun computes and reports the plan without writing anything, to
	// Graph or to the store.
	DryRun bool
	// AllowMassDelete lifts the mass-delete guard for this run.
	AllowMassDelete bool
	// Trigger is recorded in the run history: schedule, manual, startup.
	Trigger string
	// PlanItems includes every planned operation in the result (dry runs
	// with --json).
	PlanItems bool
	// RunID, when not zero, is a run the caller (the service) started in
	// the store and will finish itself: Run then records no history.
	RunID int64
	// Progress, when set, counts the run's target mailboxes and those
	// finished as the run goes (a progress display; runs may share one).
	Progress *Progress
	// TakeOver lets this installation maintain managed folders that
	// another installation of galmirror stamped (a server rebuilt or
	// replaced): `sync --take-over`. Without it such folders are left
	// alone and reported.
	TakeOver bool
}

// Run syncs one tenant and returns its result. Failures are in the result
// (Status failed with a Failure, or per-mailbox errors), never a panic; the
// run is recorded in the store's history unless it is a dry run.
func (e *Engine) Run(ctx context.Context, t *config.Tenant, ro RunOptions) *Result {
	r := newRun(e, t, ro)
	ctx, cancel := context.WithTimeoutCause(ctx, e.opts.RunTimeout, errRunTimeout)
	defer cancel()
	return r.execute(ctx)
}

// errRunTimeout is the cause of a run stopped by Options.RunTimeout.
var errRunTimeout = errors.New("the run took longer than its time limit")
