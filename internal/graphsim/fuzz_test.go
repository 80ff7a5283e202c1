package graphsim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

// Fuzz targets for everything graphsim parses from a request. Seed corpora
// live in testdata/fuzz/<Target>; run one with
// go test -fuzz=FuzzParseFilter ./internal/graphsim/

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"accountEnabled eq true", "userType eq 'Guest' and not(mail eq null)",
		"singleValueExtendedProperties/Any(ep: ep/id eq '" + sourceIDP + "' and ep/value eq 'x')",
		"startswith(displayName,'A''b')", "userType in ('a','b')", "proxyAddresses/any(p:p eq 'smtp:a@b')",
		"((((a eq 1))))", "a eq", "cast(ep/value, Edm.Int32) eq 5", "", "'unterminated", "x/y/z ne -1.5e3",
	} {
		f.Add(s)
	}
	u := &User{ID: "00000000-0000-4000-8000-00000000000a", UserPrincipalName: "a@b.c", DisplayName: "A", ProxyAddresses: []string{"SMTP:a@b.c"}}
	c := &contact{doc: []byte(`{"givenName":"A","emailAddresses":[{"address":"a@b.c"}]}`), ext: []extProp{{id: sourceIDP, value: "x"}}}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := parseFilter(src)
		if err != nil {
			return
		}
		evalFilter(n, userObject{u})
		evalFilter(n, &contactObject{c: c})
		g := &greq{q: map[string][]string{}, now: time.Now()}
		_ = g.checkDirFilter(n, userFilterRules, "User", "microsoft.graph.user", true)
	})
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`{"requests":[{"id":"1","method":"GET","url":"/users"}]}`))
	f.Add([]byte(`{"requests":[{"id":"1","method":"POST","url":"/users/a/contacts","body":{"givenName":"x"},"headers":{"Content-Type":"application/json"}},{"id":"2","dependsOn":["1"],"method":"GET","url":"/users"}]}`))
	f.Add([]byte(`{"requests":[{"id":"a","method":"GET","url":"x","dependsOn":["b"]},{"id":"b","method":"GET","url":"y","dependsOn":["a"]}]}`))
	f.Add([]byte(`{"requests":"x"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, be := parseBatch(body)
		if be != nil {
			if be.code == "" || be.msg == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(items) == 0 || len(items) > maxBatch || topoOrder(items) == nil {
			t.Fatalf("accepted %d items", len(items))
		}
	})
}

func FuzzContactBody(f *testing.F) {
	f.Add([]byte(`{"givenName":"Pavel","surname":"Bansky","emailAddresses":[{"address":"pavelb@contoso.com","name":"Pavel Bansky"}],"businessPhones":["+1 732 555 0102"]}`))
	f.Add([]byte(`{"homeAddress":{"street":"123 Some street","city":"Seattle"},"birthday":"1974-07-22"}`))
	f.Add([]byte(`{"singleValueExtendedProperties":[{"id":"` + sourceIDP + `","value":"x"}],"displayName":null}`))
	f.Add([]byte(`{"givenName":5}`))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, be := parseContactBody(body)
		if be != nil {
			return
		}
		doc := applyWrite(nil, w, true)
		// The canonical document is itself a valid contact body.
		if _, be := parseContactBody(doc); be != nil {
			t.Fatalf("canonical document %s rejected: %v", doc, be)
		}
		if !json.Valid(doc) {
			t.Fatalf("invalid canonical JSON %s", doc)
		}
	})
}

// fuzzServer is a server without a listener, with the small tenant.
func fuzzServer(t testing.TB) (*Server, *greq) {
	ten, _ := smallTenant(t)
	s, err := newServer(Options{Throttle: ptr(NoThrottle())})
	if err != nil {
		t.Fatal(err)
	}
	s.url = "https://graphsim.test"
	must(t, s.PutTenant(ten))
	tst, _ := s.tenant(ten.ID)
	mb := func() *mailbox {
		tst.mu.Lock()
		defer tst.mu.Unlock()
		return tst.mailboxLocked("00000000-0000-4000-8000-00000000000a")
	}()
	mb.mu.Lock()
	fo, _ := mb.createFolderLocked("Company", nil)
	w, _ := parseContactBody([]byte(`{"givenName":"A","singleValueExtendedProperties":[{"id":"` + sourceIDP + `","value":"x"}]}`))
	mb.createContactLocked(fo, w, time.Now())
	mb.mu.Unlock()
	base := &greq{
		ctx: context.Background(), claims: &entrasim.Claims{TenantID: ten.ID, AppID: ten.Apps[0].ClientID, Roles: AllRoles},
		t: tst, app: ten.Apps[0].ClientID, reqID: "r", clientReqID: "c", hdr: http.Header{},
	}
	return s, base
}

func FuzzGraphRequest(f *testing.F) {
	f.Add("GET", "/users", "$select=id,displayName&$top=2&$filter=accountEnabled eq true", []byte(nil), "")
	f.Add("GET", "/users/delta", "$deltatoken=latest", []byte(nil), "return=minimal")
	f.Add("GET", "/users/alice@contoso.onmicrosoft.com/contactFolders", "$filter=displayName eq 'Company'&$expand=singleValueExtendedProperties($filter=id eq '"+sourceIDP+"')", []byte(nil), "")
	f.Add("POST", "/users/alice@contoso.onmicrosoft.com/contacts", "", []byte(`{"givenName":"x"}`), "")
	f.Add("GET", "/users/alice@contoso.onmicrosoft.com/contacts/delta", "$select=givenName", []byte(nil), "odata.maxpagesize=3")
	f.Add("GET", "/groups/10000000-0000-4000-8000-000000000001/transitiveMembers/microsoft.graph.user", "$count=true", []byte(nil), "")
	f.Add("POST", "/$batch", "", []byte(`{"requests":[{"id":"1","method":"GET","url":"/users/alice@contoso.onmicrosoft.com/contacts?$top=1"}]}`), "")
	// One server for all inputs: entrasim's signing key is costly to make,
	// and state left by earlier inputs only widens what later ones reach.
	s, base := fuzzServer(f)
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte, prefer string) {
		g := *base
		g.method, g.rawPath, g.rawQuery, g.body, g.now = strings.ToUpper(method), path, query, body, time.Now()
		g.hdr = http.Header{"Prefer": {prefer}, "Consistencylevel": {"eventual"}}
		var resp gresp
		if strings.EqualFold(strings.Trim(path, "/"), "$batch") {
			resp = s.runBatch(&g)
		} else {
			resp = s.serveItem(&g, false)
		}
		if resp.status < 200 || resp.status > 599 {
			t.Fatalf("status %d", resp.status)
		}
		if body := resp.bytes(); len(body) > 0 && !json.Valid(body) {
			t.Fatalf("invalid JSON body %s", body)
		}
	})
}
