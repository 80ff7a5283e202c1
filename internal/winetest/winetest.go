// Package winetest runs a package's Windows tests under Wine from a Linux
// `go test`, for the parts of the Windows build that Wine carries (named
// pipes, tokens, security descriptors read back from kernel objects). It is
// a test helper, linked only into tests.
//
// Wine is not Windows: it does not enforce DACLs on files or pipes, ignores
// FILE_FLAG_FIRST_PIPE_INSTANCE, synthesises file DACLs from Unix modes,
// and runs every process as one user who is an elevated administrator.
// Tests that need those behaviours check UnderWine and say what they skip.
//
// Needs the Debian packages wine, wine64 and gcc-mingw-w64-x86-64 (.ci/run
// installs them); without them Run skips, saying so. Each Run builds a
// fresh Wine prefix (about 10 s) and the package's Windows test binary.
package winetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// processPrngShim provides ProcessPrng, which Go's Windows runtime needs
// from bcryptprimitives.dll and Wine 8 lacks. Test-only: never shipped.
const processPrngShim = `#include <windows.h>
#include <ntsecapi.h>
/* ProcessPrng as in Windows 10+ bcryptprimitives.dll, for Wine builds that lack it. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk; len -= chunk;
    }
    return TRUE;
}
`

// Run cross-compiles the tests of the package in the current directory
// (go test's working directory) for windows/amd64 and runs those matching
// the regular expression run under Wine, failing t if any fails. It skips
// in -short mode and where Wine or the MinGW compiler is missing.
func Run(t *testing.T, run string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Windows tests under Wine (slow)")
	}
	if raceEnabled {
		t.Skip("the Windows tests are not built with -race: the plain test run has run them")
	}
	for _, tool := range []string{"wine", "wineserver", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the Windows tests need Wine (Debian: apt-get install wine wine64 gcc-mingw-w64-x86-64)", tool)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	env := append(os.Environ(), "WINEPREFIX="+filepath.Join(dir, "prefix"), "WINEARCH=win64", "WINEDEBUG=-all",
		"WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY=")
	sh := func(name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	// The prefix's wineserver (and the services Wine starts) end with the
	// test.
	t.Cleanup(func() {
		cmd := exec.Command("wineserver", "-k")
		cmd.Env = env
		_ = cmd.Run()
	})

	dll := buildShim(t, dir)
	trackSources(t, ctx)
	exe := filepath.Join(dir, "pkg.test.exe")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", exe, ".")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c (GOOS=windows): %v\n%s", err, out)
	}
	sh("wine", "wineboot", "--init")
	sys32 := filepath.Join(dir, "prefix", "drive_c", "windows", "system32")
	b, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys32, "bcryptprimitives.dll"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, "wine", exe, "-test.run", run, "-test.v", "-test.count=1")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("Windows tests under Wine (%s):\n%s", run, out.String())
	switch {
	case err != nil:
		t.Errorf("the Windows tests failed under Wine: %v", err)
	case !strings.Contains(out.String(), "--- PASS"):
		t.Errorf("no Windows test matching %q passed under Wine", run)
	}
}

// trackSources stats the Go files of this module's packages that the
// Windows test binary is built from. go test caches a test's result by the
// files the test itself touches; without this, a change to a _windows.go
// file (not part of the Linux build) would be answered from the cache.
func trackSources(t *testing.T, ctx context.Context) {
	t.Helper()
	list := exec.CommandContext(ctx, "go", "list", "-deps", "-test", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", ".")
	list.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list (GOOS=windows): %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		files, _ := filepath.Glob(filepath.Join(d, "*.go"))
		for _, f := range files {
			os.Stat(f)
		}
	}
}
