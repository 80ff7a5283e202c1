package admin

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
)

func deniedOf(b *fakeBackend, principal string) (single []AuditRecord, summed int, summaries []AuditRecord) {
	for _, a := range b.auditsOf(AuditDenied) {
		if a.Principal != principal {
			continue
		}
		if a.Count == 0 {
			single = append(single, a)
		} else {
			summed += a.Count
			summaries = append(summaries, a)
		}
	}
	return single, summed, summaries
}

// Thousands of denied calls from two principals make one event per
// principal and method at once, and one summing-up event per principal and
// window; the operator's action is recorded as ever.
func TestDeniedCallFloodIsDigested(t *testing.T) {
	op, viewer, stranger := validCert(t, "operator"), validCert(t, "viewer"), validCert(t, "stranger")
	b := newFakeBackend()
	s, addr := startServer(t, Options{
		Backend:                  b,
		PinnedClientCertificates: []string{fp(op), fp(viewer), fp(stranger)},
		Roles:                    []RoleBinding{{Principal: "cert:" + fp(op), Role: RoleOperator}, {Principal: "cert:" + fp(viewer), Role: RoleViewer}},
		AuditWindow:              time.Hour,
	})
	ctx := t.Context()
	client := func(c *tls.Certificate) *clientWithHTTP {
		return newHTTPTestClient(t, addr, ClientOptions{Fingerprint: s.Fingerprint(), Certificate: c})
	}
	v, st := client(viewer).api, client(stranger).api
	for i := range 2000 {
		var err error
		if i%4 == 3 {
			_, err = v.PauseTenant(ctx, connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: "contoso"}))
		} else {
			_, err = v.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
		}
		wantCode(t, err, connect.CodePermissionDenied)
		if i%2 == 0 {
			_, err = st.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
			wantCode(t, err, connect.CodePermissionDenied)
		}
	}
	if _, err := client(op).api.PauseTenant(ctx, connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: "contoso", Reason: "flood"})); err != nil {
		t.Fatal(err)
	}
	if acts := b.auditsOf(AuditAction); len(acts) != 1 || acts[0].Method != "PauseTenant" || acts[0].Detail != "flood" {
		t.Fatalf("operator actions %+v", acts)
	}
	vp, sp := "cert:"+fp(viewer), "cert:"+fp(stranger)
	single, summed, _ := deniedOf(b, vp)
	if len(single) != 2 || single[0].Method != "SyncNow" || single[1].Method != "PauseTenant" || summed != 0 {
		t.Fatalf("viewer: %d events at once %+v, %d summed up; want SyncNow and PauseTenant at once", len(single), single, summed)
	}
	if single, summed, _ := deniedOf(b, sp); len(single) != 1 || single[0].Method != "ListTenants" || single[0].Role != "none" || summed != 0 {
		t.Fatalf("stranger: %+v, %d summed up", single, summed)
	}

	s.denied.flush(ctx) // the window ends
	_, summed, sums := deniedOf(b, vp)
	if summed != 1998 || len(sums) != 1 || sums[0].Method != "SyncNow,PauseTenant" || sums[0].Source != "127.0.0.1" ||
		!strings.Contains(sums[0].Detail, "1998 more denied calls from "+vp+" in the last 1h0m0s") {
		t.Fatalf("viewer summed up: %+v", sums)
	}
	if _, summed, sums := deniedOf(b, sp); summed != 999 || len(sums) != 1 {
		t.Fatalf("stranger summed up: %+v", sums)
	}
	// Within the episode, a known method is held back again.
	_, err := v.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
	wantCode(t, err, connect.CodePermissionDenied)
	if n := len(b.auditsOf(AuditDenied)); n != 5 {
		t.Fatalf("%d denied-call events, want 5", n)
	}
}

// serveFor serves New(o) over TLS until the returned stop is called (or
// the test ends); prepare, if any, sees the server first.
func serveFor(t *testing.T, o Options, prepare ...func(*Server)) (s *Server, addr string, stop func()) {
	t.Helper()
	o.DataDir = t.TempDir()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prepare {
		p(s)
	}
	ln, err := netListen(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var err2 error
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			err2 = <-done
			if err2 != nil {
				t.Errorf("Serve: %v", err2)
			}
		}
	}
	t.Cleanup(stop)
	return s, ln.Addr().String(), stop
}

