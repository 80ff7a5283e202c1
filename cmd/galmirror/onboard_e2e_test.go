//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
// as admin (a UPN) through the control API.
func (c *customer) onboard(srv *graphsim.Server, env []string, admin string, args ...string) onboarding {
	c.t.Helper()
	return c.command1(srv, env, "onboard", approver(c.t, srv, admin), args...)
}

// approver returns a line handler that approves the first device code it
// sees as admin.
func approver(t *testing.T, srv *graphsim.Server, admin string) func(string) bool {
	done := false
	return func(line string) bool {
		if m := userCodeRE.FindStringSubmatch(line); m != nil && !done {
			approveViaControlAPI(t, srv, admin, m[1])
			done = true
			return true
		}
		return false
	}
}

// command1 runs one galmirror command, handing each line of its output to
// onLine as it comes (onLine reports whether it acted on the sign-in).
func (c *customer) command1(srv *graphsim.Server, env []string, name string, onLine func(string) bool, args ...string) onboarding {
	c.t.Helper()
	cmd := exec.CommandContext(c.t.Context(), c.bin, append([]string{name}, args...)...)
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
		if onLine != nil && onLine(line) && approved == 0 {
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

	// Shared mailboxes and rooms later: onboard again with the option
	// grants the one more permission and sets the three sources.
	more := c.onboard(srv, env, "alice@contoso.example", append(args, "--resource-mailboxes")...)
	now, _ := os.ReadFile(settings)
	if more.code != exitOK || !strings.Contains(more.out, "MailboxSettings.Read") || !bytes.Contains(now, []byte(`"includeShared": true`)) {
		t.Fatalf("onboard --resource-mailboxes: exit %d\n%s\n%s", more.code, more.out, now)
	}
	if apps, _ := srv.Apps(tn.ID); len(apps) != 1 || len(apps[0].Roles) != 4 {
		t.Errorf("after --resource-mailboxes: %+v", apps)
	}
}

func postControl(t *testing.T, srv *graphsim.Server, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := srv.Client().Post(srv.URL()+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		rb, _ := io.ReadAll(resp.Body)
		t.Errorf("POST %s: %d %s", path, resp.StatusCode, rb)
	}
}

var consentLinkRE = regexp.MustCompile(`https://\S+/v2\.0/adminconsent\?\S+`)

// An Application Administrator signs in: galmirror creates the app but
// may not grant Microsoft Graph's application permissions, prints the
// admin consent link and waits; a Global Administrator opens it (the
// control API), and onboarding finishes. `offboard` then purges, deletes
// the app (one more sign-in) and removes the entry.
func TestOnboardConsentLinkThenOffboard(t *testing.T) {
	c := newCustomer(t)
	srv, tn := onboardSim(t, time.Second)
	c.cas = append(c.cas, srv.CACertPEM()...)
	env := append(c.env(), "CONTOSO_PFX_PASSWORD=pw-1")
	settings := filepath.Join(c.dir, "settings.json")
	approve := approver(t, srv, "bob@contoso.example")
	var link string
	ob := c.command1(srv, env, "onboard", func(line string) bool {
		if m := consentLinkRE.FindString(line); m != "" && link == "" {
			link = m
			u, err := url.Parse(m)
			if err != nil {
				t.Fatal(err)
			}
			if u.Query().Get("redirect_uri") != "http://localhost/galmirror-consent" || !strings.HasSuffix(u.Query().Get("scope"), "/.default") {
				t.Errorf("consent link %s", m)
			}
			postControl(t, srv, "/_sim/tenants/"+tn.ID+"/apps/"+u.Query().Get("client_id")+"/admin-consent", map[string]string{"user": "alice@contoso.example"})
		}
		return approve(line)
	}, "--config", settings, "--data-dir", "state", "--name", "contoso", "--cloud", "custom", "--authority", srv.URL(), "--graph", srv.URL(),
		"--password-env", "CONTOSO_PFX_PASSWORD")
	if ob.code != exitOK || link == "" || !strings.Contains(ob.out, "Created certificate") {
		t.Fatalf("onboard: exit %d, link %q\n%s", ob.code, link, ob.out)
	}
	if st, err := os.Stat(settings); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new settings file: %v", err)
	}
	if code, out, errOut := c.runEnv(env, "sync", "--config", settings); code != exitOK {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}

	off := c.command1(srv, env, "offboard", approver(t, srv, "alice@contoso.example"), "--config", settings, "--tenant", "contoso", "--yes")
	if off.code != exitOK || !strings.Contains(off.out, "20 contacts deleted") || !strings.Contains(off.out, "Deleted the app galmirror contoso") {
		t.Fatalf("offboard: exit %d\n%s", off.code, off.out)
	}
	if apps, _ := srv.Apps(tn.ID); len(apps) != 0 {
		t.Errorf("apps left: %+v", apps)
	}
	if b, _ := os.ReadFile(settings); bytes.Contains(b, []byte("contoso")) {
		t.Errorf("the entry is still in settings.json:\n%s", b)
	}
}

