// Package deploy is `galmirror deploy`: what an RMM's install script would
// otherwise do in PowerShell, in Go where CI tests it. One call takes a
// machine from "the MSI (or .deb) is installed" to "the service runs with
// this customer's settings and certificate and can reach the tenant":
//
//  1. make galmirror's folder private (Windows: %ProgramData%\galmirror);
//  2. import the customer's PFX (Windows: LocalMachine\My, key not
//     exportable; Linux: a copy readable by the service user, its password
//     in the service's environment file);
//  3. install the settings: a given file (with the certificate and CA files
//     it names next to it), or one tenant built from the RMM's variables
//     (tenant id, client id, certificate), validated before it replaces
//     anything;
//  4. install or update the service (idempotent; Windows: service.Install,
//     Linux: systemd enable);
//  5. (re)start it and wait until it runs;
//  6. run `check` for every tenant: certificate, token, permissions, mailbox
//     access;
//
// and reports one line, RESULT=OK|REBOOT|FAIL code=N step=... detail=...,
// with an exit code RMMs understand: 0, or above 1000 (N-sight reserves
// 1–999 and shows the text only above 1000).
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/syncer"
)

// Exit codes of galmirror deploy. A public interface: RMM scripts and
// docs/rmm.md use them.
const (
	CodeOK          = 0
	CodeUsage       = 1001 // bad options or variables, or an invalid settings file: nothing was changed
	CodeInstaller   = 1002 // the MSI failed (its exit code came with --installer-exit-code)
	CodeCertificate = 1003 // the PFX cannot be read or imported
	CodeService     = 1004 // the service cannot be installed or does not start
	CodeCheck       = 1005 // the service runs, but a tenant cannot sync (certificate, token, consent, mailbox access)
)

// Start says whether to start the service.
type Start string

const (
	StartYes  Start = "yes"  // start it (restart if running); no settings is an error
	StartNo   Start = "no"   // leave it as it is
	StartAuto Start = "auto" // start it when there are settings (the MSI's default)
)

// ParseStart reads a --start or STARTSERVICE value: yes/1/true,
// no/0/false, auto or empty.
func ParseStart(s string) (Start, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return StartAuto, nil
	case "yes", "1", "true":
		return StartYes, nil
	case "no", "0", "false":
		return StartNo, nil
	}
	return "", fmt.Errorf("%q: use yes (1), no (0) or auto", s)
}

// Tenant is one tenant built from RMM variables, for a machine whose
// settings are not given as a file.
type Tenant struct {
	Name       string
	TenantID   string
	ClientID   string
	Thumbprint string // a certificate already in LocalMachine\My (Windows)
	Cloud      string
	Authority  string // cloud "custom"
	Graph      string // cloud "custom"
	Folder     string
	Groups     []string // target.groups
}

// Options of one deployment.
type Options struct {
	// Config is where the settings file goes (absolute); its folder is
	// galmirror's configuration folder.
	Config string
	// Settings is a settings file to install (optional).
	Settings string
	// Tenant builds the settings when Settings is empty and TenantID is
	// set: that tenant is added to (or replaced in) the settings at Config.
	Tenant Tenant
	// DataDir is the dataDir of settings deploy creates.
	DataDir string
	// PFX is a PFX file to import, PFXPassword its password (never
	// printed), RemovePFX deletes the file once imported.
	PFX         string
	PFXPassword string
	RemovePFX   bool
	// NoService leaves the service alone: settings and certificate only,
	// for a machine whose service manager deploy does not drive.
	NoService bool
	Start     Start
	// Check runs `check` for every tenant at the end.
	Check bool
	// Wait bounds starting the service and the check.
	Wait time.Duration
	// InstallerExitCode is msiexec's exit code when the calling script ran
	// the MSI: 3010 and 1641 make the result REBOOT, another non-zero code
	// a failure.
	InstallerExitCode int
	// Exe is the galmirror executable the Windows service runs.
	Exe string
	// Out receives progress lines.
	Out io.Writer
}

// Result is the outcome: Status OK, REBOOT (OK, and the MSI asked for a
// restart) or FAIL, with the exit code and, for a failure, the step and why.
type Result struct {
	Status     string
	Code       int
	Step       string
	Detail     string
	Thumbprint string
	Warnings   []string
}