func denyN(t *testing.T, s *Server, addr string, c *tls.Certificate, n int) {
	t.Helper()
	api := newClient(t, addr, ClientOptions{Fingerprint: s.Fingerprint(), Certificate: c})
	for range n {
		_, err := api.SyncNow(t.Context(), connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
		wantCode(t, err, connect.CodePermissionDenied)
	}
}

// The summing-up event comes when the window ends, without another denied
// call to trigger it.
func TestDeniedCallSummaryAtWindowEnd(t *testing.T) {
	viewer := validCert(t, "viewer")
	b := newFakeBackend()
	s, addr, _ := serveFor(t, Options{Backend: b, PinnedClientCertificates: []string{fp(viewer)},
		Roles: []RoleBinding{{Principal: "cert:" + fp(viewer), Role: RoleViewer}}, AuditWindow: 50 * time.Millisecond},
		func(s *Server) {
			// However slow the calls, they are one episode: the clock of
			// episodes stands still (the window's timer is real).
			start := time.Now()
			s.denied.now = func() time.Time { return start }
		})
	denyN(t, s, addr, viewer, 3)
	vp := "cert:" + fp(viewer)
	b.waitAudit(t, func([]AuditRecord) bool { _, summed, _ := deniedOf(b, vp); return summed == 2 })
}

// What the digest holds back when the server stops is recorded then.
func TestDeniedCallSummaryAtShutdown(t *testing.T) {
	viewer := validCert(t, "viewer")
	b := newFakeBackend()
	s, addr, stop := serveFor(t, Options{Backend: b, PinnedClientCertificates: []string{fp(viewer)},
		Roles: []RoleBinding{{Principal: "cert:" + fp(viewer), Role: RoleViewer}}, AuditWindow: time.Hour})
	denyN(t, s, addr, viewer, 5)
	vp := "cert:" + fp(viewer)
	if single, summed, _ := deniedOf(b, vp); len(single) != 1 || summed != 0 {
		t.Fatalf("before shutdown: %d at once, %d summed up", len(single), summed)
	}
	stop()
	if _, summed, _ := deniedOf(b, vp); summed != 4 {
		t.Fatalf("%d denied calls summed up at shutdown, want 4", summed)
	}
}

// An unauthenticated caller chooses the path, the headers and (with a
// ticket or certificate of its own) its principal name: the audit trail
// keeps a known method name or "unknown", and bounded, printable text.
func TestAuditOfCallerTextIsBounded(t *testing.T) {
	b := newFakeBackend()
	s, addr := startServer(t, Options{Backend: b, Acceptor: fakeAcceptor{}})
	hc := newHTTPTestClient(t, addr, ClientOptions{Fingerprint: s.Fingerprint()}).http
	long := strings.Repeat("x", 100<<10)
	post := func(path, auth string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+addr+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// A name from a ticket: odd bytes, as long as a token may be.
	if code := post("/galmirror.admin.v1.AdminService/SyncNow", "Negotiate "+b64("good:evil\xff\t\xfe"+long[:60<<10])); code != http.StatusForbidden {
		t.Fatalf("denied call: status %d", code)
	}
	for i := range authBurst {
		auth := "Negotiate " + b64("bad")
		if i%2 == 1 {
			auth = "Bogus\xff\xfe" + long[:20<<10]
		}
		if code := post("/"+long+"%00%ff%0a%1b", auth); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d", i, code)
		}
	}
	recs := b.auditsOf(AuditAuthFailed)
	if len(recs) != 1 {
		t.Fatalf("%d lock-out events, want 1", len(recs))
	}
	recs = append(recs, b.auditsOf(AuditDenied)...)
	if len(recs) != 2 {
		t.Fatalf("audit %+v", recs)
	}
	if m := recs[0].Method; m != "unknown" {
		t.Errorf("lock-out method %.100q, want unknown", m)
	}
	if m := recs[1].Method; m != "SyncNow" {
		t.Errorf("denied method %.100q", m)
	}
	for _, a := range recs {
		for name, v := range map[string]string{"principal": a.Principal, "method": a.Method, "source": a.Source, "result": a.Result, "detail": a.Detail} {
			if len(v) > 512 || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
				t.Errorf("%s %s: %d bytes, %.80q", a.Kind, name, len(v), v)
			}
		}
	}
	if p := recs[1].Principal; !strings.HasPrefix(p, "evil???xxx") || len(p) > maxPrincipalLen {
		t.Errorf("principal recorded as %.80q (%d bytes)", p, len(p))
	}
}

