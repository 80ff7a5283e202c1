//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graphsim"
)

// resultLine is the last line deploy printed: the one RMM consoles show.
func resultLine(t *testing.T, stdout string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "RESULT=") {
		t.Fatalf("deploy's last line is not its result:\n%s", stdout)
	}
	return last
}

// An MSP's settings file (with the certificate beside it) deployed by the
// built binary: the settings and the certificate land in the configuration
// folder, the check reaches the tenant through the system store's trust,
// and the result is one OK line with exit code 0. A bad settings file
// afterwards is refused with 1001 and leaves the good one in place.
func TestDeploySettingsFile(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 3)
	settings := c.settings(c.tenant("contoso", srv, tn, cred))
	etc := filepath.Join(t.TempDir(), "etc")
	dest := filepath.Join(etc, "settings.json")
	code, out, errOut := c.run("deploy", "--settings", settings, "--config", dest, "--service=false")
	if code != 0 || resultLine(t, out) != "RESULT=OK code=0" {
		t.Fatalf("deploy exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"copied " + filepath.Join(etc, "contoso.pem"), "checking tenant contoso", "ok   token"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy's output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{dest, filepath.Join(etc, "contoso.pem")} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o037 != 0 {
			t.Errorf("%s has mode %v: the group may not write, others may not read", f, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(etc); st.Mode().Perm()&0o027 != 0 {
		t.Errorf("%s has mode %v", etc, st.Mode().Perm())
	}
	if _, err := config.Load(dest); err != nil {
		t.Fatalf("the deployed settings do not load: %v", err)
	}
	good, _ := os.ReadFile(dest)

	bad := filepath.Join(c.dir, "bad.json")
	if err := os.WriteFile(bad, bytes.Replace(good, []byte(`"tenants"`), []byte(`"tenantz"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = c.run("deploy", "--settings", bad, "--config", dest, "--service=false")
	line := resultLine(t, out)
	if code != 101 || !strings.HasPrefix(line, "RESULT=FAIL code=1001 step=settings") || !strings.Contains(line, "tenantz") {
		t.Fatalf("a bad settings file: exit %d, %s", code, line)
	}
	if now, _ := os.ReadFile(dest); !bytes.Equal(now, good) {
		t.Errorf("a refused settings file replaced the good one:\n%s", now)
	}
}

// A tenant from an RMM's variables (environment only, as NinjaOne and
// Datto deliver them) with the customer's PFX: deploy writes the settings,
// keeps the PFX beside them and its password in the service's environment
// file (never in the settings or the output), and the check passes.
func TestDeployTenantFromVariables(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	c.tenant("unused", srv, tn, cred) // graphsim's CA into the system store
	const password = "Correct-Horse-9"
	pfx := writePFX(t, c.dir, cred, password)
	etc := filepath.Join(t.TempDir(), "etc")
	env := append(c.env(),
		"GALMIRROR_CONFIG="+filepath.Join(etc, "settings.json"),
		"GALMIRROR_DATA_DIR="+filepath.Join(t.TempDir(), "state"),
		"GALMIRROR_TENANT_NAME=fabrikam",
		"GALMIRROR_TENANT_ID="+tn.ID,
		"GALMIRROR_CLIENT_ID="+cred.ClientID,
		"GALMIRROR_CLOUD=custom",
		"GALMIRROR_AUTHORITY="+srv.URL(),
		"GALMIRROR_GRAPH="+srv.URL(),
		"GALMIRROR_PFX="+pfx,
		"GALMIRROR_PFX_PASSWORD="+password,
		"GALMIRROR_REMOVE_PFX=true",
		"GALMIRROR_SERVICE=false",
	)
	code, out, errOut := c.runEnv(env, "deploy")
	if code != 0 || resultLine(t, out) != "RESULT=OK code=0 thumbprint="+cred.Thumbprint {
		t.Fatalf("deploy exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, password) {
		t.Errorf("the PFX password is in deploy's output")
	}
	if _, err := os.Stat(pfx); !os.IsNotExist(err) {
		t.Errorf("the PFX was not deleted after the import (GALMIRROR_REMOVE_PFX=true): %v", err)
	}
	cfg, err := config.Load(filepath.Join(etc, "settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tenants) != 1 || cfg.Tenants[0].Name != "fabrikam" || cfg.Tenants[0].Certificate.PasswordEnv != "GALMIRROR_PFX_PASSWORD_FABRIKAM" {
		t.Fatalf("settings: %+v", cfg.Tenants)
	}
	raw, _ := os.ReadFile(filepath.Join(etc, "settings.json"))
	if bytes.Contains(raw, []byte(password)) {
		t.Errorf("the password is in the settings file")
	}
	envFile, err := os.ReadFile(filepath.Join(etc, "galmirror.env"))
	if err != nil || string(envFile) != "GALMIRROR_PFX_PASSWORD_FABRIKAM='"+password+"'\n" {
		t.Errorf("galmirror.env: %q, %v", envFile, err)
	}
	if st, _ := os.Stat(filepath.Join(etc, "galmirror.env")); st.Mode().Perm() != 0o600 {
		t.Errorf("galmirror.env has mode %v, want 0600", st.Mode().Perm())
	}
	if b, err := os.ReadFile(filepath.Join(etc, "fabrikam.pfx")); err != nil || len(b) == 0 {
		t.Errorf("the PFX was not kept beside the settings: %v", err)
	}

	// Deploying again with the same variables is harmless: the tenant is
	// replaced, not added twice.
	env = append(env, "GALMIRROR_PFX="+writePFX(t, c.dir, cred, password))
	if code, out, errOut := c.runEnv(env, "deploy"); code != 0 {
		t.Fatalf("second deploy exit %d\n%s\n%s", code, out, errOut)
	}
	if cfg, err := config.Load(filepath.Join(etc, "settings.json")); err != nil || len(cfg.Tenants) != 1 {
		t.Fatalf("after a second deploy: %v, %d tenants", err, len(cfg.Tenants))
	}
}

// What an RMM console shows for each way a deployment fails: one line
// naming the step and what is wrong, and the exit code of that step.
func TestDeployFailures(t *testing.T) {
	c := newCustomer(t)
	srv, tn, cred := simTenant(t, 2)
	c.tenant("unused", srv, tn, cred)
	pfx := writePFX(t, c.dir, cred, "right")
	etc := filepath.Join(t.TempDir(), "etc")
	base := []string{"deploy", "--config", filepath.Join(etc, "settings.json"), "--service=false",
		"--data-dir", filepath.Join(t.TempDir(), "state"), "--cloud", "custom", "--authority", srv.URL(), "--graph", srv.URL()}
	// An app without its roles: the token works, the check does not.
	srv2, tn2, cred2 := simTenantRoles(t, 2, "User.Read.All")
	c.tenant("unused2", srv2, tn2, cred2)
	pfx2 := writePFX(t, c.dir, cred2, "right")
	cases := []struct {
		name string
		args []string
		env  []string
		code int
		want []string
	}{
		{"tenant id not a GUID", []string{"--tenant-id", "contoso.onmicrosoft.com", "--client-id", cred.ClientID, "--pfx", pfx}, []string{"GALMIRROR_PFX_PASSWORD=right"},
			1001, []string{"step=options", `tenant id "contoso.onmicrosoft.com" is not a GUID`}},
		{"no certificate", []string{"--tenant-id", tn.ID, "--client-id", cred.ClientID}, nil,
			1001, []string{"step=options", "a tenant needs a certificate"}},
		{"password not set", []string{"--tenant-id", tn.ID, "--client-id", cred.ClientID, "--pfx", pfx}, nil,
			1001, []string{"step=options", "GALMIRROR_PFX_PASSWORD"}},
		{"bad flag value", []string{"--check", "perhaps"}, nil,
			1001, []string{"step=options", `--check (GALMIRROR_CHECK): "perhaps" is not true or false`}},
		{"wrong password", []string{"--tenant-id", tn.ID, "--client-id", cred.ClientID, "--pfx", pfx}, []string{"GALMIRROR_PFX_PASSWORD=wrong"},
			1003, []string{"step=certificate", "password"}},
		{"msiexec failed", []string{"--installer-exit-code", "1603"}, nil,
			1002, []string{"step=installer", "1603"}},
		{"app lacks its roles", []string{"--tenant-id", tn2.ID, "--client-id", cred2.ClientID, "--pfx", pfx2, "--authority", srv2.URL(), "--graph", srv2.URL()}, []string{"GALMIRROR_PFX_PASSWORD=right"},
			1005, []string{"step=check", "roles"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := c.runEnv(append(c.env(), tc.env...), append(append([]string{}, base...), tc.args...)...)
			line := resultLine(t, out)
			// Linux exit codes end at 255: 1001-1005 exit 101-105.
			if code != tc.code-900 || !strings.HasPrefix(line, fmt.Sprintf("RESULT=FAIL code=%d ", tc.code)) {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tc.code, line, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("result line lacks %q: %s", w, line)
				}
			}
			if strings.Contains(out+errOut, "panic") || strings.Contains(out+errOut, "PRIVATE KEY") {
				t.Errorf("a panic or a key in the output:\n%s\n%s", out, errOut)
			}
		})
	}
	// msiexec's "restart required" is success with a REBOOT result.
	code, out, _ := c.runEnv(append(c.env(), "GALMIRROR_PFX_PASSWORD=right"), append(append([]string{}, base...),
		"--installer-exit-code", "3010", "--tenant-id", tn.ID, "--client-id", cred.ClientID, "--pfx", pfx)...)
	if line := resultLine(t, out); code != 0 || !strings.HasPrefix(line, "RESULT=REBOOT code=0") {
		t.Fatalf("exit %d: %s\n%s", code, line, out)
	}
}

// writePFX writes the app's certificate and key as a PFX (AES, as Windows
// and OpenSSL 3 export) and returns its path.
func writePFX(t *testing.T, dir string, cred graphsim.AppCredential, password string) string {
	t.Helper()
	b, err := pkcs12.Modern.Encode(cred.Key, cred.Certificate, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "customer-*.pfx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// simTenantRoles is simTenant with an app granted only these roles.
func simTenantRoles(t *testing.T, n int, roles ...string) (*graphsim.Server, graphsim.Tenant, graphsim.AppCredential) {
	t.Helper()
	app, cred, err := graphsim.NewApp("galmirror-limited", roles...)
	if err != nil {
		t.Fatal(err)
	}
	tn := graphsim.Tenant{ID: graphsim.NewGUID(), Name: "Limited", Domain: "limited.example", Apps: []graphsim.App{app}}
	for i := range n {
		upn := fmt.Sprintf("user%d@limited.example", i)
		tn.Users = append(tn.Users, graphsim.User{ID: graphsim.NewGUID(), UserPrincipalName: upn, Mail: upn, DisplayName: upn})
	}
	srv, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{tn}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, tn, cred
}

// run --service is the Windows service mode: elsewhere it is a usage
// error that says what to do instead.
func TestRunServiceFlagIsWindowsOnly(t *testing.T) {
	code, _, stderr := runCmd(t, "run", "--service", "--config", filepath.Join(t.TempDir(), "settings.json"))
	if code != exitUsage || !strings.Contains(stderr, "run --service is the Windows service mode") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
