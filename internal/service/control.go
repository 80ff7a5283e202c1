package service

import (
	"context"
	"time"
)

// The Windows service control handler's logic, in platform-neutral types so
// that it is tested on every system; control_windows.go maps
// golang.org/x/sys/windows/svc requests and statuses onto these.

// control is a request from the service control manager.
type control int

const (
	ctlInterrogate control = iota
	ctlStop
	ctlShutdown
	ctlPreShutdown
	ctlParamChange
	ctlOther
)

// ctlState is the state reported to the service control manager.
type ctlState int

const (
	stateStartPending ctlState = iota
	stateRunning
	stateStopPending
)

// ctlStatus is one status report. CheckPoint grows while StopPending so the
// control manager sees progress; WaitHint says how long until the next one.
type ctlStatus struct {
	State      ctlState
	CheckPoint uint32
	WaitHint   time.Duration
}

// stopHint is the wait hint of each StopPending report: the runs' own
// shutdown bound is longer, so progress is reported repeatedly.
const stopHint = 5 * time.Second

// serveControl runs the service and answers control requests until it has
// stopped: StartPending, then Running as soon as run is started (slow
// start-up work happens inside run), Interrogate echoes the last status,
// ParamChange reloads, Stop/Shutdown/PreShutdown report StopPending at once,
// cancel run and keep reporting progress until it returns. It returns run's
// error; a non-nil error (or run returning on its own) makes the service
// exit with a failure so the recovery actions restart it.
func serveControl(ctx context.Context, reqs <-chan control, report func(ctlStatus), run func(context.Context) error, reload func()) error {
	report(ctlStatus{State: stateStartPending, WaitHint: 10 * time.Second})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(rctx) }()
	cur := ctlStatus{State: stateRunning}
	report(cur)
	var tick <-chan time.Time
	for {
		select {
		case err := <-done:
			return err
		case <-tick:
			cur.CheckPoint++
			report(cur)
		case c := <-reqs:
			switch c {
			case ctlInterrogate:
				report(cur)
			case ctlParamChange:
				reload()
				report(cur)
			case ctlStop, ctlShutdown, ctlPreShutdown:
				if cur.State == stateStopPending {
					report(cur)
					continue
				}
				cur = ctlStatus{State: stateStopPending, CheckPoint: 1, WaitHint: stopHint}
				report(cur)
				cancel()
				t := time.NewTicker(stopHint / 2)
				defer t.Stop()
				tick = t.C
			default:
				report(cur)
			}
		}
	}
}
