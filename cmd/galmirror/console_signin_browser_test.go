//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// chromiumPath finds Debian's chromium (.ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (.ci/run installs Debian's chromium)")
	return ""
}

// tlsBrowser is browser (console_browser_test.go) for HTTPS pages: the
// console's generated certificate and graphsim's CA are not in chromium's
// store, so it accepts any.
func tlsBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 800))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// consoleCustomer runs a customer's service (in this process) with its
// admin endpoint, the console's client certificate pinned as operator,
// and returns the console.json entry of the customer and that certificate.
func consoleCustomer(t *testing.T, c *customer) (map[string]any, clientCertFiles) {
	t.Helper()
	svcDir := t.TempDir()
	sim, tn, cred := simTenant(t, 3)
	contoso := tenantSettings(t, svcDir, "contoso", sim, tn, cred)
	contoso["schedule"] = map[string]any{"every": "1h", "jitter": "0s"}
	consoleCert := writeClientCert(t, c.dir, "console-client")
	adminPort := freePort(t)
	svc := startRunning(t, svcDir, map[string]any{
		"listen":             fmt.Sprintf("127.0.0.1:%d", adminPort),
		"clientCertificates": map[string]any{"pinned": []string{consoleCert.fp}},
		"roles":              []any{map[string]any{"principal": "cert:" + consoleCert.fp, "role": "operator"}},
	}, contoso)
	return map[string]any{"name": "contoso", "address": fmt.Sprintf("https://127.0.0.1:%d", adminPort), "fingerprint": svc.fp}, consoleCert
}

// startConsoleBinary runs `galmirror console --config cfgPath` as the
// customer's binary until the test ends, once it serves at publicURL.
func startConsoleBinary(t *testing.T, c *customer, cfgPath, publicURL string) *lockedBuffer {
	t.Helper()
	cmd := c.command("console", "--config", cfgPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("console stderr:\n%s", stderr.String())
		}
	})
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "serving "); ok && strings.HasPrefix(url, "https://") {
				serving <- url
			}
		}
		close(serving)
	}()
	select {
	case url, ok := <-serving:
		if !ok || !strings.HasPrefix(url, publicURL) {
			t.Fatalf("console did not serve %s: %q\n%s", publicURL, url, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("console did not start\n%s", stderr.String())
	}

	return stderr
}

// TestConsoleSignInWithOIDCInABrowser: the built console listens with
// auth.oidc against graphsim's Entra (trusted through the system store);
// chromium opens it, is sent to graphsim's sign-in page, picks a user and
// lands on the overview signed in with the role the user's app role
// gives. An operator's sync now is audited under their name; after signing
// out, a viewer sees no action buttons.
func TestConsoleSignInWithOIDCInABrowser(t *testing.T) {
	chromiumPath(t)
	o := startOIDCConsole(t)
	ctx, publicURL, mspID, stderr := o.ctx, o.publicURL, o.mspID, o.stderr

	o.signIn("alice@msp.example", "Alice Adams", "operator")
	if n := o.actionLinks(); n == 0 {
		t.Fatal("an operator sees action buttons")
	}
	screenshot(t, ctx, "signin-customer-operator")
	submit := chromedp.CSS(`form.confirm button[type=submit]`)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`section.tenant .actions a`)), // Sync now
		chromedp.WaitVisible(submit),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`.who`)),
		chromedp.Navigate(publicURL+"/audit"),
	); err != nil {
		t.Fatal(err)
	}
	audit, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#audit tbody`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(audit, "Alice Adams <alice@msp.example>") || !strings.Contains(audit, "/"+mspID+"/v2.0#") || !strings.Contains(audit, "sync") {
		t.Fatalf("the audit names the signed-in operator:\n%s", audit)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.ID(`auth-title`))); err != nil {
		t.Fatal(err)
	}
	if signedOut, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(`auth-title`))); err != nil || signedOut != "Signed out" {
		t.Fatalf("sign out: %q %v", signedOut, err)
	}

	o.signIn("bob@msp.example", "Bob Brown", "viewer")
	if n := o.actionLinks(); n != 0 {
		t.Fatalf("a viewer sees %d action buttons", n)
	}
	screenshot(t, ctx, "signin-customer-viewer")
	// Events 760 and 762 went to the console's log.
	if s := stderr.String(); !strings.Contains(s, "event_id=760") || !strings.Contains(s, "event_id=762") {
		t.Errorf("sign-in events in the console's log:\n%s", s)
	}
}

