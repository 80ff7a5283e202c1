package service

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/fsperm"
)

// Install makes galmirror's folder (DefaultDir, %ProgramData%\galmirror)
// private (package fsperm: SYSTEM, Administrators and NT SERVICE\galmirror,
// nothing inherited; created if missing, its permissions replaced if it
// exists), registers the Event Log source, creates the Windows service
// (automatic start, quoted image path) or brings an existing one to that
// configuration, and sets its description, recovery actions (restart on
// failure, also on a non-crash failure exit) and delayed start. It does not
// start the service.
//
// Running it twice is harmless: the second run finds everything as wanted.
// Settings the service manager does not support (Wine's lacks delayed
// start and the non-crash flag) are warnings in the result, not failures.
// When a step fails, Install undoes what it did before returning: it
// deletes a service it created, restores the command line, start type and
// account of one it changed, and removes an event source it registered.
func Install(o InstallOptions) (InstallResult, error) {
	var res InstallResult
	if err := o.normalise(); err != nil {
		return res, err
	}
	m, err := mgr.Connect()
	if err != nil {
		return res, &InstallError{Step: "connect to the service control manager", Err: err}
	}
	defer m.Disconnect()
	// Before the service exists, so that it never starts on an open folder;
	// the virtual account needs the grant to create its data directory.
	if err := fsperm.MakePrivate(DefaultDir()); err != nil {
		return res, &InstallError{Step: "make " + DefaultDir() + " private", Err: err}
	}
	var u undoStack
	// The event source first: the step most likely to be refused (a
	// locked-down registry) fails before anything else exists.
	if !events.SourceRegistered(events.SourceName) {
		if err := events.InstallSource(events.SourceName); err != nil {
			return res, u.fail("register the Event Log source", err)
		}
		res.EventSource = true
		u.push("removed the Event Log source", func() error { return events.RemoveSource(events.SourceName) })
	}

	cmdline := CommandLine(o.Exe, o.Args)
	h, err := openService(m, o.Name)
	switch {
	case err == nil:
		changed, restore, err := updateService(h, o, cmdline)
		if err != nil {
			windows.CloseServiceHandle(h)
			return res, u.fail("change service "+o.Name, err)
		}
		res.Changed = changed
		if restore != nil {
			u.push("restored the service's previous configuration", restore)
		}
	case errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST):
		h, err = createService(m, o, cmdline)
		if err != nil {
			return res, u.fail("create service "+o.Name, err)
		}
		res.Created = true
	default:
		return res, u.fail("open service "+o.Name, err)
	}
	s := &mgr.Service{Name: o.Name, Handle: h}
	open := true
	defer func() {
		if open {
			s.Close()
		}
	}()
	if res.Created {
		// Our handle must be closed for the deletion to complete.
		u.push("deleted the service", func() error {
			err := windows.DeleteService(h)
			s.Close()
			open = false
			if err != nil {
				return err
			}
			return waitGone(m, o.Name)
		})
	}

	if err := configureExtras(h, s, o, &res); err != nil {
		return res, u.fail(err.step, err.err)
	}
	return res, nil
}

// extraError is a failed extended setting: the step, for InstallError.
type extraError struct {
	step string
	err  error
}

