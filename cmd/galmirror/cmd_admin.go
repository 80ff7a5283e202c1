package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/galmirror/galmirror/internal/admin"
	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/service"
)

func init() {
	register(&command{
		name:    "admin",
		summary: "administer a running service, local or remote, through its admin API",
		run:     runAdmin,
	})
}

const adminUsage = `usage: galmirror admin [--endpoint https://host:8443 | --local] [--fingerprint SHA256]
                       [--kerberos | --cert FILE [--key FILE]] [--json] COMMAND

commands:
  status                 the service: version, uptime, certificate fingerprint, you and your role
  tenants                every tenant: state, last run, next run, failures, certificate expiry
  runs TENANT            the tenant's runs, newest first (--page-size N, --page-token T)
  run ID                 one run with its per-mailbox outcomes
  events                 stored and live events (--cursor C to resume, --tenant T, --follow)
  sync TENANT            start a run now (operator)
  pause TENANT           stop scheduled runs (operator; --reason TEXT)
  resume TENANT          undo pause (operator; --reason TEXT)
  check TENANT           run the galmirror check of the tenant

Without --endpoint the local socket or named pipe is used (root, the service's
user, SYSTEM or an elevated administrator; no credentials needed).

exit codes: 0 ok; 1 the call failed; 2 usage error; 3 check found problems`

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "remote service, https://host:port")
	local := fs.Bool("local", false, "use the local socket or named pipe (the default without --endpoint)")
	socket := fs.String("socket", "", "local socket path (default: admin.sock in the data directory of --config)")
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file, to find the local socket")
	fingerprint := fs.String("fingerprint", "", "pin the server certificate by its SHA-256 fingerprint")
	kerberos := fs.Bool("kerberos", false, "authenticate with Kerberos (Windows logon or kinit ticket)")
	spn := fs.String("spn", "", "Kerberos service principal (default HTTP/<endpoint host>)")
	certFile := fs.String("cert", "", "client certificate (PEM, with the key unless --key)")
	keyFile := fs.String("key", "", "client certificate key (PEM)")
	protocol := fs.String("protocol", "connect", "wire protocol: connect, grpc or grpcweb")
	asJSON := fs.Bool("json", false, "print JSON for scripts (the names of sync --json and status --json: docs/vocabulary.md)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long (not for events --follow)")
	fs.Usage = func() { fmt.Fprintln(stderr, adminUsage); fmt.Fprintln(stderr, "\nflags:"); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	o := admin.ClientOptions{Fingerprint: *fingerprint, Kerberos: *kerberos, SPN: *spn, Protocol: *protocol}
	switch {
	case *endpoint != "" && *local:
		fmt.Fprintln(stderr, "galmirror admin: give --endpoint or --local, not both")
		return exitUsage
	case *endpoint != "":
		o.Endpoint = *endpoint
		if *kerberos == (*certFile != "") {
			fmt.Fprintln(stderr, "galmirror admin: a remote service needs --kerberos or --cert FILE (one of them)")
			return exitUsage
		}
		if *certFile != "" {
			c, err := admin.LoadClientCertificate(*certFile, *keyFile)
			if err != nil {
				fmt.Fprintf(stderr, "galmirror admin: %v\n", err)
				return exitUsage
			}
			o.Certificate = &c
		}
	default:
		if *kerberos || *certFile != "" || *fingerprint != "" {
			fmt.Fprintln(stderr, "galmirror admin: --kerberos, --cert and --fingerprint are for --endpoint; the local socket needs no credentials")
			return exitUsage
		}
		o.LocalPath = *socket
		if o.LocalPath == "" {
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				fmt.Fprintf(stderr, "galmirror admin: find the local socket: %v (or give --socket)\n", err)
				return exitUsage
			}
			o.LocalPath = localipc.DefaultPath(cfg.DataDir)
		}
	}
	client, err := admin.NewClient(o)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror admin: %v\n", err)
		return exitUsage
	}
	c := &adminCLI{api: client, out: stdout, errw: stderr, json: *asJSON, timeout: *timeout}
	return c.run(ctx, fs.Arg(0), fs.Args()[1:])
}

type adminCLI struct {
	api     adminv1connect.AdminServiceClient
	out     io.Writer
	errw    io.Writer
	json    bool
	timeout time.Duration
}

// adminFlags are the flags of the admin commands.
type adminFlags struct {
	pageSize                          *int
	pageToken, cursor, tenant, reason *string
	follow                            *bool
}

