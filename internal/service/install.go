package service

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// ServiceName is the Windows service's name (and the Event Log source).
const ServiceName = "galmirror"

// DisplayName and Description are what services.msc shows.
const (
	DisplayName = "galmirror directory contacts"
	Description = "Keeps the Microsoft 365 directory as a managed contact folder in every mailbox."
)

// InstallOptions describe the Windows service to create or update.
type InstallOptions struct {
	// Name of the service (default ServiceName).
	Name string
	// Exe is the absolute path of galmirror.exe.
	Exe string
	// Args follow the executable on the service's command line: ServiceArgs
	// of the settings file.
	Args []string
	// Account is "LocalSystem" (default) or "virtual" (NT SERVICE\<name>,
	// which needs read access to the data directory and the certificate's
	// private key).
	Account string
}

// ServiceArgs are the arguments of the service's command line: `run` in
// explicit service mode, so that starting as a service never depends on
// detecting the service manager, with the settings file (absolute:
// services start in System32).
func ServiceArgs(configPath string) []string {
	return []string{"run", "--service", "--config", configPath}
}

// CommandLine is the service's image path: the executable always in
// quotes (an unquoted path with spaces could be read as a shorter program
// a user planted, "C:\Program.exe"), each argument quoted the way Windows
// programs split their command line.
func CommandLine(exe string, args []string) string {
	var b strings.Builder
	b.WriteString(`"` + exe + `"`)
	for _, a := range args {
		b.WriteString(" ")
		b.WriteString(escapeArg(a))
	}
	return b.String()
}

// escapeArg quotes s for CommandLineToArgvW (as syscall.EscapeArg does on
// Windows; here so that it is tested on every system).
func escapeArg(s string) string {
	if s == "" {
		return `""`
	}
	if !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}

// ErrNotInstalled: there is no galmirror service (nor event source) to
// remove or query.
var ErrNotInstalled = errors.New("the galmirror service is not installed")

// InstallResult says what Install did.
type InstallResult struct {
	// Created: the service did not exist and was created.
	Created bool
	// Changed lists the settings of an existing service that were changed
	// ("command line", "start type", "account", ...); empty when Install
	// found it as wanted.
	Changed []string
	// Warnings are settings this service manager does not support or did
	// not keep (delayed start, recovery actions under Wine): the service is
	// installed and works without them.
	Warnings []string
	// EventSource: the Event Log source was registered by this call.
	EventSource bool
}

// InstallError is a failed Install: what failed, and what Install undid of
// its own work before returning.
type InstallError struct {
	Step    string
	Err     error
	Undone  []string
	UndoErr error
}

func (e *InstallError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Step, e.Err)
	if len(e.Undone) > 0 {
		msg += "; undone: " + strings.Join(e.Undone, ", ")
	}
	if e.UndoErr != nil {
		msg += fmt.Sprintf("; could not undo: %v", e.UndoErr)
	}
	return msg
}

func (e *InstallError) Unwrap() error { return e.Err }

// undoStack collects how to take back each step of an install, to run in
// reverse when a later step fails.
type undoStack struct {
	steps []undoStep
}

type undoStep struct {
	what string
	fn   func() error
}

func (u *undoStack) push(what string, fn func() error) {
	u.steps = append(u.steps, undoStep{what, fn})
}

// fail undoes every step, newest first, and returns the InstallError.
func (u *undoStack) fail(step string, err error) *InstallError {
	ie := &InstallError{Step: step, Err: err}
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := u.steps[i]
		if uerr := s.fn(); uerr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, uerr))
			continue
		}
		ie.Undone = append(ie.Undone, s.what)
	}
	u.steps = nil
	ie.UndoErr = errors.Join(errs...)
	return ie
}

// Recovery: restart after 10s, 30s, then every 60s; the failure count
// resets after a day without failures.
var (
	recoveryDelays = []time.Duration{10 * time.Second, 30 * time.Second, 60 * time.Second}
	recoveryReset  = 24 * time.Hour
)

func (o *InstallOptions) normalise() error {
	if o.Name == "" {
		o.Name = ServiceName
	}
	switch o.Account {
	case "", "LocalSystem", "localsystem":
		o.Account = "LocalSystem"
	case "virtual":
	default:
		return fmt.Errorf("unknown service account %q: use LocalSystem or virtual", o.Account)
	}
	if o.Exe == "" {
		return fmt.Errorf("service executable path is required")
	}
	return nil
}

// startName is the account name passed to CreateService: empty for
// LocalSystem, "NT SERVICE\<name>" for a virtual account.
func (o InstallOptions) startName() string {
	if o.Account == "virtual" {
		return `NT SERVICE\` + o.Name
	}
	return ""
}

// DefaultConfigPath is the settings file used when --config is not given.
func DefaultConfigPath() string { return filepath.Join(DefaultDir(), "settings.json") }
