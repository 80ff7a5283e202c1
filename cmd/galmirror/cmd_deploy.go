package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/deploy"
	"github.com/galmirror/galmirror/internal/service"
)

func init() {
	register(&command{
		name:    "deploy",
		summary: "set up this machine for a customer in one step (for RMM scripts): certificate, settings, service, check",
		run:     runDeploy,
	})
}

// deployFlag is one option of deploy: a flag, or else the environment
// variable an RMM sets (NinjaOne script variables, Datto component and
// site variables, N-central custom properties arrive as environment
// variables).
type deployFlag struct {
	name, env, usage string
	value            string
	set              bool
}

func (f *deployFlag) String() string { return f.value }
func (f *deployFlag) Set(v string) error {
	f.value, f.set = v, true
	return nil
}

// deployVars are deploy's options, each a flag or its environment
// variable.
type deployVars struct {
	all []*deployFlag

	config, settings, name, tenantID, clientID, thumbprint *deployFlag
	cloud, authority, graph, folder, groups                *deployFlag
	pfx, pfxPassword, removePFX, dataDir                   *deployFlag
	service, start, check, wait, installerCode, log        *deployFlag
}

func newDeployVars(fs *flag.FlagSet) *deployVars {
	v := &deployVars{}
	opt := func(name, env, def, usage string) *deployFlag {
		f := &deployFlag{name: name, env: env, value: def, usage: usage}
		fs.Var(f, name, usage+" (environment: "+env+")")
		v.all = append(v.all, f)
		return f
	}
	v.config = opt("config", "GALMIRROR_CONFIG", service.DefaultConfigPath(), "where the settings go")
	v.settings = opt("settings", "GALMIRROR_SETTINGS", "", "a settings file to install (the certificate and CA files it names beside it are copied along)")
	v.name = opt("name", "GALMIRROR_TENANT_NAME", "", "without --settings: the tenant's name in the settings (default \"default\")")
	v.tenantID = opt("tenant-id", "GALMIRROR_TENANT_ID", "", "without --settings: the customer's Entra tenant id")
	v.clientID = opt("client-id", "GALMIRROR_CLIENT_ID", "", "without --settings: the app registration's application (client) id")
	v.thumbprint = opt("thumbprint", "GALMIRROR_CERT_THUMBPRINT", "", "a certificate already in LocalMachine\\My, instead of --pfx")
	v.cloud = opt("cloud", "GALMIRROR_CLOUD", "", "global (default), usgov, usgovdod, china or custom")
	v.authority = opt("authority", "GALMIRROR_AUTHORITY", "", "with --cloud custom: the token endpoint's base URL")
	v.graph = opt("graph", "GALMIRROR_GRAPH", "", "with --cloud custom: Microsoft Graph's base URL")
	v.folder = opt("folder", "GALMIRROR_FOLDER", "", "the managed folder's name (default Company Directory)")
	v.groups = opt("target-groups", "GALMIRROR_TARGET_GROUPS", "", "comma-separated group ids whose members get the folder (default: every mailbox)")
	v.pfx = opt("pfx", "GALMIRROR_PFX", "", "the customer's PFX to import; its password comes from "+deploy.PasswordVariable)
	v.pfxPassword = opt("pfx-password", deploy.PasswordVariable, "", "the PFX password: prefer the environment variable (a command line is visible to other local administrators); the MSI passes CERTPASSWORD here")
	v.removePFX = opt("remove-pfx", "GALMIRROR_REMOVE_PFX", "false", "delete the PFX file once imported")
	v.dataDir = opt("data-dir", "GALMIRROR_DATA_DIR", service.DefaultDataDir(), "the dataDir of a settings file deploy creates")
	v.service = opt("service", "GALMIRROR_SERVICE", "true", "install (or update) and start the service; false: settings and certificate only")
	v.start = opt("start", "GALMIRROR_START", "yes", "start (or restart) the service: yes, no, or auto (when there are settings)")
	v.check = opt("check", "GALMIRROR_CHECK", "true", "run check for every tenant at the end")
	v.wait = opt("wait", "GALMIRROR_WAIT", "2m", "how long starting the service and the check may take")
	v.installerCode = opt("installer-exit-code", "GALMIRROR_INSTALLER_EXIT_CODE", "0", "msiexec's exit code when the script ran the MSI: 3010 and 1641 make the result REBOOT, others a failure")
	v.log = opt("log", "GALMIRROR_DEPLOY_LOG", "", "also append what deploy prints to this file (the MSI writes %ProgramData%\\galmirror\\deploy.log)")
	return v
}

// fromEnvironment gives every flag not on the command line its
// environment variable's value, when set.
func (v *deployVars) fromEnvironment() {
	for _, f := range v.all {
		if !f.set {
			if e, ok := os.LookupEnv(f.env); ok && strings.TrimSpace(e) != "" {
				f.value = strings.TrimSpace(e)
			}
		}
	}
}

