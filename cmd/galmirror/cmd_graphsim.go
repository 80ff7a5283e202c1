package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

func init() {
	register(&command{
		name:    "graphsim",
		summary: "run the Microsoft Graph + Entra ID emulator (for tests, demos and benchmarks)",
		run:     runGraphsim,
	})
}

// graphsimClientInfo is what DIR/client.json tells a client about the
// emulator.
type graphsimClientInfo struct {
	TenantID       string `json:"tenantId"`
	TenantDomain   string `json:"tenantDomain"`
	ClientID       string `json:"clientId"`
	Thumbprint     string `json:"thumbprint"`
	AuthorityHost  string `json:"authorityHost"`
	TokenURL       string `json:"tokenUrl"`
	GraphURL       string `json:"graphUrl"`
	ControlURL     string `json:"controlUrl"`
	CAFile         string `json:"caFile"`
	CertFile       string `json:"certFile"`
	KeyFile        string `json:"keyFile"`
	ControlKeyFile string `json:"controlKeyFile"`
}

func runGraphsim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("graphsim", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", "127.0.0.1:8443", "`address` to serve HTTPS on")
	stateDir := fl.String("state", "", "`directory` for the CA, the app credential, client.json and fixture.json (required)")
	users := fl.Int("users", 50, "users to generate when DIR/fixture.json does not exist")
	groups := fl.Int("groups", 8, "groups to generate when DIR/fixture.json does not exist")
	seed := fl.Int64("seed", 1, "seed of the generated tenant")
	latency := fl.Duration("latency", 0, "latency added to every Graph request and $batch item")
	jitter := fl.Duration("jitter", 0, "random extra latency, uniform in [0, jitter)")
	timeScale := fl.Float64("time-scale", 1, "divide throttling windows and Retry-After by this factor")
	failRate := fl.Float64("fail-rate", 0, "probability of an injected 503 with Retry-After per request and batch item")
	noThrottle := fl.Bool("no-throttle", false, "disable Graph's throttling limits")
	propagation := fl.Duration("propagation", 0, "how long after a change through Graph (a new app, key or role grant) Entra's token service honours it")
	replication := fl.Duration("replication-lag", 0, "how long after a create Graph's other requests do not find the new application or service principal")
	dcInterval := fl.Duration("device-code-interval", 0, "the device code flow's polling interval (default Entra's 5s)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror graphsim --state DIR [--listen ADDR] [--users N --groups M --seed S] [--latency D --jitter D --time-scale F --fail-rate R]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case *stateDir == "":
		fmt.Fprintln(stderr, "galmirror graphsim: --state is required")
		return exitUsage
	case fl.NArg() > 0:
		fmt.Fprintf(stderr, "galmirror graphsim: unexpected argument %q\n", fl.Arg(0))
		return exitUsage
	case *users < 0 || *groups < 0:
		fmt.Fprintln(stderr, "galmirror graphsim: --users and --groups must not be negative")
		return exitUsage
	case *timeScale <= 0:
		fmt.Fprintln(stderr, "galmirror graphsim: --time-scale must be positive")
		return exitUsage
	case *failRate < 0 || *failRate > 1:
		fmt.Fprintln(stderr, "galmirror graphsim: --fail-rate must be in [0, 1]")
		return exitUsage
	case *latency < 0 || *jitter < 0:
		fmt.Fprintln(stderr, "galmirror graphsim: --latency and --jitter must not be negative")
		return exitUsage
	case *propagation < 0 || *replication < 0 || *dcInterval < 0:
		fmt.Fprintln(stderr, "galmirror graphsim: --propagation, --replication-lag and --device-code-interval must not be negative")
		return exitUsage
	}
	if err := serveGraphsim(ctx, graphsimFlags{
		listen: *listen, dir: *stateDir, users: *users, groups: *groups, seed: *seed,
		latency: *latency, jitter: *jitter, timeScale: *timeScale, failRate: *failRate, noThrottle: *noThrottle,
		propagation: *propagation, replication: *replication, dcInterval: *dcInterval,
	}, stdout); err != nil {
		fmt.Fprintf(stderr, "galmirror graphsim: %v\n", err)
		return exitFailed
	}
	return exitOK
}

