package syncer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graphsim"
)

// A consumer that reads its source tenant first records the users delta
// round; the source tenant's own run in the same process replays it
// instead of asking Graph again, stores it, and continues from its link.
func TestSourceTenantReadOnceConsumerFirst(t *testing.T) {
	app, cred, err := graphsim.NewApp("galmirror", graphsim.AllRoles...)
	if err != nil {
		t.Fatal(err)
	}
	fab := graphsim.Tenant{ID: graphsim.NewGUID(), Name: "Fabrikam", Domain: "fabrikam.example", Apps: []graphsim.App{app},
		Users: []graphsim.User{user("Fiona", "Fabrikam"), user("Frank", "Fabrikam")}}
	e := newEnv(t, []graphsim.User{user("Anna", "Contoso"), user("Bert", "Contoso")}, func(o *graphsim.Options) {
		o.Tenants = append(o.Tenants, fab)
	})
	pem := append(append([]byte{}, cred.CertPEM...), cred.KeyPEM...)
	if err := os.WriteFile(filepath.Join(e.dir, "fab.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	e.writeSettings()
	// contoso lists fabrikam, an entry beside it.
	path := filepath.Join(e.dir, "settings.json")
	var doc map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["tenants"].([]any)[0].(map[string]any)["source"] = map[string]any{"fromTenants": []string{"fabrikam"}}
	doc["tenants"] = append(doc["tenants"].([]any), map[string]any{
		"name": "fabrikam", "tenantId": fab.ID, "clientId": cred.ClientID, "certificate": map[string]any{"file": "fab.pem"},
		"cloud": "custom", "endpoints": map[string]any{"authority": e.srv.URL(), "graph": e.srv.URL(), "caFile": "ca.pem"},
	})
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	e.open()
	o := e.opts
	o.Store = e.st
	eng := New(o)
	run := func(i int) *Result {
		t.Helper()
		res := eng.Run(t.Context(), &cfg.Tenants[i], RunOptions{})
		mustOK(t, res)
		return res
	}
	e.srv.ResetCounters()
	res := run(0)
	if len(res.SourceTenants) != 1 || res.SourceTenants[0].Status != SourceRead || res.SourceTenants[0].Sources != 2 {
		t.Fatalf("source tenants %+v", res.SourceTenants)
	}
	if res.Contacts.Created != 2*3 {
		t.Errorf("contoso created %d, want 6", res.Contacts.Created)
	}
	fres := run(1)
	if n := e.srv.Counters().ByRoute["GET /users/delta"]; n != 2 {
		t.Errorf("users/delta requested %d times for two tenants, want 2: fabrikam's own run replays contoso's read of it", n)
	}
	if fres.Contacts.Created != 2 {
		t.Errorf("fabrikam created %d, want 2", fres.Contacts.Created)
	}
	// The replayed round was stored with its link: a change in fabrikam
	// reaches both with one more round each.
	if err := e.srv.PatchUser(fab.ID, fab.Users[0].ID, map[string]any{"jobTitle": "Director"}); err != nil {
		t.Fatal(err)
	}
	fres = run(1)
	if fres.Contacts.Updated != 1 {
		t.Errorf("fabrikam updated %d after a change, want 1", fres.Contacts.Updated)
	}
	res = run(0)
	if res.Contacts.Updated != 2 || res.SourceTenants[0].Status != SourceShared {
		t.Errorf("contoso updated %d after a change in fabrikam, want 2; source tenants %+v", res.Contacts.Updated, res.SourceTenants)
	}
	if n := e.srv.Counters().ByRoute["GET /users/delta"]; n != 4 {
		t.Errorf("users/delta requested %d times, want 4", n)
	}
	// Fabrikam's rules changed (a reload): its earlier read is not
	// reused; its excluded person leaves contoso's mailboxes.
	cfg.Tenants[0].Source.From[0].Source.ExcludeUsers = []string{fab.Users[1].UserPrincipalName}
	res = run(0)
	if st := res.SourceTenants[0]; st.Status != SourceRead || st.Sources != 1 || res.Contacts.Deleted != 2 {
		t.Errorf("after fabrikam's rules changed: %+v, deleted %d, want read, 1 source, 2 deleted", st, res.Contacts.Deleted)
	}
	for _, c := range e.contacts(e.tenant.Users[0].ID) {
		if strings.Contains(str(c["displayName"]), "Fiona") && str(c["jobTitle"]) != "Director" {
			t.Errorf("contoso's contact of Fiona: %v", c)
		}
	}
}
