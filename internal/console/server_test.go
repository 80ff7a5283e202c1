package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/webauth"
)

func writeConfig(t testing.TB, path string, v any) {
	t.Helper()
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type testConsole struct {
	fleet *Fleet
	srv   *Server
	hs    *httptest.Server
}

// startConsole serves the console over f as user (nil: the loopback
// user); poll says whether every customer is polled once first.
func startConsole(t testing.TB, f *testFleet, user *webauth.User, poll bool) *testConsole {
	t.Helper()
	cfg, err := LoadConfig(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := NewFleet(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Config: cfg, Fleet: fl}
	if user != nil {
		o.Authenticate = func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(w, r.WithContext(webauth.WithUser(r.Context(), *user)))
			})
		}
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if poll {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for _, n := range fl.Names() {
			wg.Add(1)
			go func() { defer wg.Done(); sem <- struct{}{}; fl.PollOnce(context.Background(), n); <-sem }()
		}
		wg.Wait()
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &testConsole{fleet: fl, srv: s, hs: hs}
}

func (c *testConsole) get(t testing.TB, path string) (int, string) {
	t.Helper()
	res, err := c.hs.Client().Get(c.hs.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func (c *testConsole) post(t testing.TB, path string, form url.Values, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.hs.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	cl := *c.hs.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

func (c *testConsole) token(t testing.TB) string {
	t.Helper()
	_, body := c.get(t, "/")
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	return m[1]
}

// An operator's action goes through with the page's token, is audited by
// the console and, naming the user, by the service; without the token, or
// from another site, it is refused and nothing reaches the service.
func TestActionsNeedTheFormTokenAndSameOrigin(t *testing.T) {
	f := startTestFleet(t, 1, nil)
	alice := webauth.User{Subject: "oidc:alice", Name: "Alice", Method: "oidc", Role: webauth.Operator}
	c := startConsole(t, f, &alice, true)
	b := f.backends["customer-000"]
	form := url.Values{"action": {"sync"}, "tenant": {"customer-000"}}

	if code, _, _ := c.post(t, "/c/customer-000/action", form, nil); code != http.StatusForbidden {
		t.Errorf("without a token: %d, want 403", code)
	}
	form.Set("csrf", c.token(t))
	if code, _, _ := c.post(t, "/c/customer-000/action", form, map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site: %d, want 403", code)
	}
	if n := len(b.audits); n != 0 {
		t.Fatalf("refused requests reached the service: %+v", b.audits)
	}
	code, loc, _ := c.post(t, "/c/customer-000/action", form, nil)
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/c/customer-000?done=") {
		t.Fatalf("sync: %d %q", code, loc)
	}
	_, page := c.get(t, loc)
	if !strings.Contains(page, "Sync of customer-000 started: run 101") {
		t.Errorf("no result on the page:\n%s", page)
	}
	if len(b.audits) != 1 || b.audits[0].OnBehalfOf != "Alice (oidc:alice via console oidc)" {
		t.Errorf("service audit %+v", b.audits)
	}
	got := c.srv.audit.Recent()
	if len(got) != 2 || got[0].Result != "ok" || got[0].User != "Alice" || got[1].Result != "refused" {
		t.Errorf("console audit %+v", got)
	}
	// Pause needs the reason it records.
	form = url.Values{"action": {"pause"}, "tenant": {"customer-000"}, "reason": {"ticket 4711"}, "csrf": {c.token(t)}}
	if code, _, _ := c.post(t, "/c/customer-000/action", form, nil); code != http.StatusSeeOther {
		t.Fatalf("pause: %d", code)
	}
	if a := b.audits[1]; a.Method != "PauseTenant" || a.Detail != "ticket 4711" {
		t.Errorf("pause audit %+v", a)
	}
	// The page offers Resume once the poll after the action saw the pause.
	c.fleet.PollOnce(t.Context(), "customer-000")
	_, page = c.get(t, "/c/customer-000")
	if !strings.Contains(page, "action=resume&amp;tenant=customer-000") || strings.Contains(page, "action=pause&amp;") {
		t.Errorf("a paused tenant's page does not offer Resume")
	}
	// Check shows each check's result.
	form = url.Values{"action": {"check"}, "tenant": {"customer-000"}, "csrf": {c.token(t)}}
	_, loc, _ = c.post(t, "/c/customer-000/action", form, nil)
	if _, page = c.get(t, loc); !strings.Contains(page, "Check of customer-000: ok") || !strings.Contains(page, "OK token: got a token") {
		t.Errorf("check result missing:\n%s", page)
	}
}

// A viewer sees no action and the server refuses one all the same; the
// refusal is audited and nothing reaches the service.
func TestViewerCannotAct(t *testing.T) {
	f := startTestFleet(t, 1, nil)
	vera := webauth.User{Subject: "cert:ab", Name: "Vera", Method: "certificate", Role: webauth.Viewer}
	c := startConsole(t, f, &vera, true)
	_, page := c.get(t, "/c/customer-000")
	if strings.Contains(page, "Sync now") || strings.Contains(page, "/confirm?") {
		t.Errorf("a viewer's page offers actions")
	}
	if code, _ := c.get(t, "/c/customer-000/confirm?action=sync&tenant=customer-000"); code != http.StatusForbidden {
		t.Errorf("viewer's confirm page: %d", code)
	}
	form := url.Values{"action": {"sync"}, "tenant": {"customer-000"}, "csrf": {c.token(t)}}
	if code, _, _ := c.post(t, "/c/customer-000/action", form, nil); code != http.StatusForbidden {
		t.Errorf("viewer's POST: %d, want 403", code)
	}
	if len(f.backends["customer-000"].audits) != 0 {
		t.Errorf("a viewer's action reached the service")
	}
	if a := c.srv.audit.Recent(); len(a) != 1 || a[0].Result != "refused" || a[0].Role != "viewer" {
		t.Errorf("console audit %+v", a)
	}
}

// A customer that accepts connections and never answers does not slow the
// pages: they render from the cache while it is polled, and it is marked
// unreachable once the poll times out.
func TestHangingCustomerNeverSlowsAPage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	f := startTestFleet(t, 2, nil, map[string]any{"name": "hangs", "address": "https://" + ln.Addr().String(), "fingerprint": strings.Repeat("cd", 32)})
	c := startConsole(t, f, nil, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.fleet.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(6 * time.Second)
	for {
		start := time.Now()
		code, body := c.get(t, "/")
		// The poll's timeout is 2s: a page that waited for it would take
		// that long; 1s leaves room for a loaded CI machine.
		if took := time.Since(start); took > time.Second || code != 200 {
			t.Fatalf("overview took %s (status %d) while a customer hangs", took, code)
		}
		if strings.Contains(body, `data-customer="hangs" data-tenant="" data-health="unreachable"`) {
			if !strings.Contains(body, "no answer in time; never reached") {
				t.Errorf("unreachable reason missing:\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hangs never marked unreachable:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The overview puts what needs attention first, filters, searches and
// pages; the CSV export has the same rows, all pages.
func TestOverviewFilterSortPageAndCSV(t *testing.T) {
	f := startTestFleet(t, 60, func(i int) bool { return i%20 == 7 })
	c := startConsole(t, f, nil, true)
	_, body := c.get(t, "/")
	rows := regexp.MustCompile(`data-customer="([^"]+)" data-tenant="[^"]*" data-health="([a-z]+)"`).FindAllStringSubmatch(body, -1)
	if len(rows) != pageSize {
		t.Fatalf("%d rows on page 1, want %d", len(rows), pageSize)
	}
	for i, want := range []string{"customer-007", "customer-027", "customer-047"} {
		if rows[i][1] != want || rows[i][2] != "failing" {
			t.Errorf("row %d: %v, want %s failing first", i, rows[i][1:], want)
		}
	}
	if !strings.Contains(body, "Page 1 of 2") || !regexp.MustCompile(`<b>3</b> <span aria-hidden="true">✖</span> failing`).MatchString(body) {
		t.Errorf("pager or summary wrong")
	}
	_, body = c.get(t, "/?health=attention")
	if n := strings.Count(body, `data-health="failing"`); n != 3 || strings.Count(body, "data-customer=") != 3 {
		t.Errorf("needs attention: %d failing rows of %d", n, strings.Count(body, "data-customer="))
	}
	_, body = c.get(t, "/?q=customer-05&sort=customer&desc=1")
	got := regexp.MustCompile(`data-customer="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(got) != 10 || got[0][1] != "customer-059" {
		t.Errorf("search + sort: %v", got)
	}
	res, err := c.hs.Client().Get(c.hs.URL + "/export.csv?health=attention")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	recs, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0][0] != "customer" || recs[1][3] != "failing" || !strings.Contains(recs[1][4], "AADSTS7000215") {
		t.Errorf("CSV: %v", recs)
	}
	if csvSafe("=HYPERLINK(1)") != "'=HYPERLINK(1)" {
		t.Error("a formula reaches the spreadsheet")
	}
	// The customer page: chart, mailbox errors with their codes, skipped.
	_, body = c.get(t, "/c/customer-007")
	for _, s := range []string{`<svg class="chart"`, `class="bar fail"`, "ErrorItemNotFound: create contact: 404 (request-id 1234)", "no Exchange Online mailbox"} {
		if !strings.Contains(body, s) {
			t.Errorf("customer page lacks %q", s)
		}
	}
}
