package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// benchTenant is one generated tenant and what the settings file and the
// change phase need to know about it.
type benchTenant struct {
	name     string
	t        graphsim.Tenant
	cred     graphsim.AppCredential
	groupID  string // the target group, when M < U
	sourceID string // the source.includeGroups group, when S < U
	shape    Shape
	photos   bool // every other user has a photo; the settings sync photos
}

// newTenant generates a tenant of shape.Users users, every one of them
// an enabled member with a mailbox and an email address (the generator's
// guests, disabled users and mailbox-less users are turned into ordinary
// ones so that every figure is exact); when fewer mailboxes than users are
// targets, a group holding the first shape.Mailboxes users; and when fewer
// sources than users, a group holding the first shape.S() users.
func newTenant(name string, shape Shape, seed int64) (*benchTenant, error) {
	if shape.Users < 1 || shape.Mailboxes < 1 || shape.Mailboxes > shape.Users || shape.S() < 1 || shape.S() > shape.Users {
		return nil, fmt.Errorf("bench: size %s: want 1 ≤ mailboxes ≤ users and 1 ≤ sources ≤ users", shape.Name())
	}
	t, cred, err := graphsim.Generate(graphsim.GenerateOptions{Users: shape.Users, Seed: seed,
		Domain: fmt.Sprintf("%s.onmicrosoft.com", name)})
	if err != nil {
		return nil, err
	}
	for i := range t.Users {
		u := &t.Users[i]
		if u.UserType == "Guest" {
			local := fmt.Sprintf("guest%d", i+1)
			u.UserPrincipalName, u.Mail, u.MailNickname = local+"@"+t.Domain, local+"@"+t.Domain, local
			u.ProxyAddresses = []string{"SMTP:" + u.Mail}
			u.UserType = "Member"
		}
		u.AccountEnabled = nil
		u.Mailbox = graphsim.MailboxNormal
	}
	bt := &benchTenant{name: name, t: t, cred: cred, shape: shape}
	if shape.Mailboxes < shape.Users {
		g := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "galmirror bench targets", SecurityEnabled: true}
		for _, u := range t.Users[:shape.Mailboxes] {
			g.Members = append(g.Members, u.ID)
		}
		bt.t.Groups = append(bt.t.Groups, g)
		bt.groupID = g.ID
	}
	if shape.sourceScoped() {
		g := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "galmirror bench sources", SecurityEnabled: true}
		for _, u := range t.Users[:shape.S()] {
			g.Members = append(g.Members, u.ID)
		}
		bt.t.Groups = append(bt.t.Groups, g)
		bt.sourceID = g.ID
	}
	return bt, nil
}

// changeSet picks the users the 1% phase changes, spread evenly over the
// directory, and counts the sources among them and the sources that are
// also targets. User 0 is always among them, and is a source and a target.
func (bt *benchTenant) changeSet() (ids []string, c Change) {
	n := bt.shape.ChangedUsers()
	for k := range n {
		i := k * bt.shape.Users / n
		ids = append(ids, bt.t.Users[i].ID)
		c.Users++
		if bt.shape.isSource(i) {
			c.Sources++
			if bt.shape.isTarget(i) {
				c.SourceTargets++
			}
		}
	}
	return ids, c
}

// clientInfo is what `galmirror graphsim` writes to DIR/client.json.
type clientInfo struct {
	TenantID       string `json:"tenantId"`
	AuthorityHost  string `json:"authorityHost"`
	GraphURL       string `json:"graphUrl"`
	ControlURL     string `json:"controlUrl"`
	CAFile         string `json:"caFile"`
	ControlKeyFile string `json:"controlKeyFile"`
}

// sim is a `galmirror graphsim` process.
type sim struct {
	cmd    *exec.Cmd
	exited chan struct{}
	info   clientInfo
	key    string
	client *http.Client
	logf   *os.File
}

