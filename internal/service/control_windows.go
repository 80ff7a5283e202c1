package service

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// IsWindowsService reports whether the process was started by the service
// control manager.
func IsWindowsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// RunWindowsService runs run under the service control manager as the
// service name until it is stopped; ParamChange calls reload. It returns
// when the service has stopped.
func RunWindowsService(name string, run func(context.Context) error, reload func()) error {
	h := &handler{run: run, reload: reload}
	if err := svc.Run(name, h); err != nil {
		if errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
			return fmt.Errorf("run as service %s: not started by the service control manager (--service belongs on the service's command line; in a terminal run without it): %w", name, err)
		}
		return fmt.Errorf("run as service %s: %w", name, err)
	}
	return h.Err()
}

type handler struct {
	run    func(context.Context) error
	reload func()
	err    error
}

const accepts = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown | svc.AcceptParamChange

// Execute is the SCM's entry point; requests are translated for
// serveControl, and a failure exit makes the recovery actions apply.
func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reqs := make(chan control)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-r:
				var ctl control
				switch c.Cmd {
				case svc.Interrogate:
					ctl = ctlInterrogate
				case svc.Stop:
					ctl = ctlStop
				case svc.Shutdown:
					ctl = ctlShutdown
				case svc.PreShutdown:
					ctl = ctlPreShutdown
				case svc.ParamChange:
					ctl = ctlParamChange
				default:
					ctl = ctlOther
				}
				select {
				case reqs <- ctl:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	report := func(st ctlStatus) {
		out := svc.Status{CheckPoint: st.CheckPoint, WaitHint: uint32(st.WaitHint.Milliseconds())}
		switch st.State {
		case stateStartPending:
			out.State = svc.StartPending
		case stateRunning:
			out.State, out.Accepts = svc.Running, accepts
		case stateStopPending:
			out.State = svc.StopPending
		}
		s <- out
	}
	err := serveControl(ctx, reqs, report, h.run, h.reload)
	h.err = err
	if err != nil {
		// ERROR_SERVICE_SPECIFIC_ERROR with our code 1: the SCM counts it
		// as a failure and applies the recovery actions.
		return true, 1
	}
	return false, 0
}

// Err returns the error the service stopped with (for the caller's log).
func (h *handler) Err() error {
	if h.err != nil {
		return fmt.Errorf("service stopped: %w", h.err)
	}
	return nil
}
