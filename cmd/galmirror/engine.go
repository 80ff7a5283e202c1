package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
	"github.com/galmirror/galmirror/internal/syncer"
)

func init() {
	newServiceRunner = func(_ *config.Config, st *store.Store, logger *slog.Logger) (service.Runner, error) {
		return engineRunner{eng: syncer.New(syncer.Options{Store: st, Logger: logger})}, nil
	}
}

// engineRunner lets the service schedule the sync engine.
type engineRunner struct {
	eng *syncer.Engine
}

// RunTenant runs one tenant for the service, which has started the run in
// the store and records its outcome.
func (e engineRunner) RunTenant(ctx context.Context, t config.Tenant, run service.RunInfo) (service.Result, error) {
	res := e.eng.Run(ctx, &t, syncer.RunOptions{RunID: run.ID, Trigger: string(run.Trigger)})
	return serviceResult(ctx, res)
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
