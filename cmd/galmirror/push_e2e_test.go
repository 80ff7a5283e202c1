//go:build linux

package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/report/schemacheck"
)

// consoleRun is `galmirror console` as its own process.
type consoleRun struct {
	url  string // the web pages
	log  *eventLog
	done chan struct{}
}

// startPushConsoleBinary runs the built binary's console with console.json
// and waits until it serves.
func startPushConsoleBinary(t *testing.T, c *customer, cfgPath string) *consoleRun {
	t.Helper()
	cmd := c.command("console", "--config", cfgPath)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &consoleRun{log: &eventLog{seen: make(chan struct{}, 1)}, done: make(chan struct{})}
	served := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.log.add(sc.Text())
			if _, u, ok := strings.Cut(sc.Text(), ", serving "); ok {
				served <- strings.TrimSpace(u)
			}
		}
	}()
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			r.log.add(sc.Text())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	select {
	case r.url = <-served:
	case <-r.done:
		t.Fatalf("the console ended at start:\n%s", r.log.text())
	case <-time.After(20 * time.Second):
		t.Fatalf("the console did not serve within 20s:\n%s", r.log.text())
	}
	return r
}

func (l *eventLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// line waits for a log line matching re and returns its submatches.
func (l *eventLog) line(t *testing.T, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if m := re.FindStringSubmatch(s); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s within %s:\n%s", re, d, l.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Push mode through the built binaries, as an MSP sets it up: the console
// starts and logs its push certificate's fingerprint; the customer's
// service, which accepts no inbound connection (no admin.listen), gets a
// console section with that fingerprint and its own client certificate,
// whose fingerprint is in console.json. The pushed customer then shows on
// the overview like a polled one, and an operator's sync-now runs through
// the tunnel, audited by the service as the console acting for the user.
func TestPushedCustomerOnTheConsoleThroughTheBinary(t *testing.T) {
	c := newCustomer(t)
	sim, tn, cred := simTenant(t, 3)
	contoso := c.tenant("contoso", sim, tn, cred)

	client := writeClientCert(t, c.dir, "fabrikam-service")
	both, err := os.ReadFile(client.cert)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(client.key)
	if err := os.WriteFile(filepath.Join(c.dir, "console-client.pem"), append(both, key...), 0o600); err != nil {
		t.Fatal(err)
	}

	consoleDir := t.TempDir()
	pushPort := freePort(t)
	consoleCfg := filepath.Join(consoleDir, "console.json")
	writeJSON(t, consoleCfg, map[string]any{
		"listen":     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"pushListen": fmt.Sprintf("127.0.0.1:%d", pushPort),
		"poll":       map[string]any{"every": "1s"},
		"customers": []any{map[string]any{
			"name": "fabrikam", "push": map[string]any{"clientCertFingerprint": "sha256:" + client.fp},
		}},
	})
	con := startPushConsoleBinary(t, c, consoleCfg)
	pushFP := con.log.line(t, regexp.MustCompile(`push listener serving.*certificate_sha256=([0-9a-f]{64})`), 10*time.Second)[1]

	settings := filepath.Join(c.dir, "settings.json")
	writeJSON(t, settings, map[string]any{
		"dataDir": "state", "tenants": []any{contoso},
		"console": map[string]any{
			"url":               fmt.Sprintf("https://127.0.0.1:%d", pushPort),
			"serverFingerprint": pushFP,
			"certificate":       map[string]any{"file": "console-client.pem"},
			"role":              "operator",
		},
	})
	svc := c.startService(t, settings)
	svc.events.wait(t, "770", 20*time.Second, client.fp)

	// The overview lists the pushed customer, healthy after its start-up run
	// (given time: the full suite runs beside it on two cores).
	var row []string
	deadline := time.Now().Add(90 * time.Second)
	for row == nil {
		_, body := get(t, con.url+"export.csv")
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("export.csv: %v\n%s", err, body)
		}
		for _, r := range recs[1:] {
			if r[0] == "fabrikam" && r[1] == "contoso" && r[3] == "ok" {
				row = r
			}
		}
		if row == nil && time.Now().After(deadline) {
			t.Fatalf("fabrikam/contoso not ok on the overview within 90s:\n%s\nconsole log:\n%s", body, con.log.text())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if row[2] != "pushed" {
		t.Errorf("mode = %q, want pushed: %v", row[2], row)
	}
	if code, page := get(t, con.url); code != http.StatusOK || !strings.Contains(page, "fabrikam") {
		t.Errorf("overview %d without fabrikam", code)
	}

	syncNowOnConsole(t, con.url, "fabrikam", "contoso")
	// The service audits the console's certificate acting for the user,
	// and runs the sync it asked for.
	svc.events.wait(t, "600", 20*time.Second, "principal=console:"+pushFP, "SyncNow", "local user (loopback")
	svc.events.wait(t, "200", 60*time.Second, "trigger=manual")

	// The admin API reports the connection too (the local socket, as an RMM
	// script on the server uses it).
	code2, out, errOut := c.run("admin", "--config", settings, "--json", "status")
	checkSchema(t, "adminService", out)
	if code2 != exitOK || !strings.Contains(out, `"connected": true`) || !strings.Contains(out, fmt.Sprintf(`"url": "https://127.0.0.1:%d"`, pushPort)) {
		t.Errorf("admin status exit %d:\n%s\n%s", code2, out, errOut)
	}

	// status names the console and the connection.
	_, js, _ := c.run("status", "--config", settings, "--json")
	checkSchema(t, "statusReport", js)
	if !strings.Contains(js, `"console": {`) || !strings.Contains(js, `"connected": true`) {
		t.Errorf("status --json without the console connection:\n%s", js)
	}
	code2, out, errOut = c.run("status", "--config", settings)
	if code2 != exitOK || !strings.Contains(out, "console https://127.0.0.1:") || !strings.Contains(out, "connected since") ||
		!strings.Contains(out, client.fp) {
		t.Errorf("status exit %d:\n%s\n%s", code2, out, errOut)
	}
}

// checkSchema checks a --json output against its definition in
// docs/report.schema.json.
func checkSchema(t *testing.T, def, out string) {
	t.Helper()
	b, err := os.ReadFile("../../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := schemacheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if errs := schema.Check(def, []byte(out)); len(errs) > 0 {
		t.Errorf("output does not match %s in docs/report.schema.json: %v\n%s", def, errs, out)
	}
}

// syncNowOnConsole does what an operator does for sync now on the console:
// the confirmation form, then its POST; it fails the test unless the
// console reports success.
func syncNowOnConsole(t *testing.T, base, customer, tenant string) {
	t.Helper()
	code, page := get(t, base+"c/"+customer+"/confirm?action=sync&tenant="+tenant)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("confirm page %d without a form token:\n%s", code, page)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(base+"c/"+customer+"/action", url.Values{"csrf": {html.UnescapeString(m[1])}, "action": {"sync"}, "tenant": {tenant}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sync now answered %s", resp.Status)
	}
	if _, result := get(t, base+strings.TrimPrefix(resp.Header.Get("Location"), "/")); strings.Contains(result, "Sync now of "+tenant+" failed") {
		t.Fatalf("sync now through the tunnel failed:\n%s", result)
	}
}