type graphsimFlags struct {
	listen, dir         string
	users, groups       int
	seed                int64
	latency, jitter     time.Duration
	timeScale, failRate float64
	noThrottle          bool
	// Onboarding: Entra's propagation and replication, the device code
	// interval.
	propagation, replication, dcInterval time.Duration
}

func serveGraphsim(ctx context.Context, f graphsimFlags, stdout io.Writer) error {
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	p := func(name string) string { return filepath.Join(f.dir, name) }
	caCert, caKey := readCA(p)
	controlKey, err := readControlKey(p)
	if err != nil {
		return err
	}
	fixture, err := loadFixture(p, f, stdout)
	if err != nil {
		return err
	}
	srv, err := startGraphsim(f, fixture, caCert, caKey, controlKey)
	if err != nil {
		return err
	}
	if caCert == nil {
		if err := saveCA(p, srv); err != nil {
			srv.Close()
			return err
		}
	}
	if err := writeClientInfo(p, srv, fixture.Tenants[0], stdout); err != nil {
		srv.Close()
		return err
	}

	<-ctx.Done()
	closeErr := srv.Close()
	if err := saveFixture(p("fixture.json"), srv.Fixture()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "graphsim: state saved to %s\n", p("fixture.json"))
	return closeErr
}

// readCA reads the CA of an earlier start (nil, nil when there is none: a
// new one is made).
func readCA(p func(string) string) (cert, key []byte) {
	caCert, errC := os.ReadFile(p("ca.pem"))
	caKey, errK := os.ReadFile(p("ca-key.pem"))
	if errC != nil || errK != nil {
		return nil, nil
	}
	return caCert, caKey
}

// readControlKey reads the control API's key, making one on first start.
func readControlKey(p func(string) string) ([]byte, error) {
	controlKey, err := os.ReadFile(p("control-key"))
	if err == nil {
		return controlKey, nil
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	controlKey = []byte(hex.EncodeToString(b[:]))
	if err := os.WriteFile(p("control-key"), controlKey, 0o600); err != nil {
		return nil, fmt.Errorf("write control key: %w", err)
	}
	return controlKey, nil
}

// loadFixture loads the saved state, or generates a tenant (and its app's
// certificate and key) on first start.
func loadFixture(p func(string) string, f graphsimFlags, stdout io.Writer) (graphsim.Fixture, error) {
	var fixture graphsim.Fixture
	raw, err := os.ReadFile(p("fixture.json"))
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &fixture); err != nil {
			return fixture, fmt.Errorf("%s: %w", p("fixture.json"), err)
		}
		if len(fixture.Tenants) == 0 {
			return fixture, fmt.Errorf("%s: no tenants", p("fixture.json"))
		}
		if _, err := os.Stat(p("app-key.pem")); err != nil {
			return fixture, fmt.Errorf("%s exists but the app key %s does not: %w", p("fixture.json"), p("app-key.pem"), err)
		}
		fmt.Fprintf(stdout, "graphsim: loaded %s (--users/--groups/--seed ignored)\n", p("fixture.json"))
	case errors.Is(err, fs.ErrNotExist):
		t, cred, err := graphsim.Generate(graphsim.GenerateOptions{Users: f.users, Groups: f.groups, Seed: f.seed})
		if err != nil {
			return fixture, err
		}
		fixture.Tenants = []graphsim.Tenant{t}
		if err := os.WriteFile(p("app-cert.pem"), cred.CertPEM, 0o644); err != nil {
			return fixture, fmt.Errorf("write app certificate: %w", err)
		}
		if err := os.WriteFile(p("app-key.pem"), cred.KeyPEM, 0o600); err != nil {
			return fixture, fmt.Errorf("write app key: %w", err)
		}
		if err := saveFixture(p("fixture.json"), fixture); err != nil {
			return fixture, err
		}
		fmt.Fprintf(stdout, "graphsim: generated tenant %s with %d users and %d groups (seed %d)\n", t.Domain, f.users, f.groups, f.seed)
	default:
		return fixture, fmt.Errorf("read %s: %w", p("fixture.json"), err)
	}
	return fixture, nil
}

