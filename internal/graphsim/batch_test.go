package graphsim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func item(id, method, url string, body any, deps ...string) map[string]any {
	m := map[string]any{"id": id, "method": method, "url": url}
	if body != nil {
		m["body"] = body
		m["headers"] = map[string]string{"Content-Type": "application/json"}
	}
	if len(deps) > 0 {
		m["dependsOn"] = deps
	}
	return m
}

func responses(t *testing.T, r result) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	rs, _ := r.body["responses"].([]any)
	for _, x := range rs {
		m := x.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

func status(m map[string]any) int { f, _ := m["status"].(float64); return int(f) }

func TestBatch(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Throttle = ptr(GraphThrottle()) })
	fid := e.mkFolder(alice, "Company")
	cpath := "/users/" + alice + "/contactFolders/" + fid + "/contacts"
	r := e.do("POST", "/$batch", map[string]any{"requests": []any{
		item("1", "POST", cpath, map[string]any{"givenName": "A"}),
		item("2", "GET", "users?$select=id,displayName&$top=2", nil),
		item("3", "GET", "/users/dave@contoso.onmicrosoft.com/contacts", nil),
		item("4", "POST", cpath, map[string]any{"bogus": 1}),
		map[string]any{"id": "5", "method": "GET", "url": "/users?$count=true&$filter=mail ne null", "headers": map[string]string{"ConsistencyLevel": "eventual"}},
	}})
	e.want(r, 200, "")
	rs := responses(t, r)
	if status(rs["1"]) != 201 || status(rs["2"]) != 200 || status(rs["3"]) != 404 || status(rs["4"]) != 400 || status(rs["5"]) != 200 {
		t.Fatalf("statuses: %s", r.raw)
	}
	h := rs["2"]["headers"].(map[string]any)
	if h["Content-Type"] == nil || h["OData-Version"] != "4.0" || h["x-ms-resource-unit"] == nil {
		t.Errorf("item headers %v", h)
	}
	if rs["5"]["body"].(map[string]any)["@odata.count"] == nil {
		t.Error("item headers not honoured (ConsistencyLevel)")
	}
	if rs["3"]["body"].(map[string]any)["error"].(map[string]any)["code"] != "MailboxNotEnabledForRESTAPI" {
		t.Errorf("item error body %v", rs["3"]["body"])
	}
	if _, ok := rs["1"]["body"].(map[string]any)["@odata.etag"]; !ok {
		t.Errorf("item body %v", rs["1"]["body"])
	}

	// Malformed batches are rejected whole.
	var many []any
	for i := 0; i < 21; i++ {
		many = append(many, item(fmt.Sprint(i), "GET", "/users", nil))
	}
	bad := []struct {
		name string
		body any
	}{
		{"21 items", map[string]any{"requests": many}},
		{"duplicate ids", map[string]any{"requests": []any{item("a", "GET", "/users", nil), item("A", "GET", "/users", nil)}}},
		{"absolute url", map[string]any{"requests": []any{item("1", "GET", "https://graph.microsoft.com/v1.0/users", nil)}}},
		{"body without content-type", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "POST", "url": cpath, "body": map[string]any{"givenName": "x"}}}}},
		{"unknown dependency", map[string]any{"requests": []any{item("1", "GET", "/users", nil, "9")}}},
		{"cycle", map[string]any{"requests": []any{item("1", "GET", "/users", nil, "2"), item("2", "GET", "/users", nil, "1")}}},
		{"no requests", map[string]any{"requests": []any{}}},
		{"not an array", map[string]any{"requests": "x"}},
		{"missing url", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET"}}}},
		{"bad method", map[string]any{"requests": []any{item("1", "HEAD", "/users", nil)}}},
		{"not json", "{"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			r := e.do("POST", "/$batch", b.body)
			if r.status != 400 || r.errCode() != "BadRequest" {
				t.Errorf("got %d %s", r.status, r.raw)
			}
		})
	}
	e.want(e.do("GET", "/$batch", nil), 405, "BadRequest")
}

func TestBatchDependsOn(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Throttle = ptr(GraphThrottle()) })
	fid := e.mkFolder(alice, "Company")
	cpath := "/users/" + alice + "/contactFolders/" + fid + "/contacts"
	// A chain of 6 writes to one mailbox runs one at a time: no 429.
	var reqs []any
	for i := 1; i <= 6; i++ {
		var deps []string
		if i > 1 {
			deps = []string{fmt.Sprint(i - 1)}
		}
		reqs = append(reqs, item(fmt.Sprint(i), "POST", cpath, map[string]any{"givenName": fmt.Sprint("C", i)}, deps...))
	}
	r := e.do("POST", "/$batch", map[string]any{"requests": reqs})
	for id, m := range responses(t, r) {
		if status(m) != 201 {
			t.Errorf("item %s: %v", id, m)
		}
	}
	if p := e.srv.Counters().PeakConcurrency["00000000-0000-4000-8000-00000000000a"]; p != 1 {
		t.Errorf("peak concurrency of a chain = %d", p)
	}
	// A failure turns its dependents into 424.
	r = e.do("POST", "/$batch", map[string]any{"requests": []any{
		item("1", "POST", cpath, map[string]any{"givenName": "ok"}),
		item("2", "POST", cpath, map[string]any{"nope": 1}, "1"),
		item("3", "GET", "/users", nil, "2"),
		item("4", "GET", "/users", nil, "3"),
	}})
	rs := responses(t, r)
	if status(rs["1"]) != 201 || status(rs["2"]) != 400 || status(rs["3"]) != 424 || status(rs["4"]) != 424 {
		t.Errorf("statuses %s", r.raw)
	}
}

