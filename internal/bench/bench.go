// Package bench measures galmirror against Graph's throttling model: it
// starts `galmirror graphsim` as a separate process with a generated
// tenant, runs `galmirror sync --json` as a subprocess per phase (initial
// full sync, a run with no change, a run after 1% of the users changed),
// and reports per phase the wall time, requests, $batch items, writes,
// throttling, Retry-After violations, galmirror's peak RSS and CPU time,
// and the lower bound of the same work under the model (Model.Bound).
//
// Only galmirror is measured: graphsim runs in its own process, and the
// CPU and memory figures come from the sync process's rusage. graphsim's
// own CPU time is reported beside them, because on a small machine the two
// share the cores and the emulator's work can be the real limit.
//
// It is the engine of `galmirror bench`; it imports graphsim (a test tool)
// and is never imported by the service's packages.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options configure a benchmark.
type Options struct {
	// Exe is the galmirror binary (graphsim and sync are its subcommands).
	Exe string
	// Sizes are the tenants to measure, in order.
	Sizes []Shape
	// Model is the throttling model and latency given to graphsim.
	Model Model
	// Dir holds every size's files (fixture, settings, state, logs); it
	// is created if missing and left in place. Required.
	Dir string
	// Seed seeds the generated tenants and graphsim's randomness.
	Seed int64
	// ProfileDir, when set, makes every sync write CPU and heap profiles
	// there (size-phase.cpu.pprof, size-phase.mem.pprof).
	ProfileDir string
	// Tenants > 1 measures the service instead: that many tenants of
	// each size in one `galmirror run`, MaxConcurrentTenants at once.
	Tenants              int
	MaxConcurrentTenants int
	// Timeout bounds one phase (default 1 h).
	Timeout time.Duration
	// Progress receives a line per step (nil: none).
	Progress io.Writer
	// Photos gives every other user a photo, syncs photos, and adds the
	// photos1pct phase (single-tenant runs only).
	Photos bool
}

// Result is one phase of one size: the JSON object `galmirror bench
// --json` prints per line, stable across commits so runs can be compared.
type Result struct {
	// Size is UxM, or UxMxS when fewer users than all are sources.
	Size      string `json:"size"`
	Users     int    `json:"users"`
	Mailboxes int    `json:"mailboxes"`
	// Sources is S, the users whose contacts are written (S = U for UxM).
	Sources int    `json:"sources"`
	Tenants int    `json:"tenants"`
	Phase   string `json:"phase"`
	// Status is the sync's (ok, partial, failed); ExitCode its exit code.
	Status   string `json:"status"`
	ExitCode int    `json:"exitCode"`

	// WallSeconds is the sync process's life, start to exit; SyncSeconds
	// what galmirror itself reported (its tenant runs, without process
	// start-up).
	WallSeconds  float64 `json:"wallSeconds"`
	SyncSeconds  float64 `json:"syncSeconds"`
	BoundSeconds float64 `json:"boundSeconds"`
	Ratio        float64 `json:"ratio"` // wall / bound
	// FloorRatio is wall / max(bound, CPU floor): how far the run is from
	// what either Graph or this machine allows.
	FloorRatio float64 `json:"floorRatio"`

	// Requests, Batches and BatchItems are what graphsim received;
	// GalmirrorRequests and GalmirrorBatchItems what galmirror counted
	// sending. RequestFloor is the fewest requests the work needs.
	Requests            int64 `json:"requests"`
	Batches             int64 `json:"batches"`
	BatchItems          int64 `json:"batchItems"`
	GalmirrorRequests   int64 `json:"galmirrorRequests"`
	GalmirrorBatchItems int64 `json:"galmirrorBatchItems"`
	RequestFloor        int   `json:"requestFloor"`

	// Writes are the contacts galmirror created, updated and deleted;
	// SimWrites the writes graphsim served; ExpectedWrites what the phase
	// must write.
	Writes         int64 `json:"writes"`
	SimWrites      int64 `json:"simWrites"`
	ExpectedWrites int   `json:"expectedWrites"`
	Failed         int   `json:"failedItems"`

	Throttled            int64 `json:"throttled429"`
	Unavailable          int64 `json:"unavailable503"`
	RetryAfterViolations int64 `json:"retryAfterViolations"`

	// PeakRSSBytes and CPUSeconds are galmirror's (the sync or service
	// process's rusage); zero where the system does not report them.
	PeakRSSBytes      int64   `json:"peakRSSBytes"`
	CPUSeconds        float64 `json:"cpuSeconds"`
	CPUMicrosPerWrite float64 `json:"cpuMicrosPerWrite"`
	// SimCPUSeconds is graphsim's CPU time during the phase.
	SimCPUSeconds float64 `json:"simCPUSeconds"`
	// CPUFloorSeconds is (CPUSeconds + SimCPUSeconds) / the machine's
	// CPUs: the shortest wall time this machine allows for the CPU work
	// both processes did, whatever the model's bound says.
	CPUFloorSeconds float64 `json:"cpuFloorSeconds"`

	Latency   string  `json:"latency"`
	Jitter    string  `json:"jitter"`
	TimeScale float64 `json:"timeScale"`
	FailRate  float64 `json:"failRate"`

	Targets []Check `json:"targets"`
	Machine Machine `json:"machine"`
	// Photos are the photo figures of a --photos run.
	Photos *PhotoFigures `json:"photos,omitempty"`
}

