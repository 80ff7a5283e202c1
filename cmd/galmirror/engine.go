package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/renew"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

func init() {
	newServiceRunner = func(cfg *config.Config, st *store.Store, logger *slog.Logger) (service.Runner, error) {
		return engineRunner{eng: syncer.New(syncer.Options{Store: st, Logger: logger}), st: st, settings: cfg.Path, log: logger}, nil
	}
}

// engineRunner lets the service schedule the sync engine, and renews a
// tenant's certificate after its run when it is due.
type engineRunner struct {
	eng      *syncer.Engine
	st       *store.Store
	settings string
	log      *slog.Logger
}

// RunTenant runs one tenant for the service, which has started the run in
// the store and records its outcome.
func (e engineRunner) RunTenant(ctx context.Context, t config.Tenant, run service.RunInfo) (service.Result, error) {
	res := e.eng.Run(ctx, &t, syncer.RunOptions{RunID: run.ID, Trigger: string(run.Trigger)})
	out, err := serviceResult(ctx, res)
	e.renewAfterRun(ctx, &t, res, &out)
	return out, err
}

// renewAfterRun renews the tenant's certificate when the run found it due
// (certificateRenewBefore), or could not load it (an expired certificate
// is reported as blocked). Its events join the run's; a switch to the new
// certificate is what the run records as the tenant's certificate.
func (e engineRunner) renewAfterRun(ctx context.Context, t *config.Tenant, res *syncer.Result, out *service.Result) {
	if ctx.Err() != nil || (!res.CertificateExpires.IsZero() && !renew.Due(t, res.CertificateExpires, time.Now())) {
		return
	}
	r := renew.Renew(ctx, renew.Options{Tenant: t, SettingsPath: e.settings, Keys: e.st,
		Progress: func(s string) { e.log.Info("certificate renewal: "+s, "tenant", t.Name) }})
	out.Events = append(out.Events, r.Events...)
	if r.Switched {
		out.Certificate = service.Certificate{Thumbprint: r.NewThumbprint, NotAfter: r.NewNotAfter}
	}
	if r.Err != nil {
		e.log.Warn("certificate renewal", "tenant", t.Name, "err", r.Err)
	}
}

// serviceResult hands an engine result to the service. The failure passes
// as is: engine, service and run history share one vocabulary
// (store.FailureClass).
func serviceResult(ctx context.Context, res *syncer.Result) (service.Result, error) {
	out := service.Result{
		Status:       store.RunStatus(res.Status),
		Counts:       res.StoreCounts(),
		Mailboxes:    res.MailboxOutcomes,
		ThrottleWait: res.ThrottleWait,
		Certificate:  service.Certificate{Thumbprint: res.CertificateThumbprint, NotAfter: res.CertificateExpires},
		Failure:      res.Failure,
	}
	for _, st := range res.SourceTenants {
		if st.Status == syncer.SourceKept {
			out.Events = append(out.Events, events.Event{ID: events.SourceTenantKept, Detail: st.Error,
				Fields: []events.Field{events.F("source_tenant", st.Name), events.F("source_tenant_id", st.TenantID)}})
		}
	}
	if e, ok := photosEvent(res); ok {
		out.Events = append(out.Events, e)
	}
	f := res.Failure
	if f == nil {
		return out, nil
	}
	if f.Class == store.FailCanceled {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("tenant %s: %w", res.Tenant, err)
		}
	}
	return out, errors.New(f.Message)
}

// photosEvent is event 700 for a run whose photos failed: the first photo
// error as its detail (tenant and run are the service's to fill in).
func photosEvent(res *syncer.Result) (events.Event, bool) {
	p := res.Photos
	if p == nil || p.Failed == 0 {
		return events.Event{}, false
	}
	detail := ""
	for _, e := range res.Errors {
		if strings.HasPrefix(e.Message, "photo") {
			detail = strings.TrimSpace(e.Mailbox + " " + e.Code + " " + e.Message)
			if e.RequestID != "" {
				detail += " request-id " + e.RequestID
			}
			break
		}
	}
	return events.Event{ID: events.PhotosFailed, Detail: detail,
		Fields: []events.Field{events.FInt("failed", int64(p.Failed)), events.FInt("uploaded", int64(p.Uploaded))}}, true
}
