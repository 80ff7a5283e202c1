//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// onboardSim is a customer tenant with no app at all: five users with
// mailboxes, alice a Global Administrator, bob an Application
// Administrator. Entra takes propagation to honour a new app, key or
// grant, and its directory replicas lag a second behind a create.
func onboardSim(t *testing.T, propagation time.Duration) (*graphsim.Server, graphsim.Tenant) {
	t.Helper()
	tn := graphsim.Tenant{ID: graphsim.NewGUID(), Name: "Contoso", Domain: "contoso.example"}
	for i, n := range []string{"alice", "bob", "carol", "dave", "erin"} {
		upn := n + "@contoso.example"
		u := graphsim.User{ID: graphsim.NewGUID(), UserPrincipalName: upn, Mail: upn, DisplayName: strings.ToUpper(n[:1]) + n[1:],
			GivenName: n, Surname: fmt.Sprint(i)}
		switch n {
		case "alice":
			u.DirectoryRoles = []string{graphsim.RoleGlobalAdministrator}
		case "bob":
			u.DirectoryRoles = []string{graphsim.RoleApplicationAdministrator}
		}
		tn.Users = append(tn.Users, u)
	}
	srv, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{tn}, Propagation: propagation,
		ReplicationLag: time.Second, DeviceCodeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, tn
}

// onboarding is one `galmirror onboard` process whose sign-in the test
// approves through graphsim's control API, as the customer's
// administrator does in a browser.
type onboarding struct {
	code     int
	out      string
	approved time.Duration // from start until the code was approved
	wall     time.Duration
}

var userCodeRE = regexp.MustCompile(`enter the code ([A-Z0-9]{6,12})`)

// onboard runs galmirror onboard with args and approves its device code
// as admin (a UPN); approve false leaves the code to expire or be handled
// by the caller through decide.
func (c *customer) onboard(srv *graphsim.Server, env []string, admin string, args ...string) onboarding {
	c.t.Helper()
	cmd := exec.CommandContext(c.t.Context(), c.bin, append([]string{"onboard"}, args...)...)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait(); pw.Close() }()
	var out strings.Builder
	var approved time.Duration
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if m := userCodeRE.FindStringSubmatch(line); m != nil && approved == 0 {
			approveViaControlAPI(c.t, srv, admin, m[1])
			approved = time.Since(start)
		}
	}
	err := <-waited
	res := onboarding{out: out.String() + errb.String(), approved: approved, wall: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// approveViaControlAPI signs user in for a pending device code through
// POST /_sim/devicecode/approve.
func approveViaControlAPI(t *testing.T, srv *graphsim.Server, user, code string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"user": user, "userCode": code})
	resp, err := srv.Client().Post(srv.URL()+"/_sim/devicecode/approve", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		t.Errorf("approve %s as %s: %d %s", code, user, resp.StatusCode, body)
	}
}

// From an empty settings file: `cert new`, `onboard` with one
// administrator sign-in, then `sync` creates the contacts, with no file
// edited by hand. A second onboard finds the app and changes nothing.
func TestOnboardFromNothingToFirstSync(t *testing.T) {
	c := newCustomer(t)
	srv, tn := onboardSim(t, 3*time.Second)
	c.cas = append(c.cas, srv.CACertPEM()...)
	env := append(c.env(), "CONTOSO_PFX_PASSWORD=correct horse battery staple")
	settings := filepath.Join(c.dir, "settings.json")
	if err := os.WriteFile(settings, []byte("{\n  \"dataDir\": \"state\",\n  \"tenants\": []\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pfx := filepath.Join(c.dir, "contoso.pfx")
	code, out, errOut := c.runEnv(env, "cert", "new", "--out", pfx, "--password-env", "CONTOSO_PFX_PASSWORD", "--name", "galmirror contoso")
	if code != exitOK || !strings.Contains(out, "SHA-256 thumbprint") {
		t.Fatalf("cert new: exit %d\n%s%s", code, out, errOut)
	}
	args := []string{"--config", settings, "--name", "contoso", "--domain", "contoso.example", "--cloud", "custom",
		"--authority", srv.URL(), "--graph", srv.URL(), "--certificate", pfx, "--password-env", "CONTOSO_PFX_PASSWORD"}
	ob := c.onboard(srv, env, "alice@contoso.example", args...)
	if ob.code != exitOK {
		t.Fatalf("onboard: exit %d\n%s", ob.code, ob.out)
	}
	t.Logf("onboard: %s wall, code approved after %s, 1 sign-in\n%s", ob.wall.Round(time.Millisecond), ob.approved.Round(time.Millisecond), ob.out)
	for _, want := range []string{"Created app galmirror contoso", "Granted User.Read.All, GroupMember.Read.All, Contacts.ReadWrite", "1 administrator sign-in", "Wrote tenant contoso"} {
		if !strings.Contains(ob.out, want) {
			t.Errorf("onboard output lacks %q", want)
		}
	}
	apps, _ := srv.Apps(tn.ID)
	if len(apps) != 1 || len(apps[0].Keys) != 1 || len(apps[0].Roles) != 3 {
		t.Fatalf("apps in the tenant: %+v", apps)
	}
	written, _ := os.ReadFile(settings)
	for _, want := range []string{`"clientId": "` + apps[0].ClientID, `"applicationObjectId": "` + apps[0].ObjectID, `"file": "contoso.pfx"`, `"passwordEnv": "CONTOSO_PFX_PASSWORD"`} {
		if !bytes.Contains(written, []byte(want)) {
			t.Errorf("settings lack %s:\n%s", want, written)
		}
	}
	if strings.Contains(ob.out, "correct horse") {
		t.Errorf("the PFX password is in the output")
	}

	code, out, errOut = c.runEnv(env, "sync", "--config", settings)
	if code != exitOK || !strings.Contains(out, "20 created") {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}

	again := c.onboard(srv, env, "alice@contoso.example", args...)
	if again.code != exitOK || !strings.Contains(again.out, "Found app galmirror contoso") || strings.Contains(again.out, "Created app") ||
		!strings.Contains(again.out, "unchanged") {
		t.Fatalf("second onboard: exit %d\n%s", again.code, again.out)
	}
	if now, _ := os.ReadFile(settings); !bytes.Equal(now, written) {
		t.Errorf("second onboard changed settings.json:\n%s", now)
	}
	if apps, _ := srv.Apps(tn.ID); len(apps) != 1 {
		t.Errorf("second onboard made another app: %d", len(apps))
	}
}
