//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/galmirror/galmirror/internal/console"
	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/webauth"
)

// browser starts Debian's chromium headless for chromedp, or skips the
// test when it is not installed (.ci/run installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run does): the console's browser tests need it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("font-render-hinting", "none"),
	)
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser steps or fails the test.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates JavaScript in the page (awaiting a promise).
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// text is the visible text of the first element css selects.
func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return v
}

// screenshot saves the page as dir/name.png: the test's output directory,
// or CONSOLE_SCREENSHOTS (how docs/console-*.png are made).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	_ = os.MkdirAll(dir, 0o755)
	// Quality 100 is PNG: the whole page, not only the window.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// consoleFleet is a fleet like an MSP's: contoso synced fine, northwind's
// app certificate is not the one Entra knows, and gone's service is down;
// each running service admits the console's certificate as an operator.
type consoleFleet struct {
	url      string
	contoso  *runningService
	cfg      *console.Config
	consoleC clientCertFiles
}

func startConsoleFleet(t *testing.T) *consoleFleet {
	t.Helper()
	root := t.TempDir()
	f := &consoleFleet{consoleC: writeClientCert(t, root, "console")}
	adminFor := func(port int) map[string]any {
		return map[string]any{
			"listen":             fmt.Sprintf("127.0.0.1:%d", port),
			"clientCertificates": map[string]any{"pinned": []string{f.consoleC.fp}},
			"roles":              []any{map[string]any{"principal": "cert:" + f.consoleC.fp, "role": "operator"}},
		}
	}
	var customers []map[string]any
	for _, name := range []string{"contoso", "northwind"} {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		sim, tn, cred := simTenant(t, 3)
		if name == "northwind" {
			_, stranger, err := graphsim.NewApp("stranger")
			if err != nil {
				t.Fatal(err)
			}
			cred.CertPEM, cred.KeyPEM = stranger.CertPEM, stranger.KeyPEM
		}
		ts := tenantSettings(t, dir, name, sim, tn, cred)
		ts["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
		port := freePort(t)
		svc := startRunning(t, dir, adminFor(port), ts)
		if name == "contoso" {
			f.contoso = svc
		}
		customers = append(customers, map[string]any{"name": name, "address": fmt.Sprintf("https://127.0.0.1:%d", port), "fingerprint": svc.fp})
	}
	customers = append(customers, map[string]any{"name": "gone", "address": fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		"fingerprint": strings.Repeat("ab", 32)})
	cfgPath := filepath.Join(root, "console.json")
	writeJSON(t, cfgPath, map[string]any{
		"listen":            "127.0.0.1:0",
		"poll":              map[string]any{"every": "1s", "timeout": "5s"},
		"clientCertificate": map[string]any{"file": f.consoleC.cert, "key": f.consoleC.key},
		"customers":         customers,
	})
	cfg, err := console.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	out := &lockedBuffer{}
	go func() {
		done <- serveConsole(ctx, cfg, slog.New(slog.DiscardHandler), out, out, func(u string) { ready <- u })
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("console exited %d\n%s", code, out.String())
		}
	})
	select {
	case f.url = <-ready:
	case code := <-done:
		t.Fatalf("console exited %d at start\n%s", code, out.String())
	case <-time.After(10 * time.Second):
		t.Fatal("console did not start")
	}
	f.url = strings.TrimSuffix(f.url, "/")
	return f
}

// waitText reloads url until the page's text matches re.
func waitText(t *testing.T, ctx context.Context, url string, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		do(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("footer.foot")))
		body := text(t, ctx, "body")
		if re.MatchString(body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %s; the page says:\n%s", url, re, within, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func healthOf(t *testing.T, ctx context.Context, customer string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.querySelector('tr[data-customer=%q]') || {dataset: {}}).dataset.health || "no row"`, customer))
}

// The fleet console in a real browser against real services: the
// overview's health per customer, a failing tenant's error on its page,
// an operator's sync now (confirmation, result, run list, both audit
// trails), an unreachable customer, and a viewer who cannot act.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	f := startConsoleFleet(t)

	t.Run("overview lists every customer with its health", func(t *testing.T) { browserOverview(t, ctx, f) })
	t.Run("a failing tenant's error is on its page", func(t *testing.T) { browserFailingTenant(t, ctx, f) })
	t.Run("an operator's sync now runs a sync, in the run list and both audit logs", func(t *testing.T) { browserSyncNow(t, ctx, f) })
	t.Run("an unreachable customer is marked so", func(t *testing.T) { browserUnreachable(t, ctx, f) })
	t.Run("a viewer sees no buttons and the server refuses the action", func(t *testing.T) { browserViewer(t, ctx, f) })
}

