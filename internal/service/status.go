package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/report"
	"github.com/galmirror/galmirror/internal/store"
)

// StatusReader is what `galmirror status` and /healthz read: *store.Store
// opened with store.OpenReadOnly while the service runs.
type StatusReader interface {
	Tenants(ctx context.Context) ([]store.TenantState, error)
	LastRun(ctx context.Context, tenant string) (store.Run, error)
	FailureStreak(ctx context.Context, tenant string) (store.Streak, error)
}

// Policy says when a tenant is unhealthy (settings.json's "health",
// `galmirror status` flags override it).
type Policy struct {
	// MaxAge: the last successful run is older.
	MaxAge time.Duration `json:"maxAge"`
	// MaxFailures: this many whole-run failures in a row.
	MaxFailures int `json:"maxFailures"`
	// CertificateDays: the certificate expires within this many days.
	CertificateDays int `json:"certificateDays"`
	// OverdueAfter: the next scheduled run is this much in the past and
	// no run is in progress (the service is not running).
	OverdueAfter time.Duration `json:"overdueAfter"`
	// OutageAfter: failures because Microsoft is unreachable count only
	// once they last this long.
	OutageAfter time.Duration `json:"outageAfter"`
}

// PolicyOf is the policy of the settings' "health".
func PolicyOf(h config.Health) Policy {
	return Policy{MaxAge: h.MaxAge.Std(), MaxFailures: h.MaxFailures, CertificateDays: h.CertificateDays,
		OverdueAfter: h.OverdueAfter.Std(), OutageAfter: h.OutageAfter.Std()}
}

// Report is the health of every tenant, as `galmirror status` prints it
// (its JSON form is a public interface for RMM scripts).
type Report struct {
	CheckedAt time.Time `json:"checkedAt"`
	Healthy   bool      `json:"healthy"`
	// Reason is the first problem, as one line ("tenant contoso: ...").
	Reason  string         `json:"reason,omitempty"`
	Policy  policyJSON     `json:"policy"`
	Tenants []TenantReport `json:"tenants"`
}

// policyJSON prints the policy's durations as Go durations.
type policyJSON struct {
	MaxAge          string `json:"maxAge"`
	MaxFailures     int    `json:"maxFailures"`
	CertificateDays int    `json:"certificateDays"`
	OverdueAfter    string `json:"overdueAfter"`
	OutageAfter     string `json:"outageAfter"`
}

// Tenant states in a Report.
const (
	StateOK       = "ok"       // healthy
	StateDegraded = "degraded" // failing because Microsoft is unreachable, for less than OutageAfter
	StateFailing  = "failing"  // unhealthy
	StatePaused   = "paused"   // paused by an operator (still checked: the certificate)
	StatePurged   = "purged"   // removed with `galmirror purge`: the service skips it
	StateOrphaned = "orphaned" // in the state database but no longer in the settings
	StateNeverRun = "never-run"
	StateRunning  = "running" // its first run is in progress
)

// TenantReport is one tenant's line of the report.
type TenantReport struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	// State is one of the State constants.
	State string `json:"state"`
	// Problems say why the tenant is unhealthy, each with a stable code
	// (the Problem constants); empty when healthy.
	Problems []Problem `json:"problems"`
	// Note explains a state that is not a problem (yet), such as an
	// outage shorter than OutageAfter.
	Note                string      `json:"note,omitempty"`
	Paused              bool        `json:"paused"`
	LastRun             *report.Run `json:"lastRun,omitempty"`
	LastSuccess         time.Time   `json:"lastSuccess,omitzero"`
	NextRun             time.Time   `json:"nextRun,omitzero"`
	ConsecutiveFailures int         `json:"consecutiveFailures"`
	FailingSince        time.Time   `json:"failingSince,omitzero"`
	CertificateExpires  time.Time   `json:"certificateExpires,omitzero"`
	PurgedAt            time.Time   `json:"purgedAt,omitzero"`
}

