//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/galmirror/galmirror/internal/admin"
	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/kdctest"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/service"
	"github.com/galmirror/galmirror/internal/store"
)

// lockedBuffer collects the service's log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clientCertFiles is a client certificate written as PEM files.
type clientCertFiles struct {
	cert, key, fp string
	tls           *tls.Certificate
}

// writeClientCert makes a self-signed client certificate, as the openssl
// command in docs/admin-api.md does.
func writeClientCert(t *testing.T, dir, cn string) clientCertFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	f := clientCertFiles{cert: filepath.Join(dir, cn+".pem"), key: filepath.Join(dir, cn+".key"), fp: admin.Fingerprint(der)}
	if err := os.WriteFile(f.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := admin.LoadClientCertificate(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	f.tls = &c
	return f
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runningService is `galmirror run` in this process (serveService, what
// the command runs after parsing its flags).
type runningService struct {
	settings, dataDir, socket string
	port                      int
	fp                        string
	log                       *lockedBuffer
	stop                      func() error
}

// startRunning writes settings (with "dataDir": "state" and the admin
// section admin) and runs the service until the test ends or stop.
func startRunning(t *testing.T, dir string, adminSettings map[string]any, tenants ...any) *runningService {
	t.Helper()
	r := &runningService{settings: filepath.Join(dir, "settings.json"), dataDir: filepath.Join(dir, "state"), log: &lockedBuffer{}}
	r.socket = localipc.DefaultPath(r.dataDir)
	writeJSON(t, r.settings, map[string]any{"dataDir": "state", "admin": adminSettings, "tenants": tenants})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var current atomic.Pointer[service.Service]
	go func() { done <- serveService(ctx, r.settings, 10*time.Second, r.log, &current) }()
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(20 * time.Second):
				stopErr = errors.New("the service did not stop within 20s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("service: %v\n%s", err, r.log.String())
		}
	})
	// Serving once the local socket answers (both listeners are bound
	// before the service starts).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := localipc.Dial(t.Context(), r.socket); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("service ended at start: %v\n%s", err, r.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin socket %s did not appear\n%s", r.socket, r.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	fp, err := admin.StoredFingerprint(r.dataDir)
	if err != nil {
		t.Fatalf("generated server certificate: %v", err)
	}
	r.fp = fp
	return r
}

// cli runs `galmirror ARGS...` as the command line does.
func cli(t *testing.T, args ...string) (code int, out string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code = run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// eventWatch is a WatchEvents stream read in the background.
type eventWatch struct {
	mu   sync.Mutex
	evs  []*adminv1.Event
	more chan struct{}
}

func watchEvents(t *testing.T, c interface {
	WatchEvents(context.Context, *connect.Request[adminv1.WatchEventsRequest]) (*connect.ServerStreamForClient[adminv1.WatchEventsResponse], error)
}) *eventWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.WatchEvents(ctx, connect.NewRequest(&adminv1.WatchEventsRequest{Cursor: "0"}))
	if err != nil {
		cancel()
		t.Fatalf("WatchEvents: %v", err)
	}
	w := &eventWatch{more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for stream.Receive() {
			if e := stream.Msg().GetEvent(); e != nil {
				w.mu.Lock()
				w.evs = append(w.evs, e)
				w.mu.Unlock()
				select {
				case w.more <- struct{}{}:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); stream.Close(); <-done })
	return w
}

// wait returns the first event with id for which match holds.
func (w *eventWatch) wait(t *testing.T, id int32, match func(*adminv1.Event) bool) *adminv1.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		for _, e := range w.evs {
			if e.EventId == id && (match == nil || match(e)) {
				w.mu.Unlock()
				return e
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-deadline:
			w.mu.Lock()
			defer w.mu.Unlock()
			var got []string
			for _, e := range w.evs {
				got = append(got, fmt.Sprintf("%s:%d %s", e.Cursor, e.EventId, e.Message))
			}
			t.Fatalf("no event %d on the stream within 20s; got:\n%s", id, strings.Join(got, "\n"))
		}
	}
}

// adminRunFixture is a running `galmirror run` with its admin API, the
// clients' certificates and a WatchEvents stream from the first event.
type adminRunFixture struct {
	svc                  *runningService
	endpoint             string
	op, viewer, stranger clientCertFiles
	watch                *eventWatch
	startup              *adminv1.Event // the start-up run's 200
	runID                string         // the SyncNow run's id
}

// remote runs `galmirror admin` against the endpoint with c's certificate.
func (a *adminRunFixture) remote(t *testing.T, c clientCertFiles, args ...string) (int, string) {
	t.Helper()
	return cli(t, append([]string{"admin", "--endpoint", a.endpoint, "--fingerprint", a.svc.fp, "--cert", c.cert, "--key", c.key}, args...)...)
}

// The admin API of a running `galmirror run`, used as an MSP engineer would
// from another machine (pinned client certificates over HTTPS) and as an
// RMM script would on the box (the local socket): tenants with their last
// run, sync now, the run's history and per-mailbox outcomes, live events
// from a real sync against graphsim, roles, and `galmirror status` printing
// the fingerprint to pin.
func TestAdminAPIAgainstRunningService(t *testing.T) {
	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 3)
	contoso := tenantSettings(t, dir, "contoso", sim, tn, cred)
	contoso["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
	a := &adminRunFixture{op: writeClientCert(t, dir, "operator"), viewer: writeClientCert(t, dir, "viewer"), stranger: writeClientCert(t, dir, "stranger")}
	port := freePort(t)
	a.svc = startRunning(t, dir, map[string]any{
		"listen":             fmt.Sprintf("127.0.0.1:%d", port),
		"clientCertificates": map[string]any{"pinned": []string{a.op.fp, a.viewer.fp}},
		"roles": []any{
			map[string]any{"principal": "cert:" + a.op.fp, "role": "operator"},
			map[string]any{"principal": "cert:" + a.viewer.fp, "role": "viewer"},
		},
	}, contoso)
	a.endpoint = fmt.Sprintf("https://127.0.0.1:%d", port)

	// The Go client (a viewer) watches from the first stored event.
	api, err := admin.NewClient(admin.ClientOptions{Endpoint: a.endpoint, Fingerprint: a.svc.fp, Certificate: a.viewer.tls, Protocol: "grpc"})
	if err != nil {
		t.Fatal(err)
	}
	a.watch = watchEvents(t, api)
	a.watch.wait(t, 100, nil) // service started
	a.startup = a.watch.wait(t, 200, func(e *adminv1.Event) bool { return e.Tenant == "contoso" })

	t.Run("tenants with their last run", a.tenantsWithLastRun)
	t.Run("sync now, then the run in history with per-mailbox outcomes", a.syncNowThenHistory)
	t.Run("a viewer cannot sync; the denial is an event", a.viewerCannotSync)
	t.Run("an unpinned certificate is refused", func(t *testing.T) {
		code, out := a.remote(t, a.stranger, "tenants")
		if code != exitFailed || !strings.Contains(out, "unauthenticated") {
			t.Errorf("stranger: exit %d\n%s", code, out)
		}
	})
	t.Run("the local socket needs no credentials", a.localSocket)
	t.Run("events without --follow print the stored events", func(t *testing.T) {
		code, out := a.remote(t, a.viewer, "events", "--tenant", "contoso")
		if code != exitOK || !regexp.MustCompile(` 200 contoso\s+tenant sync succeeded.* run=`+a.runID+` `).MatchString(out) {
			t.Errorf("events: exit %d\n%s", code, out)
		}
	})
	t.Run("check runs the engine's check against graphsim", func(t *testing.T) {
		code, out := a.remote(t, a.viewer, "check", "contoso")
		if code != exitOK || !regexp.MustCompile(`OK\s+target mailboxes\s+3 of 3 reachable`).MatchString(out) || strings.Contains(out, "FAILED") {
			t.Errorf("check: exit %d\n%s", code, out)
		}
	})
	t.Run("status prints the fingerprint to pin", a.statusPrintsFingerprint)
	a.restart(t, dir, port, contoso)
}

func (a *adminRunFixture) tenantsWithLastRun(t *testing.T) {
	code, out := a.remote(t, a.op, "tenants")
	if code != exitOK || !regexp.MustCompile(`contoso\s+idle\s+\S+ \S+\s+ok\s+6/0/0\s+0\s+.*\s3\n`).MatchString(out) {
		t.Fatalf("tenants: exit %d\n%s", code, out)
	}
	code, out = a.remote(t, a.viewer, "--json", "tenants")
	var res struct {
		Tenants []struct {
			Name, State     string
			TargetMailboxes int
			LastRun         struct {
				RunID           int64
				Status, Trigger string
				Contacts        struct{ Created int }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); code != exitOK || err != nil || len(res.Tenants) != 1 {
		t.Fatalf("tenants --json: exit %d, %v\n%s", code, err, out)
	}
	got := res.Tenants[0]
	if fmt.Sprint(got.LastRun.RunID) != a.startup.RunId || got.LastRun.Status != "ok" || got.LastRun.Trigger != "startup" ||
		got.LastRun.Contacts.Created != 6 || got.TargetMailboxes != 3 || got.State != "idle" {
		t.Errorf("tenant %+v; want last run %s succeeded, 3 mailboxes", got, a.startup.RunId)
	}
}

func (a *adminRunFixture) syncNowThenHistory(t *testing.T) {
	code, out := a.remote(t, a.op, "sync", "contoso")
	m := regexp.MustCompile(`started run (\d+) of contoso`).FindStringSubmatch(out)
	if code != exitOK || m == nil {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	runID := m[1]
	a.runID = runID
	if runID == a.startup.RunId {
		t.Fatalf("sync returned the start-up run's id")
	}
	done := a.watch.wait(t, 200, func(e *adminv1.Event) bool { return e.RunId == runID })
	if done.Attributes["event"] != "run_succeeded" || done.Tenant != "contoso" {
		t.Errorf("run event %+v", done)
	}
	act := a.watch.wait(t, 600, func(e *adminv1.Event) bool { return e.Attributes["method"] == "SyncNow" })
	if act.Attributes["principal"] != "cert:"+a.op.fp || act.Attributes["result"] != "ok" || act.Attributes["detail"] != "run "+runID {
		t.Errorf("audit event %+v", act.Attributes)
	}

	code, out = a.remote(t, a.viewer, "--json", "runs", "contoso")
	var runs struct {
		Runs []struct {
			RunID                        int64
			Trigger, RequestedBy, Status string
		}
	}
	if err := json.Unmarshal([]byte(out), &runs); code != exitOK || err != nil || len(runs.Runs) != 2 {
		t.Fatalf("runs: exit %d %v\n%s", code, err, out)
	}
	if r := runs.Runs[0]; fmt.Sprint(r.RunID) != runID || r.Trigger != "manual" || r.RequestedBy != "cert:"+a.op.fp || r.Status != "ok" {
		t.Errorf("newest run %+v", r)
	}
	if fmt.Sprint(runs.Runs[1].RunID) != a.startup.RunId {
		t.Errorf("runs not newest first: %+v", runs.Runs)
	}

	code, out = a.remote(t, a.viewer, "run", runID)
	if code != exitOK || strings.Count(out, "@contoso.example  ok") != 3 || !strings.Contains(out, "run "+runID+" of contoso: ok") {
		t.Errorf("run %s: exit %d\n%s", runID, code, out)
	}
}

func (a *adminRunFixture) viewerCannotSync(t *testing.T) {
	code, out := a.remote(t, a.viewer, "sync", "contoso")
	if code != exitFailed || !strings.Contains(out, "needs the operator role") || !strings.Contains(out, "permission_denied") {
		t.Errorf("viewer sync: exit %d\n%s", code, out)
	}
	a.watch.wait(t, 601, func(e *adminv1.Event) bool { return e.Attributes["principal"] == "cert:"+a.viewer.fp })
}

func (a *adminRunFixture) localSocket(t *testing.T) {
	code, out := cli(t, "admin", "--socket", a.svc.socket, "status")
	if code != exitOK || !strings.Contains(out, a.svc.fp) || !strings.Contains(out, "(operator)") {
		t.Errorf("local status: exit %d\n%s", code, out)
	}
	// Found through the settings file, as `sudo galmirror admin` does.
	if code, out = cli(t, "admin", "--config", a.svc.settings, "pause", "--reason", "ticket 42", "contoso"); code != exitOK || !strings.Contains(out, "paused=true") {
		t.Fatalf("local pause: exit %d\n%s", code, out)
	}
	code, out = a.remote(t, a.op, "sync", "contoso")
	if code != exitFailed || !strings.Contains(out, "failed_precondition") || !strings.Contains(out, "resume it first") {
		t.Errorf("sync of a paused tenant: exit %d\n%s", code, out)
	}
	if code, out = cli(t, "admin", "--socket", a.svc.socket, "resume", "contoso"); code != exitOK || !strings.Contains(out, "paused=false") {
		t.Errorf("local resume: exit %d\n%s", code, out)
	}
	pause := a.watch.wait(t, 600, func(e *adminv1.Event) bool { return e.Attributes["method"] == "PauseTenant" })
	if !strings.HasPrefix(pause.Attributes["principal"], "local:uid=") || pause.Attributes["detail"] != "ticket 42" {
		t.Errorf("local pause audit %+v", pause.Attributes)
	}
}

func (a *adminRunFixture) statusPrintsFingerprint(t *testing.T) {
	code, out := cli(t, "status", "--config", a.svc.settings)
	if code != exitOK || !strings.Contains(out, "admin certificate sha256: "+a.svc.fp) {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	code, out = cli(t, "status", "--config", a.svc.settings, "--json")
	if code != exitOK || !strings.Contains(out, `"adminCertificateSha256": "`+a.svc.fp+`"`) || !strings.Contains(out, `"lastSuccess"`) {
		t.Errorf("status --json: exit %d\n%s", code, out)
	}
}

// restart stops the service, which stops the admin API with it, and starts
// it again: it keeps the generated certificate, so clients stay pinned.
func (a *adminRunFixture) restart(t *testing.T, dir string, port int, contoso map[string]any) {
	if err := a.svc.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.svc.socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the local socket outlived the service: %v", err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("the admin port still accepts connections after the service stopped")
	}
	again := startRunning(t, dir, map[string]any{
		"listen":             fmt.Sprintf("127.0.0.1:%d", port),
		"clientCertificates": map[string]any{"pinned": []string{a.op.fp}},
		"roles":              []any{map[string]any{"principal": "cert:" + a.op.fp, "role": "operator"}},
	}, contoso)
	if again.fp != a.svc.fp {
		t.Errorf("restart changed the server certificate: %s, was %s", again.fp, a.svc.fp)
	}
	if code, out := a.remote(t, a.op, "runs", "contoso"); code != exitOK || !strings.Contains(out, a.runID) {
		t.Errorf("runs after restart: exit %d\n%s", code, out)
	}
}

// A port in use stops the service from starting, with the reason.
func TestAdminListenFailureStopsStart(t *testing.T) {
	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 1)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	op := writeClientCert(t, dir, "operator")
	settings := filepath.Join(dir, "settings.json")
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{tenantSettings(t, dir, "contoso", sim, tn, cred)},
		"admin": map[string]any{
			"listen":             busy.Addr().String(),
			"clientCertificates": map[string]any{"pinned": []string{op.fp}},
			"roles":              []any{map[string]any{"principal": "cert:" + op.fp, "role": "operator"}},
		}})
	var log lockedBuffer
	var current atomic.Pointer[service.Service]
	err = serveService(t.Context(), settings, time.Second, &log, &current)
	if err == nil || !strings.Contains(err.Error(), "admin.listen") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("serveService: %v", err)
	}
	if !strings.Contains(log.String(), "event_id=103") || strings.Contains(log.String(), "event_id=100") {
		t.Errorf("want event 103 and no service start:\n%s", log.String())
	}
}

