package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/syncer"
)

func init() {
	register(&command{
		name:    "check",
		summary: "check a tenant's certificate, token, permissions and Graph access",
		run:     runCheck,
	})
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "settings file (settings.json)")
	tenant := fs.String("tenant", "", "check only this tenant (by name)")
	asJSON := fs.Bool("json", false, "print one JSON object per tenant")
	noEvents := fs.Bool("no-events", false, "emit no events (by default a failing check emits the service's condition events: 300, 301, 310, 311, 320-323)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror check --config FILE [--tenant NAME] [--json] [--no-events]")
		fmt.Fprintln(stderr, "exit codes: 0 everything needed works, 1 something does not, 2 usage or configuration error")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	_, tenants, code := loadTenants(*cfgPath, *tenant, stderr)
	if code != exitOK {
		return code
	}
	eng := syncer.New(syncer.Options{})
	var bus *events.Bus
	if !*noEvents {
		var closeEvents func()
		bus, closeEvents = cliEvents(slog.New(slog.NewTextHandler(stderr, nil)), nil)
		defer closeEvents()
	}
	code = exitOK
	for _, t := range tenants {
		rep := eng.Check(ctx, t)
		if !rep.OK {
			code = exitFailed
		}
		if bus != nil {
			checkEvents(ctx, bus, t.Name, rep)
		}
		if *asJSON {
			b, _ := json.Marshal(rep)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(stdout, "%s:\n", t.Name)
		for _, it := range rep.Items {
			mark := "ok  "
			if !it.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(stdout, "  %s  %-15s %s\n", mark, it.Name, it.Detail)
		}
	}
	return code
}

// checkEvents emits the condition events of what a check found that would
// make a sync fail (300, 301, 310, 311; not an outage of Microsoft), and
// the certificate's expiry event (320–323).
func checkEvents(ctx context.Context, bus *events.Bus, tenant string, rep *syncer.CheckReport) {
	if e, ok := service.ConditionEvent(tenant, rep.Failure); ok {
		bus.Emit(ctx, e)
	}
	if e, ok := service.CertificateEvent(tenant, service.Certificate{Thumbprint: rep.CertificateThumbprint, NotAfter: rep.CertificateExpires}, time.Now()); ok {
		bus.Emit(ctx, e)
	}
}
