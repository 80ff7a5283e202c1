package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror check --config FILE [--tenant NAME] [--json]")
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
	code = exitOK
	for _, t := range tenants {
		rep := eng.Check(ctx, t)
		if !rep.OK {
			code = exitFailed
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
