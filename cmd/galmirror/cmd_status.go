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
	maxAge := fs.Duration("max-age", config.DefaultHealthMaxAge, "unhealthy when a tenant's last successful run is older (default: health.maxAge of the settings)")
	maxFailures := fs.Int("max-failures", config.DefaultHealthMaxFailures, "unhealthy after this many failed runs in a row (default: health.maxFailures)")
	certDays := fs.Int("cert-days", config.DefaultHealthCertDays, "unhealthy when a certificate expires within this many days (default: health.certificateDays)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror status [--config FILE] [--json] [--max-age 6h] [--max-failures 1] [--cert-days 14]")
		fmt.Fprintln(stderr, "exit codes: 0 healthy; 1 unhealthy: a tenant's last runs failed, its last success is older than --max-age,")
		fmt.Fprintln(stderr, "it never succeeded, a scheduled run is overdue (the service is not running), or its certificate expires")
		fmt.Fprintln(stderr, "within --cert-days (one line on stderr says why); 2 usage or configuration error")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 || *maxAge <= 0 || *maxFailures < 1 || *certDays < 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: %v\n", err)
		return exitUsage
	}
	policy := service.PolicyOf(cfg.Health)
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "max-age":
			policy.MaxAge = *maxAge
		case "max-failures":
			policy.MaxFailures = *maxFailures
		case "cert-days":
			policy.CertificateDays = *certDays
		}
	})
	if _, err := os.Stat(filepath.Join(cfg.DataDir, store.FileName)); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "UNHEALTHY: no state database in %s: galmirror has never run\n", cfg.DataDir)
		return exitFailed
	}
	st, err := store.OpenReadOnly(ctx, cfg.DataDir)
	if err != nil {
		fmt.Fprintf(stderr, "UNHEALTHY: cannot read the state database in %s: %v\n", cfg.DataDir, err)
		return exitFailed
	}
	defer st.Close()
	rep, err := service.BuildReport(ctx, st, cfg, time.Now(), policy)
	if err != nil {
		fmt.Fprintf(stderr, "UNHEALTHY: %v\n", err)
		return exitFailed
	}
	fp, fpErr := adminFingerprint(ctx, cfg)
	var push *pushState
	if cfg.Console != nil {
		if ps, ok, err := readPushState(cfg.DataDir); ok && ps.Console == redactedURL(cfg.Console.URL) {
			push = &ps
		} else if err != nil {
			fmt.Fprintf(stderr, "console state: %v\n", err)
		} else {
			// Never ran with this console (or with another URL before).
			push = &pushState{Console: redactedURL(cfg.Console.URL)}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			service.Report
			AdminCertificateSHA256 string     `json:"adminCertificateSha256,omitempty"`
			Console                *pushState `json:"console,omitempty"`
		}{rep, fp, push})
	} else {
		printReport(stdout, rep)
		switch {
		case fp != "":
			fmt.Fprintf(stdout, "admin certificate sha256: %s\n", fp)
		case fpErr != nil:
			fmt.Fprintf(stdout, "admin certificate: %v\n", fpErr)
		}
		printPushState(stdout, push)
	}
	if !rep.Healthy {
		fmt.Fprintln(stderr, "UNHEALTHY: "+rep.Reason)
		return exitFailed
	}
	return exitOK
}

func printReport(w io.Writer, rep service.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tSTATE\tLAST RUN\tSTATUS\tMAILBOXES\tCREATED/UPDATED/DELETED\tNEXT RUN\tFAILURES\tCERT EXPIRES\tWHY")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04")
	}
	for _, t := range rep.Tenants {
		last, status, mb, writes := "-", "never run", "-", "-"
		if r := t.LastRun; r != nil {
			last, status = ts(r.Started), r.Status
			mb = fmt.Sprintf("%d ok, %d skipped, %d failed", r.Mailboxes.Synced, r.Mailboxes.Skipped, r.Mailboxes.Failed)
			writes = fmt.Sprintf("%d/%d/%d", r.Contacts.Created, r.Contacts.Updated, r.Contacts.Deleted)
		}
		why := t.Note
		if len(t.Problems) > 0 {
			why = t.Problems[0].Message
			if len(t.Problems) > 1 {
				why += fmt.Sprintf(" (+%d more)", len(t.Problems)-1)
			}
		}
		if why == "" {
			why = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Name, t.State, last, status, mb, writes, ts(t.NextRun),
			t.ConsecutiveFailures, ts(t.CertificateExpires), why)
	}
	tw.Flush()
	if rep.Healthy {
		fmt.Fprintf(w, "healthy (max age %s, unhealthy from %d failed runs, certificates within %d days)\n",
			rep.Policy.MaxAge, rep.Policy.MaxFailures, rep.Policy.CertificateDays)
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

// printPushState prints the push connection's state as the service last
// recorded it.
func printPushState(w io.Writer, s *pushState) {
	if s == nil {
		return
	}
	age := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
	switch {
	case s.Updated.IsZero():
		fmt.Fprintf(w, "console %s: no connection recorded yet (the service has not run with this console section)\n", s.Console)
	case s.Connected:
		fmt.Fprintf(w, "console %s: connected since %s\n", s.Console, age(s.Since))
	default:
		fmt.Fprintf(w, "console %s: NOT connected since %s; last error (%s): %s\n", s.Console, age(s.Since), age(s.LastErrorAt), s.LastError)
	}
	if s.CertificateSHA256 != "" {
		fmt.Fprintf(w, "console client certificate sha256: %s (push.clientCertFingerprint in console.json)\n", s.CertificateSHA256)
	}
}
