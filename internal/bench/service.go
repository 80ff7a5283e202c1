package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PhaseService is the many-tenants measurement: every tenant's first run
// in one `galmirror run`.
const PhaseService = "service-initial"

// runEventRE matches the service's run-finished events (200 succeeded, 201
// partial, 202 failed) and the tenant they name.
var (
	runEventRE   = regexp.MustCompile(`event_id=(20[012])\b`)
	runTenantRE  = regexp.MustCompile(`\btenant=("[^"]*"|\S+)`)
	runCreatedRE = regexp.MustCompile(`\bcreated=(\d+)`)
)

// runService starts `galmirror run` on o.Tenants tenants of size sz and
// measures the time until every tenant finished its first run, and the
// service's peak RSS and CPU time.
func runService(ctx context.Context, o Options, sz Shape, dir string, seed int64, mach Machine, emit func(Result)) ([]Result, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	o.progress("%d tenants of %s: generating", o.Tenants, sz.Name())
	var tenants []*benchTenant
	for i := range o.Tenants {
		bt, err := newTenant(fmt.Sprintf("bench%02d", i+1), sz, seed+int64(i))
		if err != nil {
			return nil, err
		}
		tenants = append(tenants, bt)
	}
	s, err := startSim(ctx, o.Exe, filepath.Join(dir, "graphsim"), o.Model, tenants, seed)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	settings, err := writeSettings(dir, s, tenants, o.MaxConcurrentTenants)
	if err != nil {
		return nil, err
	}
	if err := s.resetCounters(ctx); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "service.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()

	o.progress("%d tenants of %s: galmirror run", o.Tenants, sz.Name())
	simCPU0 := s.cpu()
	p, err := startService(o.Exe, settings, logf, len(tenants))
	if err != nil {
		return nil, err
	}
	wall, waitErr, err := p.wait(ctx, o.Timeout)
	if err != nil {
		return nil, err
	}
	simCPU := s.cpu() - simCPU0
	p.stop()
	c, err := s.counters(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	r := p.result(o, sz, wall, simCPU, mach)
	r.Requests, r.Batches, r.BatchItems, r.SimWrites = c.Requests, c.Batches, c.BatchItems, c.Writes
	r.Throttled, r.Unavailable, r.RetryAfterViolations = c.Throttled, c.Unavailable, c.RetryAfterViolations
	finish(&r)
	// The service's CPU and RSS include its shutdown; its wall time is
	// the time to sync every tenant.
	r.Targets = serviceTargets(&r)
	if emit != nil {
		emit(r)
	}
	return []Result{r}, waitErr
}

// serviceProc is a running `galmirror run` and what its log said so far.
// It owns two goroutines, the process's waiter and the log's reader; stop
// ends both.
type serviceProc struct {
	cmd      *exec.Cmd
	logf     *os.File
	start    time.Time
	tenants  int
	exited   chan error    // the process's exit
	readDone chan struct{} // the log read to its end
	all      chan struct{} // closed when every tenant finished a run

	mu      sync.Mutex
	done    map[string]string // tenant → the event id that ended its first run
	counted map[string]bool   // tenants whose first run's counts are in
	created int
	failed  int
}

// startService starts `galmirror run --config settings`, logging to logf,
// and reads its events for the first run of each of n tenants.
func startService(exe, settings string, logf *os.File, n int) (*serviceProc, error) {
	p := &serviceProc{
		cmd: exec.Command(exe, "run", "--config", settings), logf: logf, tenants: n,
		exited: make(chan error, 1), readDone: make(chan struct{}), all: make(chan struct{}),
		done: map[string]string{}, counted: map[string]bool{},
	}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = logf, pw
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		pw.Close()
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.exited <- err
	}()
	go func() {
		defer close(p.readDone)
		p.read(pr)
	}()
	return p, nil
}

// read copies the service's stderr to the log and tallies every tenant's
// first run-finished event.
func (p *serviceProc) read(pr *io.PipeReader) {
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(p.logf, line)
		tm := runTenantRE.FindStringSubmatch(line)
		if tm == nil {
			continue
		}
		p.tally(strings.Trim(tm[1], `"`), line)
	}
	_, _ = io.Copy(io.Discard, pr)
}

