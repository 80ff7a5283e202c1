//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/galmirror/galmirror/internal/admin"
	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/graphsim"
)

// pfxTenant is c.tenant with the certificate as a PFX file whose password
// is in the variable env.
func (c *customer) pfxTenant(name string, srv *graphsim.Server, tn graphsim.Tenant, cred graphsim.AppCredential, env, password string) map[string]any {
	c.t.Helper()
	ts := c.tenant(name, srv, tn, cred)
	pfx, err := pkcs12.Modern.Encode(cred.Key, cred.Certificate, nil, password)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, name+".pfx"), pfx, 0o600); err != nil {
		c.t.Fatal(err)
	}
	ts["certificate"] = map[string]any{"file": name + ".pfx", "passwordEnv": env}
	return ts
}

// runWithin runs galmirror with env and fails the test if it does not end
// within limit (the process is killed then).
func (c *customer) runWithin(limit time.Duration, env []string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		c.t.Fatalf("galmirror %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, limit, out.String(), errb.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		c.t.Fatalf("run galmirror %v: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// without returns env minus the variable name.
func without(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// A PFX password variable that is not set is a configuration error of
// sync, check and purge: exit 2 naming the setting, the variable and the
// tenant, before any Graph request. With the variable set, the same
// settings work.
func TestMissingPasswordVariableExits2(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	const env = "GALMIRROR_TEST_CONTOSO_PFX"
	settings := c.settings(c.pfxTenant("contoso", srv, tn, cred, env, "Correct-Horse-9"))
	unset := without(c.env(), env)
	for _, args := range [][]string{
		{"sync", "--config", settings},
		{"check", "--config", settings},
		{"purge", "--config", settings, "--tenant", "contoso", "--yes"},
	} {
		code, stdout, stderr := c.runWithin(30*time.Second, unset, args...)
		if code != exitUsage {
			t.Errorf("%s without %s: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", args[0], env, code, stdout, stderr)
		}
		want := "tenants[0].certificate.passwordEnv: the environment variable " + env + ", which holds the PFX password of tenant contoso, is not set"
		if !strings.Contains(stderr, want) {
			t.Errorf("%s: stderr does not say %q:\n%s", args[0], want, stderr)
		}
	}
	if n := srv.Counters().Requests; n != 0 {
		t.Errorf("graphsim served %d Graph requests to runs that lacked the password", n)
	}
	code, stdout, stderr := c.runWithin(60*time.Second, append(unset, env+"=Correct-Horse-9"), "check", "--config", settings)
	if code != exitOK || !strings.Contains(stdout, "target mailboxes") {
		t.Fatalf("check with the variable set: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// A password put into passwordEnv is a configuration error that names the
// setting and never repeats the value, in any command's output.
func TestPasswordInPasswordEnvNeverPrinted(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 1)
	const secret = "Tr0ub4dor&3 horse"
	ts := c.pfxTenant("contoso", srv, tn, cred, "X", "Tr0ub4dor&3 horse")
	ts["certificate"].(map[string]any)["passwordEnv"] = secret
	settings := c.settings(ts)
	for _, args := range [][]string{
		{"sync", "--config", settings, "--json"},
		{"check", "--config", settings, "--json"},
		{"purge", "--config", settings, "--tenant", "contoso", "--yes"},
		{"status", "--config", settings},
	} {
		code, stdout, stderr := c.runWithin(30*time.Second, c.env(), args...)
		if code != exitUsage || !strings.Contains(stderr, "tenants[0].certificate.passwordEnv: must name an environment variable") {
			t.Errorf("%s: exit %d, want 2 naming the setting\nstdout:\n%s\nstderr:\n%s", args[0], code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "Tr0ub4dor") {
			t.Errorf("%s prints the password:\n%s%s", args[0], stdout, stderr)
		}
	}
	if n := srv.Counters().Requests; n != 0 {
		t.Errorf("graphsim served %d Graph requests", n)
	}
}

// A FIFO given as the certificate file used to hang `galmirror check` in
// the read (and SIGTERM did not stop it): it now fails the tenant at once,
// saying what the path is, without a Graph request.
func TestFIFOCertificateFailsFast(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 1)
	const env = "GALMIRROR_TEST_FIFO_PFX"
	ts := c.pfxTenant("contoso", srv, tn, cred, env, "pw")
	fifo := filepath.Join(c.dir, "fifo.pfx")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ts["certificate"].(map[string]any)["file"] = "fifo.pfx"
	settings := c.settings(ts)
	began := time.Now()
	code, stdout, stderr := c.runWithin(20*time.Second, append(c.env(), env+"=pw"), "check", "--config", settings)
	if code != exitFailed || !strings.Contains(stdout, "certificate "+fifo+": is a named pipe (FIFO), not a regular file") {
		t.Fatalf("check: exit %d, want 1 naming the FIFO\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("check took %s", d)
	}
	if n := srv.Counters().Requests; n != 0 {
		t.Errorf("graphsim served %d Graph requests", n)
	}
}

// The service does not stop for a tenant whose password variable is
// missing: that tenant's runs fail with event 311 naming the tenant and
// the variable, and the other tenant syncs.
func TestServiceRunsOnWithoutATenantsPasswordVariable(t *testing.T) {
	dir := t.TempDir()
	const env = "GALMIRROR_TEST_SERVICE_PFX"
	if _, set := os.LookupEnv(env); set {
		t.Fatalf("%s is set in the test's environment", env)
	}
	sim, tn, cred := simTenant(t, 2)
	good := tenantSettings(t, dir, "good", sim, tn, cred)
	sim2, tn2, cred2 := simTenant(t, 2)
	locked := tenantSettings(t, dir, "locked", sim2, tn2, cred2)
	pfx, err := pkcs12.Modern.Encode(cred2.Key, cred2.Certificate, nil, "Correct-Horse-9")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "locked.pfx"), pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	locked["certificate"] = map[string]any{"file": "locked.pfx", "passwordEnv": env}
	for _, ts := range []map[string]any{good, locked} {
		ts["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
	}
	svc := startRunning(t, dir, map[string]any{}, good, locked)
	api, err := admin.NewClient(admin.ClientOptions{LocalPath: svc.socket})
	if err != nil {
		t.Fatal(err)
	}
	watch := watchEvents(t, api)
	unreadable := watch.wait(t, 311, func(e *adminv1.Event) bool { return e.Tenant == "locked" })
	if !strings.Contains(unreadable.Message, "the environment variable "+env+" (certificate.passwordEnv) that holds the PFX password is not set") {
		t.Errorf("event 311: %q, want it to name the variable", unreadable.Message)
	}
	watch.wait(t, 200, func(e *adminv1.Event) bool { return e.Tenant == "good" })
	if n := sim2.Counters().Requests; n != 0 {
		t.Errorf("the locked tenant made %d Graph requests", n)
	}
	if code, out := cli(t, "admin", "--socket", svc.socket, "tenants"); code != exitOK || !strings.Contains(out, "locked") || !strings.Contains(out, "good") {
		t.Errorf("tenants: exit %d\n%s", code, out)
	}
}
