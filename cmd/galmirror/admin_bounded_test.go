//go:build linux

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/galmirror/galmirror/internal/admin"
	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
)

// viewerResponses calls every method a viewer may call against the running
// service and returns each answer (or error) as text, by method.
func viewerResponses(t *testing.T, api adminv1connect.AdminServiceClient, broken string) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	add := func(name string, m proto.Message, err error) {
		if err != nil {
			out[name] = "error: " + err.Error()
			return
		}
		b, merr := protojson.Marshal(m)
		if merr != nil {
			t.Fatalf("%s: %v", name, merr)
		}
		out[name] = string(b)
	}
	info, err := api.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
	add("GetServiceInfo", msg(info), err)
	list, err := api.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
	add("ListTenants", msg(list), err)
	tn, err := api.GetTenant(ctx, connect.NewRequest(&adminv1.GetTenantRequest{Name: broken}))
	add("GetTenant", msg(tn), err)
	runs, err := api.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: broken}))
	add("ListRuns", msg(runs), err)
	if err == nil && len(runs.Msg.Runs) > 0 {
		run, err := api.GetRun(ctx, connect.NewRequest(&adminv1.GetRunRequest{Id: runs.Msg.Runs[0].Id}))
		add("GetRun", msg(run), err)
	}
	chk, err := api.CheckTenant(ctx, connect.NewRequest(&adminv1.CheckTenantRequest{Tenant: broken}))
	add("CheckTenant", msg(chk), err)
	_, err = api.GetTenant(ctx, connect.NewRequest(&adminv1.GetTenantRequest{Name: "nobody"}))
	add("GetTenant error", nil, err)

	// The stored events, read until the newest one.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := api.WatchEvents(sctx, connect.NewRequest(&adminv1.WatchEventsRequest{Cursor: "0"}))
	if err != nil {
		t.Fatalf("WatchEvents: %v", err)
	}
	var evs []string
	for stream.Receive() {
		e := stream.Msg().GetEvent()
		if e == nil {
			continue
		}
		b, _ := protojson.Marshal(e)
		evs = append(evs, string(b))
		if e.EventId == 310 && e.Tenant == broken {
			break
		}
	}
	stream.Close()
	out["WatchEvents"] = strings.Join(evs, "\n")
	return out
}

func msg[T any](r *connect.Response[T]) proto.Message {
	if r == nil {
		return nil
	}
	if m, ok := any(r.Msg).(proto.Message); ok {
		return m
	}
	return nil
}

// Over the network, nobody (a viewer here) sees a file path: not the
// settings file, not a certificate or CA file, not the data directory, in
// any answer or error. The local socket does see them, and the redacted
// text still says what was wrong ("[certificate file]").
func TestNoPathsOverTheNetwork(t *testing.T) {
	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 3)
	contoso := tenantSettings(t, dir, "contoso", sim, tn, cred)
	sim2, tn2, cred2 := simTenant(t, 1)
	broken := tenantSettings(t, dir, "broken", sim2, tn2, cred2)
	broken["certificate"] = map[string]any{"file": "missing.pem"}
	for _, ts := range []map[string]any{contoso, broken} {
		ts["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
	}
	viewer := writeClientCert(t, dir, "viewer")
	op := writeClientCert(t, dir, "operator")
	port := freePort(t)
	svc := startRunning(t, dir, map[string]any{
		"listen":             fmt.Sprintf("127.0.0.1:%d", port),
		"clientCertificates": map[string]any{"pinned": []string{viewer.fp, op.fp}},
		"roles": []any{
			map[string]any{"principal": "cert:" + viewer.fp, "role": "viewer"},
			map[string]any{"principal": "cert:" + op.fp, "role": "operator"},
		},
	}, contoso, broken)
	endpoint := fmt.Sprintf("https://127.0.0.1:%d", port)
	remote, err := admin.NewClient(admin.ClientOptions{Endpoint: endpoint, Fingerprint: svc.fp, Certificate: viewer.tls})
	if err != nil {
		t.Fatal(err)
	}
	watch := watchEvents(t, remote)
	watch.wait(t, 310, func(e *adminv1.Event) bool { return e.Tenant == "broken" })
	watch.wait(t, 200, func(e *adminv1.Event) bool { return e.Tenant == "contoso" })

	missing := filepath.Join(dir, "missing.pem")
	secret := []string{dir, svc.settings, missing, filepath.Join(dir, "contoso-ca.pem"), svc.dataDir}
	got := viewerResponses(t, remote, "broken")
	for method, text := range got {
		for _, p := range secret {
			if strings.Contains(text, p) {
				t.Errorf("%s shows the viewer the path %s:\n%s", method, p, text)
			}
		}
	}
	for method, want := range map[string]string{
		"CheckTenant": "[certificate file]: no such file",
		"GetTenant":   "[certificate file]: no such file",
		"ListRuns":    "[certificate file]: no such file",
		"WatchEvents": "[certificate file]: no such file",
	} {
		if !strings.Contains(got[method], want) {
			t.Errorf("%s does not say %q:\n%s", method, want, got[method])
		}
	}
	if !strings.Contains(got["GetServiceInfo"], `"callerRole":"ROLE_VIEWER"`) || strings.Contains(got["GetServiceInfo"], "configPath") {
		t.Errorf("GetServiceInfo over the network: %s", got["GetServiceInfo"])
	}
	// An operator over the network sees no path either.
	opAPI, err := admin.NewClient(admin.ClientOptions{Endpoint: endpoint, Fingerprint: svc.fp, Certificate: op.tls})
	if err != nil {
		t.Fatal(err)
	}
	for method, text := range viewerResponses(t, opAPI, "broken") {
		if strings.Contains(text, dir) {
			t.Errorf("%s shows an operator a path:\n%s", method, text)
		}
	}

	// The local socket is for the machine's administrators: paths stay.
	local, err := admin.NewClient(admin.ClientOptions{LocalPath: svc.socket})
	if err != nil {
		t.Fatal(err)
	}
	got = viewerResponses(t, local, "broken")
	if !strings.Contains(got["GetServiceInfo"], svc.settings) || !strings.Contains(got["CheckTenant"], missing) || !strings.Contains(got["WatchEvents"], missing) {
		t.Errorf("the local socket lost the paths:\n%s\n%s", got["GetServiceInfo"], got["CheckTenant"])
	}
}

