//go:build linux

package main

import (
	"bufio"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graphsim"
)

const rotatePassword = "CONTOSO_PFX_PASSWORD"

// rotateSim is a tenant whose app authenticates with the PFX file
// contoso.pfx in the customer's folder, valid from notBefore for 60 days.
type rotateSim struct {
	c        *customer
	srv      *graphsim.Server
	tn       graphsim.Tenant
	clientID string
	objectID string
	pfx      string
	env      []string
}

func newRotateSim(t *testing.T, notBefore time.Time, propagation time.Duration) *rotateSim {
	t.Helper()
	c := newCustomer(t)
	r := &rotateSim{c: c, pfx: filepath.Join(c.dir, "contoso.pfx")}
	cert, key, err := entra.NewSelfSigned(entra.NewCertificateRequest{CommonName: "galmirror contoso", Validity: 60 * 24 * time.Hour, Now: notBefore})
	if err != nil {
		t.Fatal(err)
	}
	if err := entra.WriteCertificateFiles(r.pfx, cert, key, "s3cret-pfx"); err != nil {
		t.Fatal(err)
	}
	r.clientID = graphsim.NewGUID()
	app := graphsim.App{ClientID: r.clientID, DisplayName: "galmirror contoso", Roles: graphsim.AllRoles,
		CertificatesPEM: []string{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))}}
	r.tn = graphsim.Tenant{ID: graphsim.NewGUID(), Name: "Contoso", Domain: "contoso.example", Apps: []graphsim.App{app}}
	for i := range 3 {
		upn := fmt.Sprintf("user%d@contoso.example", i)
		u := graphsim.User{ID: graphsim.NewGUID(), UserPrincipalName: upn, Mail: upn, DisplayName: fmt.Sprintf("User %d", i)}
		if i == 0 {
			u.DirectoryRoles = []string{graphsim.RoleGlobalAdministrator}
		}
		r.tn.Users = append(r.tn.Users, u)
	}
	r.srv, err = graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{r.tn}, Propagation: propagation, DeviceCodeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Close() })
	reg, err := r.srv.AppRegistration(r.tn.ID, r.clientID)
	if err != nil {
		t.Fatal(err)
	}
	r.objectID = reg.ObjectID
	c.cas = append(c.cas, r.srv.CACertPEM()...)
	r.env = append(c.env(), rotatePassword+"=s3cret-pfx")
	return r
}

// settings writes settings.json with the tenant and extra members.
func (r *rotateSim) settings(extra map[string]any) string {
	ten := map[string]any{
		"name": "contoso", "tenantId": r.tn.ID, "clientId": r.clientID, "applicationObjectId": r.objectID,
		"certificate": map[string]any{"file": "contoso.pfx", "passwordEnv": rotatePassword},
		"cloud":       "custom", "endpoints": map[string]any{"authority": r.srv.URL(), "graph": r.srv.URL()},
		"schedule": map[string]any{"every": "1h", "jitter": "0s"},
	}
	for k, v := range extra {
		ten[k] = v
	}
	return r.c.settings(ten)
}

