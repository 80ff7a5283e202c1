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
	o.progress("%d tenants of %dx%d: generating", o.Tenants, sz.Users, sz.Mailboxes)
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
	maxT := o.MaxConcurrentTenants
	settings, err := writeSettings(dir, s, tenants, maxT)
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

	o.progress("%d tenants of %dx%d: galmirror run", o.Tenants, sz.Users, sz.Mailboxes)
	cmd := exec.Command(o.Exe, "run", "--config", settings)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = logf, pw
	simCPU0 := s.cpu()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		exited <- err
	}()

	// Read the events; every tenant's first run-finished event counts.
	var mu sync.Mutex
	done := map[string]string{}
	counted := map[string]bool{}
	var created, failed int
	all := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			tm := runTenantRE.FindStringSubmatch(line)
			if tm == nil {
				continue
			}
			name := strings.Trim(tm[1], `"`)
			mu.Lock()
			// The engine's summary line of a tenant run carries its counts.
			if strings.Contains(line, `msg="tenant run `) {
				if _, seen := counted[name]; !seen {
					counted[name] = true
					if c := runCreatedRE.FindStringSubmatch(line); c != nil {
						n, _ := strconv.Atoi(c[1])
						created += n
					}
				}
			}
			// The service's run event says the run is over.
			if ev := runEventRE.FindStringSubmatch(line); ev != nil {
				if _, seen := done[name]; !seen {
					done[name] = ev[1]
					if ev[1] != "200" {
						failed++
					}
					if len(done) == len(tenants) {
						close(all)
					}
				}
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()

	var wall time.Duration
	var waitErr error
	timeout := time.NewTimer(o.Timeout)
	defer timeout.Stop()
	select {
	case <-all:
		wall = time.Since(start)
	case err := <-exited:
		<-readDone
		return nil, fmt.Errorf("galmirror run exited early (%v); see %s", err, logf.Name())
	case <-timeout.C:
		waitErr = fmt.Errorf("not every tenant finished within %s", o.Timeout)
		wall = time.Since(start)
	case <-ctx.Done():
		waitErr = ctx.Err()
		wall = time.Since(start)
	}
	simCPU := s.cpu() - simCPU0
	_ = interrupt(cmd)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	<-readDone

	c, err := s.counters(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	ps := cmd.ProcessState
	mu.Lock()
	finishedN := len(done)
	mu.Unlock()
	status := "ok"
	if failed > 0 || finishedN < len(tenants) {
		status = fmt.Sprintf("%d of %d tenants not ok", failed+len(tenants)-finishedN, len(tenants))
	}
	// Tenants run maxConcurrentTenants at a time: the bound is that many
	// waves of one tenant's initial sync.
	conc := maxT
	if conc <= 0 {
		conc = 4 // config.DefaultMaxConcurrentTenants
	}
	waves := ceilDiv(len(tenants), conc)
	r := Result{
		Size: fmt.Sprintf("%dx%d", sz.Users, sz.Mailboxes), Users: sz.Users, Mailboxes: sz.Mailboxes,
		Tenants: len(tenants), Phase: PhaseService, Status: status, ExitCode: ps.ExitCode(),
		WallSeconds:    round3(wall.Seconds()),
		BoundSeconds:   round3(float64(waves) * o.Model.Bound(sz.InitialWork(o.Model)).Seconds()),
		RequestFloor:   len(tenants) * o.Model.RequestFloor(sz.InitialWork(o.Model)),
		ExpectedWrites: len(tenants) * sz.ExpectedInitialWrites(),
		Writes:         int64(created),
		PeakRSSBytes:   peakRSS(ps), CPUSeconds: round3((ps.UserTime() + ps.SystemTime()).Seconds()),
		SimCPUSeconds: round3(simCPU.Seconds()),
		Latency:       o.Model.Latency.String(), Jitter: o.Model.Jitter.String(),
		TimeScale: o.Model.TimeScale, FailRate: o.Model.FailRate, Machine: mach,
	}
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