// Problem is one reason a tenant is unhealthy.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Problem codes.
const (
	ProblemFailing            = "failing"             // MaxFailures runs in a row failed
	ProblemOutage             = "outage"              // failing because Microsoft is unreachable, for longer than OutageAfter
	ProblemStale              = "stale"               // no successful run within MaxAge
	ProblemNeverSucceeded     = "never-succeeded"     // no successful run at all
	ProblemOverdue            = "overdue"             // a scheduled run did not start: the service is not running
	ProblemCertificateExpired = "certificate-expired" // every run fails
	ProblemCertificateExpires = "certificate-expires" // within CertificateDays
)

// BuildReport reads the state of cfg's tenants (and of tenants the store
// still holds that are no longer configured: orphaned) and judges their
// health at now under p. See docs/service.md#health.
func BuildReport(ctx context.Context, r StatusReader, cfg *config.Config, now time.Time, p Policy) (Report, error) {
	states, err := r.Tenants(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("read tenant state: %w", err)
	}
	byName := map[string]store.TenantState{}
	for _, s := range states {
		byName[s.Name] = s
	}
	rep := Report{CheckedAt: now.UTC(), Healthy: true, Tenants: []TenantReport{},
		Policy: policyJSON{MaxAge: p.MaxAge.String(), MaxFailures: p.MaxFailures, CertificateDays: p.CertificateDays,
			OverdueAfter: p.OverdueAfter.String(), OutageAfter: p.OutageAfter.String()}}
	configured := map[string]bool{}
	for _, t := range cfg.Tenants {
		configured[t.Name] = true
		st, known := byName[t.Name]
		if !known {
			st = store.TenantState{Name: t.Name}
		}
		tr, err := tenantReport(ctx, r, st, now, p)
		if err != nil {
			return Report{}, err
		}
		if len(tr.Problems) > 0 && rep.Healthy {
			rep.Healthy = false
			rep.Reason = "tenant " + t.Name + ": " + tr.Problems[0].Message
		}
		rep.Tenants = append(rep.Tenants, tr)
	}
	for _, st := range states {
		if configured[st.Name] {
			continue
		}
		tr := TenantReport{Name: st.Name, Healthy: true, State: StateOrphaned, Problems: []Problem{}, Paused: st.Paused,
			LastSuccess: st.LastSuccess, CertificateExpires: st.CertExpiry, PurgedAt: st.PurgedAt,
			Note: "no longer in the settings: its state stays in the database and its contacts in the mailboxes until `galmirror purge`"}
		if !st.PurgedAt.IsZero() {
			tr.Note = "purged on " + st.PurgedAt.UTC().Format("2006-01-02") + " and no longer in the settings"
		}
		rep.Tenants = append(rep.Tenants, tr)
	}
	return rep, nil
}

// tenantReport judges one configured tenant.
func tenantReport(ctx context.Context, r StatusReader, st store.TenantState, now time.Time, p Policy) (TenantReport, error) {
	tr := TenantReport{Name: st.Name, Paused: st.Paused, LastSuccess: st.LastSuccess, NextRun: st.NextRun,
		ConsecutiveFailures: st.ConsecutiveFailures, CertificateExpires: st.CertExpiry, PurgedAt: st.PurgedAt, Problems: []Problem{}}
	run, err := r.LastRun(ctx, st.Name)
	switch {
	case err == nil:
		lr := report.FromHistory(run)
		if !run.Finished.IsZero() {
			// Finish records the certificate of the tenant's last run.
			lr.CertificateExpires = st.CertExpiry
		}
		tr.LastRun = &lr
	case !errors.Is(err, store.ErrNotFound):
		return tr, fmt.Errorf("read last run of %s: %w", st.Name, err)
	}
	var streak store.Streak
	if st.ConsecutiveFailures > 0 {
		if streak, err = r.FailureStreak(ctx, st.Name); err != nil {
			return tr, err
		}
		tr.FailingSince = streak.Since
	}
	running := err == nil && run.Status == store.RunRunning && now.Sub(run.Heartbeat) < 3*store.DefaultHeartbeat
	tr.State, tr.Note = judge(&tr, st, streak, running, now, p)
	tr.Healthy = len(tr.Problems) == 0
	return tr, nil
}