// Viewers calling CheckTenant at once cause one check (one probe of each
// target mailbox at graphsim); another call within the reuse window causes
// none, and says when the check ran.
func TestParallelCheckTenantRunsOneCheck(t *testing.T) {
	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 3)
	contoso := tenantSettings(t, dir, "contoso", sim, tn, cred)
	contoso["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
	viewer := writeClientCert(t, dir, "viewer")
	port := freePort(t)
	svc := startRunning(t, dir, map[string]any{
		"listen":             fmt.Sprintf("127.0.0.1:%d", port),
		"clientCertificates": map[string]any{"pinned": []string{viewer.fp}},
		"roles":              []any{map[string]any{"principal": "cert:" + viewer.fp, "role": "viewer"}},
	}, contoso)
	api, err := admin.NewClient(admin.ClientOptions{Endpoint: fmt.Sprintf("https://127.0.0.1:%d", port), Fingerprint: svc.fp, Certificate: viewer.tls})
	if err != nil {
		t.Fatal(err)
	}
	watch := watchEvents(t, api)
	watch.wait(t, 200, func(e *adminv1.Event) bool { return e.Tenant == "contoso" }) // the start-up run is over
	sim.ResetCounters()

	const callers = 10
	var wg sync.WaitGroup
	answers := make([]*adminv1.CheckTenantResponse, callers)
	for i := range callers {
		wg.Go(func() {
			res, err := api.CheckTenant(t.Context(), connect.NewRequest(&adminv1.CheckTenantRequest{Tenant: "contoso"}))
			if err != nil {
				t.Errorf("CheckTenant: %v", err)
				return
			}
			answers[i] = res.Msg
		})
	}
	wg.Wait()
	probes := func() int64 {
		var n int64
		for route, c := range sim.Counters().ByRoute {
			if strings.HasPrefix(route, "GET ") && strings.HasSuffix(route, "/contactFolders") {
				n += c
			}
		}
		return n
	}
	if n := probes(); n != int64(len(tn.Users)) {
		t.Fatalf("%d parallel CheckTenant calls probed mailboxes %d times; one check probes each of the %d once", callers, n, len(tn.Users))
	}
	requests := sim.Counters().Requests
	for i, a := range answers {
		if a == nil || a.Status != adminv1.CheckStatus_CHECK_STATUS_OK || a.CheckedAt == nil || !a.CheckedAt.AsTime().Equal(answers[0].CheckedAt.AsTime()) {
			t.Errorf("answer %d: %v", i, a)
		}
	}
	res, err := api.CheckTenant(t.Context(), connect.NewRequest(&adminv1.CheckTenantRequest{Tenant: "contoso"}))
	if err != nil || !res.Msg.CheckedAt.AsTime().Equal(answers[0].CheckedAt.AsTime()) {
		t.Fatalf("CheckTenant again: %v, %v", res, err)
	}
	if n := sim.Counters().Requests; n != requests {
		t.Errorf("a call within the reuse window made %d Graph requests", n-requests)
	}
	// The CLI says how old the answer is.
	code, out := cli(t, "admin", "--endpoint", fmt.Sprintf("https://127.0.0.1:%d", port), "--fingerprint", svc.fp, "--cert", viewer.cert, "--key", viewer.key, "check", "contoso")
	if code != exitOK || !strings.Contains(out, "checked at ") {
		t.Errorf("admin check: exit %d\n%s", code, out)
	}
}
