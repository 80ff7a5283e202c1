package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/localipc"
)

// cliBackend answers the calls the CLI test makes; others are not called.
type cliBackend struct {
	admin.Backend
	paused bool
}

func (b *cliBackend) ServiceInfo(context.Context) (admin.ServiceInfo, error) {
	return admin.ServiceInfo{Version: "9.9.9", Host: "gm01", StartedAt: time.Now().Add(-time.Hour), Tenants: 1}, nil
}
func (b *cliBackend) Tenants(context.Context) ([]admin.Tenant, error) {
	return []admin.Tenant{{Name: "contoso", State: admin.StateIdle, LastRun: &admin.Run{ID: 7, Outcome: admin.OutcomePartial, Counts: admin.Counts{Created: 12}}}}, nil
}
func (b *cliBackend) Tenant(_ context.Context, name string) (admin.Tenant, error) {
	return admin.Tenant{Name: name, Paused: b.paused, State: admin.StatePaused}, nil
}
func (b *cliBackend) SetPaused(_ context.Context, _ string, p bool, _ string) error {
	b.paused = p
	return nil
}
func (b *cliBackend) Audit(context.Context, admin.AuditRecord) {}

func TestAdminCommandLocal(t *testing.T) {
	dir := t.TempDir()
	sock := localipc.DefaultPath(dir)
	s, err := admin.New(admin.Options{Backend: &cliBackend{}, DataDir: dir, LocalPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range 100 { // the socket appears once Run has bound it
		if _, err := localipc.Dial(t.Context(), sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"admin", "--socket", sock, "status"}, exitOK, s.Fingerprint()},
		{[]string{"admin", "--socket", sock, "tenants"}, exitOK, "partial"},
		{[]string{"admin", "--socket", sock, "--json", "tenants"}, exitOK, `"name": "contoso"`},
		{[]string{"admin", "--socket", sock, "pause", "--reason", "ticket 1", "contoso"}, exitOK, "paused=true"},
		{[]string{"admin", "--socket", sock, "pause", "contoso", "--reason", "ticket 2"}, exitOK, "paused=true"},
		{[]string{"admin", "--socket", sock, "pause", "-h"}, exitOK, "-reason"},
		{[]string{"admin", "--socket", sock, "pause", "Bad Name"}, exitFailed, "not a tenant name"},
		{[]string{"admin", "--socket", sock, "runs"}, exitUsage, "exactly one argument"},
		{[]string{"admin", "--endpoint", "https://gm01:8443", "tenants"}, exitUsage, "--kerberos or --cert"},
		{[]string{"admin", "--socket", sock, "frobnicate"}, exitUsage, "unknown command"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(t.Context(), c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String()+errb.String(), c.want) {
			t.Errorf("%v: exit %d, want %d; output:\n%s%s", c.args, code, c.code, out.String(), errb.String())
		}
	}
}
