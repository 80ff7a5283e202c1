//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/winetest"
)

// smokeVariable turns the Windows smoke test on: it takes about two minutes
// and a Wine prefix, so `go test ./...` leaves it to its own step of
// .ci/run.
const smokeVariable = "GALMIRROR_WINE_SMOKE"

// The Windows deployment an MSP runs, under Wine 8: the MSI built by
// packaging/windows/build-msi.sh, installed silently by each RMM script
// (msiexec, then galmirror deploy), the service started by the service
// manager and syncing a graphsim tenant on this machine, the admin API over
// the named pipe, a stop, an upgrade that keeps the settings, an uninstall
// that keeps ProgramData, a install with the MSI's public properties, a
// failed install that leaves nothing, and an uninstall with PURGE=1.
//
// What Wine does not do, and this test therefore does not show: Windows
// Installer's own logging rules (MsiHiddenProperties), recovery actions
// and delayed start (Wine's service manager lacks them: install warns),
// file and pipe security, CNG key storage (the imported key goes to a
// CryptoAPI container, so the tenants here use a PEM file). See
// docs/windows.md.
func TestWindowsMSIUnderWine(t *testing.T) {
	if os.Getenv(smokeVariable) != "1" {
		t.Skipf("the Windows smoke test (MSI, service, RMM scripts under Wine, about 2 minutes) runs with %s=1, as .ci/run's step does", smokeVariable)
	}
	winetest.NeedTools(t, "wine", "wineserver", "x86_64-w64-mingw32-gcc", "wixl", "msiinfo", "msibuild")
	start := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }

	step("build the MSIs 1.0.0 and 1.0.1")
	dist := t.TempDir()
	msi1 := buildMSI(t, dist, "1.0.0")
	msi2 := buildMSI(t, dist, "1.0.1")

	step("Wine prefix")
	p := winetest.NewPrefix(t)
	srv, tn, cred := simTenant(t, 3)
	stage := stageSettings(t, p, srv, tn, cred)
	s := &smoke{t: t, p: p, srv: srv, tn: tn}

	step("a failed install (bad settings, STARTSERVICE=1) leaves nothing behind")
	s.failedInstall(msi1, stage)

	step("install with each RMM script, then the service syncs")
	s.rmmScripts(msi1)
	s.serviceRuns("1.0.0")

	step("admin API over the named pipe, then stop")
	s.adminAndStop()

	step("upgrade to 1.0.1: settings and state kept, service started again")
	s.upgrade(msi2)

	step("uninstall: everything but ProgramData goes")
	s.uninstall(msi2, false)

	step("install with the MSI's public properties")
	s.installWithProperties(msi2, stage)

	step("uninstall with PURGE=1: nothing left")
	s.uninstall(msi2, true)
	step("done")
}

// smoke is the Wine prefix and the tenant of TestWindowsMSIUnderWine.
type smoke struct {
	t   *testing.T
	p   *winetest.Prefix
	srv *graphsim.Server
	tn  graphsim.Tenant
	// events are the Event Log ids the last msiexec's actions reported.
	events []int
}

const (
	installedExe   = `C:\Program Files\galmirror\galmirror.exe`
	programData    = `C:\ProgramData\galmirror`
	serviceKey     = `HKLM\SYSTEM\CurrentControlSet\Services\galmirror`
	eventSourceKey = `HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\galmirror`
	myStoreKey     = `HKLM\Software\Microsoft\SystemCertificates\My\Certificates`
	pfxPassword    = "Sm0ke-Test-9"
)

// buildMSI runs packaging/windows/build-msi.sh VERSION into dir.
func buildMSI(t *testing.T, dir, version string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "packaging/windows/build-msi.sh", version)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "OUT="+dir, "SOURCE_DATE_EPOCH=1700000000")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-msi.sh %s: %v\n%s", version, err, out)
	}
	msi := filepath.Join(dir, "galmirror-"+version+"-x64.msi")
	if _, err := os.Stat(msi); err != nil {
		t.Fatalf("build-msi.sh %s made no %s:\n%s", version, msi, out)
	}
	return msi
}