// ExitCode is the process's exit code for the result: Code on Windows;
// elsewhere exit codes end at 255, so a failure exits Code − 900 (101–105)
// while the line still says code=100N.
func (r Result) ExitCode() int {
	if runtime.GOOS != "windows" && r.Code > 1000 {
		return r.Code - 900
	}
	return r.Code
}

// Line is the one line RMM consoles show.
func (r Result) Line() string {
	s := fmt.Sprintf("RESULT=%s code=%d", r.Status, r.Code)
	if r.Step != "" {
		s += " step=" + r.Step
	}
	if r.Thumbprint != "" {
		s += " thumbprint=" + r.Thumbprint
	}
	if r.Detail != "" {
		s += " detail=" + oneLine(r.Detail)
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// failure is a failed step with its exit code.
type failure struct {
	code int
	step string
	err  error
}

func (f *failure) Error() string { return f.step + ": " + f.err.Error() }

func fail(code int, step string, err error) *failure { return &failure{code, step, err} }

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validate checks the options before anything is changed.
func (o *Options) validate() error {
	if o.Config == "" || !filepath.IsAbs(o.Config) {
		return fmt.Errorf("the settings path %q must be absolute", o.Config)
	}
	if o.Settings != "" && o.Tenant.TenantID != "" {
		return errors.New("give either a settings file or a tenant (tenant id, client id), not both")
	}
	t := o.Tenant
	if t.TenantID != "" || t.ClientID != "" {
		if !guidRE.MatchString(t.TenantID) {
			return fmt.Errorf("tenant id %q is not a GUID (the customer's Entra tenant id, e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47)", t.TenantID)
		}
		if !guidRE.MatchString(t.ClientID) {
			return fmt.Errorf("client id %q is not a GUID (the application (client) id of the customer's app registration)", t.ClientID)
		}
		if t.Thumbprint == "" && o.PFX == "" {
			return errors.New("a tenant needs a certificate: a PFX to import, or the thumbprint of one already in LocalMachine\\My")
		}
		if t.Thumbprint != "" && o.PFX != "" {
			return errors.New("give either a PFX or a certificate thumbprint, not both")
		}
		if t.Thumbprint != "" {
			if _, err := entra.ParseThumbprint(t.Thumbprint); err != nil {
				return fmt.Errorf("certificate thumbprint: %v", err)
			}
		}
	}
	if o.PFX != "" && o.PFXPassword == "" {
		return errors.New("the PFX password is not set (environment variable " + PasswordVariable + ")")
	}
	return nil
}

// PasswordVariable is the environment variable deploy reads the PFX
// password from.
const PasswordVariable = "GALMIRROR_PFX_PASSWORD"

// Run deploys. It never panics on bad input; every failure is a Result
// with its step and code.
func Run(ctx context.Context, o Options) (res Result) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, "deploy: "+format+"\n", args...) }
	defer func() {
		report(res)
	}()
	err := run(ctx, o, &res, say)
	if err != nil {
		var f *failure
		if !errors.As(err, &f) {
			f = fail(CodeService, "internal", err)
		}
		res.Status, res.Code, res.Step, res.Detail = "FAIL", f.code, f.step, f.err.Error()
		return res
	}
	for _, w := range res.Warnings {
		say("warning: %s", w)
	}
	res.Status, res.Code = "OK", CodeOK
	if o.InstallerExitCode == 3010 || o.InstallerExitCode == 1641 {
		res.Status = "REBOOT"
	}
	return res
}