// Kerberos against the running service: a principal with a ticket from a
// real MIT KDC lists tenants and syncs; the CLI takes its ticket from
// KRB5CCNAME as after kinit.
func TestAdminKerberosAgainstRunningService(t *testing.T) {
	kdc := kdctest.Start(t) // skips, saying so, without the MIT Kerberos packages
	kdc.AddUser("alice", "alice-pw")
	kdc.AddUser("bob", "bob-pw")
	keytab := kdc.AddService("HTTP/localhost")
	t.Setenv("KRB5_CONFIG", kdc.Krb5Conf)

	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 2)
	contoso := tenantSettings(t, dir, "contoso", sim, tn, cred)
	contoso["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
	port := freePort(t)
	svc := startRunning(t, dir, map[string]any{
		"listen":   fmt.Sprintf("127.0.0.1:%d", port),
		"kerberos": map[string]any{"keytab": keytab, "spn": "HTTP/localhost"},
		"roles": []any{
			map[string]any{"principal": "alice@" + kdctest.Realm, "role": "operator"},
			map[string]any{"principal": "bob@" + kdctest.Realm, "role": "viewer"},
		},
	}, contoso)
	// The SPN comes from the endpoint's host name, as for a real server.
	endpoint := fmt.Sprintf("https://localhost:%d", port)
	kerberos := func(user string, args ...string) (int, string) {
		t.Helper()
		t.Setenv("KRB5CCNAME", "FILE:"+kdc.Kinit(user, user+"-pw"))
		return cli(t, append([]string{"admin", "--endpoint", endpoint, "--fingerprint", svc.fp, "--kerberos"}, args...)...)
	}
	if code, out := kerberos("alice", "status"); code != exitOK || !strings.Contains(out, "alice@"+kdctest.Realm+" (operator)") {
		t.Fatalf("status as alice: exit %d\n%s", code, out)
	}
	if code, out := kerberos("bob", "tenants"); code != exitOK || !strings.Contains(out, "contoso") {
		t.Errorf("tenants as bob: exit %d\n%s", code, out)
	}
	if code, out := kerberos("bob", "sync", "contoso"); code != exitFailed || !strings.Contains(out, "permission_denied") {
		t.Errorf("sync as bob (viewer): exit %d\n%s", code, out)
	}
	// alice may sync; the start-up run may still hold the tenant (aborted).
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := kerberos("alice", "sync", "contoso")
		if code == exitOK && strings.Contains(out, "started run") {
			break
		}
		if !strings.Contains(out, "aborted") || time.Now().After(deadline) {
			t.Fatalf("sync as alice: exit %d\n%s", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(dir, "no-such-cache"))
	if code, out := cli(t, "admin", "--endpoint", endpoint, "--fingerprint", svc.fp, "--kerberos", "tenants"); code != exitUsage || !strings.Contains(out, "run kinit first") {
		t.Errorf("without a ticket: exit %d\n%s", code, out)
	}
}

// With admin.certificate set, status prints that certificate's fingerprint
// (and the service uses it, see svcbackend's tests).
func TestStatusPrintsConfiguredAdminFingerprint(t *testing.T) {
	dir := t.TempDir()
	sim, tn, cred := simTenant(t, 1)
	server := writeClientCert(t, dir, "server") // any certificate with its key will do
	both, _ := os.ReadFile(server.cert)
	key, _ := os.ReadFile(server.key)
	if err := os.WriteFile(filepath.Join(dir, "admin.pem"), append(both, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "settings.json")
	writeJSON(t, settings, map[string]any{"dataDir": "state", "tenants": []any{tenantSettings(t, dir, "contoso", sim, tn, cred)},
		"admin": map[string]any{"certificate": map[string]any{"file": "admin.pem"}}})
	st, err := store.Open(t.Context(), filepath.Join(dir, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out := cli(t, "status", "--config", settings)
	if code != exitFailed || !strings.Contains(out, "admin certificate sha256: "+server.fp) {
		t.Errorf("status: exit %d\n%s", code, out)
	}
}