// configureExtras sets the service's description, service SID (virtual
// account), recovery actions and delayed start. Settings the service
// manager does not support are warnings in res (see optional).
func configureExtras(h windows.Handle, s *mgr.Service, o InstallOptions, res *InstallResult) *extraError {
	desc, _ := windows.UTF16PtrFromString(Description)
	sd := windows.SERVICE_DESCRIPTION{Description: desc}
	if err := optional(res, "description", windows.ChangeServiceConfig2(h, windows.SERVICE_CONFIG_DESCRIPTION, (*byte)(unsafe.Pointer(&sd)))); err != nil {
		return &extraError{"set the description of " + o.Name, err}
	}
	if o.Account == "virtual" {
		sid := uint32(windows.SERVICE_SID_TYPE_UNRESTRICTED)
		if err := optional(res, "service SID (the virtual account's own SID)", windows.ChangeServiceConfig2(h, windows.SERVICE_CONFIG_SERVICE_SID_INFO, (*byte)(unsafe.Pointer(&sid)))); err != nil {
			return &extraError{"set the service SID type of " + o.Name, err}
		}
	}
	actions := make([]mgr.RecoveryAction, 0, len(recoveryDelays))
	for _, d := range recoveryDelays {
		actions = append(actions, mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d})
	}
	if err := optional(res, "recovery actions", s.SetRecoveryActions(actions, uint32(recoveryReset.Seconds()))); err != nil {
		return &extraError{"set the recovery actions of " + o.Name, err}
	} else if got, qerr := s.RecoveryActions(); qerr != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("recovery actions: set, but could not be read back (%v)", qerr))
	} else if len(got) != len(actions) {
		// Wine's service manager answers success and keeps nothing.
		res.Warnings = append(res.Warnings, "recovery actions: the service manager accepted them but did not keep them (restart on failure is not configured)")
	}
	if err := optional(res, "recovery on failure exits (not only crashes)", s.SetRecoveryActionsOnNonCrashFailures(true)); err != nil {
		return &extraError{"set recovery on failure exits of " + o.Name, err}
	}
	delayed := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
	if err := optional(res, "delayed automatic start (it starts automatically, without the delay)", windows.ChangeServiceConfig2(h, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&delayed)))); err != nil {
		return &extraError{"set delayed start of " + o.Name, err}
	}
	return nil
}

// optional records err as a warning when it says the service manager does
// not support the setting, and returns any other error.
func optional(res *InstallResult, what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, windows.ERROR_INVALID_LEVEL) || errors.Is(err, windows.ERROR_NOT_SUPPORTED) || errors.Is(err, windows.ERROR_CALL_NOT_IMPLEMENTED) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: not supported by this service manager (%v)", what, err))
		return nil
	}
	return err
}

func openService(m *mgr.Mgr, name string) (windows.Handle, error) {
	p, err := syscall.UTF16PtrFromString(name)
	if err != nil {
		return 0, err
	}
	return windows.OpenService(m.Handle, p, windows.SERVICE_ALL_ACCESS)
}

func createService(m *mgr.Mgr, o InstallOptions, cmdline string) (windows.Handle, error) {
	name, _ := syscall.UTF16PtrFromString(o.Name)
	disp, _ := syscall.UTF16PtrFromString(DisplayName)
	bin, err := syscall.UTF16PtrFromString(cmdline)
	if err != nil {
		return 0, err
	}
	var account *uint16
	if n := o.startName(); n != "" {
		account, _ = syscall.UTF16PtrFromString(n)
	}
	return windows.CreateService(m.Handle, name, disp, windows.SERVICE_ALL_ACCESS, windows.SERVICE_WIN32_OWN_PROCESS,
		windows.SERVICE_AUTO_START, windows.SERVICE_ERROR_NORMAL, bin, nil, nil, nil, account, nil)
}

// serviceConfig is the part of a service's configuration Install sets
// with ChangeServiceConfig.
type serviceConfig struct {
	cmdline, account, display string
	startType, errorControl   uint32
}

func queryConfig(h windows.Handle) (serviceConfig, error) {
	n := uint32(1024)
	for {
		b := make([]byte, n)
		p := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&b[0]))
		err := windows.QueryServiceConfig(h, p, n, &n)
		if err == nil {
			return serviceConfig{
				cmdline:      windows.UTF16PtrToString(p.BinaryPathName),
				account:      windows.UTF16PtrToString(p.ServiceStartName),
				display:      windows.UTF16PtrToString(p.DisplayName),
				startType:    p.StartType,
				errorControl: p.ErrorControl,
			}, nil
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) || n <= uint32(len(b)) {
			return serviceConfig{}, err
		}
	}
}