// run is Run's steps, in order; the first failure ends it.
func run(ctx context.Context, o Options, res *Result, say func(string, ...any)) error {
	switch o.InstallerExitCode {
	case 0:
	case 3010, 1641:
		say("the installer finished and asks for a restart (exit code %d): deploying now, restart when convenient", o.InstallerExitCode)
	default:
		return fail(CodeInstaller, "installer", fmt.Errorf("the MSI failed with exit code %d (1603: a fatal error, see the /l*v log for the action that returned 3; 1618: another installation is in progress; 1925/1303: not elevated)", o.InstallerExitCode))
	}
	if err := o.validate(); err != nil {
		return fail(CodeUsage, "options", err)
	}
	p := newPlatform()
	dir := filepath.Dir(o.Config)
	say("preparing %s", dir)
	if err := p.prepareDir(dir); err != nil {
		return fail(CodeService, "folder", err)
	}
	certRef, err := importCertificate(ctx, o, p, dir, res, say)
	if err != nil {
		return err
	}
	hasSettings, err := installSettings(o, p, certRef, say)
	if err != nil {
		return err
	}
	if hasSettings && res.Thumbprint != "" && o.PFX != "" {
		if cfg, err := config.Load(o.Config); err == nil && !usesCertificate(cfg, res.Thumbprint, certRef) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no tenant in %s uses the imported certificate %s", o.Config, res.Thumbprint))
		}
	}
	if o.NoService {
		say("leaving the service alone (service: false)")
	} else if err := installService(o, p, hasSettings, res, say); err != nil {
		return err
	}
	if o.Check && hasSettings {
		return check(ctx, o, say)
	}
	return nil
}

// installService installs or updates the service and starts it as
// o.Start says.
func installService(o Options, p platform, hasSettings bool, res *Result, say func(string, ...any)) error {
	say("installing the service")
	changes, warns, err := p.installService(o.Exe, o.Config)
	res.Warnings = append(res.Warnings, warns...)
	if err != nil {
		return fail(CodeService, "service", err)
	}
	for _, c := range changes {
		say("service: %s", c)
	}
	return startService(o, p, hasSettings, res, say)
}

// importCertificate checks and imports the PFX, or takes the thumbprint
// of a certificate already in the store, and returns the settings'
// certificate object for it (nil without either).
func importCertificate(ctx context.Context, o Options, p platform, dir string, res *Result, say func(string, ...any)) (map[string]any, error) {
	if o.PFX == "" {
		if o.Tenant.Thumbprint == "" {
			return nil, nil
		}
		tp, _ := entra.ParseThumbprint(o.Tenant.Thumbprint)
		res.Thumbprint = strings.ToUpper(fmt.Sprintf("%x", tp))
		return map[string]any{"thumbprint": res.Thumbprint}, nil
	}
	say("checking the certificate in %s", o.PFX)
	data, err := os.ReadFile(o.PFX)
	if err != nil {
		return nil, fail(CodeCertificate, "certificate", fmt.Errorf("read the PFX: %w", err))
	}
	c, err := entra.LoadCertificateFile(ctx, o.PFX, o.PFXPassword, time.Now())
	if err != nil {
		return nil, fail(CodeCertificate, "certificate", err)
	}
	res.Thumbprint = c.ThumbprintSHA1()
	notAfter := c.NotAfter()
	_ = c.Close()
	ref, warns, err := p.importPFX(dir, certName(o), data, o.PFXPassword, res.Thumbprint)
	res.Warnings = append(res.Warnings, warns...)
	if err != nil {
		return nil, fail(CodeCertificate, "certificate", err)
	}
	say("certificate %s (expires %s) %s", res.Thumbprint, notAfter.UTC().Format("2006-01-02"), p.certWhere())
	if o.RemovePFX {
		if err := os.Remove(o.PFX); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("could not delete %s: %v", o.PFX, err))
		}
	}
	return ref, nil
}

// installSettings installs the given settings file or writes the given
// tenant, and reports whether settings are in place afterwards (an
// existing file is validated).
func installSettings(o Options, p platform, certRef map[string]any, say func(string, ...any)) (bool, error) {
	switch {
	case o.Settings != "":
		say("installing the settings %s as %s", o.Settings, o.Config)
		copied, err := installSettingsFile(o.Settings, o.Config, p)
		if err != nil {
			return false, err
		}
		for _, c := range copied {
			say("copied %s", c)
		}
		return true, nil
	case o.Tenant.TenantID != "":
		say("writing tenant %s into %s", tenantName(o.Tenant), o.Config)
		if err := writeTenant(o.Config, o.DataDir, o.Tenant, certRef, p); err != nil {
			return false, err
		}
		return true, nil
	}
	if _, err := os.Stat(o.Config); err != nil {
		return false, nil
	}
	if _, err := config.Load(o.Config); err != nil {
		return false, fail(CodeUsage, "settings", err)
	}
	say("keeping the settings in %s", o.Config)
	return true, nil
}

