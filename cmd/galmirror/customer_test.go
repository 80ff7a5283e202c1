//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// customer runs the built binary the way a customer does: settings without
// endpoints.caFile, graphsim's CA trusted through the system store (Go
// reads SSL_CERT_FILE on Linux), and no option that only a test would set.
type customer struct {
	t   *testing.T
	bin string
	dir string
	cas []byte // the CA bundle the "system store" holds
}

func newCustomer(t *testing.T) *customer {
	t.Helper()
	c := &customer{t: t, bin: galmirrorBinary(t), dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(c.dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	return c
}

// tenant writes the tenant's certificate, adds its graphsim's CA to the
// system store, and returns the tenant's settings (no caFile).
func (c *customer) tenant(name string, srv *graphsim.Server, tn graphsim.Tenant, cred graphsim.AppCredential) map[string]any {
	c.t.Helper()
	pem := append(append([]byte{}, cred.CertPEM...), cred.KeyPEM...)
	if err := os.WriteFile(filepath.Join(c.dir, name+".pem"), pem, 0o600); err != nil {
		c.t.Fatal(err)
	}
	if !bytes.Contains(c.cas, srv.CACertPEM()) {
		c.cas = append(c.cas, srv.CACertPEM()...)
	}
	return map[string]any{
		"name": name, "tenantId": tn.ID, "clientId": cred.ClientID,
		"certificate": map[string]any{"file": name + ".pem"},
		"cloud":       "custom",
		"endpoints":   map[string]any{"authority": srv.URL(), "graph": srv.URL()},
	}
}

// settings writes settings.json with the tenants and returns its path.
func (c *customer) settings(tenants ...any) string {
	c.t.Helper()
	path := filepath.Join(c.dir, "settings.json")
	writeJSON(c.t, path, map[string]any{"dataDir": "state", "tenants": tenants})
	return path
}

// env is the environment of the binary: the system store holds the CAs.
func (c *customer) env() []string {
	c.t.Helper()
	bundle := filepath.Join(c.dir, "system-ca.pem")
	if err := os.WriteFile(bundle, c.cas, 0o644); err != nil {
		c.t.Fatal(err)
	}
	return append(os.Environ(), "SSL_CERT_FILE="+bundle, "SSL_CERT_DIR="+filepath.Join(c.dir, "no-such-dir"))
}

// run runs galmirror with args and returns its exit code and output.
func (c *customer) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	return c.runEnv(c.env(), args...)
}

func (c *customer) runEnv(env []string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	cmd := exec.CommandContext(c.t.Context(), c.bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		c.t.Fatalf("run galmirror %v: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// command returns an unstarted galmirror process (for `run`).
func (c *customer) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env()
	return cmd
}