// --scope-group: no Contacts.ReadWrite in Entra; galmirror prints the
// Exchange Online PowerShell for RBAC for Applications and writes the
// entry with target.groups; check fails until Exchange grants the
// mailboxes, then sync reaches exactly the group.
func TestOnboardScopeGroup(t *testing.T) {
	c := newCustomer(t)
	srv, tn := onboardSim(t, 0)
	group := graphsim.Group{ID: graphsim.NewGUID(), DisplayName: "Sales", Members: []string{tn.Users[2].ID, tn.Users[3].ID}}
	if err := srv.PutGroup(tn.ID, group); err != nil {
		t.Fatal(err)
	}
	c.cas = append(c.cas, srv.CACertPEM()...)
	env := c.env()
	settings := c.emptySettings()
	pem := filepath.Join(c.dir, "contoso.pem")
	ob := c.onboard(srv, env, "alice@contoso.example", "--config", settings, "--name", "contoso", "--cloud", "custom",
		"--authority", srv.URL(), "--graph", srv.URL(), "--certificate", pem, "--scope-group", group.ID)
	if ob.code != exitFailed || !strings.Contains(ob.out, `New-ManagementRoleAssignment -App `) || !strings.Contains(ob.out, "Granted User.Read.All, GroupMember.Read.All (admin consent)") ||
		!strings.Contains(ob.out, "Wrote tenant contoso") {
		t.Fatalf("onboard --scope-group: exit %d\n%s", ob.code, ob.out)
	}
	apps, _ := srv.Apps(tn.ID)
	if len(apps) != 1 || slices.Contains(apps[0].Roles, "Contacts.ReadWrite") {
		t.Fatalf("app %+v", apps)
	}
	if err := srv.SetMailboxGrants(tn.ID, apps[0].ClientID, group.Members); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := c.runEnv(env, "check", "--config", settings); code != exitOK || !strings.Contains(out, "2 of 2 reachable") {
		t.Fatalf("check after the Exchange grant: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := c.runEnv(env, "sync", "--config", settings); code != exitOK || !strings.Contains(out, "8 created") {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
}

// When Conditional Access blocks the device code flow, onboard says so and
// names the fallback; an app registered by hand (with the .cer uploaded)
// is then onboarded without a sign-in: galmirror prints the consent link
// and waits until the app's own token carries the roles.
func TestOnboardBlockedThenByHand(t *testing.T) {
	c := newCustomer(t)
	srv, tn := onboardSim(t, 0)
	c.cas = append(c.cas, srv.CACertPEM()...)
	env := c.env()
	settings := c.emptySettings()
	pem := filepath.Join(c.dir, "contoso.pem")
	args := []string{"--config", settings, "--name", "contoso", "--cloud", "custom", "--authority", srv.URL(), "--graph", srv.URL(), "--certificate", pem}
	done := false
	blocked := c.command1(srv, env, "onboard", func(line string) bool {
		if m := userCodeRE.FindStringSubmatch(line); m != nil && !done {
			done = true
			postControl(t, srv, "/_sim/devicecode/block", map[string]string{"userCode": m[1]})
			return true
		}
		return false
	}, args...)
	if blocked.code != exitFailed || !strings.Contains(blocked.out, "AADSTS53003") || !strings.Contains(blocked.out, "--app-id") {
		t.Fatalf("blocked sign-in: exit %d\n%s", blocked.code, blocked.out)
	}
	// The administrator registers the app in the portal and uploads the
	// certificate onboard made (contoso.cer).
	der, err := os.ReadFile(filepath.Join(c.dir, "contoso.cer"))
	if err != nil {
		t.Fatal(err)
	}
	app := graphsim.App{ClientID: graphsim.NewGUID(), DisplayName: "galmirror contoso (by hand)",
		CertificatesPEM: []string{string(pemEncode("CERTIFICATE", der))}}
	tn.Apps = []graphsim.App{app}
	if err := srv.PutTenant(tn); err != nil {
		t.Fatal(err)
	}
	byHand := c.command1(srv, env, "onboard", func(line string) bool {
		if strings.Contains(line, "/v2.0/adminconsent?") {
			if err := srv.SetRoles(tn.ID, app.ClientID, []string{"User.Read.All", "GroupMember.Read.All", "Contacts.ReadWrite"}); err != nil {
				t.Error(err)
			}
			return true
		}
		return false
	}, append(args, "--tenant-id", tn.ID, "--app-id", app.ClientID)...)
	if byHand.code != exitOK || !strings.Contains(byHand.out, "Upload certificate") || !strings.Contains(byHand.out, "--app-object-id") {
		t.Fatalf("onboard by hand: exit %d\n%s", byHand.code, byHand.out)
	}
	if code, out, errOut := c.runEnv(env, "sync", "--config", settings); code != exitOK {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// emptySettings writes a settings file without tenants.
func (c *customer) emptySettings() string {
	c.t.Helper()
	p := filepath.Join(c.dir, "settings.json")
	if err := os.WriteFile(p, []byte("{\n  \"dataDir\": \"state\",\n  \"tenants\": []\n}\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}