func (c *adminCLI) flags(cmd string) (*flag.FlagSet, adminFlags) {
	fs := flag.NewFlagSet("admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(c.errw)
	fs.BoolVar(&c.json, "json", c.json, "print JSON")
	return fs, adminFlags{
		pageSize:  fs.Int("page-size", 20, "runs per page (runs)"),
		pageToken: fs.String("page-token", "", "page to start at (runs)"),
		follow:    fs.Bool("follow", false, "keep streaming live events (events)"),
		cursor:    fs.String("cursor", "", "resume after this event cursor; default: the stored events (events)"),
		tenant:    fs.String("tenant", "", "only this tenant's events (events)"),
		reason:    fs.String("reason", "", "why, kept in the audit trail (pause, resume)"),
	}
}

func (c *adminCLI) run(ctx context.Context, cmd string, args []string) int {
	fs, fl := c.flags(cmd)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	var name string
	switch cmd {
	case "runs", "run", "sync", "pause", "resume", "check":
		if fs.NArg() != 1 {
			fmt.Fprintf(c.errw, "galmirror admin %s: takes exactly one argument\n", cmd)
			return exitUsage
		}
		name = fs.Arg(0)
	}
	if cmd != "events" || !*fl.follow {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var err error
	code := exitOK
	switch cmd {
	case "status":
		err = c.status(ctx)
	case "tenants":
		err = c.tenants(ctx)
	case "runs":
		err = c.runs(ctx, name, *fl.pageSize, *fl.pageToken)
	case "run":
		err = c.showRun(ctx, name)
	case "events":
		err = c.events(ctx, *fl.cursor, *fl.tenant, *fl.follow)
	case "sync":
		err = c.syncNow(ctx, name)
	case "pause", "resume":
		err = c.pause(ctx, name, cmd == "pause", *fl.reason)
	case "check":
		code, err = c.check(ctx, name)
	default:
		fmt.Fprintf(c.errw, "galmirror admin: unknown command %q\n\n%s\n", cmd, adminUsage)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(c.errw, "galmirror admin %s: %s\n", cmd, describe(err))
		return exitFailed
	}
	return code
}

func (c *adminCLI) status(ctx context.Context) error {
	res, err := c.api.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
	if err != nil {
		return err
	}
	m := res.Msg
	info := adminService{Version: m.Version, Host: m.Host, ConfigPath: m.ConfigPath, Started: at(m.StartedAt),
		UptimeSeconds: m.Uptime.AsDuration().Seconds(), Tenants: m.TenantCount, ServerCertificateSHA256: m.ServerCertificateSha256,
		CallerPrincipal: m.CallerPrincipal, CallerRole: roleName(m.CallerRole)}
	if cc := m.Console; cc != nil {
		info.Console = &adminConsole{URL: cc.Url, Connected: cc.Connected, Since: at(cc.Since), LastError: cc.LastError, LastErrorAt: at(cc.LastErrorAt)}
	}
	c.print(info, func(w *tabwriter.Writer) {
		configPath := m.ConfigPath
		if configPath == "" {
			configPath = "- (shown on the local socket only)"
		}
		fmt.Fprintf(w, "version\t%s\nhost\t%s\nconfig\t%s\nstarted\t%s (up %s)\ntenants\t%d\ncertificate sha256\t%s\nyou are\t%s (%s)\n",
			m.Version, m.Host, configPath, when(m.StartedAt), m.Uptime.AsDuration(), m.TenantCount,
			m.ServerCertificateSha256, m.CallerPrincipal, roleName(m.CallerRole))
		if cc := m.Console; cc != nil {
			if cc.Connected {
				fmt.Fprintf(w, "console\t%s: connected since %s\n", cc.Url, when(cc.Since))
			} else {
				fmt.Fprintf(w, "console\t%s: NOT connected since %s; last error (%s): %s\n", cc.Url, when(cc.Since), when(cc.LastErrorAt), cc.LastError)
			}
		}
	})
	return nil
}

func (c *adminCLI) tenants(ctx context.Context) error {
	res, err := c.api.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
	if err != nil {
		return err
	}
	ts := struct {
		Tenants []adminTenant `json:"tenants"`
	}{Tenants: []adminTenant{}}
	for _, t := range res.Msg.Tenants {
		ts.Tenants = append(ts.Tenants, tenantJSON(t))
	}
	c.print(ts, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "TENANT\tSTATE\tLAST RUN\tSTATUS\tCREATED/UPDATED/DELETED\tFAILED MBX\tNEXT RUN\tFAILURES\tCERT EXPIRES\tMAILBOXES")
		for _, t := range res.Msg.Tenants {
			lr := t.LastRun
			counts, outcome, last := "-", "-", "never"
			if lr != nil {
				counts = fmt.Sprintf("%d/%d/%d", lr.Counts.GetCreated(), lr.Counts.GetUpdated(), lr.Counts.GetDeleted())
				outcome, last = statusOf(lr), when(lr.FinishedAt)
			}
			cert := when(t.CertificateNotAfter)
			if t.CertificateError != "" {
				cert = "error: " + t.CertificateError
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%d\n", t.Name, stateName(t.State), last, outcome, counts,
				lr.GetCounts().GetMailboxesFailed(), when(t.NextRunAt), t.ConsecutiveFailures, cert, t.TargetMailboxes)
		}
	})
	return nil
}

