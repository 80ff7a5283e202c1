package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/deploy"
	"github.com/galmirror/galmirror/internal/service"
)

func init() {
	register(&command{
		name:    "service",
		summary: "install, uninstall, start or stop the Windows service",
		run:     runServiceCmd,
	})
}

func serviceUsage(stderr io.Writer) {
	fmt.Fprintln(stderr, "usage: galmirror service install [--config FILE] [--account LocalSystem|virtual]")
	fmt.Fprintln(stderr, "       galmirror service uninstall [--purge]")
	fmt.Fprintln(stderr, "       galmirror service start [--wait 30s]")
	fmt.Fprintln(stderr, "       galmirror service stop")
	fmt.Fprintln(stderr, "       galmirror service secure [--config FILE]   (make %ProgramData%\\galmirror and dataDir private)")
	fmt.Fprintln(stderr, "Windows only (run elevated). On Linux install the .deb, or use packaging/systemd/galmirror.service.")
	fmt.Fprintln(stderr, "install is idempotent: run again, it brings an existing service to this configuration.")
	fmt.Fprintln(stderr, "uninstall --purge also deletes %ProgramData%\\galmirror (settings, state) and the certificates galmirror deploy imported.")
}

// errServiceUsage: the subcommand's options were wrong (usage printed).
var (
	errServiceUsage = errors.New("usage")
	errServiceHelp  = errors.New("help") // -h: the flags were printed
)

func runServiceCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		serviceUsage(stderr)
		return exitUsage
	}
	subcommands := map[string]func(args []string, stdout, stderr io.Writer) error{
		"install":   serviceInstall,
		"secure":    serviceSecure,
		"uninstall": serviceUninstall,
		"start":     serviceStart,
		"stop":      func([]string, io.Writer, io.Writer) error { return service.Stop(service.ServiceName) },
	}
	sub, ok := subcommands[args[0]]
	switch {
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		serviceUsage(stderr)
		return exitOK
	case !ok:
		serviceUsage(stderr)
		return exitUsage
	}
	err := sub(args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, errServiceHelp):
		return exitOK
	case errors.Is(err, errServiceUsage):
		serviceUsage(stderr)
		return exitUsage
	}
	fmt.Fprintf(stderr, "galmirror: %v\n", err)
	if errors.Is(err, service.ErrUnsupportedPlatform) {
		return exitUsage
	}
	return exitFailed
}

// parseServiceFlags parses a subcommand's flags; no arguments are allowed.
func parseServiceFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if code, done := parseFlags(fs, args); done {
		if code == exitOK {
			return errServiceHelp
		}
		return errServiceUsage
	}
	if fs.NArg() > 0 {
		return errServiceUsage
	}
	return nil
}

func serviceInstall(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("service install", flag.ContinueOnError)
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file the service runs with")
	account := fs.String("account", "LocalSystem", "service account: LocalSystem or virtual (NT SERVICE\\galmirror)")
	if err := parseServiceFlags(fs, args, stderr); err != nil {
		return err
	}
	// Services start in System32: everything on the command line is
	// absolute.
	cfg, err := filepath.Abs(*cfgPath)
	if err != nil {
		return fmt.Errorf("settings file %s: %w", *cfgPath, err)
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.Abs(exe)
	}
	if err != nil {
		return fmt.Errorf("locate galmirror.exe: %w", err)
	}
	res, err := service.Install(service.InstallOptions{Exe: exe, Args: service.ServiceArgs(cfg), Account: *account})
	if err != nil {
		return err
	}
	printInstallResult(stdout, res, service.CommandLine(exe, service.ServiceArgs(cfg)))
	fmt.Fprintln(stdout, "start it with: galmirror service start")
	return nil
}

func serviceSecure(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("service secure", flag.ContinueOnError)
	cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file whose dataDir to secure as well")
	if err := parseServiceFlags(fs, args, stderr); err != nil {
		return err
	}
	if runtime.GOOS != "windows" {
		return service.ErrUnsupportedPlatform
	}
	dirs := []string{service.DefaultDir()}
	if cfg, err := config.Load(*cfgPath); err == nil {
		dirs = append(dirs, cfg.DataDir)
	} else {
		fmt.Fprintf(stderr, "galmirror: settings file %s: %v (securing %s only)\n", *cfgPath, err, dirs[0])
	}
	if err := service.Secure(dirs...); err != nil {
		return err
	}
	for _, d := range dirs {
		fmt.Fprintf(stdout, "%s: private to SYSTEM, Administrators and NT SERVICE\\%s\n", d, service.ServiceName)
	}
	return nil
}

func serviceUninstall(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("service uninstall", flag.ContinueOnError)
	purge := fs.Bool("purge", false, "also delete %ProgramData%\\galmirror and the certificates galmirror deploy imported")
	if err := parseServiceFlags(fs, args, stderr); err != nil {
		return err
	}
	err := service.Uninstall(service.ServiceName)
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "removed service %s and its event source\n", service.ServiceName)
	case errors.Is(err, service.ErrNotInstalled):
		fmt.Fprintf(stdout, "service %s is not installed: nothing to remove\n", service.ServiceName)
	default:
		return err
	}
	if !*purge {
		return nil
	}
	removed, notes, err := deploy.Purge(service.DefaultDir())
	for _, r := range removed {
		fmt.Fprintf(stdout, "deleted %s\n", r)
	}
	for _, n := range notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	return err
}

func serviceStart(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("service start", flag.ContinueOnError)
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the service to report running")
	if err := parseServiceFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := service.Start(service.ServiceName, *wait); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "service %s is running\n", service.ServiceName)
	return nil
}

// printInstallResult says what service install did, one line each.
func printInstallResult(w io.Writer, res service.InstallResult, cmdline string) {
	switch {
	case res.Created:
		fmt.Fprintf(w, "installed service %s (automatic start; restarts on failure): %s\n", service.ServiceName, cmdline)
	case len(res.Changed) > 0:
		fmt.Fprintf(w, "updated service %s: %s\n", service.ServiceName, cmdline)
		for _, c := range res.Changed {
			fmt.Fprintf(w, "  changed %s\n", c)
		}
	default:
		fmt.Fprintf(w, "service %s is already installed as wanted: %s\n", service.ServiceName, cmdline)
	}
	if res.EventSource {
		fmt.Fprintf(w, "registered the Event Log source %s\n", service.ServiceName)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