// browserOverview: health per customer, needs attention first, keyboard
// search, the phone layout.
func browserOverview(t *testing.T, ctx context.Context, f *consoleFleet) {
	// The startup runs are done when northwind has failed and contoso
	// synced its three mailboxes.
	want := map[string]string{"contoso": "ok", "northwind": "failing", "gone": "unreachable"}
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		body = waitText(t, ctx, f.url+"/", regexp.MustCompile(`customers`), 5*time.Second)
		bad := ""
		for c, h := range want {
			if got := healthOf(t, ctx, c); got != h {
				bad += fmt.Sprintf("%s: health %q, want %q; ", c, got, h)
			}
		}
		if bad == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s\n%s", bad, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Needs attention first: failing, unreachable, then ok.
	rowsJS := `[...document.querySelectorAll("tr[data-customer]")].map(r => r.dataset.customer)`
	order := eval[[]string](t, ctx, rowsJS)
	if strings.Join(order, ",") != "northwind,gone,contoso" {
		t.Errorf("row order %v, want needs-attention first", order)
	}
	for _, s := range []string{"AADSTS700027", "3 / 0 / 0", "3\\s+customers"} {
		if !regexp.MustCompile(s).MatchString(body) {
			t.Errorf("overview lacks %q:\n%s", s, body)
		}
	}
	screenshot(t, ctx, "console-overview")
	// Keyboard: Tab reaches the skip link first; "/" jumps to the
	// search box; typing and Enter narrow the table.
	do(t, ctx, chromedp.Navigate(f.url+"/"), chromedp.WaitVisible(chromedp.CSS("footer.foot")), chromedp.KeyEvent("\t"))
	if a := eval[string](t, ctx, `document.activeElement.textContent`); a != "Skip to content" {
		t.Errorf("first Tab stop %q, want the skip link", a)
	}
	do(t, ctx, chromedp.KeyEvent("/"))
	if a := eval[string](t, ctx, `document.activeElement.id`); a != "q" {
		t.Errorf("after /, focus is on %q, want the search box", a)
	}
	// CDP sends the "/" key's character as its own event, which the
	// page's preventDefault on keydown cannot stop as a real key press's
	// is: clear what it typed.
	_ = eval[string](t, ctx, `document.activeElement.value = ""`)
	do(t, ctx, chromedp.KeyEvent("north\r"))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if s := eval[string](t, ctx, `document.readyState === "complete" ? location.search : ""`); strings.Contains(s, "q=north") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Enter in the search box did not search: %s", eval[string](t, ctx, `location.href`))
		}
	}
	order = eval[[]string](t, ctx, rowsJS)
	if strings.Join(order, ",") != "northwind" {
		t.Errorf("search north: rows %v", order)
	}
	// The phone layout.
	do(t, ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(f.url+"/"))
	screenshot(t, ctx, "console-overview-phone")
	do(t, ctx, chromedp.EmulateViewport(1280, 800))
}

// browserFailingTenant: northwind's AADSTS error and its failed run.
func browserFailingTenant(t *testing.T, ctx context.Context, f *consoleFleet) {
	body := waitText(t, ctx, f.url+"/c/northwind", regexp.MustCompile(`AADSTS700027`), 10*time.Second)
	for _, s := range []string{"last run failed", "startup", "failed"} {
		if !strings.Contains(body, s) {
			t.Errorf("northwind's page lacks %q:\n%s", s, body)
		}
	}
	svg := eval[int](t, ctx, `document.querySelectorAll("svg.chart rect.bar.fail").length`)
	if svg != 1 {
		t.Errorf("chart marks %d failed runs, want 1", svg)
	}
	screenshot(t, ctx, "console-customer-failing")
}