// isLocalSystem: QueryServiceConfig names LocalSystem "LocalSystem" (an
// MSI may write ".\LocalSystem" or leave it empty).
func isLocalSystem(account string) bool {
	a := strings.ToLower(account)
	return a == "" || a == "localsystem" || a == `.\localsystem` || a == `nt authority\system`
}

// updateService brings an existing service to the wanted command line,
// start type, error control, display name and account. It returns what it
// changed and how to restore the previous configuration (nil when nothing
// changed).
func updateService(h windows.Handle, o InstallOptions, cmdline string) ([]string, func() error, error) {
	prev, err := queryConfig(h)
	if err != nil {
		return nil, nil, fmt.Errorf("read its configuration: %w", err)
	}
	var changed []string
	if prev.cmdline != cmdline {
		changed = append(changed, fmt.Sprintf("command line (was %s)", prev.cmdline))
	}
	if prev.startType != windows.SERVICE_AUTO_START {
		changed = append(changed, "start type (automatic)")
	}
	if prev.errorControl != windows.SERVICE_ERROR_NORMAL {
		changed = append(changed, "error control")
	}
	if prev.display != DisplayName {
		changed = append(changed, "display name")
	}
	wantAccount := o.startName()
	accountChange := false
	if wantAccount == "" {
		accountChange = !isLocalSystem(prev.account)
	} else {
		accountChange = !strings.EqualFold(prev.account, wantAccount)
	}
	if accountChange {
		changed = append(changed, fmt.Sprintf("account (was %s)", prev.account))
	}
	if len(changed) == 0 {
		return nil, nil, nil
	}
	bin, _ := syscall.UTF16PtrFromString(cmdline)
	disp, _ := syscall.UTF16PtrFromString(DisplayName)
	var account, password *uint16
	if accountChange {
		name := wantAccount
		if name == "" {
			name = "LocalSystem"
		}
		account, _ = syscall.UTF16PtrFromString(name)
		password, _ = syscall.UTF16PtrFromString("")
	}
	if err := windows.ChangeServiceConfig(h, windows.SERVICE_NO_CHANGE, windows.SERVICE_AUTO_START, windows.SERVICE_ERROR_NORMAL,
		bin, nil, nil, nil, account, password, disp); err != nil {
		return nil, nil, err
	}
	restore := func() error {
		bin, _ := syscall.UTF16PtrFromString(prev.cmdline)
		disp, _ := syscall.UTF16PtrFromString(prev.display)
		var account, password *uint16
		if accountChange {
			name := prev.account
			if name == "" {
				name = "LocalSystem"
			}
			account, _ = syscall.UTF16PtrFromString(name)
			password, _ = syscall.UTF16PtrFromString("")
		}
		return windows.ChangeServiceConfig(h, windows.SERVICE_NO_CHANGE, prev.startType, prev.errorControl, bin, nil, nil, nil, account, password, disp)
	}
	return changed, restore, nil
}

// deleteService stops (bounded) and deletes the service and waits
// (bounded) until the control manager has removed it.
func deleteService(m *mgr.Mgr, name string) error {
	s, err := m.OpenService(name)
	if err != nil {
		return err
	}
	_ = stopAndWait(s, 60*time.Second)
	err = s.Delete()
	s.Close()
	if err != nil {
		return err
	}
	return waitGone(m, name)
}

