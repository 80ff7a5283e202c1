package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Writes that commit and then fail: the 5xx hides a write that happened.
func TestAfterCommitFaults(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Seed = 7 })
	fid := e.mkFolder(alice, "Company")
	e.srv.SetFaults(Faults{AfterCommitRate: 1})
	cbase := "/users/" + alice + "/contactFolders/" + fid + "/contacts"
	seen := map[int]int{}
	const n = 40
	for i := 0; i < n; i++ {
		r := e.do("POST", cbase, map[string]any{"givenName": fmt.Sprint("W", i)})
		seen[r.status]++
		if r.status == 503 && r.hdr.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	for _, st := range []int{500, 502, 503, 504} {
		if seen[st] == 0 {
			t.Errorf("no %d among %v", st, seen)
		}
	}
	if seen[201] != 0 {
		t.Errorf("successes answered: %v", seen)
	}
	// Every write happened; reads are untouched.
	r := e.do("GET", cbase+"?$top=100", nil)
	e.want(r, 200, "")
	if len(r.value()) != n {
		t.Fatalf("%d contacts written, want %d", len(r.value()), n)
	}
	id := ids(r.value())[0]
	if r := e.do("DELETE", cbase+"/"+id, nil); r.status < 500 {
		t.Errorf("delete answered %d", r.status)
	}
	e.srv.SetFaults(Faults{})
	e.want(e.do("GET", cbase+"/"+id, nil), 404, "ErrorItemNotFound")
	// $batch items alike; a failed write (4xx) is not turned into a 5xx.
	e.srv.SetFaults(Faults{AfterCommitRate: 1})
	r = e.do("POST", "/$batch", map[string]any{"requests": []any{
		item("1", "POST", cbase, map[string]any{"givenName": "B1"}),
		item("2", "POST", cbase, map[string]any{"bogus": 1}),
		item("3", "GET", "/users?$top=1", nil),
	}})
	e.want(r, 200, "")
	rs := responses(t, r)
	if status(rs["1"]) < 500 || status(rs["2"]) != 400 || status(rs["3"]) != 200 {
		t.Errorf("batch statuses %s", r.raw)
	}
	e.srv.SetFaults(Faults{})
	if got := len(e.do("GET", cbase+"?$top=100&$filter=givenName eq 'B1'", nil).value()); got != 1 {
		t.Errorf("batch write happened %d times", got)
	}
	if c := e.srv.Counters(); c.AfterCommitFaults != n+2 {
		t.Errorf("AfterCommitFaults %d", c.AfterCommitFaults)
	}
	// JSON key.
	var f Faults
	must(t, json.Unmarshal([]byte(`{"afterCommitRate":0.5,"batchDropRate":0.25,"repeatNextLink":true}`), &f))
	if f.AfterCommitRate != 0.5 || f.BatchDropRate != 0.25 || !f.RepeatNextLink {
		t.Errorf("faults JSON %+v", f)
	}
}

// A $batch carried out in full whose connection then drops.
func TestBatchDrop(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	cbase := "/users/" + alice + "/contactFolders/" + fid + "/contacts"
	if st, b := e.ctl("PUT", "faults", "", Faults{BatchDropRate: 1}); st != 204 {
		t.Fatalf("control %d %s", st, b)
	}
	body, _ := json.Marshal(map[string]any{"requests": []any{
		item("1", "POST", cbase, map[string]any{"givenName": "Dropped1"}),
		item("2", "POST", cbase, map[string]any{"givenName": "Dropped2"}),
	}})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.srv.GraphURL()+"/$batch", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a response arrived: %d", resp.StatusCode)
	}
	// Single requests are not dropped.
	e.want(e.do("GET", cbase, nil), 200, "")
	e.srv.SetFaults(Faults{})
	if got := len(e.do("GET", cbase, nil).value()); got != 2 {
		t.Errorf("%d of the batch's writes happened", got)
	}
	if c := e.srv.Counters(); c.DroppedBatches != 1 || c.Batches != 1 {
		t.Errorf("counters %+v", c)
	}
}

// A pager that repeats itself: every nextLink is the request's own URL.
func TestRepeatNextLink(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	e.mkFolder(alice, "Other")
	for i := 0; i < 3; i++ {
		e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i)})
	}
	e.srv.SetUsersDeltaPageSize(1)
	e.srv.SetFaults(Faults{RepeatNextLink: true})
	for _, c := range []struct {
		path string
		hdr  []string
	}{
		{"/users?$top=1", nil},
		{"/users/delta", nil},
		{"/groups/10000000-0000-4000-8000-000000000001/members?$top=1", nil},
		{"/users/" + alice + "/contactFolders?$top=1", nil},
		{"/users/" + alice + "/contactFolders/" + fid + "/contacts?$top=1&$select=givenName", nil},
		{"/users/" + alice + "/contactFolders/" + fid + "/contacts/delta?$select=givenName", []string{"Prefer: odata.maxpagesize=1"}},
	} {
		want := e.srv.GraphURL() + c.path
		first := ""
		link := c.path
		for round := 0; round < 3; round++ {
			r := e.do("GET", link, nil, c.hdr...)
			e.want(r, 200, "")
			n, _ := r.body["@odata.nextLink"].(string)
			if n != want {
				t.Fatalf("%s: nextLink %q", c.path, n)
			}
			page := strings.Join(ids(r.value()), ",")
			if round == 0 {
				first = page
			} else if page != first {
				t.Errorf("%s: page changed: %s vs %s", c.path, page, first)
			}
			link = n
		}
	}
	// Last pages keep their deltaLink.
	r := e.do("GET", "/users/"+alice+"/contactFolders/"+fid+"/contacts/delta", nil)
	if r.body["@odata.deltaLink"] == nil || r.body["@odata.nextLink"] != nil {
		t.Errorf("last page %s", r.raw)
	}
}