func (c *adminCLI) runs(ctx context.Context, name string, pageSize int, pageToken string) error {
	req := &adminv1.ListRunsRequest{Tenant: name, PageSize: int32(pageSize), PageToken: pageToken}
	res, err := c.api.ListRuns(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	rs := struct {
		Runs          []*adminRun `json:"runs"`
		NextPageToken string      `json:"nextPageToken,omitempty"`
	}{Runs: []*adminRun{}, NextPageToken: res.Msg.NextPageToken}
	for _, r := range res.Msg.Runs {
		rs.Runs = append(rs.Runs, runJSON(r))
	}
	c.print(rs, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "RUN\tSTARTED\tDURATION\tTRIGGER\tSTATUS\tMAILBOXES\tFAILED\tCREATED\tUPDATED\tDELETED\tERROR")
		for _, r := range res.Msg.Runs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Id, when(r.StartedAt), duration(r), r.Trigger,
				statusOf(r), r.Counts.GetMailboxes(), r.Counts.GetMailboxesFailed(), r.Counts.GetCreated(),
				r.Counts.GetUpdated(), r.Counts.GetDeleted(), r.Error)
		}
		if res.Msg.NextPageToken != "" {
			fmt.Fprintf(w, "\nmore: --page-token %s\n", res.Msg.NextPageToken)
		}
	})
	return nil
}

func (c *adminCLI) showRun(ctx context.Context, id string) error {
	res, err := c.api.GetRun(ctx, connect.NewRequest(&adminv1.GetRunRequest{Id: id}))
	if err != nil {
		return err
	}
	one := struct {
		Run       *adminRun      `json:"run"`
		Mailboxes []adminMailbox `json:"mailboxes"`
	}{Run: runJSON(res.Msg.Run), Mailboxes: []adminMailbox{}}
	for _, m := range res.Msg.Mailboxes {
		one.Mailboxes = append(one.Mailboxes, mailboxJSON(m))
	}
	c.print(one, func(w *tabwriter.Writer) {
		r := res.Msg.Run
		fmt.Fprintf(w, "run %s of %s: %s, started %s, took %s, trigger %s %s\n", r.Id, r.Tenant, statusOf(r),
			when(r.StartedAt), duration(r), r.Trigger, r.RequestedBy)
		if r.Error != "" {
			fmt.Fprintf(w, "error: %s\n", r.Error)
		}
		fmt.Fprintln(w, "\nMAILBOX\tSTATUS\tCREATED\tUPDATED\tDELETED\tFAILED\tERROR")
		for _, m := range res.Msg.Mailboxes {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", m.Mailbox, mailboxJSON(m).Status, m.Counts.GetCreated(), m.Counts.GetUpdated(),
				m.Counts.GetDeleted(), m.Counts.GetFailed(), m.Error)
		}
	})
	return nil
}

func (c *adminCLI) syncNow(ctx context.Context, name string) error {
	res, err := c.api.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: name}))
	if err != nil {
		return err
	}
	started := struct {
		Tenant string `json:"tenant"`
		RunID  int64  `json:"runId"`
	}{name, id(res.Msg.RunId)}
	c.print(started, func(w *tabwriter.Writer) { fmt.Fprintf(w, "started run %s of %s\n", res.Msg.RunId, name) })
	return nil
}

