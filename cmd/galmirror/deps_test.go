package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// goListDeps lists the packages pkg links in for goos.
func goListDeps(t *testing.T, goos, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s (GOOS=%s): %v", pkg, goos, err)
	}
	return strings.Fields(string(out))
}

// The house rules of docs/architecture.md that the compiler does not
// enforce: the service's packages never link the Graph emulator, the Linux
// build never links the Windows system packages, and nothing links the
// Graph SDK.
func TestForbiddenImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/galmirror/galmirror/"
	product := []string{"internal/syncer", "internal/service", "internal/admin", "internal/admin/svcbackend",
		"internal/store", "internal/graph", "internal/entra", "internal/config", "internal/directory", "internal/plan", "internal/pacer",
		"internal/onboard", "internal/renew", "internal/console", "internal/webauth"}
	for _, goos := range []string{"linux", "windows"} {
		for _, p := range product {
			for _, d := range goListDeps(t, goos, mod+p) {
				if strings.HasPrefix(d, mod+"internal/graphsim") {
					t.Errorf("%s (GOOS=%s) links the emulator %s", p, goos, d)
				}
				if strings.Contains(d, "msgraph-sdk-go") {
					t.Errorf("%s links %s", p, d)
				}
			}
		}
	}
	for _, d := range goListDeps(t, "linux", mod+"cmd/galmirror") {
		if strings.HasPrefix(d, "golang.org/x/sys/windows") || strings.Contains(d, "alexbrainman/sspi") || strings.Contains(d, "certtostore") {
			t.Errorf("the Linux binary links %s", d)
		}
		if strings.Contains(d, "chromedp") {
			t.Errorf("the binary links the browser tests' %s", d)
		}
	}
	for _, p := range []string{"internal/plan", "internal/pacer"} {
		for _, d := range goListDeps(t, "linux", mod+p) {
			if strings.HasPrefix(d, mod) && d != mod+p {
				t.Errorf("%s must import nothing of galmirror's, but links %s", p, d)
			}
		}
	}
}