// startGraphsim starts the emulator with the flags' throttling and faults.
func startGraphsim(f graphsimFlags, fixture graphsim.Fixture, caCert, caKey, controlKey []byte) (*graphsim.Server, error) {
	th := graphsim.GraphThrottle()
	if f.noThrottle {
		th = graphsim.NoThrottle()
	}
	th.TimeScale = f.timeScale
	var hostnames []string
	if host, _, err := net.SplitHostPort(f.listen); err == nil && host != "" {
		hostnames = append(hostnames, host)
	}
	return graphsim.Start(graphsim.Options{
		Addr: f.listen, Hostnames: hostnames, CACertPEM: caCert, CAKeyPEM: caKey,
		Tenants: fixture.Tenants, Throttle: &th, ControlKey: string(controlKey),
		Faults:      graphsim.Faults{Rate503: f.failRate, Latency: f.latency, Jitter: f.jitter},
		Propagation: f.propagation, ReplicationLag: f.replication, DeviceCodeInterval: f.dcInterval,
	})
}

// saveCA keeps a new CA for the next start.
func saveCA(p func(string) string, srv *graphsim.Server) error {
	if err := os.WriteFile(p("ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		return fmt.Errorf("write CA: %w", err)
	}
	if err := os.WriteFile(p("ca-key.pem"), srv.CAKeyPEM(), 0o600); err != nil {
		return fmt.Errorf("write CA key: %w", err)
	}
	return nil
}

// writeClientInfo writes client.json, what a client needs to reach the
// emulator, and prints it.
func writeClientInfo(p func(string) string, srv *graphsim.Server, t graphsim.Tenant, stdout io.Writer) error {
	info := graphsimClientInfo{
		TenantID: t.ID, TenantDomain: t.Domain, AuthorityHost: srv.URL(),
		TokenURL: srv.URL() + "/" + t.ID + "/oauth2/v2.0/token", GraphURL: srv.GraphURL(), ControlURL: srv.URL() + "/_sim/",
		CAFile: p("ca.pem"), CertFile: p("app-cert.pem"), KeyFile: p("app-key.pem"), ControlKeyFile: p("control-key"),
	}
	if len(t.Apps) > 0 {
		info.ClientID = t.Apps[0].ClientID
	}
	if b, err := os.ReadFile(p("app-cert.pem")); err == nil {
		info.Thumbprint = graphsim.Thumbprint(b)
	}
	if err := os.WriteFile(p("client.json"), append(mustIndent(info), '\n'), 0o644); err != nil {
		return fmt.Errorf("write client.json: %w", err)
	}
	fmt.Fprintf(stdout, `graphsim: serving on %s
  tenant         %s (%s)
  client id      %s
  token endpoint %s
  Graph          %s
  control API    %s (Authorization: Bearer $(cat %s))
  trust the CA   %s; app certificate %s, key %s
  everything a client needs: %s
Stop with Ctrl-C; the state is saved to %s.
`, srv.URL(), t.Domain, t.ID, info.ClientID, info.TokenURL, info.GraphURL, info.ControlURL, info.ControlKeyFile,
		info.CAFile, info.CertFile, info.KeyFile, p("client.json"), p("fixture.json"))
	return nil
}

func mustIndent(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return []byte("{}")
	}
	return b
}

// saveFixture writes the state atomically.
func saveFixture(path string, f graphsim.Fixture) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(mustIndent(f), '\n'), 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
