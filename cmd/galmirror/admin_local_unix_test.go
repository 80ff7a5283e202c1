//go:build !windows

package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/service"
)

// A listener that is not this service's on the admin socket's path does
// not keep `galmirror run` from starting: it runs (event 100) and reports
// the unavailable socket (event 603) instead of failing (event 103).
func TestRunStartsWhileAdminSocketIsHeld(t *testing.T) {
	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 1)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	held, err := net.Listen("unix", localipc.DefaultPath(state))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	settings := filepath.Join(dir, "settings.json")
	writeJSON(t, settings, map[string]any{"dataDir": "state", "admin": map[string]any{"localSocket": true},
		"tenants": []any{tenantSettings(t, dir, "contoso", sim, tn, cred)}})
	var log lockedBuffer
	var current atomic.Pointer[service.Service]
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serveService(ctx, settings, 10*time.Second, &log, &current) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "event_id=100") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("the service ended at start: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no event 100:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("service: %v", err)
	}
	out := log.String()
	if !strings.Contains(out, "event_id=603") || !strings.Contains(out, "is listening on it") || strings.Contains(out, "event_id=103") {
		t.Errorf("want event 603 naming the listener and no 103:\n%s", out)
	}
}
