package service

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The image path quotes the executable always and each argument when it
// needs it, as CommandLineToArgvW reads them (the Windows test splits them
// back for real).
func TestCommandLine(t *testing.T) {
	got := CommandLine(`C:\Program Files\galmirror\galmirror.exe`, []string{"run", "--service", "--config", `C:\My Data\settings.json`, `a"b`, `x\`, `y z\`, ""})
	want := `"C:\Program Files\galmirror\galmirror.exe" run --service --config "C:\My Data\settings.json" "a\"b" x\ "y z\\" ""`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := ServiceArgs(`C:\ProgramData\galmirror\settings.json`); !slices.Equal(got, []string{"run", "--service", "--config", `C:\ProgramData\galmirror\settings.json`}) {
		t.Errorf("ServiceArgs: %q", got)
	}
}

// A failed install takes back its own steps, newest first, and says which
// it undid and which it could not.
func TestInstallUndoesItsSteps(t *testing.T) {
	var u undoStack
	var order []string
	u.push("removed the event source", func() error { order = append(order, "source"); return nil })
	u.push("restored the configuration", func() error { order = append(order, "config"); return errors.New("access denied") })
	u.push("deleted the service", func() error { order = append(order, "service"); return nil })
	ie := u.fail("set the recovery actions of galmirror", errors.New("the RPC server is unavailable"))
	if !slices.Equal(order, []string{"service", "config", "source"}) {
		t.Errorf("undone in order %q", order)
	}
	msg := ie.Error()
	for _, want := range []string{"set the recovery actions of galmirror: the RPC server is unavailable", "undone: deleted the service, removed the event source", "could not undo: restored the configuration: access denied"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if ie2 := u.fail("again", errors.New("x")); len(ie2.Undone) != 0 {
		t.Errorf("steps undone twice: %v", ie2.Undone)
	}
}