// stageSettings writes what an MSP hands the machine into C:\stage: the
// settings (the tenant's certificate as a PEM file, graphsim's CA as
// caFile), a customer PFX, and a bad settings file.
func stageSettings(t *testing.T, p *winetest.Prefix, srv *graphsim.Server, tn graphsim.Tenant, cred graphsim.AppCredential) string {
	t.Helper()
	stage := p.C(`stage`)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(stage, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.pem", append(append([]byte{}, cred.CertPEM...), cred.KeyPEM...))
	write("ca.pem", srv.CACertPEM())
	// Wine checks certificates against the Windows store by host name and
	// refuses graphsim's 127.0.0.1: the CA comes in as caFile (Go checks
	// it), as for a TLS-inspecting proxy.
	settings := map[string]any{
		"dataDir": programData + `\state`,
		"tenants": []any{map[string]any{
			"name": "contoso", "tenantId": tn.ID, "clientId": cred.ClientID,
			"certificate": map[string]any{"file": "app.pem"},
			"cloud":       "custom",
			"endpoints":   map[string]any{"authority": srv.URL(), "graph": srv.URL(), "caFile": "ca.pem"},
			"schedule":    map[string]any{"every": "1h", "jitter": "1s"},
		}},
	}
	writeJSON(t, filepath.Join(stage, "settings.json"), settings)
	write("bad.json", []byte(`{"dataDir": "state", "tenants": [{"name": "x", "tenantz": []}]}`))
	write("customer.pfx", mustPFX(t, cred))
	return stage
}

func mustPFX(t *testing.T, cred graphsim.AppCredential) []byte {
	t.Helper()
	b, err := os.ReadFile(writePFX(t, t.TempDir(), cred, pfxPassword))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// msiexec runs msiexec through cmd (a batch waits for it, as RMM scripts
// do, and %ERRORLEVEL% keeps its full exit code, which Wine's own exit
// status cuts to 8 bits) and returns its exit code and the /l*v log. The
// Event Log calls of its actions go to s.events.
func (s *smoke) msiexec(args ...string) (int, string) {
	s.t.Helper()
	log := `C:\stage\msiexec.log`
	_ = os.Remove(s.p.C(`stage\msiexec.log`))
	line := "msiexec " + strings.Join(args, " ") + ` /qn /norestart /l*v ` + log + ` & echo EXIT=%ERRORLEVEL%`
	r := s.p.Wine(3*time.Minute, []string{winetest.EventTrace}, "cmd", "/c", line)
	s.events = winetest.EventIDs(r.Stderr)
	code := -1
	for _, l := range strings.Split(r.Stdout, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "EXIT="); ok {
			fmt.Sscan(v, &code)
		}
	}
	b, _ := os.ReadFile(s.p.C(`stage\msiexec.log`))
	return code, string(b)
}

func (s *smoke) exists(windowsPath string) bool {
	_, err := os.Stat(s.p.C(windowsPath))
	return err == nil
}

// failedInstall: STARTSERVICE=1 with a settings file that does not load
// fails the install with 1603, the log names the action, and the rollback
// leaves no executable and no service.
func (s *smoke) failedInstall(msi, stage string) {
	t := s.t
	code, log := s.msiexec("/i", winetest.Z(msi), `SETTINGSFILE=C:\stage\bad.json`, "STARTSERVICE=1")
	// Windows Installer answers 1603 (fatal error); Wine's 1627 (function
	// failed).
	if code != 1603 && code != 1627 {
		t.Fatalf("install with bad settings: exit %d, want 1603 (Wine: 1627)", code)
	}
	if !strings.Contains(log, "GalmirrorConfigure") {
		t.Errorf("the install log does not name the failed action GalmirrorConfigure")
	}
	dl, _ := os.ReadFile(s.p.C(programData + `\deploy.log`))
	if !strings.Contains(string(dl), "RESULT=FAIL code=1001 step=settings") || !strings.Contains(string(dl), "tenantz") {
		t.Errorf("deploy.log does not say what failed:\n%s", dl)
	}
	if !slices.Contains(s.events, 421) {
		t.Errorf("the failed deploy reported no event 421 (reported: %v)", s.events)
	}
	if s.exists(installedExe) || s.p.RegKeyExists(serviceKey) {
		t.Errorf("a failed install left galmirror.exe or the service behind")
	}
}

// rmmScripts installs with every script in packaging/rmm in turn, the way
// each RMM passes its variables; each prints RESULT=OK and exits 0 (the
// first installs, the others find it installed and deploy again).
func (s *smoke) rmmScripts(msi string) {
	t := s.t
	scripts, err := filepath.Glob("../../packaging/rmm/*.cmd")
	if err != nil || len(scripts) < 6 {
		t.Fatalf("packaging/rmm/*.cmd: %v %v", scripts, err)
	}
	pfx, err := os.ReadFile(s.p.C(`stage\customer.pfx`))
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range scripts {
		name := filepath.Base(script)
		// Some scripts delete the PFX once imported, as an RMM should.
		if err := os.WriteFile(s.p.C(`stage\customer.pfx`), pfx, 0o644); err != nil {
			t.Fatal(err)
		}
		// The tenant comes as the settings file: the scripts' tenant
		// variables would reference the certificate by thumbprint, which
		// Wine cannot serve (no CNG key storage).
		env := []string{"GALMIRROR_MSI=" + winetest.Z(msi), `GALMIRROR_SETTINGS=C:\stage\settings.json`,
			`GALMIRROR_PFX_PASSWORD=` + pfxPassword, "GALMIRROR_WAIT=90s", winetest.EventTrace}
		args := []string{"cmd", "/c", winetest.Z(mustAbs(t, script))}
		switch name {
		case "kaseya-vsa.cmd", "n-central.cmd", "n-sight.cmd":
			args = append(args, winetest.Z(msi), "", "", `C:\stage\customer.pfx`, pfxPassword)
		default:
			env = append(env, `GALMIRROR_PFX=C:\stage\customer.pfx`)
		}
		r := s.p.Wine(3*time.Minute, env, args...)
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		last := strings.TrimSpace(lines[len(lines)-1])
		if r.Code != 0 || !strings.HasPrefix(last, "RESULT=OK code=0") {
			t.Fatalf("%s: %s", name, r)
		}
		if !strings.Contains(r.Stdout, "ok   token") {
			t.Errorf("%s: the check did not run:\n%s", name, r.Stdout)
		}
		if strings.Contains(r.Stdout+r.Stderr, pfxPassword) {
			t.Errorf("%s: the PFX password is in the output", name)
		}
		if ids := winetest.EventIDs(r.Stderr); !slices.Contains(ids, 420) {
			t.Errorf("%s: deploy reported no event 420 (reported: %v)", name, ids)
		}
		t.Logf("%s: %s", name, last)
	}
}

// serviceRuns checks the installed files, the service's registration, the
// event source, ProgramData and the certificate store, then waits until
// the service (started by deploy through the service manager) has synced
// every mailbox.
func (s *smoke) serviceRuns(version string) {
	t := s.t
	if r := s.p.Wine(time.Minute, nil, installedExe, "version"); !strings.Contains(r.Stdout, "galmirror "+version+" ") {
		t.Errorf("installed version: %s", r)
	}
	want := map[string]string{
		"ImagePath":  `"` + installedExe + `" run --service --config ` + programData + `\settings.json`,
		"Start":      "0x2", // automatic
		"ObjectName": "LocalSystem",
	}
	for name, w := range want {
		if _, got, ok := s.p.RegValue(serviceKey, name); !ok || got != w {
			t.Errorf("service %s = %q, want %q", name, got, w)
		}
	}
	if typ, got, _ := s.p.RegValue(eventSourceKey, "EventMessageFile"); typ != "REG_EXPAND_SZ" || got != `%SystemRoot%\System32\EventCreate.exe` {
		t.Errorf("event source EventMessageFile = %s %q", typ, got)
	}
	if _, got, _ := s.p.RegValue(eventSourceKey, "TypesSupported"); got != "0x7" {
		t.Errorf("event source TypesSupported = %q", got)
	}
	for _, f := range []string{`settings.json`, `app.pem`, `ca.pem`, `imported-certificates.txt`, `deploy.log`} {
		if !s.exists(programData + `\` + f) {
			t.Errorf("%s\\%s is missing", programData, f)
		}
	}
	tp, _ := os.ReadFile(s.p.C(programData + `\imported-certificates.txt`))
	if thumb := strings.TrimSpace(string(tp)); thumb == "" || !s.p.RegKeyExists(myStoreKey+`\`+thumb) {
		t.Errorf("the PFX's certificate %q is not in LocalMachine\\My", thumb)
	}
	s.waitState("RUNNING")
	s.waitSynced()
}

// waitState waits until the service manager reports the service's state.
func (s *smoke) waitState(state string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := s.p.Wine(time.Minute, nil, "sc", "query", "galmirror")
		if strings.Contains(r.Stdout, state) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("service not %s after 60s:\n%s", state, r)
		}
		time.Sleep(time.Second)
	}
}

// waitSynced waits until every mailbox holds the managed folder with every
// other user's contact.
func (s *smoke) waitSynced() {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		missing := 0
		for _, u := range s.tn.Users {
			fs, _ := s.srv.Folders(s.tn.ID, u.ID)
			n := 0
			for _, f := range fs {
				n += len(f.Contacts)
			}
			missing += len(s.tn.Users) - 1 - n
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			svc, _ := os.ReadFile(s.p.ServicesLog)
			s.t.Fatalf("%d contacts still missing after 90s; services log:\n%s", missing, tail(string(svc), 40))
		}
		time.Sleep(time.Second)
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// adminAndStop: the admin API answers over the named pipe, and a stop
// through galmirror service stop reaches STOPPED with event 101 (the start
// reported 100, and the sync 200).
func (s *smoke) adminAndStop() {
	t := s.t
	r := s.p.Wine(time.Minute, nil, installedExe, "admin", "--config", programData+`\settings.json`, "tenants")
	if r.Code != 0 || !strings.Contains(r.Stdout, "contoso") {
		t.Errorf("admin tenants over the pipe: %s", r)
	}
	if r := s.p.Wine(2*time.Minute, nil, installedExe, "service", "stop"); r.Code != 0 {
		t.Errorf("service stop: %s", r)
	}
	s.waitState("STOPPED")
	// The service mode belongs on the service's command line: from a
	// terminal it says so and ends.
	r = s.p.Wine(time.Minute, nil, installedExe, "run", "--service", "--config", programData+`\settings.json`)
	if r.Code == 0 || !strings.Contains(r.Stderr, "not started by the service control manager") {
		t.Errorf("run --service outside the service manager: %s", r)
	}
	svc, _ := os.ReadFile(s.p.ServicesLog)
	ids := winetest.EventIDs(string(svc))
	for _, id := range []int{100, 200, 101} {
		if !slices.Contains(ids, id) {
			t.Errorf("the service reported no event %d to the Event Log (reported: %v)", id, ids)
		}
	}
}

// upgrade installs the next version over the running one with no
// properties: the settings and state stay, the service runs again.
func (s *smoke) upgrade(msi string) {
	t := s.t
	settings, _ := os.ReadFile(s.p.C(programData + `\settings.json`))
	if code, _ := s.msiexec("/i", winetest.Z(msi)); code != 0 {
		t.Fatalf("upgrade: exit %d", code)
	}
	if now, _ := os.ReadFile(s.p.C(programData + `\settings.json`)); !bytes.Equal(now, settings) {
		t.Errorf("the upgrade changed the settings")
	}
	if !s.exists(programData + `\state`) {
		t.Errorf("the upgrade lost the state folder")
	}
	s.serviceRuns("1.0.1")
}

// uninstall removes the product: the executable, the service and the
// event source go; ProgramData and the imported certificate stay unless
// PURGE=1.
func (s *smoke) uninstall(msi string, purge bool) {
	t := s.t
	tp, _ := os.ReadFile(s.p.C(programData + `\imported-certificates.txt`))
	thumb := strings.TrimSpace(string(tp))
	args := []string{"/x", winetest.Z(msi)}
	if purge {
		args = append(args, "PURGE=1")
	}
	if code, _ := s.msiexec(args...); code != 0 {
		t.Fatalf("uninstall (purge %v): exit %d", purge, code)
	}
	if s.exists(installedExe) || s.p.RegKeyExists(serviceKey) || s.p.RegKeyExists(eventSourceKey) {
		t.Errorf("uninstall left the executable, the service or the event source")
	}
	kept := s.exists(programData + `\settings.json`)
	if purge && (s.exists(programData) || s.p.RegKeyExists(myStoreKey+`\`+thumb)) {
		t.Errorf("PURGE=1 left %s or the certificate %s", programData, thumb)
	}
	if !purge && (!kept || !s.p.RegKeyExists(myStoreKey+`\`+thumb)) {
		t.Errorf("uninstall without PURGE lost the settings or the certificate")
	}
}

// installWithProperties installs with SETTINGSFILE, CERTFILE,
// CERTPASSWORD and STARTSERVICE=1, no script around it.
func (s *smoke) installWithProperties(msi, stage string) {
	t := s.t
	_ = os.Remove(s.p.C(programData + `\settings.json`))
	code, log := s.msiexec("/i", winetest.Z(msi), `SETTINGSFILE=C:\stage\settings.json`, `CERTFILE=C:\stage\customer.pfx`,
		"CERTPASSWORD="+pfxPassword, "STARTSERVICE=1")
	if code != 0 {
		t.Fatalf("install with properties: exit %d\n%s", code, tail(log, 30))
	}
	// Windows Installer leaves MsiHiddenProperties out of its log; Wine's
	// prints every property at the end. The command line (HideTarget) must
	// not be there either way.
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, pfxPassword) && !strings.HasPrefix(strings.TrimSpace(l), "Property(") {
			t.Errorf("the PFX password is in the install log: %s", l)
		}
	}
	s.serviceRuns("1.0.1")
}
