package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/pacer"
	"github.com/galmirror/galmirror/internal/store"
)

// env is one test's world: a graphsim server with a tenant, a settings file
// pointing galmirror at it, and a state directory.
type env struct {
	t      *testing.T
	srv    *graphsim.Server
	tenant graphsim.Tenant
	cred   graphsim.AppCredential
	dir    string
	cfg    *config.Config
	st     *store.Store
	opts   Options
	// settings are extra tenant settings merged into the generated file.
	settings map[string]any
}

// user builds a mailbox user of the test tenant.
func user(given, sur string) graphsim.User {
	id := graphsim.NewGUID()
	upn := strings.ToLower(asciiOnly(given)+"."+asciiOnly(sur)) + "@contoso.example"
	return graphsim.User{
		ID: id, UserPrincipalName: upn, Mail: upn,
		DisplayName: given + " " + sur, GivenName: given, Surname: sur,
		JobTitle: "Engineer", Department: "R&D", BusinessPhones: []string{"+1 425 555 0100"},
		MobilePhone: "+1 425 555 0199", City: "Redmond", Country: "US",
	}
}

func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 {
			b.WriteRune(r)
		} else {
			b.WriteByte('x')
		}
	}
	return b.String()
}

// newEnv starts graphsim with the given users and returns the world.
func newEnv(t *testing.T, users []graphsim.User, opt ...func(*graphsim.Options)) *env {
	t.Helper()
	app, cred, err := graphsim.NewApp("galmirror", graphsim.AllRoles...)
	if err != nil {
		t.Fatal(err)
	}
	tn := graphsim.Tenant{ID: graphsim.NewGUID(), Name: "Contoso", Domain: "contoso.onmicrosoft.com", Apps: []graphsim.App{app}, Users: users}
	nothrottle := graphsim.NoThrottle()
	o := graphsim.Options{Tenants: []graphsim.Tenant{tn}, Throttle: &nothrottle, Seed: 1}
	for _, f := range opt {
		f(&o)
	}
	srv, err := graphsim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cred.TenantID = tn.ID
	e := &env{t: t, srv: srv, tenant: tn, cred: cred, dir: t.TempDir()}
	e.opts = Options{
		MailboxWorkers:  8,
		BatchesInFlight: 8,
		Linger:          time.Millisecond,
		Pacer:           pacer.Config{BackoffBase: 5 * time.Millisecond, BackoffCap: 50 * time.Millisecond},
		Logger:          slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writeSettings writes settings.json for the tenant (plus e.settings) and
// loads it the way the binary does.
func (e *env) writeSettings() *config.Config {
	e.t.Helper()
	pem := append(append([]byte{}, e.cred.CertPEM...), e.cred.KeyPEM...)
	if err := os.WriteFile(filepath.Join(e.dir, "app.pem"), pem, 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "ca.pem"), e.srv.CACertPEM(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	tenant := map[string]any{
		"name":        "contoso",
		"tenantId":    e.tenant.ID,
		"clientId":    e.cred.ClientID,
		"certificate": map[string]any{"file": "app.pem"},
		"cloud":       "custom",
		"endpoints":   map[string]any{"authority": e.srv.URL(), "graph": e.srv.URL(), "caFile": "ca.pem"},
	}
	for k, v := range e.settings {
		tenant[k] = v
	}
	doc := map[string]any{"dataDir": "state", "tenants": []any{tenant}}
	b, _ := json.MarshalIndent(doc, "", "  ")
	path := filepath.Join(e.dir, "settings.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		e.t.Fatalf("load settings: %v\n%s", err, b)
	}
	e.cfg = cfg
	return cfg
}

// open opens (or reopens) the state database.
func (e *env) open() *store.Store {
	e.t.Helper()
	if e.st != nil {
		e.st.Close()
	}
	if err := os.MkdirAll(e.cfg.DataDir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	st, err := store.Open(context.Background(), e.cfg.DataDir, store.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.t.Cleanup(func() { st.Close() })
	return st
}

// sync runs one tenant run.
func (e *env) sync(ro RunOptions) *Result {
	e.t.Helper()
	if e.cfg == nil {
		e.writeSettings()
	}
	if e.st == nil {
		e.open()
	}
	o := e.opts
	o.Store = e.st
	res := New(o).Run(e.t.Context(), &e.cfg.Tenants[0], ro)
	if res.Failure != nil {
		e.t.Logf("run failed: %+v", *res.Failure)
	}
	for _, er := range res.Errors {
		e.t.Logf("error: %+v", er)
	}
	return res
}

// folder returns the managed folder under a user's default Contacts folder
// (nil if none): one in Deleted Items is not it.
func (e *env) folder(userID string) *graphsim.Folder {
	e.t.Helper()
	fs := e.folders(userID)
	for i := range fs {
		if fs[i].ParentFolderID == fs[0].ID && marked(fs[i]) {
			return &fs[i]
		}
	}
	return nil
}

// folders lists a mailbox's folders: the default Contacts folder first,
// then Deleted Items, then the others.
func (e *env) folders(userID string) []graphsim.Folder {
	e.t.Helper()
	fs, err := e.srv.Folders(e.tenant.ID, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(fs) < 2 || fs[0].WellKnownName != "contacts" || fs[1].WellKnownName != "deleteditems" {
		e.t.Fatalf("mailbox %s: unexpected folder order %+v", userID, fs)
	}
	return fs
}

// deleted returns what a mailbox's Deleted Items holds: the folders moved
// there and the contacts deleted one by one.
func (e *env) deleted(userID string) (folders []graphsim.Folder, contacts []graphsim.Contact) {
	e.t.Helper()
	fs := e.folders(userID)
	for _, f := range fs[2:] {
		if f.ParentFolderID == fs[1].ID {
			folders = append(folders, f)
		}
	}
	return folders, fs[1].Contacts
}

func marked(f graphsim.Folder) bool {
	for _, p := range f.ExtendedProperties {
		if strings.EqualFold(p.ID, PropFolder) {
			return true
		}
	}
	return false
}

// contacts returns a mailbox's managed contacts by source id, failing on a
// duplicate.
func (e *env) contacts(userID string) map[string]map[string]any {
	e.t.Helper()
	f := e.folder(userID)
	if f == nil {
		e.t.Fatalf("mailbox %s has no managed folder", userID)
	}
	out := map[string]map[string]any{}
	for _, c := range f.Contacts {
		sid := ""
		for _, p := range c.ExtendedProperties {
			if strings.EqualFold(p.ID, PropSourceID) {
				sid = p.Value
			}
		}
		var props map[string]any
		if err := json.Unmarshal(c.Properties, &props); err != nil {
			e.t.Fatal(err)
		}
		props["id"] = c.ID
		if sid == "" {
			props["unmarked"] = true
			sid = "unmarked:" + c.ID
		}
		if _, dup := out[sid]; dup {
			e.t.Fatalf("mailbox %s has two contacts for source %s", userID, sid)
		}
		out[sid] = props
	}
	return out
}

func (e *env) counters() graphsim.Counters { return e.srv.Counters() }

func mustOK(t *testing.T, res *Result) {
	t.Helper()
	if res.Status != StatusOK {
		b, _ := json.MarshalIndent(res, "", "  ")
		t.Fatalf("run status %s, want ok:\n%s", res.Status, b)
	}
}

func str(v any) string { return fmt.Sprint(v) }
