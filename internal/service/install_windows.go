package service

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/fsperm"
)

// Install makes galmirror's folder (DefaultDir, %ProgramData%\galmirror)
// private (package fsperm: SYSTEM, Administrators and NT SERVICE\galmirror,
// nothing inherited; created if missing, its permissions replaced if it
// exists), creates the Windows service (automatic, delayed start), sets its
// recovery actions (restart on failure, also on a non-crash failure exit)
// and registers the Event Log source. It does not start the service.
func Install(o InstallOptions) error {
	if err := o.normalise(); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(o.Name); err == nil {
		s.Close()
		return fmt.Errorf("service %s is already installed (uninstall it first)", o.Name)
	}
	// Before the service exists, so that it never starts on an open folder;
	// the virtual account needs the grant to create its data directory.
	if err := fsperm.MakePrivate(DefaultDir()); err != nil {
		return fmt.Errorf("make %s private: %w", DefaultDir(), err)
	}
	cfg := mgr.Config{
		DisplayName:      "galmirror directory contacts",
		Description:      "Keeps the Microsoft 365 directory as a managed contact folder in every mailbox.",
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ErrorControl:     mgr.ErrorNormal,
		ServiceStartName: o.startName(),
	}
	if o.Account == "virtual" {
		cfg.SidType = windows.SERVICE_SID_TYPE_UNRESTRICTED
	}
	s, err := m.CreateService(o.Name, o.Exe, cfg, o.Args...)
	if err != nil {
		return fmt.Errorf("create service %s: %w", o.Name, err)
	}
	defer s.Close()
	actions := make([]mgr.RecoveryAction, 0, len(recoveryDelays))
	for _, d := range recoveryDelays {
		actions = append(actions, mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d})
	}
	if err := s.SetRecoveryActions(actions, uint32(recoveryReset.Seconds())); err != nil {
		return fmt.Errorf("set recovery actions of %s: %w", o.Name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("set recovery on failure exits of %s: %w", o.Name, err)
	}
	if err := events.InstallSource(events.SourceName); err != nil {
		return err
	}
	return nil
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
func Uninstall(name string) error {
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
	_ = stopAndWait(s, 60*time.Second)
	err = s.Delete()
	s.Close()
	if err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s, err := m.OpenService(name)
		if err != nil {
			break
		}
		s.Close()
		time.Sleep(500 * time.Millisecond)
	}
	return events.RemoveSource(events.SourceName)
}

// Start starts the installed service.
func Start(name string) error {
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
	if err := s.Start(); err != nil {
		return fmt.Errorf("start service %s: %w", name, err)
	}
	return nil
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
