package graph

import (
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/pacer"
)

// appLimitEnv is graphsim with a global per-app limit of 110 requests per
// 10 s / scale (Graph's 130,000 per 10 s, shrunk), and a client with the
// given pacing.
func appLimitEnv(t *testing.T, scale float64, rate, burst int) (*graphsim.Server, *Client) {
	t.Helper()
	e := newSim(t, func(o *graphsim.Options) {
		th := graphsim.GraphThrottle()
		th.AppRequests, th.AppWindow, th.TimeScale = 110, 10*time.Second, scale
		// graphsim's default reaction time (50 ms): requests a loaded
		// machine had already sent when the 429 arrived are not resends.
		o.Throttle = &th
	}, pacer.Config{})
	tok, err := e.srv.AccessToken(e.tenant.ID, e.app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	hc := NewHTTPClient(&tls.Config{RootCAs: e.srv.CertPool()})
	t.Cleanup(hc.CloseIdleConnections)
	c, err := New(Options{BaseURL: e.srv.GraphURL(), Tokens: StaticToken(tok), HTTP: hc, AppRate: rate, AppBurst: burst,
		PacerConfig: PacerConfig{MaxAttempts: 50, RetryBudget: time.Minute, BackoffBase: time.Millisecond, BackoffCap: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return e.srv, c
}

// probeAll reads 240 single requests and $batch items spread over five
// mailboxes from 12 goroutines.
func probeAll(t *testing.T, c *Client) {
	ctx := t.Context()
	ms, stop := c.StartMailboxes(ctx, MailboxOptions{Linger: time.Millisecond})
	defer stop()
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			for i := range 20 {
				if err := ms.Mailbox(guid((w+i)%5 + 1)).Probe(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The client paces its requests and batch items under the app's global
// limit: nothing is throttled. The same work unpaced is.
func TestAppLimitPacesUnderGlobalLimit(t *testing.T) {
	srv, c := appLimitEnv(t, 100, 500, 20) // ≤ 70 per 100 ms
	probeAll(t, c)
	if cs := srv.Counters(); cs.Throttled != 0 {
		t.Errorf("paced client throttled %d times", cs.Throttled)
	}
	if c.Stats().AppWaited == 0 {
		t.Error("the client never waited for the global limit")
	}
	srv2, fast := appLimitEnv(t, 10, 1_000_000, 1_000_000) // 110 per second
	probeAll(t, fast)
	if cs := srv2.Counters(); cs.Throttled == 0 {
		t.Error("unpaced client was never throttled: the test proves nothing")
	}
}

// A 429 naming the Application scope holds every request of the client,
// in every mailbox, until its Retry-After: no violations in the app scope.
func TestAppScoped429HoldsEveryMailbox(t *testing.T) {
	srv, c := appLimitEnv(t, 20, 1_000_000, 1_000_000) // 110 per 500 ms
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			for i := range 20 {
				// Each request differs ($top), so graphsim tells a resend of
				// a throttled request from another goroutine's like it.
				mb := guid((w+i)%5 + 1)
				url := fmt.Sprintf("/users/%s/contactFolders?$top=%d", mb, w*20+i+1)
				if _, err := c.Do(t.Context(), &Request{URL: url, Scope: MailboxScope(mb)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	cs := srv.Counters()
	t.Logf("graphsim: %d requests, %d throttled, violations %v", cs.Requests, cs.Throttled, cs.ViolationsByScope)
	if cs.Throttled == 0 {
		t.Fatal("nothing was throttled: the test proves nothing")
	}
	if cs.RetryAfterViolations != 0 {
		t.Errorf("%d requests arrived during a Retry-After (%v)", cs.RetryAfterViolations, cs.ViolationsByScope)
	}
}