// startSim writes the tenants as DIR/fixture.json and starts `exe graphsim`
// on it with the model's latency, fail rate and time scale; it returns once
// the emulator serves (client.json written).
func startSim(ctx context.Context, exe, dir string, m Model, tenants []*benchTenant, seed int64) (*sim, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fx := graphsim.Fixture{}
	for _, bt := range tenants {
		fx.Tenants = append(fx.Tenants, bt.t)
	}
	raw, err := json.Marshal(fx)
	if err != nil {
		return nil, err
	}
	// graphsim insists on the first app's credential files next to a fixture.
	files := map[string][]byte{"fixture.json": raw, "app-cert.pem": tenants[0].cred.CertPEM, "app-key.pem": tenants[0].cred.KeyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	logf, err := os.Create(filepath.Join(dir, "graphsim.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"graphsim", "--state", dir, "--listen", "127.0.0.1:0",
		"--latency", m.Latency.String(), "--jitter", m.Jitter.String(),
		"--time-scale", strconv.FormatFloat(m.TimeScale, 'g', -1, 64),
		"--fail-rate", strconv.FormatFloat(m.FailRate, 'g', -1, 64),
		"--seed", strconv.FormatInt(seed, 10)}
	// Not CommandContext: the process is ended by stop (a kill), whatever
	// happened to ctx, and waited for exactly once.
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s graphsim: %w", exe, err)
	}
	s := &sim{cmd: cmd, exited: make(chan struct{}), logf: logf}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := s.await(ctx, dir); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// await waits for client.json and builds the control client.
func (s *sim) await(ctx context.Context, dir string) error {
	deadline := time.Now().Add(2 * time.Minute)
	path := filepath.Join(dir, "client.json")
	for {
		raw, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(raw, &s.info) == nil && s.info.ControlURL != "" {
			break
		}
		select {
		case <-s.exited:
			return fmt.Errorf("graphsim exited before serving; see %s", s.logf.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("graphsim did not serve within 2 minutes; see %s", s.logf.Name())
		}
	}
	ca, err := os.ReadFile(s.info.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("graphsim CA %s: no certificate", s.info.CAFile)
	}
	key, err := os.ReadFile(s.info.ControlKeyFile)
	if err != nil {
		return err
	}
	s.key = strings.TrimSpace(string(key))
	s.client = &http.Client{Timeout: 5 * time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return nil
}

// control calls the /_sim/ control API; out (if not nil) receives the JSON answer.
func (s *sim) control(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := "application/json"
	switch b := in.(type) {
	case nil:
	case []byte: // a photo
		body, ctype = bytes.NewReader(b), "image/jpeg"
	default:
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(s.info.ControlURL, "/")+"/"+strings.TrimPrefix(path, "/"), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", ctype)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("graphsim control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("graphsim control %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// simCounters is the part of graphsim's Counters the benchmark reads.
type simCounters struct {
	Requests             int64            `json:"requests"`
	Batches              int64            `json:"batches"`
	BatchItems           int64            `json:"batchItems"`
	Writes               int64            `json:"writes"`
	Throttled            int64            `json:"throttled"`
	Unavailable          int64            `json:"unavailable"`
	RetryAfterViolations int64            `json:"retryAfterViolations"`
	ByRoute              map[string]int64 `json:"byRoute"`
}

// photoRequests counts the photo requests and $batch items graphsim served.
func (c simCounters) photoRequests() int64 {
	var n int64
	for route, k := range c.ByRoute {
		if strings.Contains(route, "/photo") {
			n += k
		}
	}
	return n
}

func (s *sim) counters(ctx context.Context) (simCounters, error) {
	var c simCounters
	err := s.control(ctx, http.MethodGet, "counters", nil, &c)
	return c, err
}

func (s *sim) resetCounters(ctx context.Context) error {
	return s.control(ctx, http.MethodPost, "counters/reset", nil, nil)
}

// cpuProfile runs fn with graphsim's CPU profiled into path.
func (s *sim) cpuProfile(ctx context.Context, path string, fn func() error) error {
	if err := s.control(ctx, http.MethodPost, "cpuprofile/start", nil, nil); err != nil {
		return err
	}
	ferr := fn()
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, strings.TrimSuffix(s.info.ControlURL, "/")+"/cpuprofile/stop", nil)
	if err != nil {
		return errors.Join(ferr, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := s.client.Do(req)
	if err != nil {
		return errors.Join(ferr, fmt.Errorf("graphsim control cpuprofile/stop: %w", err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("graphsim control cpuprofile/stop: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	return errors.Join(ferr, err)
}

// patchUser changes a user's properties through the control API.
func (s *sim) patchUser(ctx context.Context, tenantID, userID string, patch map[string]any) error {
	return s.control(ctx, http.MethodPatch, "tenants/"+url.PathEscape(tenantID)+"/users/"+url.PathEscape(userID), patch, nil)
}

// setPhoto sets a user's photo (a JPEG) through the control API.
func (s *sim) setPhoto(ctx context.Context, tenantID, userID string, jpeg []byte) error {
	return s.control(ctx, http.MethodPut, "tenants/"+url.PathEscape(tenantID)+"/users/"+url.PathEscape(userID)+"/photo", jpeg, nil)
}

// cpu is graphsim's CPU time so far (zero where the system does not tell).
func (s *sim) cpu() time.Duration {
	d, _ := processCPU(s.cmd.Process.Pid)
	return d
}

// stop kills graphsim and waits for it. A kill, not an interrupt: on an
// interrupt graphsim saves its state as JSON, which after a large run holds
// every contact of every mailbox (gigabytes) and is thrown away anyway.
func (s *sim) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.exited
	s.logf.Close()
}