func (c *adminCLI) pause(ctx context.Context, name string, pause bool, reason string) error {
	var t *adminv1.Tenant
	if pause {
		res, err := c.api.PauseTenant(ctx, connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: name, Reason: reason}))
		if err != nil {
			return err
		}
		t = res.Msg.Tenant
	} else {
		res, err := c.api.ResumeTenant(ctx, connect.NewRequest(&adminv1.ResumeTenantRequest{Tenant: name, Reason: reason}))
		if err != nil {
			return err
		}
		t = res.Msg.Tenant
	}
	c.print(tenantJSON(t), func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s: %s, paused=%v\n", t.Name, stateName(t.State), t.Paused) })
	return nil
}

// check prints the tenant's check; its exit code is exitPartial when the
// check found problems.
func (c *adminCLI) check(ctx context.Context, name string) (int, error) {
	res, err := c.api.CheckTenant(ctx, connect.NewRequest(&adminv1.CheckTenantRequest{Tenant: name}))
	if err != nil {
		return exitFailed, err
	}
	c.print(checkJSON(name, res.Msg), func(w *tabwriter.Writer) {
		for _, ch := range res.Msg.Checks {
			fmt.Fprintf(w, "%s\t%s\t%s\n", checkName(ch.Status), ch.Name, ch.Detail)
		}
		if at := res.Msg.CheckedAt; at != nil {
			// The service shares a check among callers for a minute.
			fmt.Fprintf(w, "checked at %s (%s ago)\n", at.AsTime().Local().Format("2006-01-02 15:04:05"),
				time.Since(at.AsTime()).Round(time.Second))
		}
	})
	if res.Msg.Status == adminv1.CheckStatus_CHECK_STATUS_FAILED {
		return exitPartial, nil
	}
	return exitOK, nil
}

func (c *adminCLI) events(ctx context.Context, cursor, tenant string, follow bool) error {
	if cursor == "" {
		cursor = "0" // everything still stored
	}
	if !follow {
		// Without --follow, print what is stored and stop when the stream
		// goes quiet.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		idle := time.AfterFunc(2*time.Second, cancel)
		defer idle.Stop()
		stream, err := c.api.WatchEvents(ctx, connect.NewRequest(&adminv1.WatchEventsRequest{Cursor: cursor, Tenant: tenant}))
		if err != nil {
			return err
		}
		defer stream.Close()
		for stream.Receive() {
			idle.Reset(500 * time.Millisecond)
			c.printEvent(stream.Msg().Event)
		}
		if err := stream.Err(); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	}
	stream, err := c.api.WatchEvents(ctx, connect.NewRequest(&adminv1.WatchEventsRequest{Cursor: cursor, Tenant: tenant}))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		c.printEvent(stream.Msg().Event)
	}
	if err := stream.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (c *adminCLI) printEvent(e *adminv1.Event) {
	if c.json {
		b, _ := json.Marshal(eventJSON(e))
		fmt.Fprintln(c.out, string(b))
		return
	}
	level := strings.TrimPrefix(e.Level.String(), "EVENT_LEVEL_")
	fmt.Fprintf(c.out, "%s %-11s %4d %-12s %s (cursor %s)\n", when(e.Time), level, e.EventId, e.Tenant, e.Message, e.Cursor)
}

// print writes v as JSON with --json (the one vocabulary: admin_json.go),
// else as the table human draws.
func (c *adminCLI) print(v any, human func(w *tabwriter.Writer)) {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			fmt.Fprintf(c.errw, "galmirror admin: %v\n", err)
		}
		return
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	human(w)
	w.Flush()
}

// describe turns an API error into one line with a hint where one helps.
func describe(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err.Error()
	}
	msg := fmt.Sprintf("%s (%s)", ce.Message(), ce.Code())
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		msg += "; see docs/admin-api.md for Kerberos and certificate setup"
	case connect.CodeUnavailable:
		msg += "; is the service running and the address right?"
	}
	return msg
}

func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Local().Format("2006-01-02 15:04")
}

func duration(r *adminv1.RunSummary) string {
	if r.StartedAt == nil || r.FinishedAt == nil {
		return "-"
	}
	return r.FinishedAt.AsTime().Sub(r.StartedAt.AsTime()).Round(time.Second).String()
}

func stateName(s adminv1.TenantState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TENANT_STATE_"))
}
func checkName(s adminv1.CheckStatus) string {
	return strings.TrimPrefix(s.String(), "CHECK_STATUS_")
}
func roleName(r adminv1.Role) string { return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")) }