func TestBatchMailboxConcurrency(t *testing.T) {
	strict := GraphThrottle()
	strict.ReactionTime = -1 // count the very next request in the scope
	e := newEnv(t, func(o *Options) { o.Throttle = &strict })
	fid := e.mkFolder(alice, "Company")
	bfid := e.mkFolder("bob@contoso.onmicrosoft.com", "Company")
	var reqs []any
	for i := 0; i < 6; i++ {
		reqs = append(reqs, item(fmt.Sprint("a", i), "POST", "/users/"+alice+"/contactFolders/"+fid+"/contacts", map[string]any{"givenName": "x"}))
	}
	for i := 0; i < 4; i++ {
		reqs = append(reqs, item(fmt.Sprint("b", i), "POST", "/users/bob@contoso.onmicrosoft.com/contactFolders/"+bfid+"/contacts", map[string]any{"givenName": "x"}))
	}
	r := e.do("POST", "/$batch", map[string]any{"requests": reqs})
	e.want(r, 200, "")
	n429 := 0
	for id, m := range responses(t, r) {
		switch status(m) {
		case 201:
		case 429:
			n429++
			if !strings.HasPrefix(id, "a") {
				t.Errorf("bob's item %s throttled", id)
			}
			if m["headers"].(map[string]any)["Retry-After"] == nil || m["body"].(map[string]any)["error"].(map[string]any)["code"] != "ApplicationThrottled" {
				t.Errorf("429 item %v", m)
			}
			if !strings.Contains(m["body"].(map[string]any)["error"].(map[string]any)["message"].(string), "MailboxConcurrency") {
				t.Errorf("429 message %v", m)
			}
		default:
			t.Errorf("item %s: %v", id, m)
		}
	}
	if n429 != 2 {
		t.Errorf("%d items throttled, want 2", n429)
	}
	c := e.srv.Counters()
	if c.Throttled != 2 || c.BatchItems != 10 || c.Batches != 1 {
		t.Errorf("counters %+v", c)
	}
	// Retrying alice at once violates the Retry-After the 429 named.
	e.do("GET", "/users/"+alice+"/contactFolders", nil)
	if c := e.srv.Counters(); c.RetryAfterViolations != 1 || c.ViolationsByScope["mailbox:00000000-0000-4000-8000-00000000000a"] != 1 {
		t.Errorf("violations %+v", c)
	}
	// Bob was not throttled: no violation there.
	e.do("GET", "/users/bob@contoso.onmicrosoft.com/contactFolders", nil)
	if c := e.srv.Counters(); c.RetryAfterViolations != 1 {
		t.Errorf("violations %+v", c)
	}
}

func TestBatchShuffleAndLatency(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Faults = Faults{ShuffleBatch: true, Latency: 20 * time.Millisecond}
		o.Seed = 3
	})
	var reqs []any
	for i := 0; i < 8; i++ {
		reqs = append(reqs, item(fmt.Sprint(i), "GET", "/users/"+alice+"/contactFolders", nil))
	}
	start := time.Now()
	r := e.do("POST", "/$batch", map[string]any{"requests": reqs})
	el := time.Since(start)
	e.want(r, 200, "")
	var order []string
	for _, x := range r.body["responses"].([]any) {
		order = append(order, x.(map[string]any)["id"].(string))
	}
	if strings.Join(order, "") == "01234567" {
		t.Errorf("responses not shuffled: %v", order)
	}
	// 8 unordered items run 4 at a time: two rounds of latency at least.
	if el < 40*time.Millisecond {
		t.Errorf("batch took %v, want at least 2 x latency", el)
	}
}

func TestBatchBinaryBody(t *testing.T) {
	items := []batchItem{{ID: "1", Method: "PUT", URL: "/x", Headers: []hdrField{{"Content-Type", "image/jpeg"}}, Body: json.RawMessage(`"/9j/4AAQ"`)}}
	g := (&Server{}).itemRequest(&greq{}, items[0], &greq{})
	if len(g.body) != 6 {
		t.Errorf("base64 body decoded to %d bytes", len(g.body))
	}
}
