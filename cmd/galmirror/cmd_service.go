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

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/service"
)

func init() {
	register(&command{
		name:    "service",
		summary: "install, uninstall, start or stop the Windows service",
		run:     runServiceCmd,
	})
}

func runServiceCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: galmirror service install [--config FILE] [--account LocalSystem|virtual]")
		fmt.Fprintln(stderr, "       galmirror service uninstall|start|stop")
		fmt.Fprintln(stderr, "       galmirror service secure [--config FILE]   (make %ProgramData%\\galmirror and dataDir private)")
		fmt.Fprintln(stderr, "Windows only (run elevated). On Linux use packaging/systemd/galmirror.service.")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return map[bool]int{true: exitUsage, false: exitOK}[len(args) == 0]
	}
	var err error
	switch args[0] {
	case "install":
		fs := flag.NewFlagSet("service install", flag.ContinueOnError)
		fs.SetOutput(stderr)
		cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file the service runs with")
		account := fs.String("account", "LocalSystem", "service account: LocalSystem or virtual (NT SERVICE\\galmirror)")
		if code, done := parseFlags(fs, args[1:]); done {
			return code
		}
		if fs.NArg() > 0 {
			usage()
			return exitUsage
		}
		// Services start in System32: everything on the command line is
		// absolute.
		cfg, perr := filepath.Abs(*cfgPath)
		if perr != nil {
			fmt.Fprintf(stderr, "galmirror: settings file %s: %v\n", *cfgPath, perr)
			return exitUsage
		}
		exe, perr := os.Executable()
		if perr == nil {
			exe, perr = filepath.Abs(exe)
		}
		if perr != nil {
			fmt.Fprintf(stderr, "galmirror: locate galmirror.exe: %v\n", perr)
			return exitFailed
		}
		err = service.Install(service.InstallOptions{Exe: exe, Args: []string{"run", "--config", cfg}, Account: *account})
		if err == nil {
			fmt.Fprintf(stdout, "installed service %s (automatic, delayed start; restarts on failure) running %s with %s\n", service.ServiceName, exe, cfg)
			fmt.Fprintln(stdout, "start it with: galmirror service start")
		}
	case "secure":
		fs := flag.NewFlagSet("service secure", flag.ContinueOnError)
		fs.SetOutput(stderr)
		cfgPath := fs.String("config", service.DefaultConfigPath(), "settings file whose dataDir to secure as well")
		if code, done := parseFlags(fs, args[1:]); done {
			return code
		}
		if fs.NArg() > 0 {
			usage()
			return exitUsage
		}
		if runtime.GOOS != "windows" {
			err = service.ErrUnsupportedPlatform
			break
		}
		dirs := []string{service.DefaultDir()}
		if cfg, lerr := config.Load(*cfgPath); lerr == nil {
			dirs = append(dirs, cfg.DataDir)
		} else {
			fmt.Fprintf(stderr, "galmirror: settings file %s: %v (securing %s only)\n", *cfgPath, lerr, dirs[0])
		}
		err = service.Secure(dirs...)
		if err == nil {
			for _, d := range dirs {
				fmt.Fprintf(stdout, "%s: private to SYSTEM, Administrators and NT SERVICE\\%s\n", d, service.ServiceName)
			}
		}
	case "uninstall":
		err = service.Uninstall(service.ServiceName)
		if err == nil {
			fmt.Fprintf(stdout, "removed service %s and its event source\n", service.ServiceName)
		}
	case "start":
		err = service.Start(service.ServiceName)
	case "stop":
		err = service.Stop(service.ServiceName)
	case "-h", "--help", "help":
		usage()
		return exitOK
	default:
		usage()
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: %v\n", err)
		if errors.Is(err, service.ErrUnsupportedPlatform) {
			return exitUsage
		}
		return exitFailed
	}
	return exitOK
}