// PhotoFigures are a phase's photo work: what galmirror reported (sync
// --json's photos), the photo calls graphsim served, and what the phase
// must download and upload.
type PhotoFigures struct {
	Checked         int   `json:"checked"`
	Downloaded      int   `json:"downloaded"`
	DownloadedBytes int64 `json:"downloadedBytes"`
	Uploaded        int   `json:"uploaded"`
	UploadedBytes   int64 `json:"uploadedBytes"`
	Failed          int   `json:"failed"`
	// Requests are the photo calls graphsim served: requests of their own
	// (downloads, uploads) and $batch items (metadata reads, 20 to a batch
	// request, which the phase's requests count).
	Requests          int64 `json:"requests"`
	ExpectedDownloads int   `json:"expectedDownloads"`
	ExpectedUploads   int   `json:"expectedUploads"`
}

// Run measures every size and returns its phases' results; emit (if not
// nil) receives each result as soon as it is measured. A phase whose sync
// fails as a whole ends its size with an error (the results so far are
// returned).
func Run(ctx context.Context, o Options, emit func(Result)) ([]Result, error) {
	if o.Exe == "" || o.Dir == "" || len(o.Sizes) == 0 {
		return nil, errors.New("bench: Exe, Dir and Sizes are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Hour
	}
	if o.Tenants < 1 {
		o.Tenants = 1
	}
	mach := thisMachine()
	var all []Result
	for i, sz := range o.Sizes {
		dir := filepath.Join(o.Dir, sz.Name())
		if o.Tenants > 1 {
			dir += fmt.Sprintf("x%dtenants", o.Tenants)
		}
		var rs []Result
		var err error
		if o.Tenants > 1 {
			rs, err = runService(ctx, o, sz, dir, o.Seed+int64(i), mach, emit)
		} else {
			rs, err = runSize(ctx, o, sz, dir, o.Seed+int64(i), mach, emit)
		}
		all = append(all, rs...)
		if err != nil {
			return all, fmt.Errorf("size %s: %w", sz.Name(), err)
		}
	}
	return all, nil
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// runSize measures the three phases of one size.
func runSize(ctx context.Context, o Options, sz Shape, dir string, seed int64, mach Machine, emit func(Result)) ([]Result, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	o.progress("%s: generating the tenant", sz.Name())
	bt, err := newTenant("bench", sz, seed)
	if err != nil {
		return nil, err
	}
	if o.Photos {
		bt.addPhotos()
	}
	s, err := startSim(ctx, o.Exe, filepath.Join(dir, "graphsim"), o.Model, []*benchTenant{bt}, seed)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	settings, err := writeSettings(dir, s, []*benchTenant{bt}, 0)
	if err != nil {
		return nil, err
	}
	var out []Result
	var photos [2]int // the phase's expected photo downloads and uploads
	phase := func(name string, w Work, expected int) error {
		o.progress("%s: %s", sz.Name(), name)
		r, err := measureSync(ctx, o, s, settings, sz, name, w, expected, mach)
		if r != nil && r.Photos != nil {
			r.Photos.ExpectedDownloads, r.Photos.ExpectedUploads = photos[0], photos[1]
			finish(r)
		}
		if r != nil {
			out = append(out, *r)
			if emit != nil {
				emit(*r)
			}
		}
		return err
	}
	photos = bt.initialPhotos()
	if err := phase(PhaseInitial, sz.InitialWork(o.Model), sz.ExpectedInitialWrites()); err != nil {
		return out, err
	}
	photos = [2]int{}
	if err := phase(PhaseNoChange, sz.NoChangeWork(o.Model), 0); err != nil {
		return out, err
	}
	ids, change := bt.changeSet()
	for k, id := range ids {
		if err := s.patchUser(ctx, bt.t.ID, id, map[string]any{"jobTitle": fmt.Sprintf("Benchmark Analyst %d", k+1)}); err != nil {
			return out, err
		}
	}
	if err = phase(PhaseChange, sz.ChangeWork(o.Model, change), sz.ExpectedChangeWrites(change)); err != nil || !bt.photos {
		return out, err
	}
	// New photos for the changed users: the bound is the no-change run's
	// (a lower bound: the photo requests come on top).
	if photos[0], photos[1], err = bt.changePhotos(ctx, s); err != nil {
		return out, err
	}
	err = phase(PhasePhotos, sz.NoChangeWork(o.Model), 0)
	return out, err
}

// syncJSON is the part of `galmirror sync --json`'s output the benchmark
// reads (a public interface).
type syncJSON struct {
	Tenant   string  `json:"tenant"`
	Status   string  `json:"status"`
	Seconds  float64 `json:"seconds"`
	Contacts struct {
		Created int `json:"created"`
		Updated int `json:"updated"`
		Deleted int `json:"deleted"`
		Failed  int `json:"failed"`
	} `json:"contacts"`
	Graph struct {
		Requests   int64 `json:"requests"`
		BatchItems int64 `json:"batchItems"`
	} `json:"graph"`
	Failure *struct {
		Class   string `json:"class"`
		Message string `json:"message"`
	} `json:"failure"`
	Errors []struct {
		Mailbox string `json:"mailbox"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	Photos *struct {
		Checked         int   `json:"checked"`
		Downloaded      int   `json:"downloaded"`
		DownloadedBytes int64 `json:"downloadedBytes"`
		Uploaded        int   `json:"uploaded"`
		UploadedBytes   int64 `json:"uploadedBytes"`
		Failed          int   `json:"failed"`
	} `json:"photos"`
}

// measureSync runs one `galmirror sync --json` and gathers its figures.
func measureSync(ctx context.Context, o Options, s *sim, settings string, sz Shape, phase string, w Work, expected int, mach Machine) (*Result, error) {
	if err := s.resetCounters(ctx); err != nil {
		return nil, err
	}
	size := sz.Name()
	args := []string{"sync", "--config", settings, "--json"}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
		base := filepath.Join(o.ProfileDir, size+"-"+phase)
		args = append(args, "--cpuprofile", base+".cpu.pprof", "--memprofile", base+".mem.pprof")
	}
	logf, err := os.Create(filepath.Join(filepath.Dir(settings), phase+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(pctx, o.Exe, args...)
	cmd.Cancel = func() error { return interrupt(cmd) }
	cmd.WaitDelay = 30 * time.Second
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, logf
	simCPU0 := s.cpu()
	start := time.Now()
	var runErr error
	if o.ProfileDir != "" {
		// graphsim's CPU profile beside galmirror's.
		path := filepath.Join(o.ProfileDir, size+"-"+phase+".graphsim.cpu.pprof")
		if err := s.cpuProfile(ctx, path, func() error { runErr = cmd.Run(); return nil }); err != nil {
			return nil, fmt.Errorf("%s: graphsim profile: %w", phase, err)
		}
	} else {
		runErr = cmd.Run()
	}
	wall := time.Since(start)
	simCPU := s.cpu() - simCPU0
	if cmd.ProcessState == nil {
		return nil, fmt.Errorf("%s: run galmirror sync: %w", phase, runErr)
	}
	ps := cmd.ProcessState
	r := &Result{
		Size: size, Users: sz.Users, Mailboxes: sz.Mailboxes, Sources: sz.S(), Tenants: 1, Phase: phase,
		ExitCode: ps.ExitCode(), WallSeconds: round3(wall.Seconds()),
		BoundSeconds: round3(o.Model.Bound(w).Seconds()), RequestFloor: o.Model.RequestFloor(w),
		ExpectedWrites: expected,
		PeakRSSBytes:   peakRSS(ps), CPUSeconds: round3((ps.UserTime() + ps.SystemTime()).Seconds()),
		SimCPUSeconds: round3(simCPU.Seconds()),
		Latency:       o.Model.Latency.String(), Jitter: o.Model.Jitter.String(),
		TimeScale: o.Model.TimeScale, FailRate: o.Model.FailRate, Machine: mach,
	}
	var sj syncJSON
	var parseErr error
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			parseErr = json.Unmarshal(line, &sj)
		}
	}
	if parseErr == nil && sj.Status == "" {
		parseErr = errors.New("no result line")
	}
	r.Status = sj.Status
	r.SyncSeconds = round3(sj.Seconds)
	r.Writes = int64(sj.Contacts.Created + sj.Contacts.Updated + sj.Contacts.Deleted)
	r.Failed = sj.Contacts.Failed
	r.GalmirrorRequests, r.GalmirrorBatchItems = sj.Graph.Requests, sj.Graph.BatchItems
	c, cerr := s.counters(ctx)
	if cerr != nil {
		return nil, cerr
	}
	r.Requests, r.Batches, r.BatchItems, r.SimWrites = c.Requests, c.Batches, c.BatchItems, c.Writes
	if p := sj.Photos; p != nil {
		r.Photos = &PhotoFigures{Checked: p.Checked, Downloaded: p.Downloaded, DownloadedBytes: p.DownloadedBytes,
			Uploaded: p.Uploaded, UploadedBytes: p.UploadedBytes, Failed: p.Failed, Requests: c.photoRequests()}
	}
	r.Throttled, r.Unavailable, r.RetryAfterViolations = c.Throttled, c.Unavailable, c.RetryAfterViolations
	finish(r)
	switch {
	case parseErr != nil:
		return r, fmt.Errorf("%s: galmirror sync exited %d without a JSON result (%v); see %s", phase, r.ExitCode, parseErr, logf.Name())
	case sj.Failure != nil:
		return r, fmt.Errorf("%s: the sync failed: %s: %s; see %s", phase, sj.Failure.Class, sj.Failure.Message, logf.Name())
	case len(sj.Errors) > 0:
		o.progress("%s %s: %d errors, the first: %s: %s [%s]", size, phase, len(sj.Errors), sj.Errors[0].Mailbox, sj.Errors[0].Message, sj.Errors[0].Code)
	}
	return r, nil
}

// finish computes the derived figures and the targets.
func finish(r *Result) {
	if r.BoundSeconds > 0 {
		r.Ratio = round3(r.WallSeconds / r.BoundSeconds)
	}
	if r.Writes > 0 {
		r.CPUMicrosPerWrite = round3(r.CPUSeconds * 1e6 / float64(r.Writes))
	}
	if r.Machine.CPUs > 0 {
		r.CPUFloorSeconds = round3((r.CPUSeconds + r.SimCPUSeconds) / float64(r.Machine.CPUs))
	}
	if f := max(r.BoundSeconds, r.CPUFloorSeconds); f > 0 {
		r.FloorRatio = round3(r.WallSeconds / f)
	}
	r.Targets = checkTargets(r)
}

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return v
}

// writeSettings writes DIR/settings.json for the tenants, pointing at the
// emulator, with each tenant's certificate and key as a PEM file.
// maxTenants > 0 sets maxConcurrentTenants.
func writeSettings(dir string, s *sim, tenants []*benchTenant, maxTenants int) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var ts []any
	for _, bt := range tenants {
		pem := filepath.Join(dir, bt.name+".pem")
		if err := os.WriteFile(pem, append(append([]byte{}, bt.cred.CertPEM...), bt.cred.KeyPEM...), 0o600); err != nil {
			return "", err
		}
		t := map[string]any{
			"name": bt.name, "tenantId": bt.t.ID, "clientId": bt.cred.ClientID,
			"certificate": map[string]any{"file": filepath.Base(pem)},
			"cloud":       "custom",
			"endpoints":   map[string]any{"authority": s.info.AuthorityHost, "graph": strings.TrimSuffix(s.info.GraphURL, "/v1.0"), "caFile": s.info.CAFile},
			"folder":      "Company Directory",
			// The service's first run starts at once, not after a random delay.
			"schedule": map[string]any{"every": "24h", "jitter": "0s"},
		}
		if bt.groupID != "" {
			t["target"] = map[string]any{"groups": []string{bt.groupID}}
		}
		if bt.sourceID != "" {
			t["source"] = map[string]any{"includeGroups": []string{bt.sourceID}}
		}
		if bt.photos {
			t["photos"] = true
		}
		ts = append(ts, t)
	}
	doc := map[string]any{"dataDir": "state", "tenants": ts, "admin": map[string]any{"localSocket": false}}
	if maxTenants > 0 {
		doc["maxConcurrentTenants"] = maxTenants
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "settings.json")
	return path, os.WriteFile(path, append(b, '\n'), 0o600)
}
