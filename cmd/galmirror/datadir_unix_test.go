//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/service"
)

// `galmirror run` refuses a data directory every user can write to, with
// event 103 naming the folder and who has access, and touches nothing in it.
func TestRunRefusesWritableDataDir(t *testing.T) {
	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 1)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "settings.json")
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{tenantSettings(t, dir, "contoso", sim, tn, cred)}})
	var log lockedBuffer
	var current atomic.Pointer[service.Service]
	err := serveService(t.Context(), settings, time.Second, &log, &current)
	if err == nil || !strings.Contains(err.Error(), "folder "+state+" is not private") || !strings.Contains(err.Error(), "every user: write (mode 0777)") {
		t.Fatalf("serveService: %v", err)
	}
	if !strings.Contains(log.String(), "event_id=103") || strings.Contains(log.String(), "event_id=100") {
		t.Errorf("want event 103 and no service start:\n%s", log.String())
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Errorf("files were created in the refused directory: %v", entries)
	}
}