// oidcConsole is the built console signing people in with auth.oidc
// against the MSP's own tenant in graphsim, with one polled customer.
type oidcConsole struct {
	t         *testing.T
	ctx       context.Context // chromium
	publicURL string
	msp       *graphsim.Server
	mspID     string
	stderr    *lockedBuffer
}

func startOIDCConsole(t *testing.T) *oidcConsole {
	t.Helper()
	c := newCustomer(t)
	customerEntry, consoleCert := consoleCustomer(t, c)

	// The MSP's own tenant with the console's app registration.
	consolePort := freePort(t)
	publicURL := fmt.Sprintf("https://127.0.0.1:%d", consolePort)
	app, appCred, err := graphsim.NewApp("galmirror console")
	if err != nil {
		t.Fatal(err)
	}
	app.Roles = nil
	app.RedirectURIs = []string{publicURL + "/auth/callback"}
	app.ClientSecrets = []string{"console~secret.value"}
	app.UserRoles = map[string][]string{"alice@msp.example": {"Console.Operator"}, "bob@msp.example": {"Console.Viewer"}}
	mspID := graphsim.NewGUID()
	msp, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{{ID: mspID, Name: "MSP", Domain: "msp.example", Apps: []graphsim.App{app},
		Users: []graphsim.User{
			{ID: graphsim.NewGUID(), UserPrincipalName: "alice@msp.example", DisplayName: "Alice Adams"},
			{ID: graphsim.NewGUID(), UserPrincipalName: "bob@msp.example", DisplayName: "Bob Brown"},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { msp.Close() })
	c.cas = append(c.cas, msp.CACertPEM()...)

	if err := os.WriteFile(filepath.Join(c.dir, "console-secret.txt"), []byte("console~secret.value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(c.dir, "console.json")
	writeJSON(t, cfgPath, map[string]any{
		"listen":            fmt.Sprintf("127.0.0.1:%d", consolePort),
		"dataDir":           "console-data",
		"poll":              map[string]any{"every": "1s"},
		"clientCertificate": map[string]any{"file": consoleCert.cert, "key": consoleCert.key},
		"customers":         []any{customerEntry},
		"auth": map[string]any{"oidc": map[string]any{
			"issuer": msp.URL() + "/" + mspID + "/v2.0", "clientId": appCred.ClientID, "clientSecretFile": "console-secret.txt",
		}},
	})
	stderr := startConsoleBinary(t, c, cfgPath, publicURL)
	return &oidcConsole{t: t, ctx: tlsBrowser(t), publicURL: publicURL, msp: msp, mspID: mspID, stderr: stderr}

}

// signIn opens the console, is sent to graphsim's sign-in page, picks
// upn and checks it lands on the overview as name with role.
func (o *oidcConsole) signIn(upn, name, role string) {
	t, ctx, publicURL, msp, mspID := o.t, o.ctx, o.publicURL, o.msp, o.mspID
	t.Helper()
	pick := chromedp.CSS(`button[data-upn="` + upn + `"]`)
	if err := chromedp.Do(ctx, chromedp.Navigate(publicURL+"/"), chromedp.WaitVisible(pick)); err != nil {
		t.Fatalf("graphsim's sign-in page: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, msp.URL()+"/"+mspID+"/oauth2/v2.0/authorize?") {
		t.Fatalf("sent to %s, not graphsim's authorize endpoint", loc)
	}
	screenshot(t, ctx, "signin-graphsim-"+role)
	if err := chromedp.Do(ctx, chromedp.Click(pick), chromedp.WaitVisible(chromedp.CSS(`.who`))); err != nil {
		t.Fatalf("back on the console: %v", err)
	}
	loc, err = chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.who`)))
	if err != nil {
		t.Fatal(err)
	}
	if loc != publicURL+"/" || !strings.Contains(who, name+" <"+upn+">") || !strings.Contains(who, role) {
		t.Fatalf("landed on %s as %q, want the overview as %s (%s)", loc, who, name, role)
	}
	screenshot(t, ctx, "signin-overview-"+role)
}

// actionLinks opens the customer's page once the poll has its tenants
// and counts the action buttons.
func (o *oidcConsole) actionLinks() int {
	t, ctx, publicURL := o.t, o.ctx, o.publicURL
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(publicURL+"/c/contoso"), chromedp.WaitVisible(chromedp.CSS(`.who`))); err != nil {
			t.Fatal(err)
		}
		tenants, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('section.tenant').length`))
		if err != nil {
			t.Fatal(err)
		}
		links, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('section.tenant .actions a').length`))
		if err != nil {
			t.Fatal(err)
		}
		if tenants > 0 {
			return links
		}
		if time.Now().After(deadline) {
			t.Fatal("the customer page never showed the customer's tenants")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestConsoleClientCertificateSignIn: the built console with
// auth.clientCertificates only requires a certificate of every browser; a
// pinned one is its user with its role, an unlisted one gets a 403 page
// naming its fingerprint, none fails the handshake.
func TestConsoleClientCertificateSignIn(t *testing.T) {
	c := newCustomer(t)
	customerEntry, consoleCert := consoleCustomer(t, c)
	ann, stranger := writeClientCert(t, c.dir, "ann"), writeClientCert(t, c.dir, "stranger")
	port := freePort(t)
	publicURL := fmt.Sprintf("https://127.0.0.1:%d", port)
	cfgPath := filepath.Join(c.dir, "console.json")
	writeJSON(t, cfgPath, map[string]any{
		"listen": fmt.Sprintf("127.0.0.1:%d", port), "dataDir": "console-data",
		"clientCertificate": map[string]any{"file": consoleCert.cert, "key": consoleCert.key},
		"customers":         []any{customerEntry},
		"auth": map[string]any{"clientCertificates": map[string]any{"certificates": []any{
			map[string]any{"sha256": ann.fp, "role": "viewer", "name": "Ann Lee"}}}},
	})
	startConsoleBinary(t, c, cfgPath, publicURL)
	get := func(cert *tls.Certificate) (int, string, error) {
		cfg := &tls.Config{InsecureSkipVerify: true} // the console's generated certificate; its pin is not under test
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(publicURL + "/")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if st, body, err := get(ann.tls); err != nil || st != 200 || !strings.Contains(body, "Ann Lee") || !strings.Contains(body, "viewer") {
		t.Fatalf("ann: %d %v\n%s", st, err, body)
	}
	if st, body, err := get(stranger.tls); err != nil || st != 403 || !strings.Contains(body, stranger.fp) {
		t.Fatalf("stranger: %d %v\n%s", st, err, body)
	}
	if _, _, err := get(nil); err == nil {
		t.Fatal("no certificate: the handshake fails")
	}
}

// TestConsoleAuthConfigErrors: a bad auth object stops the console before
// it listens, naming the key.
func TestConsoleAuthConfigErrors(t *testing.T) {
	c := newCustomer(t)
	consoleCert := writeClientCert(t, c.dir, "console-client")
	for auth, want := range map[string]string{
		`{"oidc":{"issuer":"https://login.microsoftonline.com/4a1e7c52-0b8e-4f5e-9c1d-2a6b8e4f0c11/v2.0","clientSecretFile":"s"}}`:                     "auth.oidc.clientId: missing",
		`{"oidc":{"issuer":"https://login.microsoftonline.com/common/v2.0","clientId":"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","clientSecretFile":"s"}}`: `names the tenant "common"`,
		`{"clientCertificates":{"certificates":[{"sha256":"` + consoleCert.fp + `","role":"admin"}]}}`:                                                 `auth.clientCertificates.certificates[0].role: "admin" is not viewer or operator`,
		`{"clientCertificates":{"certs":[]}}`: `auth.clientCertificates: unknown key "certs"`,
	} {
		cfgPath := filepath.Join(c.dir, "console.json")
		var a map[string]any
		if err := json.Unmarshal([]byte(auth), &a); err != nil {
			t.Fatal(err)
		}
		writeJSON(t, cfgPath, map[string]any{
			"listen": "0.0.0.0:0", "dataDir": "console-data",
			"clientCertificate": map[string]any{"file": consoleCert.cert, "key": consoleCert.key},
			"customers":         []any{map[string]any{"name": "contoso", "address": "https://127.0.0.1:1", "fingerprint": consoleCert.fp}},
			"auth":              a,
		})
		code, _, stderr := c.run("console", "--config", cfgPath)
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d\n%s", auth, code, stderr)
		}
	}
}
