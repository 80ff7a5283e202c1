package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limits of the audit digests.
const (
	// DefaultAuditWindow is how often the held-back denied calls of a
	// principal, or lock-outs of a source, are summed up in one event.
	DefaultAuditWindow = 10 * time.Minute
	// digestKeys is how many principals (or sources) a digest tracks; the
	// records of others are summed up together.
	digestKeys = 256
	// digestSubKeys is how many methods per principal are passed at once
	// in one episode (the API has 14 procedures).
	digestSubKeys = 16
)

// auditDigest keeps a flood of one kind of audit record (denied calls, or
// lock-outs) from flooding the audit trail. Per key (a principal, or a
// source) the first record of each sub-key (a method) is passed at once;
// further records are held back, counted and summed up in one record per
// key at most once per window. A key without records for a window starts
// over: its next record is passed at once. At most digestKeys keys are
// tracked; records of keys beyond them are summed up together.
type auditDigest struct {
	window time.Duration
	emit   func(context.Context, AuditRecord)
	// summary makes the record summing up n held-back records of key
	// (other: of keys not tracked), last being the last of them and methods
	// their distinct methods.
	summary func(key string, other bool, n int, last AuditRecord, methods []string, window time.Duration) AuditRecord
	now     func() time.Time

	mu    sync.Mutex
	keys  map[string]*digestEntry
	other digestEntry
	timer *time.Timer // armed while records are held back
}

type digestEntry struct {
	passed  map[string]bool // sub-keys passed at once this episode
	last    time.Time       // the last record
	n       int             // records held back since the last summary
	held    AuditRecord     // the last of them
	methods []string        // their distinct methods
}

func newAuditDigest(window time.Duration, emit func(context.Context, AuditRecord),
	summary func(string, bool, int, AuditRecord, []string, time.Duration) AuditRecord) *auditDigest {
	return &auditDigest{window: window, emit: emit, summary: summary, now: time.Now, keys: map[string]*digestEntry{}}
}

// record passes rec on at once or holds it back to be summed up.
func (d *auditDigest) record(ctx context.Context, rec AuditRecord, key, sub string) {
	d.mu.Lock()
	now := d.now()
	e := d.keys[key]
	if e != nil && e.n == 0 && now.Sub(e.last) >= d.window {
		clear(e.passed) // quiet for a window: a new episode
	}
	if e == nil {
		if len(d.keys) >= digestKeys {
			d.forgetQuiet(now)
		}
		if len(d.keys) < digestKeys {
			e = &digestEntry{passed: map[string]bool{}}
			d.keys[key] = e
		}
	}
	if e != nil {
		e.last = now
		if !e.passed[sub] && len(e.passed) < digestSubKeys {
			e.passed[sub] = true
			d.mu.Unlock()
			d.emit(ctx, rec)
			return
		}
	} else {
		e = &d.other
		e.last = now
	}
	e.n++
	e.held = rec
	if !slices.Contains(e.methods, rec.Method) && len(e.methods) < digestSubKeys {
		e.methods = append(e.methods, rec.Method)
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(d.window, func() { d.flush(context.Background()) })
	}
	d.mu.Unlock()
}

// forgetQuiet drops the keys quiet for a window with nothing held back.
func (d *auditDigest) forgetQuiet(now time.Time) {
	for k, e := range d.keys {
		if e.n == 0 && now.Sub(e.last) >= d.window {
			delete(d.keys, k)
		}
	}
}

// flush sums up every key's held-back records, one record per key.
func (d *auditDigest) flush(ctx context.Context) {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	now := d.now()
	var out []AuditRecord
	sum := func(key string, other bool, e *digestEntry) {
		if e.n == 0 {
			return
		}
		out = append(out, d.summary(key, other, e.n, e.held, e.methods, d.window))
		e.n, e.held, e.methods = 0, AuditRecord{}, nil
	}
	keys := make([]string, 0, len(d.keys))
	for k := range d.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		sum(k, false, d.keys[k])
	}
	sum("", true, &d.other)
	d.forgetQuiet(now)
	d.mu.Unlock()
	for _, rec := range out {
		rec.Time = now
		d.emit(ctx, rec)
	}
}

// deniedSummary sums up held-back denied calls (event 601 with count).
func deniedSummary(principal string, other bool, n int, last AuditRecord, methods []string, window time.Duration) AuditRecord {
	rec := AuditRecord{Kind: AuditDenied, Principal: principal, Role: last.Role, Method: strings.Join(methods, ","),
		Source: last.Source, Result: last.Result, Count: n}
	who := principal
	if other {
		who = fmt.Sprintf("principals beyond the %d tracked", digestKeys)
		rec.Principal, rec.Role = "", ""
	}
	rec.Detail = fmt.Sprintf("%d more denied %s from %s in the last %s", n, plural(n, "call", "calls"), who, window)
	return rec
}

// lockoutSummary sums up held-back lock-outs of a source (event 602 with
// count).
func lockoutSummary(source string, other bool, n int, last AuditRecord, methods []string, window time.Duration) AuditRecord {
	rec := AuditRecord{Kind: AuditAuthFailed, Source: source, Method: strings.Join(methods, ","), Result: last.Result, Count: n}
	who := source
	if other {
		who = fmt.Sprintf("sources beyond the %d tracked", digestKeys)
		rec.Source = ""
	}
	rec.Detail = fmt.Sprintf("%d more %s of %s in the last %s; last: %s", n, plural(n, "lock-out", "lock-outs"), who, window, last.Detail)
	return rec
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
