package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/svcbackend"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
)

func init() {
	register(&command{
		name:    "status",
		summary: "print each tenant's last run, next run and health (exit 0 healthy, 1 not)",
		run:     runStatus,
	})
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file (settings.json)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	maxAge := fs.Duration("max-age", 6*time.Hour, "unhealthy when a tenant's last successful run is older")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror status [--config FILE] [--json] [--max-age 6h]")
		fmt.Fprintln(stderr, "exit codes: 0 healthy; 1 a tenant's last success is older than --max-age, it never succeeded, or its certificate expires within 14 days (one-line reason on stderr); 2 usage or configuration error")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *maxAge <= 0 {
		if err == nil {
			fs.Usage()
		}
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: %v\n", err)
		return exitUsage
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, store.FileName)); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "UNHEALTHY: no state database in %s: the service has never run\n", cfg.DataDir)
		return exitFailed
	}
	st, err := store.OpenReadOnly(ctx, cfg.DataDir)
	if err != nil {
		fmt.Fprintf(stderr, "UNHEALTHY: cannot read the state database in %s: %v\n", cfg.DataDir, err)
		return exitFailed
	}
	defer st.Close()
	rep, err := service.BuildReport(ctx, st, cfg, time.Now(), *maxAge)
	if err != nil {
		fmt.Fprintf(stderr, "UNHEALTHY: %v\n", err)
		return exitFailed
	}
	fp, fpErr := adminFingerprint(ctx, cfg)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			service.Report
			AdminCertificateSHA256 string `json:"adminCertificateSha256,omitempty"`
		}{rep, fp})
	} else {
		printReport(stdout, rep)
		switch {
		case fp != "":
			fmt.Fprintf(stdout, "admin certificate sha256: %s\n", fp)
		case fpErr != nil:
			fmt.Fprintf(stdout, "admin certificate: %v\n", fpErr)
		}
	}
	if !rep.Healthy {
		fmt.Fprintln(stderr, "UNHEALTHY: "+rep.Reason)
		return exitFailed
	}
	return exitOK
}

func printReport(w io.Writer, rep service.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tLAST RUN\tOUTCOME\tMAILBOXES\tCREATED/UPDATED/DELETED\tNEXT RUN\tFAILURES\tCERT EXPIRES\tSTATE")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04")
	}
	for _, t := range rep.Tenants {
		last, outcome, mb, writes := "-", "never run", "-", "-"
		if r := t.LastRun; r != nil {
			last, outcome = ts(r.Started), string(r.Status)
			mb = fmt.Sprintf("%d ok, %d skipped, %d failed", r.Counts.MailboxesSynced, r.Counts.MailboxesSkipped, r.Counts.MailboxesFailed)
			writes = fmt.Sprintf("%d/%d/%d", r.Counts.Created, r.Counts.Updated, r.Counts.Deleted)
		}
		state := "ok"
		switch {
		case t.Problem != "":
			state = t.Problem
		case t.Paused:
			state = "paused"
		}
		if t.Paused && t.Problem != "" {
			state = "paused; " + t.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Name, last, outcome, mb, writes, ts(t.NextRun),
			t.ConsecutiveFailures, ts(t.CertNotAfter), state)
	}
	tw.Flush()
	if rep.Healthy {
		fmt.Fprintf(w, "healthy (max age %s)\n", rep.MaxAge)
	}
}

// adminFingerprint is the SHA-256 fingerprint of the admin API's server
// certificate, which clients pin (--fingerprint): the one configured in
// admin.certificate, else the one the service generated in the data
// directory. "" and no error when there is none (no admin API, or the
// service has not started with it yet).
func adminFingerprint(ctx context.Context, cfg *config.Config) (string, error) {
	if !svcbackend.Enabled(cfg.Admin) {
		return "", nil
	}
	if c := cfg.Admin.Certificate; !c.IsZero() {
		cert, release, err := svcbackend.LoadServerCertificate(ctx, c, time.Now())
		defer release()
		if err != nil {
			return "", fmt.Errorf("cannot read admin.certificate: %w", err)
		}
		return admin.Fingerprint(cert.Certificate[0]), nil
	}
	fp, err := admin.StoredFingerprint(cfg.DataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return fp, err
}