// browserSyncNow: an operator's sync now through the confirmation, in the
// run list, the console's audit log, the service's, and live events.
func browserSyncNow(t *testing.T, ctx context.Context, f *consoleFleet) {
	waitText(t, ctx, f.url+"/c/contoso", regexp.MustCompile(`Sync now`), 10*time.Second)
	screenshot(t, ctx, "console-customer")
	do(t, ctx, chromedp.Click(chromedp.CSS(`a.btn[href*="action=sync"]`)), chromedp.WaitVisible(chromedp.CSS(`form.confirm`)))
	body := text(t, ctx, "body")
	if !strings.Contains(body, "This starts a run of contoso now") {
		t.Errorf("confirmation page:\n%s", body)
	}
	screenshot(t, ctx, "console-confirm")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form.confirm button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#result`)))
	body = text(t, ctx, "#result")
	m := regexp.MustCompile(`Sync of contoso started: run (\d+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("result: %q", body)
	}
	run := m[1]
	// The run appears in the list once the console has polled again.
	var trig string
	for deadline := time.Now().Add(30 * time.Second); ; {
		do(t, ctx, chromedp.Navigate(f.url+"/c/contoso"))
		trig = eval[string](t, ctx, fmt.Sprintf(`(() => { for (const r of document.querySelectorAll("table.runs tbody tr")) { if (r.cells[0].textContent.trim() === %q) return r.cells[2].textContent + " | " + r.cells[3].textContent; } return ""; })()`, run))
		if strings.Contains(trig, "ok") || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.HasPrefix(trig, "manual") || !strings.HasSuffix(trig, "ok") {
		t.Errorf("run %s in the run list: %q", run, trig)
	}
	screenshot(t, ctx, "console-customer-after-sync")

	// Live events: with the page open, a run's events appear in it.
	for deadline := time.Now().Add(10 * time.Second); !strings.HasPrefix(text(t, ctx, "#live-state"), "Connected"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("live events never connected: %q", text(t, ctx, "#live-state"))
		}
	}
	status := eval[int](t, ctx, `fetch("/c/contoso/action", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "action=sync&tenant=contoso&csrf=" + encodeURIComponent(document.querySelector("meta[name=csrf-token]").content)}).then(r => r.status)`)
	if status != 200 {
		t.Fatalf("second sync: status %d", status)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		evs := eval[string](t, ctx, `[...document.querySelectorAll("#events li")].map(l => l.textContent).join("\n")`)
		if regexp.MustCompile(`200\s+information\s+contoso: `).MatchString(evs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run event among the live events:\n%s", evs)
		}
	}
	screenshot(t, ctx, "console-customer-live-events")
	body = waitText(t, ctx, f.url+"/audit", regexp.MustCompile(`sync`), 5*time.Second)
	if !regexp.MustCompile(`local user.*operator\s*sync\s*contoso / contoso.*ok`).MatchString(strings.Join(strings.Fields(body), " ")) {
		t.Errorf("console audit log:\n%s", body)
	}
	screenshot(t, ctx, "console-audit")
	// The service's own audit names the console's certificate and the
	// person it acted for.
	code, out := cli(t, "admin", "--socket", f.contoso.socket, "events", "--tenant", "contoso")
	if code != exitOK || !regexp.MustCompile(`600 contoso.*SyncNow`).MatchString(out) || !strings.Contains(out, "local user (loopback via console loopback)") {
		t.Errorf("service audit: exit %d\n%s", code, out)
	}
}

// browserUnreachable: the dead customer's page.
func browserUnreachable(t *testing.T, ctx context.Context, f *consoleFleet) {
	body := waitText(t, ctx, f.url+"/c/gone", regexp.MustCompile(`Unreachable`), 5*time.Second)
	if !strings.Contains(body, "Never reached") {
		t.Errorf("gone's page:\n%s", body)
	}
	screenshot(t, ctx, "console-customer-unreachable")
}

// browserViewer: no buttons, and a refused POST.
func browserViewer(t *testing.T, ctx context.Context, f *consoleFleet) {
	// A second console over the same fleet whose sign-in says viewer
	// (the authenticator hook webauth's methods plug into).
	viewer := webauth.User{Subject: "cert:viewer", Name: "Vera Viewer", Method: "certificate", Role: webauth.Viewer}
	fleet, err := console.NewFleet(f.cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fleet.PollOnce(t.Context(), "contoso")
	cfg := *f.cfg
	cfg.DataDir = t.TempDir()
	srv, err := console.New(console.Options{Config: &cfg, Fleet: fleet, Authenticate: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(webauth.WithUser(r.Context(), viewer)))
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	body := waitText(t, ctx, hs.URL+"/c/contoso", regexp.MustCompile(`Vera Viewer`), 5*time.Second)
	if strings.Contains(body, "Sync now") || strings.Contains(body, "Pause") {
		t.Errorf("a viewer sees action buttons:\n%s", body)
	}
	screenshot(t, ctx, "console-customer-viewer")
	// The page's own token, posted from the page: still refused.
	status := eval[int](t, ctx, `fetch("/c/contoso/action", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "action=sync&tenant=contoso&csrf=" + encodeURIComponent(document.querySelector("meta[name=csrf-token]").content)}).then(r => r.status)`)
	if status != 403 {
		t.Errorf("a viewer's POST: status %d, want 403", status)
	}
	body = waitText(t, ctx, hs.URL+"/audit", regexp.MustCompile(`refused`), 5*time.Second)
	if !strings.Contains(body, "role viewer may not act") {
		t.Errorf("viewer's refusal not in the audit log:\n%s", body)
	}
}
