package svcbackend

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"

	"github.com/galmirror/galmirror/internal/admin"
	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

func clientCertificate(t *testing.T, cn string) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveAdmin serves the admin API over the fixture's backend on a loopback
// TLS listener until the test ends.
func serveAdmin(t *testing.T, o admin.Options) (*admin.Server, string) {
	t.Helper()
	o.DataDir = t.TempDir()
	s, err := admin.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// An audit trail under attack, through the real API, service and store:
// thousands of denied calls from two principals and thousands of ordinary
// events with a small ordinary retention. Every operator action stays
// readable with WatchEvents from the first cursor; the denied calls are all
// accounted for in a few events; the ordinary events keep their own
// retention. Then a source sending 100 KB paths with an unknown
// certificate is locked out: its event has a known method name and bounded
// text, and valid certificates still get in from its address.
func TestAuditTrailSurvivesFloods(t *testing.T) {
	const keepOrdinary = 500
	const window = time.Second
	f := startWith(t, store.Options{KeepEvents: keepOrdinary}, tenantJSON("contoso"))
	f.waitRun(t) // the start-up run, held
	op, viewer, stranger, unknown := clientCertificate(t, "op"), clientCertificate(t, "viewer"), clientCertificate(t, "stranger"), clientCertificate(t, "unknown")
	fp := func(c *tls.Certificate) string { return admin.Fingerprint(c.Certificate[0]) }
	srv, addr := serveAdmin(t, admin.Options{
		Backend:                  f.b,
		PinnedClientCertificates: []string{fp(op), fp(viewer), fp(stranger)},
		Roles: []admin.RoleBinding{
			{Principal: "cert:" + fp(op), Role: admin.RoleOperator},
			{Principal: "cert:" + fp(viewer), Role: admin.RoleViewer},
		},
		AuditWindow: window,
	})
	ctx := t.Context()
	client := func(c *tls.Certificate) adminv1connect.AdminServiceClient {
		api, err := admin.NewClient(admin.ClientOptions{Endpoint: "https://" + addr, Fingerprint: srv.Fingerprint(), Certificate: c})
		if err != nil {
			t.Fatal(err)
		}
		return api
	}
	opc, vc, sc := client(op), client(viewer), client(stranger)
	began := time.Now()
	flood(t, f, opc, vc, sc)

	// Everything, from the first cursor, until every denied call is
	// accounted for (the summing-up events come when the window ends).
	last, err := f.st.LastEventSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	stream, err := vc.WatchEvents(wctx, connect.NewRequest(&adminv1.WatchEventsRequest{Cursor: "0"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	tr := readTrail(t, stream, last, "cert:"+fp(viewer), "cert:"+fp(stranger))
	// Per principal one event at once, then at most one summary per
	// window, and one more at once after each quiet window (a slow round
	// of ordinary events can be one).
	windows := int(time.Since(began)/window) + 1
	tr.check(t, keepOrdinary, windows)

	lockOut(t, srv, addr, unknown)
	// The certificates that are valid still get in from the locked-out
	// address.
	if _, err := vc.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{})); err != nil {
		t.Errorf("viewer from the locked-out address: %v", err)
	}
	checkLockoutEvent(t, stream, tr.lockouts)
	t.Logf("%d denied calls in %d events over %d windows", floodRounds*(floodViewerDenied+floodStrangerDenied), tr.deniedEvents, windows)
}

// The flood: per round an operator action, denied calls of a viewer and of
// a certificate without a role, and ordinary events.
const floodRounds, floodViewerDenied, floodStrangerDenied, floodOrdinary = 10, 150, 50, 200

func flood(t *testing.T, f *fixture, opc, vc, sc adminv1connect.AdminServiceClient) {
	ctx := t.Context()
	for r := range floodRounds {
		reason := fmt.Sprint("round ", r)
		var err error
		if r%2 == 0 {
			_, err = opc.PauseTenant(ctx, connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: "contoso", Reason: reason}))
		} else {
			_, err = opc.ResumeTenant(ctx, connect.NewRequest(&adminv1.ResumeTenantRequest{Tenant: "contoso", Reason: reason}))
		}
		if err != nil {
			t.Fatal(err)
		}
		for range floodViewerDenied {
			_, err := vc.SyncNow(ctx, connect.NewRequest(&adminv1.SyncNowRequest{Tenant: "contoso"}))
			if connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("viewer SyncNow: %v", err)
			}
		}
		for range floodStrangerDenied {
			_, err := sc.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
			if connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("stranger ListTenants: %v", err)
			}
		}
		for i := range floodOrdinary {
			f.svc.Emit(ctx, events.Event{ID: events.RunThrottled, Tenant: "contoso", Fields: []events.Field{events.FInt("i", int64(i))}})
		}
	}
}

