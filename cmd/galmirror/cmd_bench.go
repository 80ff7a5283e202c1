package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/bench"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure sync runs against a local Graph emulator with Graph's throttling model",
		run:     runBench,
	})
}

// runBench starts graphsim as a separate process and measures `galmirror
// sync` (or, with --tenants, `galmirror run`) as subprocesses of this same
// binary, so that only galmirror's own time, CPU and memory are measured.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.Int("users", 0, "users in the tenant (with --mailboxes and --sources: one size instead of --sizes)")
	mailboxes := fs.Int("mailboxes", 0, "target mailboxes among the users, the first M (default: every user)")
	sources := fs.Int("sources", 0, "sources among the users, the first S, selected by a source.includeGroups group (default: every user)")
	sizes := fs.String("sizes", bench.DefaultSizes, "sizes to measure, comma-separated: `UxM[xS]` users × target mailboxes [× sources, default every user]")
	latency := fs.Duration("latency", 80*time.Millisecond, "latency graphsim adds to every request and $batch item")
	jitter := fs.Duration("jitter", 40*time.Millisecond, "random extra latency, uniform in [0, jitter)")
	failRate := fs.Float64("fail-rate", 0, "probability of an injected 503 with Retry-After per request and item")
	timeScale := fs.Float64("time-scale", 1, "divide graphsim's throttling windows and Retry-After by this factor")
	tenants := fs.Int("tenants", 1, "with N > 1, measure the service: N tenants of each size in one `galmirror run`")
	maxTenants := fs.Int("max-concurrent-tenants", 0, "the service's maxConcurrentTenants with --tenants (default: galmirror's)")
	dir := fs.String("dir", "", "keep the fixtures, settings, state and logs here (default: a temporary directory, removed)")
	profile := fs.String("profile", "", "write CPU and heap profiles of every sync to this `directory`")
	seed := fs.Int64("seed", 1, "seed of the generated tenants")
	timeout := fs.Duration("timeout", time.Hour, "give up on a phase after this long")
	photos := fs.Bool("photos", false, "give every other user a photo, sync photos, and add the photos1pct phase (1% of the photos changed)")
	asJSON := fs.Bool("json", false, "print one JSON object per size and phase per line instead of the table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror bench [--users U --mailboxes M --sources S | --sizes 100x100,300x300,1000x1000] [--latency 80ms --jitter 40ms --fail-rate R --time-scale F] [--tenants N] [--json]")
		fmt.Fprintln(stderr, "A size UxM is U users, every one a source, the first M of them target mailboxes (a target group selects them when M < U).")
		fmt.Fprintln(stderr, "UxMxS makes only the first S users sources (a source.includeGroups group selects them): e.g. 10000x10000x20 is")
		fmt.Fprintln(stderr, "10,000 mailboxes that each receive 20 contacts (19 in the sources' own mailboxes).")
		fmt.Fprintln(stderr, "Phases per size: initial full sync, a run with no change, a run after 1% of the users changed (only the changed")
		fmt.Fprintln(stderr, "sources cost writes).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "galmirror bench: %s\n", msg)
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *latency < 0 || *jitter < 0:
		return usage("--latency and --jitter must not be negative")
	case *failRate < 0 || *failRate >= 1:
		return usage("--fail-rate must be in [0, 1)")
	case *timeScale <= 0:
		return usage("--time-scale must be positive")
	case *photos && *tenants > 1:
		return usage("--photos measures one tenant: leave out --tenants")
	case *tenants < 1 || *maxTenants < 0:
		return usage("--tenants must be at least 1 and --max-concurrent-tenants not negative")
	case *users < 0 || *mailboxes < 0 || *sources < 0:
		return usage("--users, --mailboxes and --sources must not be negative")
	}
	shapes, err := benchShapes(*sizes, *users, *mailboxes, *sources)
	if err != nil {
		return usage(err.Error())
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "galmirror bench: find this binary: %v\n", err)
		return exitFailed
	}
	work := *dir
	if work == "" {
		if work, err = os.MkdirTemp("", "galmirror-bench-"); err != nil {
			fmt.Fprintf(stderr, "galmirror bench: %v\n", err)
			return exitFailed
		}
		defer os.RemoveAll(work)
	}
	opts := bench.Options{
		Exe: exe, Sizes: shapes, Dir: work, Seed: *seed, ProfileDir: *profile,
		Model:   bench.GraphModel(*latency, *jitter, *timeScale, *failRate),
		Tenants: *tenants, MaxConcurrentTenants: *maxTenants, Timeout: *timeout, Progress: stderr, Photos: *photos,
	}
	emit := func(r bench.Result) {
		if *asJSON {
			_ = bench.WriteJSON(stdout, []bench.Result{r})
		}
	}
	results, err := bench.Run(ctx, opts, emit)
	if !*asJSON {
		bench.WriteTable(stdout, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "galmirror bench: %v\n", err)
		if *dir == "" {
			fmt.Fprintln(stderr, "galmirror bench: rerun with --dir to keep the logs")
		}
		return exitFailed
	}
	return exitOK
}

// benchShapes reads the sizes to measure: --sizes, or the one size that
// --users (with --mailboxes and --sources) gives.
func benchShapes(sizes string, users, mailboxes, sources int) ([]bench.Shape, error) {
	if users > 0 {
		if mailboxes == 0 {
			mailboxes = users
		}
		if sources == 0 {
			sources = users
		}
		sizes = fmt.Sprintf("%dx%dx%d", users, mailboxes, sources)
	} else if mailboxes > 0 || sources > 0 {
		return nil, errors.New("--mailboxes and --sources need --users")
	}
	return bench.ParseSizes(sizes)
}

// takeProfileFlags removes the hidden profiling flags of `galmirror sync`
// (--cpuprofile FILE, --memprofile FILE, as `galmirror bench --profile`
// passes them) from args and starts the CPU profile. The returned stop
// ends the profiles; the heap profile is the one taken at the largest
// heap seen (checked every second), so it shows what the peak RSS is made
// of rather than what is left at exit.
func takeProfileFlags(args []string, stderr io.Writer) (rest []string, stop func()) {
	var cpuPath, memPath string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "cpuprofile" && name != "memprofile") {
			rest = append(rest, a)
			continue
		}
		if !hasVal && i+1 < len(args) {
			i++
			val = args[i]
		}
		if name == "cpuprofile" {
			cpuPath = val
		} else {
			memPath = val
		}
	}
	var stops []func()
	if cpuPath != "" {
		if f, err := os.Create(cpuPath); err != nil {
			fmt.Fprintf(stderr, "galmirror: cpu profile: %v\n", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "galmirror: cpu profile: %v\n", err)
			f.Close()
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if memPath != "" {
		done := make(chan struct{})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			var peak uint64
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak+peak/10 {
					peak = ms.HeapInuse
					writeHeapProfile(memPath, stderr)
				}
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		}()
		stops = append(stops, func() { close(done); <-finished })
	}
	return rest, func() {
		for _, s := range stops {
			s()
		}
	}
}

func writeHeapProfile(path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: heap profile: %v\n", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintf(stderr, "galmirror: heap profile: %v\n", err)
	}
}