func boolVar(f *deployFlag) (bool, error) {
	b, err := strconv.ParseBool(strings.ToLower(f.value))
	if err != nil {
		return false, fmt.Errorf("--%s (%s): %q is not true or false", f.name, f.env, f.value)
	}
	return b, nil
}

// absVar makes a path absolute (empty stays empty).
func absVar(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return filepath.Abs(p)
}

// options turns the variables into deploy.Options; an error names the
// flag and its environment variable.
func (v *deployVars) options() (deploy.Options, error) {
	o := deploy.Options{
		Tenant: deploy.Tenant{
			Name: v.name.value, TenantID: v.tenantID.value, ClientID: v.clientID.value, Thumbprint: v.thumbprint.value,
			Cloud: v.cloud.value, Authority: v.authority.value, Graph: v.graph.value, Folder: v.folder.value,
		},
		PFXPassword: v.pfxPassword.value,
		DataDir:     v.dataDir.value,
	}
	for _, g := range strings.Split(v.groups.value, ",") {
		if g = strings.TrimSpace(g); g != "" {
			o.Tenant.Groups = append(o.Tenant.Groups, g)
		}
	}
	var err error
	if o.Config, err = filepath.Abs(v.config.value); err != nil {
		return o, err
	}
	if o.PFX, err = absVar(v.pfx.value); err != nil {
		return o, err
	}
	if o.Settings, err = absVar(v.settings.value); err != nil {
		return o, err
	}
	if o.RemovePFX, err = boolVar(v.removePFX); err != nil {
		return o, err
	}
	if o.Check, err = boolVar(v.check); err != nil {
		return o, err
	}
	withService, err := boolVar(v.service)
	if err != nil {
		return o, err
	}
	o.NoService = !withService
	if o.Start, err = deploy.ParseStart(v.start.value); err != nil {
		return o, fmt.Errorf("--start (%s): %v", v.start.env, err)
	}
	if o.Wait, err = time.ParseDuration(v.wait.value); err != nil || o.Wait <= 0 {
		return o, fmt.Errorf("--wait (%s): %q is not a duration such as 2m", v.wait.env, v.wait.value)
	}
	if o.InstallerExitCode, err = strconv.Atoi(v.installerCode.value); err != nil {
		return o, fmt.Errorf("--installer-exit-code (%s): %q is not a number", v.installerCode.env, v.installerCode.value)
	}
	if exe, err := os.Executable(); err == nil {
		o.Exe, _ = filepath.Abs(exe)
	}
	return o, nil
}

func runDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	v := newDeployVars(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror deploy [--settings FILE | --tenant-id ID --client-id ID [--name NAME]] [--pfx FILE | --thumbprint TP] [flags]")
		fmt.Fprintln(stderr, "Sets up this machine for one customer: imports the certificate, installs the settings, installs and")
		fmt.Fprintln(stderr, "starts the service and checks that the tenant can sync. Every flag falls back to its environment variable.")
		fmt.Fprintln(stderr, "Prints RESULT=OK|REBOOT|FAIL code=N step=... detail=... and exits 0 or: 1001 options or settings,")
		fmt.Fprintln(stderr, "1002 the MSI, 1003 certificate, 1004 service, 1005 check (the tenant cannot sync); on Linux 101-105.")
		fmt.Fprintln(stderr, "See docs/rmm.md.")
		fs.PrintDefaults()
	}
	out := stdout
	usageFail := func(err error) int {
		r := deploy.Result{Status: "FAIL", Code: deploy.CodeUsage, Step: "options", Detail: err.Error()}
		fmt.Fprintln(out, r.Line())
		return r.ExitCode()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return usageFail(err)
	}
	if fs.NArg() > 0 {
		return usageFail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	v.fromEnvironment()
	if v.log.value != "" {
		l := &appendLog{path: v.log.value}
		defer l.Close()
		fmt.Fprintf(l, "%s galmirror %s deploy\n", time.Now().UTC().Format(time.RFC3339), buildVersion())
		out = io.MultiWriter(stdout, l)
	}
	o, err := v.options()
	if err != nil {
		return usageFail(err)
	}
	o.Out = out
	res := deploy.Run(ctx, o)
	fmt.Fprintln(out, res.Line())
	return res.ExitCode()
}

// appendLog appends to a file that may not be writable yet: the MSI's log
// goes into %ProgramData%\galmirror, which deploy creates (private). Lines
// written before the file can be opened wait in memory; a file that never
// opens loses them, and deploy's own output still says everything.
type appendLog struct {
	path    string
	f       *os.File
	pending []byte
}

func (l *appendLog) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			l.pending = append(l.pending, p...)
			return len(p), nil
		}
		l.f = f
		if _, err := l.f.Write(l.pending); err != nil {
			return len(p), nil
		}
		l.pending = nil
	}
	_, _ = l.f.Write(p)
	return len(p), nil
}

func (l *appendLog) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