// trail is what WatchEvents showed of the flood.
type trail struct {
	viewer, stranger string         // the principals denied
	denied           map[string]int // denied calls per principal
	deniedEvents     int
	ordinaryEvents   int
	actions          []string // "method detail" of the operator actions
	lockouts         []*adminv1.Event
}

// readTrail reads the stream up to the event last and until every denied
// call of the viewer and the stranger is accounted for.
func readTrail(t *testing.T, stream *connect.ServerStreamForClient[adminv1.WatchEventsResponse], last int64, viewer, stranger string) *trail {
	tr := &trail{viewer: viewer, stranger: stranger, denied: map[string]int{}}
	for seen := int64(0); seen < last || tr.denied[viewer] < floodRounds*floodViewerDenied || tr.denied[stranger] < floodRounds*floodStrangerDenied; {
		if !stream.Receive() {
			t.Errorf("stream ended: %v", stream.Err())
			break
		}
		e := stream.Msg().GetEvent()
		if e == nil {
			continue
		}
		seen, _ = strconv.ParseInt(e.Cursor, 10, 64)
		switch a := e.Attributes; e.EventId {
		case int32(events.AdminAction):
			tr.actions = append(tr.actions, a["method"]+" "+a["detail"])
		case int32(events.AdminDenied):
			tr.deniedEvents++
			n := 1
			if a["count"] != "" {
				n, _ = strconv.Atoi(a["count"])
			}
			tr.denied[a["principal"]] += n
		case int32(events.AdminAuthFailed):
			tr.lockouts = append(tr.lockouts, e)
		default:
			tr.ordinaryEvents++
		}
	}
	return tr
}

// check checks that every operator action is there in order, every denied
// call is counted in a few events (at most one per principal and window
// and one after each quiet window), and the ordinary events keep their own
// retention.
func (tr *trail) check(t *testing.T, keepOrdinary, windows int) {
	for r := range floodRounds {
		want := fmt.Sprint("PauseTenant round ", r)
		if r%2 == 1 {
			want = fmt.Sprint("ResumeTenant round ", r)
		}
		if r >= len(tr.actions) || tr.actions[r] != want {
			t.Errorf("operator action %d: %q missing; all of them: %q", r, want, tr.actions)
			break
		}
	}
	if len(tr.actions) != floodRounds {
		t.Errorf("%d operator actions, want %d", len(tr.actions), floodRounds)
	}
	if most := 2 * (1 + 2*windows); tr.deniedEvents > most || tr.denied[tr.viewer] != floodRounds*floodViewerDenied ||
		tr.denied[tr.stranger] != floodRounds*floodStrangerDenied {
		t.Errorf("denied calls %v in %d events; want %d and %d in at most %d", tr.denied, tr.deniedEvents,
			floodRounds*floodViewerDenied, floodRounds*floodStrangerDenied, most)
	}
	if tr.ordinaryEvents != keepOrdinary {
		t.Errorf("%d ordinary events, want the %d the retention keeps", tr.ordinaryEvents, keepOrdinary)
	}
}

// lockOut fails authentication with an unknown certificate and 100 KB of
// path with odd bytes, until the address is locked out.
func lockOut(t *testing.T, srv *admin.Server, addr string, unknown *tls.Certificate) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // pinned below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if admin.Fingerprint(cs.PeerCertificates[0].Raw) != srv.Fingerprint() {
				return errors.New("not the server")
			}
			return nil
		},
		Certificates: []tls.Certificate{*unknown},
	}}}
	defer hc.CloseIdleConnections()
	path := "/" + strings.Repeat("p", 100<<10) + "%00%ff%1b%0a"
	for i := 0; ; i++ {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+addr+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			return
		}
		if res.StatusCode != http.StatusUnauthorized || i > 20 {
			t.Fatalf("attempt %d: status %d", i, res.StatusCode)
		}
	}
}

// checkLockoutEvent reads the lock-out's event on the stream already open
// (unless it came already) and checks that its text is bounded and names
// no method from the path.
func checkLockoutEvent(t *testing.T, stream *connect.ServerStreamForClient[adminv1.WatchEventsResponse], lockouts []*adminv1.Event) {
	for len(lockouts) == 0 {
		if !stream.Receive() {
			t.Fatalf("stream ended (%v) without a lock-out event", stream.Err())
		}
		if e := stream.Msg().GetEvent(); e.GetEventId() == int32(events.AdminAuthFailed) {
			lockouts = append(lockouts, e)
		}
	}
	lo := lockouts[0]
	if lo.Attributes["method"] != "unknown" || lo.Attributes["source"] != "127.0.0.1" || len(lo.Message) > 2048 {
		t.Errorf("lock-out event: method %.80q source %q, message of %d bytes", lo.Attributes["method"], lo.Attributes["source"], len(lo.Message))
	}
	for k, v := range lo.Attributes {
		if len(v) > 512 || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			t.Errorf("lock-out attribute %s: %d bytes %.80q", k, len(v), v)
		}
	}
}