// startService (re)starts the service as o.Start says.
func startService(o Options, p platform, hasSettings bool, res *Result, say func(string, ...any)) error {
	start := o.Start
	if start == "" {
		start = StartYes
	}
	switch {
	case start == StartNo:
		say("not starting the service (start: no)")
		return nil
	case !hasSettings && start == StartYes:
		return fail(CodeUsage, "settings", fmt.Errorf("no settings at %s: give a settings file or a tenant (tenant id, client id, certificate)", o.Config))
	case !hasSettings:
		say("no settings at %s yet: the service is installed but not started", o.Config)
		return nil
	}
	say("starting the service")
	warn, err := p.restartService(o.Wait)
	if warn != "" {
		res.Warnings = append(res.Warnings, warn)
	}
	if err != nil {
		return fail(CodeService, "start", err)
	}
	return nil
}

// tenantName is the tenant's name in the settings.
func tenantName(t Tenant) string {
	if t.Name == "" {
		return "default"
	}
	return t.Name
}

// certName names a copied PFX (Linux) after the tenant it serves.
func certName(o Options) string {
	if o.Tenant.Name != "" {
		return o.Tenant.Name
	}
	return "galmirror"
}

// usesCertificate reports whether a tenant of cfg uses the certificate:
// by thumbprint, or the file the import made.
func usesCertificate(cfg *config.Config, thumbprint string, ref map[string]any) bool {
	file, _ := ref["file"].(string)
	for _, t := range cfg.Tenants {
		if strings.EqualFold(strings.ReplaceAll(t.Certificate.Thumbprint, " ", ""), thumbprint) {
			return true
		}
		if file != "" && filepath.Base(t.Certificate.File) == file {
			return true
		}
	}
	return false
}

// check runs the same checks as `galmirror check` for every tenant.
func check(ctx context.Context, o Options, say func(string, ...any)) error {
	cfg, err := config.Load(o.Config)
	if err != nil {
		return fail(CodeUsage, "settings", err)
	}
	wait := o.Wait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	eng := syncer.New(syncer.Options{})
	var bad []string
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		say("checking tenant %s", t.Name)
		rep := eng.Check(ctx, t)
		for _, it := range rep.Items {
			mark := "ok  "
			if !it.OK {
				mark = "FAIL"
				bad = append(bad, fmt.Sprintf("%s: %s: %s", t.Name, it.Name, it.Detail))
			}
			say("  %s %-15s %s", mark, it.Name, it.Detail)
		}
		if !rep.OK && len(bad) == 0 {
			bad = append(bad, t.Name+": check failed")
		}
	}
	if len(bad) > 0 {
		return fail(CodeCheck, "check", errors.New(strings.Join(bad, "; ")))
	}
	return nil
}

// report writes the result to the Event Log (Windows): 420 when deployed,
// 421 when a step failed. Elsewhere the printed RESULT line is the record.
func report(r Result) {
	el, err := events.OpenEventLog(events.SourceName)
	if err != nil {
		return
	}
	defer el.Close()
	e := events.Event{ID: events.Deployed, Time: time.Now()}
	if r.Status == "FAIL" {
		e.ID = events.DeployFailed
		e.Detail = oneLine(r.Detail)
		e.Fields = append(e.Fields, events.F("step", r.Step), events.FInt("code", int64(r.Code)))
	} else {
		e.Fields = append(e.Fields, events.F("result", r.Status))
	}
	if r.Thumbprint != "" {
		e.Fields = append(e.Fields, events.F("thumbprint", r.Thumbprint))
	}
	if len(r.Warnings) > 0 {
		e.Fields = append(e.Fields, events.F("warnings", strings.Join(r.Warnings, "; ")))
	}
	_ = el.Write(context.Background(), e)
}

// pathsOf lists the files a settings file names (certificates, CA bundles,
// the keytab), absolute.
func pathsOf(cfg *config.Config) []string {
	var out []string
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, t := range cfg.Tenants {
		add(t.Certificate.File)
		add(t.Endpoints.CAFile)
	}
	add(cfg.Admin.Certificate.File)
	if cfg.Admin.Kerberos != nil {
		add(cfg.Admin.Kerberos.Keytab)
	}
	add(cfg.Admin.ClientCertificates.CAFile)
	return out
}
