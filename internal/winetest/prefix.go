package winetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Prefix is a fresh Wine prefix (a Windows machine in a folder) that stays
// up for a whole test: its wineserver is kept running (-p), so that the
// service manager and msiexec keep their state between calls, and it ends
// with the test. Go's ProcessPrng shim is installed in System32.
type Prefix struct {
	t   *testing.T
	Dir string // the prefix: Dir/drive_c is C:
	env []string
	// ServicesLog receives the output of the service manager and of the
	// services it starts, with the Event Log calls traced
	// (ReportEventW lines): see EventIDs.
	ServicesLog string
}

// NeedTools skips t unless every tool is on PATH, naming the Debian
// packages that bring them.
func NeedTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: this test needs Wine, MinGW and msitools (Debian: apt-get install wine wine64 gcc-mingw-w64-x86-64 wixl msitools)", tool)
		}
	}
}

// eventTrace is the WINEDEBUG that makes Wine print every ReportEventW
// call (type, category, id) and nothing else.
const eventTrace = "-all,fixme+advapi,+eventlog"

// NewPrefix creates the prefix under a test temporary folder (about 10 s).
func NewPrefix(t *testing.T) *Prefix {
	t.Helper()
	NeedTools(t, "wine", "wineserver", "x86_64-w64-mingw32-gcc")
	dir := t.TempDir()
	p := &Prefix{t: t, Dir: filepath.Join(dir, "prefix"), ServicesLog: filepath.Join(dir, "services.log")}
	p.env = append(os.Environ(), "WINEPREFIX="+p.Dir, "WINEARCH=win64", "WINEDEBUG=-all",
		"WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY=")
	t.Cleanup(func() {
		cmd := exec.Command("wineserver", "-k")
		cmd.Env = p.env
		_ = cmd.Run()
	})
	dll := buildShim(t, dir)
	if r := p.run(2*time.Minute, nil, "wine", "wineboot", "--init"); r.Code != 0 {
		t.Fatalf("wineboot --init: %s", r)
	}
	b, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir, "drive_c", "windows", "system32", "bcryptprimitives.dll"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Let the boot's server end, then keep one (with the service manager)
	// until the test ends. The service manager is started again with its
	// output (and that of the services it starts) in ServicesLog.
	for _, args := range [][]string{{"wineserver", "-w"}, {"wineserver", "-p"}} {
		if r := p.run(time.Minute, nil, args...); r.Code != 0 {
			t.Fatalf("%s: %s", strings.Join(args, " "), r)
		}
	}
	log, err := os.Create(p.ServicesLog)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	boot := p.command(time.Minute, []string{"WINEDEBUG=" + eventTrace}, "wine", "wineboot")
	boot.Stdout, boot.Stderr = log, log
	// wineboot on a booted prefix exits 1: what counts is that it started
	// the service manager again.
	if err := boot.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("wineboot: %v", err)
		}
	}
	return p
}

// buildShim compiles the ProcessPrng shim into dir and returns the DLL.
func buildShim(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "processprng-shim.c")
	if err := os.WriteFile(src, []byte(processPrngShim), 0o600); err != nil {
		t.Fatal(err)
	}
	dll := filepath.Join(dir, "bcryptprimitives.dll")
	if out, err := exec.Command("x86_64-w64-mingw32-gcc", "-shared", "-O2", "-o", dll, src, "-ladvapi32").CombinedOutput(); err != nil {
		t.Fatalf("build the ProcessPrng shim: %v\n%s", err, out)
	}
	return dll
}

func (p *Prefix) command(timeout time.Duration, env []string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(p.t.Context(), timeout)
	p.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(append([]string{}, p.env...), env...)
	return cmd
}

// Result is what a Windows program printed and its exit code.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Wine runs a Windows program (bounded by timeout) with the extra
// environment variables env, which Windows programs see like any other.
// EventTrace in env traces its Event Log calls on stderr.
func (p *Prefix) Wine(timeout time.Duration, env []string, args ...string) Result {
	p.t.Helper()
	return p.run(timeout, env, append([]string{"wine"}, args...)...)
}

// run runs a command with its output in files: Wine's background
// processes (a wineserver, services) inherit them, and a pipe would keep
// the command from ending.
func (p *Prefix) run(timeout time.Duration, env []string, args ...string) Result {
	p.t.Helper()
	dir := p.t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		p.t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		p.t.Fatal(err)
	}
	defer stderr.Close()
	cmd := p.command(timeout, env, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	out, _ := os.ReadFile(stdout.Name())
	errb, _ := os.ReadFile(stderr.Name())
	r := Result{Stdout: string(out), Stderr: string(errb)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// C is the Linux path of a path on the prefix's C: drive, e.g.
// C(`C:\ProgramData\galmirror`) (the drive may be left out).
func (p *Prefix) C(windowsPath string) string {
	if len(windowsPath) >= 2 && (windowsPath[:2] == "C:" || windowsPath[:2] == "c:") {
		windowsPath = windowsPath[2:]
	}
	return filepath.Join(p.Dir, "drive_c", filepath.FromSlash(strings.ReplaceAll(windowsPath, `\`, "/")))
}

// Z is the Windows path (drive Z:, the Linux root) of a Linux path.
func Z(linuxPath string) string {
	return "Z:" + strings.ReplaceAll(linuxPath, "/", `\`)
}

// RegValue reads one registry value with reg.exe: its type (REG_SZ,
// REG_EXPAND_SZ, REG_DWORD, ...) and data as reg.exe prints them; ok is
// false when the key or value does not exist.
func (p *Prefix) RegValue(key, name string) (typ, data string, ok bool) {
	p.t.Helper()
	r := p.Wine(time.Minute, nil, "reg", "query", key, "/v", name)
	if r.Code != 0 {
		return "", "", false
	}
	for _, l := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(strings.TrimSpace(l))
		if len(f) >= 2 && strings.EqualFold(f[0], name) && strings.HasPrefix(f[1], "REG_") {
			rest := strings.TrimSpace(strings.TrimSpace(l)[len(f[0]):])
			return f[1], strings.TrimSpace(rest[len(f[1]):]), true
		}
	}
	return "", "", false
}

// RegKeyExists reports whether a registry key exists.
func (p *Prefix) RegKeyExists(key string) bool {
	p.t.Helper()
	return p.Wine(time.Minute, nil, "reg", "query", key).Code == 0
}

// EventIDs returns the ids of the Event Log reports traced in text (from
// ServicesLog, or the stderr of a program run with the trace), in order.
func EventIDs(text string) []int {
	var ids []int
	// trace:eventlog:ReportEventW (00000001,0x0004,0x0000,0x00000064,...)
	for _, l := range strings.Split(text, "\n") {
		i := strings.Index(l, "ReportEventW (")
		if i < 0 {
			continue
		}
		f := strings.Split(l[i+len("ReportEventW ("):], ",")
		if len(f) < 4 {
			continue
		}
		var id int
		if _, err := fmt.Sscanf(f[3], "0x%x", &id); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// EventTrace is the environment variable that traces a program's Event
// Log calls on its stderr.
const EventTrace = "WINEDEBUG=" + eventTrace