// waitGone waits (bounded) until the control manager has removed a
// deleted service (it does once the last handle is closed).
func waitGone(m *mgr.Mgr, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := m.OpenService(name)
		if err != nil {
			return nil
		}
		s.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s is marked for deletion but still registered after 30s (a program such as services.msc holds it open; it goes when that closes)", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ServiceInfo is the installed service as the control manager has it.
type ServiceInfo struct {
	CommandLine string
	Account     string
	StartType   string // "automatic", "manual", "disabled", ...
	State       string // "running", "stopped", ...
}

// Query returns the installed service's configuration and state;
// ErrNotInstalled when there is none.
func Query(name string) (ServiceInfo, error) {
	if name == "" {
		name = ServiceName
	}
	m, err := mgr.Connect()
	if err != nil {
		return ServiceInfo{}, fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer m.Disconnect()
	h, err := openService(m, name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return ServiceInfo{}, ErrNotInstalled
	} else if err != nil {
		return ServiceInfo{}, fmt.Errorf("open service %s: %w", name, err)
	}
	s := &mgr.Service{Name: name, Handle: h}
	defer s.Close()
	c, err := queryConfig(h)
	if err != nil {
		return ServiceInfo{}, fmt.Errorf("query service %s: %w", name, err)
	}
	st, err := s.Query()
	if err != nil {
		return ServiceInfo{}, fmt.Errorf("query service %s: %w", name, err)
	}
	info := ServiceInfo{CommandLine: c.cmdline, Account: c.account}
	switch c.startType {
	case windows.SERVICE_AUTO_START:
		info.StartType = "automatic"
	case windows.SERVICE_DEMAND_START:
		info.StartType = "manual"
	case windows.SERVICE_DISABLED:
		info.StartType = "disabled"
	default:
		info.StartType = fmt.Sprint(c.startType)
	}
	info.State = stateName(st.State)
	return info, nil
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "start pending"
	case svc.StopPending:
		return "stop pending"
	case svc.Running:
		return "running"
	case svc.ContinuePending:
		return "continue pending"
	case svc.PausePending:
		return "pause pending"
	case svc.Paused:
		return "paused"
	}
	return fmt.Sprint(uint32(s))
}

// Secure makes each folder private the way Install makes galmirror's own
// (fsperm.MakePrivate): created if missing, its permissions replaced if it
// is not private. For a data directory an earlier galmirror created open,
// or one outside %ProgramData%\galmirror that the virtual account must use.
func Secure(dirs ...string) error {
	for _, d := range dirs {
		if err := fsperm.MakePrivate(d); err != nil {
			return fmt.Errorf("make %s private: %w", d, err)
		}
	}
	return nil
}

// Uninstall stops the service if it runs, deletes it, waits (bounded) until
// the control manager has removed it, and removes the Event Log source.
// What is already gone is not an error: it returns ErrNotInstalled only
// when neither the service nor the source was there.
func Uninstall(name string) error {
	if name == "" {
		name = ServiceName
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer m.Disconnect()
	hadSource := events.SourceRegistered(events.SourceName)
	err = deleteService(m, name)
	hadService := true
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		hadService, err = false, nil
	}
	if err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	if err := events.RemoveSource(events.SourceName); err != nil {
		return err
	}
	if !hadService && !hadSource {
		return ErrNotInstalled
	}
	return nil
}

// Start starts the installed service and waits (bounded by wait) until the
// control manager reports it running. A service that stops instead, or is
// still starting when wait is over, is an error naming its state and exit
// code.
func Start(name string, wait time.Duration) error {
	if name == "" {
		name = ServiceName
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", name, err)
	}
	defer s.Close()
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		return fmt.Errorf("start service %s: %w", name, err)
	}
	deadline := time.Now().Add(wait)
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service %s: %w", name, err)
		}
		switch {
		case st.State == svc.Running:
			return nil
		case st.State == svc.Stopped:
			return fmt.Errorf("service %s stopped right after starting (exit code %d, service-specific %d): see the Application log, source galmirror (event 103)", name, st.Win32ExitCode, st.ServiceSpecificExitCode)
		case time.Now().After(deadline):
			return fmt.Errorf("service %s is still %s after %s", name, stateName(st.State), wait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop stops the service and waits (bounded) until it has stopped.
func Stop(name string) error {
	if name == "" {
		name = ServiceName
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", name, err)
	}
	defer s.Close()
	return stopAndWait(s, 60*time.Second)
}

func stopAndWait(s *mgr.Service, bound time.Duration) error {
	st, err := s.Control(svc.Stop)
	if err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			return nil
		}
		return fmt.Errorf("stop service: %w", err)
	}
	deadline := time.Now().Add(bound)
	for st.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("service did not stop within %s", bound)
		}
		time.Sleep(300 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return fmt.Errorf("query service: %w", err)
		}
	}
	return nil
}