// judge adds the tenant's problems and returns its state.
func judge(tr *TenantReport, st store.TenantState, streak store.Streak, running bool, now time.Time, p Policy) (state, note string) {
	add := func(code, format string, args ...any) {
		tr.Problems = append(tr.Problems, Problem{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if !st.PurgedAt.IsZero() {
		return StatePurged, "purged on " + st.PurgedAt.UTC().Format("2006-01-02") +
			": the service skips it until `galmirror purge --tenant " + st.Name + " --reenable`"
	}
	if c := st.CertExpiry; !c.IsZero() {
		left := c.Sub(now)
		switch {
		case left <= 0:
			add(ProblemCertificateExpired, "certificate expired on %s", c.UTC().Format("2006-01-02"))
		case left <= time.Duration(p.CertificateDays)*24*time.Hour:
			add(ProblemCertificateExpires, "certificate expires in %d days (%s)", int(left/(24*time.Hour)), c.UTC().Format("2006-01-02"))
		}
	}
	if st.Paused {
		return StatePaused, ""
	}
	why := ""
	if tr.LastRun != nil && tr.LastRun.Failure != nil && tr.LastRun.Status == report.StatusFailed {
		why = "; last run failed: " + string(tr.LastRun.Failure.Class) + ": " + tr.LastRun.Failure.Message
	}
	state = StateOK
	if n := st.ConsecutiveFailures; n >= p.MaxFailures {
		outageFor := now.Sub(streak.Since)
		switch {
		case streak.Unavailable && outageFor < p.OutageAfter:
			state, note = StateDegraded, fmt.Sprintf("Microsoft unreachable for %s (%s): not a problem before %s%s",
				outageFor.Round(time.Minute), plural(n, "failed run"), p.OutageAfter, why)
		case streak.Unavailable:
			add(ProblemOutage, "Microsoft unreachable for %s (%s, max %s)%s", outageFor.Round(time.Minute), plural(n, "failed run"), p.OutageAfter, why)
		default:
			add(ProblemFailing, "%s in a row (unhealthy from %d)%s", plural(n, "failed run"), p.MaxFailures, why)
		}
	}
	switch {
	case st.LastSuccess.IsZero() && running:
		note = "its first run is in progress"
		if len(tr.Problems) == 0 {
			state = StateRunning
		}
	case st.LastSuccess.IsZero() && tr.LastRun == nil && st.ConsecutiveFailures == 0:
		add(ProblemNeverSucceeded, "has never run")
		state = StateNeverRun
	case st.LastSuccess.IsZero() && state == StateDegraded:
		// A new tenant in an outage: the outage is the news.
	case st.LastSuccess.IsZero():
		add(ProblemNeverSucceeded, "no successful run yet%s", why)
	case now.Sub(st.LastSuccess) > p.MaxAge:
		add(ProblemStale, "last successful run %s ago (max %s)%s", now.Sub(st.LastSuccess).Round(time.Minute), p.MaxAge, why)
	}
	if !st.NextRun.IsZero() && !running && now.Sub(st.NextRun) > p.OverdueAfter {
		add(ProblemOverdue, "the run due at %s has not started (%s overdue, max %s): is the service running?",
			st.NextRun.UTC().Format(time.RFC3339), now.Sub(st.NextRun).Round(time.Minute), p.OverdueAfter)
	}
	if len(tr.Problems) > 0 && state != StateNeverRun {
		state = StateFailing
	}
	return state, note
}
