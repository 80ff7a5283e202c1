package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"iter"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
)

// cannedBackend is a galmirror service's admin backend with fixed answers:
// the admin API in front of it is the real server, on loopback.
type cannedBackend struct {
	mu      sync.Mutex
	tenants []admin.Tenant
	runs    map[string][]admin.Run // newest first
	audits  []admin.AuditRecord
	next    int64
}

func newCannedBackend(name string, failing bool, users int) *cannedBackend {
	now := time.Now()
	b := &cannedBackend{runs: map[string][]admin.Run{}, next: 100}
	var runs []admin.Run
	for i := 0; i < 20; i++ {
		st := now.Add(-time.Duration(i+1) * time.Hour)
		r := admin.Run{ID: int64(100 - i), Tenant: name, Trigger: "schedule", Started: st, Finished: st.Add(time.Duration(5+i) * time.Second),
			Outcome: admin.OutcomeSucceeded, Status: "ok", Counts: admin.Counts{Mailboxes: users, MailboxesSynced: users, Created: i, Updated: 2 * i, Unchanged: users * 10}}
		if failing && i%3 == 0 {
			r.Outcome, r.Status, r.Error = admin.OutcomeFailed, "failed", "auth: AADSTS7000215: invalid client secret"
		}
		runs = append(runs, r)
	}
	b.runs[name] = runs
	last := runs[0]
	b.tenants = []admin.Tenant{{Name: name, TenantID: "00000000-0000-4000-8000-000000000001", State: admin.StateIdle, LastRun: &last,
		NextRun: now.Add(20 * time.Minute), CertNotAfter: now.Add(400 * 24 * time.Hour), TargetMailboxes: users}}
	if failing {
		b.tenants[0].ConsecutiveFailures = 1
	}
	return b
}

func (b *cannedBackend) ServiceInfo(context.Context) (admin.ServiceInfo, error) {
	return admin.ServiceInfo{Version: "test", Host: "svc", StartedAt: time.Now().Add(-time.Hour), Tenants: 1}, nil
}
func (b *cannedBackend) Tenants(context.Context) ([]admin.Tenant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]admin.Tenant(nil), b.tenants...), nil
}
func (b *cannedBackend) Tenant(_ context.Context, name string) (admin.Tenant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.tenants {
		if t.Name == name {
			return t, nil
		}
	}
	return admin.Tenant{}, fmt.Errorf("tenant %q: %w", name, admin.ErrNotFound)
}
func (b *cannedBackend) Runs(_ context.Context, tenant string, n int, _ string) ([]admin.Run, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := b.runs[tenant]
	return append([]admin.Run(nil), rs[:min(n, len(rs))]...), "", nil
}
func (b *cannedBackend) Run(_ context.Context, id int64) (admin.Run, []admin.MailboxOutcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rs := range b.runs {
		for _, r := range rs {
			if r.ID == id {
				return r, []admin.MailboxOutcome{{Mailbox: "a@example.com", Status: "succeeded"},
					{Mailbox: "b@example.com", Status: "failed", Error: "ErrorItemNotFound: create contact: 404 (request-id 1234)"},
					{Mailbox: "c@example.com", Status: "skipped", Error: "no Exchange Online mailbox"}}, nil
			}
		}
	}
	return admin.Run{}, nil, fmt.Errorf("run %d: %w", id, admin.ErrNotFound)
}
func (b *cannedBackend) Events(ctx context.Context, _ int64) iter.Seq2[admin.Event, error] {
	return func(yield func(admin.Event, error) bool) { <-ctx.Done() }
}
func (b *cannedBackend) SyncNow(_ context.Context, tenant, principal string) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	now := time.Now()
	b.runs[tenant] = append([]admin.Run{{ID: b.next, Tenant: tenant, Trigger: "manual", RequestedBy: principal, Started: now, Finished: now.Add(time.Second),
		Outcome: admin.OutcomeSucceeded, Status: "ok"}}, b.runs[tenant]...)
	return b.next, nil
}
func (b *cannedBackend) SetPaused(_ context.Context, tenant string, paused bool, _ string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.tenants {
		if b.tenants[i].Name == tenant {
			b.tenants[i].Paused = paused
			b.tenants[i].State = admin.StateIdle
			if paused {
				b.tenants[i].State = admin.StatePaused
			}
		}
	}
	return nil
}
func (b *cannedBackend) Check(context.Context, string) (admin.CheckResult, error) {
	return admin.CheckResult{Status: admin.CheckOK, Checks: []admin.Check{{Name: "token", Status: admin.CheckOK, Detail: "got a token"}}, CheckedAt: time.Now()}, nil
}
func (b *cannedBackend) Audit(_ context.Context, a admin.AuditRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.audits = append(b.audits, a)
}

// testFleet is n customers, each a real admin server on loopback in front
// of a canned backend, and console.json for them.
type testFleet struct {
	dir      string
	backends map[string]*cannedBackend
	cfgPath  string
}

func writeClientCert(t testing.TB, path string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "console"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	out := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return admin.Fingerprint(der)
}

// startTestFleet starts n admin servers; names[i] fails when failing(i);
// extra customers (dead addresses) are appended as given.
func startTestFleet(t testing.TB, n int, failing func(int) bool, extra ...map[string]any) *testFleet {
	t.Helper()
	f := &testFleet{dir: t.TempDir(), backends: map[string]*cannedBackend{}}
	clientFP := writeClientCert(t, filepath.Join(f.dir, "console.pem"))
	serverCert, err := admin.LoadOrCreateCertificate(filepath.Join(f.dir, "server"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	serverFP := admin.Fingerprint(serverCert.Certificate[0])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var customers []any
	for i := range n {
		name := fmt.Sprintf("customer-%03d", i)
		b := newCannedBackend(name, failing != nil && failing(i), 20+i%50)
		f.backends[name] = b
		s, err := admin.New(admin.Options{Backend: b, Certificate: &serverCert, PinnedClientCertificates: []string{clientFP},
			Roles: []admin.RoleBinding{{Principal: "cert:" + clientFP, Role: admin.RoleOperator}}})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Serve(ctx, ln) }()
		customers = append(customers, map[string]any{"name": name, "address": "https://" + ln.Addr().String(), "fingerprint": serverFP})
	}
	for _, e := range extra {
		customers = append(customers, e)
	}
	// A fleet with a dead customer is waited for until its poll times
	// out: keep that short; otherwise leave loaded machines (and -race)
	// room for 200 TLS handshakes.
	timeout := "20s"
	if len(extra) > 0 {
		timeout = "2s"
	}
	f.cfgPath = filepath.Join(f.dir, "console.json")
	writeConfig(t, f.cfgPath, map[string]any{
		"listen": "127.0.0.1:0", "poll": map[string]any{"every": "1h", "timeout": timeout, "concurrency": 32},
		"clientCertificate": map[string]any{"file": "console.pem"}, "customers": customers,
	})
	return f
}

var _ = tls.VersionTLS12