func (r *rotateSim) thumbprint(t *testing.T, path string) string {
	t.Helper()
	c, err := entra.LoadCertificateFile(t.Context(), path, "s3cret-pfx", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c.ThumbprintSHA1()
}

func (r *rotateSim) appKeys(t *testing.T) []graphsim.AppKey {
	t.Helper()
	reg, err := r.srv.AppRegistration(r.tn.ID, r.clientID)
	if err != nil {
		t.Fatal(err)
	}
	return reg.Keys
}

// `cert rotate` renews on demand: addKey proven by the current key, a
// wait until Entra honours the new key, the file replaced in place. The
// first certificate was uploaded by hand (its keyId is unknown to the app,
// which may not read its own registration): it stays on the app until it
// expires. The second renewal removes the key the first one added, by the
// keyId addKey answered. A sync then runs with the newest certificate.
func TestCertRotateOnDemand(t *testing.T) {
	r := newRotateSim(t, time.Now(), 2*time.Second)
	settings := r.settings(nil)
	old := r.thumbprint(t, r.pfx)
	code, out, errOut := r.c.runEnv(r.env, "cert", "rotate", "--config", settings, "--tenant", "contoso")
	if code != exitOK {
		t.Fatalf("cert rotate: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"event 440 cert_renewal_started", "event 441 cert_key_added", "event 442 cert_switched", "event 443 cert_old_key_removed", "waiting for Entra ID to honour the new key"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "left on the app until it expires") {
		t.Errorf("the hand-uploaded key's fate is not reported:\n%s", out)
	}
	nu := r.thumbprint(t, r.pfx)
	keys := r.appKeys(t)
	if nu == old || len(keys) != 2 || keys[1].Thumbprint != nu {
		t.Fatalf("after rotate: file %s (was %s), app keys %+v", nu, old, keys)
	}
	code, out, errOut = r.c.runEnv(r.env, "cert", "rotate", "--config", settings, "--tenant", "contoso")
	newest := r.thumbprint(t, r.pfx)
	keys = r.appKeys(t)
	if code != exitOK || strings.Contains(out, "left on the app") || len(keys) != 2 || keys[0].Thumbprint != old || keys[1].Thumbprint != newest {
		t.Fatalf("second rotate: exit %d, keys %+v\n%s%s", code, keys, out, errOut)
	}
	if st, _ := os.Stat(r.pfx); st.Mode().Perm() != 0o600 {
		t.Errorf("renewed PFX mode %v", st.Mode().Perm())
	}
	if _, err := os.Stat(r.pfx + ".next"); !os.IsNotExist(err) {
		t.Errorf("the pending file is left: %v", err)
	}
	if code, out, errOut := r.c.runEnv(r.env, "sync", "--config", settings); code != exitOK {
		t.Fatalf("sync with the new certificate: exit %d\n%s%s", code, out, errOut)
	}
}

// A failed addKey leaves the old certificate in place and working (sync
// succeeds), and the next attempt continues with the key pair it made.
func TestCertRotateAddKeyFails(t *testing.T) {
	r := newRotateSim(t, time.Now(), 0)
	settings := r.settings(nil)
	old := r.thumbprint(t, r.pfx)
	r.srv.SetFaults(graphsim.Faults{AddKeyStatus: http.StatusServiceUnavailable})
	code, out, errOut := r.c.runEnv(r.env, "cert", "rotate", "--config", settings, "--tenant", "contoso")
	if code != exitFailed || !strings.Contains(out, "event 444 cert_renewal_failed step=addKey") || !strings.Contains(errOut, "serviceNotAvailable") ||
		!strings.Contains(errOut, "keeps using its certificate "+old) {
		t.Fatalf("cert rotate with a failing addKey: exit %d\n%s%s", code, out, errOut)
	}
	pending := r.thumbprint(t, r.pfx+".next")
	if r.thumbprint(t, r.pfx) != old || len(r.appKeys(t)) != 1 {
		t.Fatalf("a failed addKey changed the certificate or the app")
	}
	if code, out, errOut := r.c.runEnv(r.env, "sync", "--config", settings); code != exitOK {
		t.Fatalf("sync with the old certificate: exit %d\n%s%s", code, out, errOut)
	}
	r.srv.SetFaults(graphsim.Faults{})
	code, out, errOut = r.c.runEnv(r.env, "cert", "rotate", "--config", settings, "--tenant", "contoso")
	if code != exitOK || !strings.Contains(out, "continuing with the new certificate "+pending) {
		t.Fatalf("second cert rotate: exit %d\n%s%s", code, out, errOut)
	}
	if r.thumbprint(t, r.pfx) != pending {
		t.Errorf("the renewal did not use the key pair the failed attempt made")
	}
}

// An expired certificate cannot renew itself (no valid key proves
// possession): rotate says so and names onboard, and onboard with an
// administrator's sign-in adds a new certificate to the app, after which
// sync works again.
func TestExpiredCertificateNeedsOnboard(t *testing.T) {
	r := newRotateSim(t, time.Now().Add(-90*24*time.Hour), 0)
	settings := r.settings(nil)
	code, out, errOut := r.c.runEnv(r.env, "cert", "rotate", "--config", settings, "--tenant", "contoso")
	if code != exitFailed || !strings.Contains(out, "event 445 cert_renewal_blocked") || !strings.Contains(errOut, "galmirror onboard") {
		t.Fatalf("cert rotate of an expired certificate: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := r.c.runEnv(r.env, "sync", "--config", settings); code != exitFailed {
		t.Fatalf("sync with an expired certificate: exit %d", code)
	}
	if code, _, errOut := r.c.runEnv(r.env, "onboard", "--config", settings, "--name", "contoso"); code != exitUsage || !strings.Contains(errOut, "pass --certificate with a new file name") {
		t.Fatalf("onboard with the expired certificate: exit %d\n%s", code, errOut)
	}
	fresh := filepath.Join(r.c.dir, "contoso-2026.pfx")
	ob := r.c.onboard(r.srv, r.env, "user0@contoso.example", "--config", settings, "--name", "contoso", "--certificate", fresh, "--password-env", rotatePassword)
	if ob.code != exitOK || !strings.Contains(ob.out, "Repaired the app: added certificate") {
		t.Fatalf("onboard repair: exit %d\n%s", ob.code, ob.out)
	}
	if code, out, errOut := r.c.runEnv(r.env, "sync", "--config", settings); code != exitOK {
		t.Fatalf("sync after the repair: exit %d\n%s%s", code, out, errOut)
	}
}

// The service renews a certificate that is due by itself, after a run,
// and keeps syncing with the new one.
func TestServiceRenewsDueCertificate(t *testing.T) {
	r := newRotateSim(t, time.Now(), time.Second)
	settings := r.settings(map[string]any{"certificateRenewBefore": "2000h"})
	old := r.thumbprint(t, r.pfx)
	cmd := r.command("run", "--config", settings, "--stop-timeout", "10s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	events := &eventLog{seen: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			events.add(sc.Text())
		}
	}()
	events.wait(t, "200", 30*time.Second, "contoso")
	events.wait(t, "440", 30*time.Second, "contoso", old)
	events.wait(t, "442", 60*time.Second, "contoso")
	events.wait(t, "443", 30*time.Second, "contoso", "left on the app")
	if nu := r.thumbprint(t, r.pfx); nu == old {
		t.Fatal("the file still holds the old certificate")
	}
	if keys := r.appKeys(t); len(keys) != 2 || keys[1].Thumbprint != r.thumbprint(t, r.pfx) {
		t.Errorf("app keys after the renewal: %+v", keys)
	}
}

func (r *rotateSim) command(args ...string) *exec.Cmd {
	cmd := r.c.command(args...)
	cmd.Env = r.env
	return cmd
}
