package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// testEnv is a running graphsim with one small tenant and a token.
type testEnv struct {
	t      *testing.T
	srv    *Server
	tenant Tenant
	cred   AppCredential
	token  string
	client *http.Client
}

func ptr[T any](v T) *T { return &v }

var (
	testAppOnce sync.Once
	testAppBase App
	testCred    AppCredential
	testAppErr  error
)

// testApp returns an app with the given roles; the RSA key is generated
// once per test binary because key generation dominates test time.
func testApp(t testing.TB, roles []string) (App, AppCredential) {
	t.Helper()
	testAppOnce.Do(func() { testAppBase, testCred, testAppErr = NewApp("galmirror-test") })
	if testAppErr != nil {
		t.Fatal(testAppErr)
	}
	app := testAppBase
	app.Roles = append([]string(nil), roles...)
	return app, testCred
}

// smallTenant has five users: alice (normal), bob (normal), carol
// (disabled guest), dave (no mailbox), erin (out of scope), two nested
// groups and an org contact.
func smallTenant(t testing.TB, roles ...string) (Tenant, AppCredential) {
	t.Helper()
	if roles == nil {
		roles = AllRoles
	}
	app, cred := testApp(t, roles)
	tid := "7d3c1a52-0b8e-4f5e-9c1d-2a6b8e4f0c11"
	cred.TenantID = tid
	d := "contoso.onmicrosoft.com"
	users := []User{
		{ID: "00000000-0000-4000-8000-00000000000a", UserPrincipalName: "alice@" + d, DisplayName: "Alice Zoë Adams", GivenName: "Alice", Surname: "Adams", Mail: "alice@" + d, JobTitle: "Engineer", Department: "R&D", BusinessPhones: []string{"+1 555 0100"}},
		{ID: "00000000-0000-4000-8000-00000000000b", UserPrincipalName: "bob@" + d, DisplayName: "Bob Brown", GivenName: "Bob", Surname: "Brown", Mail: "bob@" + d},
		{ID: "00000000-0000-4000-8000-00000000000c", UserPrincipalName: "carol_fabrikam.com#EXT#@" + d, DisplayName: "Carol Guest", UserType: "Guest", AccountEnabled: ptr(false), Mail: "carol@fabrikam.com"},
		{ID: "00000000-0000-4000-8000-00000000000d", UserPrincipalName: "dave@" + d, DisplayName: "Dave NoMailbox", Mailbox: MailboxNone},
		{ID: "00000000-0000-4000-8000-00000000000e", UserPrincipalName: "erin@" + d, DisplayName: "Erin Scoped", Mailbox: MailboxOutOfScope},
	}
	return Tenant{
		ID: tid, Name: "Contoso", Domain: d, Apps: []App{app}, Users: users,
		Groups: []Group{
			{ID: "10000000-0000-4000-8000-000000000001", DisplayName: "All staff", SecurityEnabled: true, Members: []string{users[0].ID, "10000000-0000-4000-8000-000000000002", "20000000-0000-4000-8000-000000000001"}},
			{ID: "10000000-0000-4000-8000-000000000002", DisplayName: "Sales", SecurityEnabled: true, Members: []string{users[1].ID, users[2].ID}},
		},
		OrgContacts: []OrgContact{{ID: "20000000-0000-4000-8000-000000000001", DisplayName: "Eric Solomon", Mail: "erics@partner.com", Phones: []Phone{{Number: "111-1111", Type: "businessFax"}}}},
	}, cred
}

func newEnv(t *testing.T, mutate ...func(*Options)) *testEnv {
	t.Helper()
	ten, cred := smallTenant(t)
	opts := Options{Tenants: []Tenant{ten}, Throttle: ptr(NoThrottle())}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tok, err := srv.AccessToken(ten.ID, cred.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, srv: srv, tenant: ten, cred: cred, token: tok, client: srv.Client()}
}

type result struct {
	status int
	hdr    http.Header
	raw    []byte
	body   map[string]any
}

func (r result) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r result) value() []any {
	v, _ := r.body["value"].([]any)
	return v
}

// do sends a Graph request; path is relative to /v1.0 unless absolute.
// hdr are "Name: value" strings.
func (e *testEnv) do(method, path string, body any, hdr ...string) result {
	e.t.Helper()
	return e.doToken(e.token, method, path, body, hdr...)
}

func (e *testEnv) doToken(token, method, path string, body any, hdr ...string) result {
	e.t.Helper()
	u := escapeQuery(path)
	if !strings.HasPrefix(path, "https://") {
		u = e.srv.GraphURL() + u
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(strings.TrimSpace(k), "Content-Type") {
			req.Header.Set("Content-Type", strings.TrimSpace(v)) // a binary body's type replaces the JSON default
			continue
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, hdr: resp.Header, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

func (e *testEnv) want(r result, status int, code string) {
	e.t.Helper()
	if r.status != status || (code != "" && r.errCode() != code) {
		e.t.Fatalf("got %d %s, want %d %s; body %s", r.status, r.errCode(), status, code, r.raw)
	}
}

func (e *testEnv) user(i int) User { return e.tenant.Users[i] }

func fmtPath(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// escapeQuery escapes what a URL may not carry raw (spaces, braces, #)
// so tests can write OData queries readably.
func escapeQuery(s string) string {
	return strings.NewReplacer(" ", "%20", "{", "%7B", "}", "%7D", "#", "%23", "\"", "%22").Replace(s)
}