func TestKnownMethod(t *testing.T) {
	for path, want := range map[string]string{
		"/galmirror.admin.v1.AdminService/SyncNow":                  "SyncNow",
		"/grpc.health.v1.Health/Check":                              "Check",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": "ServerReflectionInfo",
		"/galmirror.admin.v1.AdminService/DropTables":               "unknown",
		"/x/galmirror.admin.v1.AdminService/SyncNow":                "unknown",
		"/" + strings.Repeat("y", 100<<10) + "\x00/ListTenants":     "unknown",
		"": "unknown",
	} {
		if got := knownMethod(path); got != want {
			t.Errorf("knownMethod(%.60q) = %.60q, want %q", path, got, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"alice@EXAMPLE.COM", 17, "alice@EXAMPLE.COM"},
		{"alice@EXAMPLE.COM", 16, "alice@EXAMPLE…"},
		{"a\nb\x00c\x1b[31m", 32, "a?b?c?[31m"},
		{"\xff\xfeok", 32, "??ok"},
		{"grüße", 32, "grüße"},
		{strings.Repeat("é", 10), 12, "éééé…"}, // 4 é (8 bytes) and … (3); a fifth é would make 13
	} {
		if got := cleanText(tc.in, tc.n); got != tc.want {
			t.Errorf("cleanText(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	long := cleanText(strings.Repeat("\x01", 1<<20), maxDetailLen)
	if len(long) > maxDetailLen || !strings.HasPrefix(long, "???") {
		t.Errorf("1 MiB of control characters became %d bytes", len(long))
	}
}

// A principal quiet for a window starts over; principals beyond those
// tracked are summed up together.
func TestAuditDigestEpisodesAndBound(t *testing.T) {
	var got []AuditRecord
	d := newAuditDigest(10*time.Minute, func(_ context.Context, a AuditRecord) { got = append(got, a) }, deniedSummary)
	now := time.Unix(1000, 0)
	d.now = func() time.Time { return now }
	ctx := t.Context()
	deny := func(p, m string) { d.record(ctx, AuditRecord{Kind: AuditDenied, Principal: p, Method: m}, p, m) }
	deny("p", "SyncNow")
	deny("p", "SyncNow")
	deny("p", "SyncNow")
	deny("p", "PauseTenant")
	if len(got) != 2 || got[0].Method != "SyncNow" || got[1].Method != "PauseTenant" {
		t.Fatalf("passed at once: %+v", got)
	}
	now = now.Add(9 * time.Minute)
	deny("p", "SyncNow")
	now = now.Add(time.Minute)
	d.flush(ctx) // the timer
	if len(got) != 3 || got[2].Count != 3 || got[2].Principal != "p" || got[2].Method != "SyncNow" {
		t.Fatalf("summed up: %+v", got)
	}
	now = now.Add(5 * time.Minute)
	deny("p", "SyncNow") // 6 minutes after the last: the same episode, held back
	now = now.Add(10 * time.Minute)
	d.flush(ctx)
	now = now.Add(time.Minute)
	deny("p", "SyncNow") // quiet for 11 minutes: passed at once
	if len(got) != 5 || got[3].Count != 1 || got[4].Count != 0 {
		t.Fatalf("a new episode: %+v", got[3:])
	}

	got = nil
	for i := range digestKeys + 44 {
		deny(fmt.Sprint("principal", i), "ListTenants")
	}
	if len(got) != digestKeys-1 { // "p" is still tracked
		t.Fatalf("%d passed at once, want %d", len(got), digestKeys-1)
	}
	d.flush(ctx)
	last := got[len(got)-1]
	if last.Count != 45 || last.Principal != "" || !strings.Contains(last.Detail, "45 more denied calls from principals beyond the 256 tracked") {
		t.Fatalf("untracked principals summed up as %+v", last)
	}
	// Once the tracked ones are quiet, room is made for new ones.
	now = now.Add(10 * time.Minute)
	got = nil
	deny("newcomer", "ListTenants")
	if len(got) != 1 || got[0].Principal != "newcomer" {
		t.Fatalf("a newcomer after the quiet: %+v", got)
	}
	d.flush(ctx)
}
