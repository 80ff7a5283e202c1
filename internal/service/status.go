package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/store"
)

// StatusReader is what `galmirror status` reads: *store.Store opened with
// store.OpenReadOnly while the service runs.
type StatusReader interface {
	Tenants(ctx context.Context) ([]store.TenantState, error)
	LastRun(ctx context.Context, tenant string) (store.Run, error)
}

// CertWarnWithin is how close a certificate's expiry makes status unhealthy.
const CertWarnWithin = 14 * 24 * time.Hour

// Report is the health of every configured tenant, as `galmirror status`
// prints it (its JSON form is a public interface for RMM scripts).
type Report struct {
	CheckedAt time.Time      `json:"checkedAt"`
	MaxAge    string         `json:"maxAge"`
	Healthy   bool           `json:"healthy"`
	Reason    string         `json:"reason,omitempty"`
	Tenants   []TenantReport `json:"tenants"`
}

// TenantReport is one tenant's line of the report.
type TenantReport struct {
	Name                string     `json:"name"`
	Paused              bool       `json:"paused"`
	LastRun             *RunReport `json:"lastRun,omitempty"`
	LastSuccess         time.Time  `json:"lastSuccess,omitzero"`
	NextRun             time.Time  `json:"nextRun,omitzero"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	CertNotAfter        time.Time  `json:"certNotAfter,omitzero"`
	// Problem is why this tenant makes the report unhealthy ("" if not).
	Problem string `json:"problem,omitempty"`
}

// RunReport summarises a tenant's last run.
type RunReport struct {
	ID       int64           `json:"id"`
	Trigger  store.Trigger   `json:"trigger"`
	Status   store.RunStatus `json:"status"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished,omitzero"`
	Duration string          `json:"duration,omitempty"`
	Counts   store.Counts    `json:"counts"`
	Error    string          `json:"error,omitempty"`
}

// BuildReport reads the state of cfg's tenants and judges their health at
// now: a tenant is unhealthy when its last successful run (ok or partial)
// is older than maxAge (or it never had one), unless it is paused, or when
// its certificate expires within CertWarnWithin (paused or not). Tenants in
// the store but no longer in the configuration are left out.
func BuildReport(ctx context.Context, r StatusReader, cfg *config.Config, now time.Time, maxAge time.Duration) (Report, error) {
	states, err := r.Tenants(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("read tenant state: %w", err)
	}
	byName := map[string]store.TenantState{}
	for _, s := range states {
		byName[s.Name] = s
	}
	rep := Report{CheckedAt: now.UTC(), MaxAge: maxAge.String(), Healthy: true}
	for _, t := range cfg.Tenants {
		st := byName[t.Name]
		tr := TenantReport{Name: t.Name, Paused: st.Paused, LastSuccess: st.LastSuccess, NextRun: st.NextRun,
			ConsecutiveFailures: st.ConsecutiveFailures, CertNotAfter: st.CertExpiry}
		run, err := r.LastRun(ctx, t.Name)
		switch {
		case err == nil:
			tr.LastRun = &RunReport{ID: run.ID, Trigger: run.Trigger, Status: run.Status, Started: run.Started,
				Finished: run.Finished, Counts: run.Counts, Error: run.Error}
			if run.Duration > 0 {
				tr.LastRun.Duration = run.Duration.Round(time.Second).String()
			}
		case !errors.Is(err, store.ErrNotFound):
			return Report{}, fmt.Errorf("read last run of %s: %w", t.Name, err)
		}
		tr.Problem = tenantProblem(tr, now, maxAge)
		if tr.Problem != "" && rep.Healthy {
			rep.Healthy = false
			rep.Reason = "tenant " + t.Name + ": " + tr.Problem
		}
		rep.Tenants = append(rep.Tenants, tr)
	}
	return rep, nil
}

func tenantProblem(t TenantReport, now time.Time, maxAge time.Duration) string {
	day := 24 * time.Hour
	if !t.CertNotAfter.IsZero() {
		left := t.CertNotAfter.Sub(now)
		if left <= 0 {
			return "certificate expired on " + t.CertNotAfter.UTC().Format("2006-01-02")
		}
		if left <= CertWarnWithin {
			return fmt.Sprintf("certificate expires in %d days (%s)", int(left/day), t.CertNotAfter.UTC().Format("2006-01-02"))
		}
	}
	if t.Paused {
		return ""
	}
	why := ""
	if t.LastRun != nil && t.LastRun.Status == store.RunFailed && t.LastRun.Error != "" {
		why = "; last run failed: " + t.LastRun.Error
	}
	if t.LastSuccess.IsZero() {
		return "no successful run yet" + why
	}
	if age := now.Sub(t.LastSuccess); age > maxAge {
		return fmt.Sprintf("last successful run %s ago (max %s)%s", age.Round(time.Minute), maxAge, why)
	}
	return ""
}
