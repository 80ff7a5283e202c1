package service

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/winetest"
)

// The service's command line splits back into the executable and the
// arguments the way Windows programs split theirs, spaces and quotes
// included.
func TestCommandLineSplitsBack(t *testing.T) {
	exe := `C:\Program Files\galmirror\galmirror.exe`
	args := []string{"run", "--service", "--config", `C:\Program Data\x y\settings.json`, `a"b`, `trailing\`, `sp ace\`, ""}
	got, err := windows.DecomposeCommandLine(CommandLine(exe, args))
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{exe}, args...); !slices.Equal(got, want) {
		t.Errorf("%s splits into %q, want %q", CommandLine(exe, args), got, want)
	}
}

// install twice is idempotent, an existing service (a half-finished
// install, an older command line) is brought to the wanted configuration,
// and uninstall removes the service and its event source; everything the
// service manager does not support is a warning, never a failure.
func TestInstallIdempotentAndUninstall(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := "galmirror"
	_ = Uninstall(name)
	t.Cleanup(func() { _ = Uninstall(name) })
	args := ServiceArgs(`C:\ProgramData\galmirror\settings.json`)

	start := time.Now()
	res, err := Install(InstallOptions{Name: name, Exe: exe, Args: args})
	if err != nil {
		t.Fatalf("first install: %v", err)
	}
	t.Logf("first install took %s", time.Since(start).Round(time.Millisecond))
	if !res.Created || len(res.Changed) != 0 {
		t.Errorf("first install: %+v", res)
	}
	if winetest.UnderWine() {
		// Wine 8 lacks delayed start and the failure-actions flag and keeps
		// no recovery actions.
		t.Logf("warnings under Wine: %q", res.Warnings)
		if len(res.Warnings) == 0 {
			t.Errorf("Wine's service manager lacks delayed start, yet install reported no warning")
		}
	} else if len(res.Warnings) != 0 {
		t.Errorf("warnings on Windows: %q", res.Warnings)
	}
	info, err := Query(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := CommandLine(exe, args); info.CommandLine != want || !strings.HasPrefix(info.CommandLine, `"`) {
		t.Errorf("command line %s, want %s", info.CommandLine, want)
	}
	if info.StartType != "automatic" || !isLocalSystem(info.Account) || info.State != "stopped" {
		t.Errorf("service: %+v", info)
	}
	if !events.SourceRegistered(events.SourceName) {
		t.Errorf("the event source is not registered")
	}

	res, err = Install(InstallOptions{Name: name, Exe: exe, Args: args})
	if err != nil || res.Created || len(res.Changed) != 0 {
		t.Fatalf("second install: %+v, %v", res, err)
	}

	// What an older galmirror or a failed install left: an unquoted
	// command line without --service, started by hand.
	// (mgr.Service.Config reads the extended settings Wine lacks: the
	// basic call is enough.)
	m, err := mgr.Connect()
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.OpenService(name)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := windows.UTF16PtrFromString(exe + ` run --config C:\ProgramData\galmirror\settings.json`)
	if err := windows.ChangeServiceConfig(s.Handle, windows.SERVICE_NO_CHANGE, windows.SERVICE_DEMAND_START, windows.SERVICE_NO_CHANGE,
		old, nil, nil, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	m.Disconnect()
	res, err = Install(InstallOptions{Name: name, Exe: exe, Args: args})
	if err != nil {
		t.Fatalf("install over an older service: %v", err)
	}
	if res.Created || len(res.Changed) != 2 || !strings.HasPrefix(res.Changed[0], "command line") || !strings.HasPrefix(res.Changed[1], "start type") {
		t.Errorf("install over an older service: %+v", res)
	}
	if info, _ := Query(name); info.CommandLine != CommandLine(exe, args) || info.StartType != "automatic" {
		t.Errorf("after the update: %+v", info)
	}

	if err := Uninstall(name); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if _, err := Query(name); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("query after uninstall: %v", err)
	}
	if events.SourceRegistered(events.SourceName) {
		t.Errorf("the event source is still registered")
	}
	if err := Uninstall(name); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second uninstall: %v, want ErrNotInstalled", err)
	}
}