// tally counts one log line of a tenant.
func (p *serviceProc) tally(name, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The engine's summary line of a tenant run carries its counts.
	if strings.Contains(line, `msg="tenant run `) {
		if _, seen := p.counted[name]; !seen {
			p.counted[name] = true
			if c := runCreatedRE.FindStringSubmatch(line); c != nil {
				n, _ := strconv.Atoi(c[1])
				p.created += n
			}
		}
	}
	// The service's run event says the run is over.
	if ev := runEventRE.FindStringSubmatch(line); ev != nil {
		if _, seen := p.done[name]; !seen {
			p.done[name] = ev[1]
			if ev[1] != "200" {
				p.failed++
			}
			if len(p.done) == p.tenants {
				close(p.all)
			}
		}
	}
}

// wait waits until every tenant finished its first run, the timeout, or
// ctx; waitErr says why it did not see them all. err is the process
// ending first.
func (p *serviceProc) wait(ctx context.Context, timeout time.Duration) (wall time.Duration, waitErr, err error) {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-p.all:
	case err := <-p.exited:
		<-p.readDone
		return 0, nil, fmt.Errorf("galmirror run exited early (%v); see %s", err, p.logf.Name())
	case <-tm.C:
		waitErr = fmt.Errorf("not every tenant finished within %s", timeout)
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	return time.Since(p.start), waitErr, nil
}

// stop stops the service (killing it after a minute) and waits for its log
// to be read.
func (p *serviceProc) stop() {
	_ = interrupt(p.cmd)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	<-p.readDone
}

// result is the measurement of a stopped service, Graph's counters aside.
func (p *serviceProc) result(o Options, sz Shape, wall, simCPU time.Duration, mach Machine) Result {
	ps := p.cmd.ProcessState
	p.mu.Lock()
	finishedN, failed, created := len(p.done), p.failed, p.created
	p.mu.Unlock()
	status := "ok"
	if failed > 0 || finishedN < p.tenants {
		status = fmt.Sprintf("%d of %d tenants not ok", failed+p.tenants-finishedN, p.tenants)
	}
	// Tenants run maxConcurrentTenants at a time: the bound is that many
	// waves of one tenant's initial sync.
	conc := o.MaxConcurrentTenants
	if conc <= 0 {
		conc = 4 // config.DefaultMaxConcurrentTenants
	}
	waves := ceilDiv(p.tenants, conc)
	return Result{
		Size: sz.Name(), Users: sz.Users, Mailboxes: sz.Mailboxes, Sources: sz.S(),
		Tenants: p.tenants, Phase: PhaseService, Status: status, ExitCode: ps.ExitCode(),
		WallSeconds:    round3(wall.Seconds()),
		BoundSeconds:   round3(float64(waves) * o.Model.Bound(sz.InitialWork(o.Model)).Seconds()),
		RequestFloor:   p.tenants * o.Model.RequestFloor(sz.InitialWork(o.Model)),
		ExpectedWrites: p.tenants * sz.ExpectedInitialWrites(),
		Writes:         int64(created),
		PeakRSSBytes:   peakRSS(ps), CPUSeconds: round3((ps.UserTime() + ps.SystemTime()).Seconds()),
		SimCPUSeconds: round3(simCPU.Seconds()),
		Latency:       o.Model.Latency.String(), Jitter: o.Model.Jitter.String(),
		TimeScale: o.Model.TimeScale, FailRate: o.Model.FailRate, Machine: mach,
	}
}

// serviceTargets are the targets that apply to the many-tenants run.
func serviceTargets(r *Result) []Check {
	cs := []Check{
		equal("writes", float64(r.Writes), float64(r.ExpectedWrites)),
		equal("Retry-After violations", float64(r.RetryAfterViolations), 0),
	}
	if r.PeakRSSBytes > 0 {
		cs = append(cs, atMost("peak RSS MB", float64(r.PeakRSSBytes)/(1<<20), TargetPeakRSS/(1<<20)))
	}
	if r.Writes > 0 && r.CPUSeconds > 0 {
		cs = append(cs, atMost("CPU µs/write", r.CPUMicrosPerWrite, TargetCPUPerWrite*1e6))
	}
	if r.CPUFloorSeconds > 0 {
		cs = append(cs, atMost("wall/CPU floor", r.WallSeconds/r.CPUFloorSeconds, TargetServiceRatio))
	}
	return cs
}
