package graphsim

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMailboxConcurrencyLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Throttle = ptr(GraphThrottle())
		o.Faults = Faults{Latency: 300 * time.Millisecond}
	})
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	hdrs := make([]http.Header, 6)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.do("GET", "/users/"+alice+"/contactFolders", nil)
			statuses[i], hdrs[i] = r.status, r.hdr
		}(i)
	}
	wg.Wait()
	n429 := 0
	for i, s := range statuses {
		if s == 429 {
			n429++
			if hdrs[i].Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if n429 != 2 {
		t.Errorf("statuses %v: want 2 x 429", statuses)
	}
	if p := e.srv.Counters().PeakConcurrency["00000000-0000-4000-8000-00000000000a"]; p != 4 {
		t.Errorf("peak %d", p)
	}
}

func TestMailboxQuotaAndViolations(t *testing.T) {
	clock := newClock()
	th := GraphThrottle()
	th.MailboxRequests = 3
	e := newEnv(t, func(o *Options) { o.Now = clock.Now; o.Throttle = &th })
	p := "/users/" + alice + "/contactFolders"
	for i := 0; i < 3; i++ {
		e.want(e.do("GET", p, nil), 200, "")
	}
	clock.Add(time.Minute)
	r := e.do("GET", p, nil)
	e.want(r, 429, "ApplicationThrottled")
	if ra := r.hdr.Get("Retry-After"); ra != "540" {
		t.Errorf("Retry-After %q, want 540 (rest of the 10-minute window)", ra)
	}
	if c := e.srv.Counters(); c.RetryAfterViolations != 0 {
		t.Errorf("violation before any deadline: %+v", c)
	}
	clock.Add(100 * time.Second)
	e.want(e.do("GET", p, nil), 429, "ApplicationThrottled")
	if c := e.srv.Counters(); c.RetryAfterViolations != 1 {
		t.Errorf("violations %d, want 1", c.RetryAfterViolations)
	}
	// Another mailbox is not affected.
	e.want(e.do("GET", "/users/bob@contoso.onmicrosoft.com/contactFolders", nil), 200, "")
	clock.Add(9 * time.Minute)
	e.want(e.do("GET", p, nil), 200, "")
	if c := e.srv.Counters(); c.RetryAfterViolations != 1 || c.Throttled != 2 {
		t.Errorf("after the window: %+v", c)
	}
}

func TestTimeScale(t *testing.T) {
	clock := newClock()
	th := GraphThrottle()
	th.MailboxRequests = 1
	th.TimeScale = 600 // 10 minutes become 1 second
	e := newEnv(t, func(o *Options) { o.Now = clock.Now; o.Throttle = &th })
	p := "/users/" + alice + "/contactFolders"
	e.want(e.do("GET", p, nil), 200, "")
	r := e.do("GET", p, nil)
	e.want(r, 429, "ApplicationThrottled")
	ra, err := strconv.ParseFloat(r.hdr.Get("Retry-After"), 64)
	if err != nil || ra <= 0 || ra > 1 {
		t.Errorf("Retry-After %q", r.hdr.Get("Retry-After"))
	}
	clock.Add(time.Second)
	e.want(e.do("GET", p, nil), 200, "")
	if e.srv.Counters().RetryAfterViolations != 0 {
		t.Error("violation after waiting")
	}
}

func TestDirectoryResourceUnits(t *testing.T) {
	clock := newClock()
	th := GraphThrottle()
	th.DirectoryRU = 5
	th.ReactionTime = -1
	e := newEnv(t, func(o *Options) { o.Now = clock.Now; o.Throttle = &th })
	r := e.do("GET", "/users", nil) // 2 RU
	e.want(r, 200, "")
	if r.hdr.Get("x-ms-resource-unit") != "2" {
		t.Errorf("x-ms-resource-unit %q", r.hdr.Get("x-ms-resource-unit"))
	}
	e.want(e.do("GET", "/users?$select=id", nil), 200, "")                                                   // 1 RU
	e.want(e.do("GET", "/groups/10000000-0000-4000-8000-000000000001/members", nil), 429, "TooManyRequests") // 3 RU > 2 left
	clock.Add(time.Millisecond)
	r = e.do("GET", "/users?$select=id", nil)
	if r.status != 200 { // 1 RU still fits, but it arrived before the deadline
		t.Errorf("status %d", r.status)
	}
	c := e.srv.Counters()
	if c.RetryAfterViolations != 1 {
		t.Errorf("violations %+v", c)
	}
	r = e.do("GET", "/users", nil) // 2 RU > 1 left
	e.want(r, 429, "TooManyRequests")
	if r.hdr.Get("x-ms-throttle-scope") == "" || r.hdr.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" || r.hdr.Get("Retry-After") == "" {
		t.Errorf("headers %v", r.hdr)
	}
	inner := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["code"] != "429" || inner["status"] != "429" {
		t.Errorf("inner error %v", inner)
	}
	clock.Add(10 * time.Second)
	e.want(e.do("GET", "/users", nil), 200, "")
	// Size-dependent default: a small tenant gets 3,500 RU.
	if got := e.srv.lim.directoryBudget(e.srv.tenants[e.tenant.ID], GraphThrottle()); got != 3500 {
		t.Errorf("small tenant budget %d", got)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t)
	e.srv.SetFaults(Faults{Rate503: 1, RetryAfter503: 1500 * time.Millisecond})
	r := e.do("GET", "/users", nil)
	e.want(r, 503, "serviceNotAvailable")
	if r.hdr.Get("Retry-After") != "1.5" {
		t.Errorf("Retry-After %q", r.hdr.Get("Retry-After"))
	}
	e.do("GET", "/users", nil)
	if c := e.srv.Counters(); c.Unavailable != 2 || c.RetryAfterViolations != 1 {
		t.Errorf("counters %+v", c)
	}
	// An outer $batch 503 names a deadline for every scope of its items.
	strict := e.srv.Throttle()
	strict.ReactionTime = -1
	e.srv.SetThrottle(strict)
	r = e.do("POST", "/$batch", map[string]any{"requests": []any{item("1", "GET", "/users/bob@contoso.onmicrosoft.com/contactFolders", nil)}})
	e.want(r, 503, "serviceNotAvailable")
	e.srv.SetFaults(Faults{})
	e.do("GET", "/users/bob@contoso.onmicrosoft.com/contactFolders", nil)
	if c := e.srv.Counters(); c.ViolationsByScope["mailbox:00000000-0000-4000-8000-00000000000b"] != 1 {
		t.Errorf("batch scope violation %+v", c)
	}
	e.srv.SetFaults(Faults{Rate504: 1})
	e.want(e.do("GET", "/users", nil), 504, "UnknownError")
	e.srv.SetFaults(Faults{TokenOutage: true})
	resp, err := e.client.PostForm(e.srv.URL()+"/"+e.tenant.ID+"/oauth2/v2.0/token", map[string][]string{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("token endpoint during outage: %d", resp.StatusCode)
	}
	e.srv.SetFaults(Faults{})
	e.want(e.do("GET", "/users", nil), 200, "")
}

func TestCounters(t *testing.T) {
	e := newEnv(t)
	fid := e.mkFolder(alice, "Company")
	e.mkContact(alice, fid, map[string]any{"givenName": "x"})
	e.do("GET", "/users", nil)
	c := e.srv.Counters()
	if c.Requests != 3 || c.Writes != 2 || c.ByMailbox["00000000-0000-4000-8000-00000000000a"] != 2 ||
		c.ByRoute["POST /users/{id}/contactFolders/{id}/contacts"] != 1 || c.ByRoute["GET /users"] != 1 || c.ByStatus[201] != 2 {
		t.Errorf("counters %+v", c)
	}
	e.srv.ResetCounters()
	if c := e.srv.Counters(); c.Requests != 0 || len(c.ByRoute) != 0 {
		t.Errorf("after reset %+v", c)
	}
}

// A request in the scope that arrives within ReactionTime of the 429 being
// sent was already on its way: not a violation. A resend of the throttled
// request itself is one at once, and so is any request of the scope after
// ReactionTime and before the deadline.
func TestReactionTime(t *testing.T) {
	clock := newClock()
	th := GraphThrottle()
	th.DirectoryRU = 5
	e := newEnv(t, func(o *Options) { o.Now = clock.Now; o.Throttle = &th })
	e.want(e.do("GET", "/users", nil), 200, "")                                                              // 2 RU
	e.want(e.do("GET", "/users?$select=id", nil), 200, "")                                                   // 1 RU
	e.want(e.do("GET", "/groups/10000000-0000-4000-8000-000000000001/members", nil), 429, "TooManyRequests") // 3 RU > 2 left
	clock.Add(time.Millisecond)
	e.do("GET", "/users?$select=id,displayName", nil) // another request, in flight when the 429 left
	if c := e.srv.Counters(); c.RetryAfterViolations != 0 {
		t.Fatalf("a request within the reaction time counted: %+v", c)
	}
	e.do("GET", "/groups/10000000-0000-4000-8000-000000000001/members", nil) // the throttled request resent
	if c := e.srv.Counters(); c.RetryAfterViolations != 1 {
		t.Fatalf("an early resend did not count: %+v", c)
	}
	clock.Add(DefaultReactionTime)
	e.do("GET", "/users?$select=mail", nil)
	if c := e.srv.Counters(); c.RetryAfterViolations != 2 {
		t.Fatalf("a request after the reaction time did not count: %+v", c)
	}
}

// TestAppGlobalLimit: Graph's global limit counts every request and every
// $batch item of an app, across mailboxes and the directory, and its 429
// names the Application scope; a request of any scope before its deadline
// is a violation.
func TestAppGlobalLimit(t *testing.T) {
	clock := newClock()
	th := GraphThrottle()
	th.AppRequests = 5
	th.ReactionTime = -1
	e := newEnv(t, func(o *Options) { o.Now = clock.Now; o.Throttle = &th })
	e.want(e.do("GET", "/users?$select=id", nil), 200, "")
	r := e.do("POST", "/$batch", map[string]any{"requests": []any{
		item("1", "GET", "/users/"+alice+"/contactFolders", nil),
		item("2", "GET", "/users/bob@contoso.onmicrosoft.com/contactFolders", nil),
		item("3", "GET", "/users/bob@contoso.onmicrosoft.com/contactFolders?$top=1", nil),
		item("4", "GET", "/users/"+alice+"/contactFolders?$top=1", nil),
		item("5", "GET", "/users/"+alice+"/contactFolders?$top=2", nil),
	}})
	e.want(r, 200, "")
	var statuses []int
	var thr map[string]any // items run concurrently: any one may be the sixth
	for _, it := range r.body["responses"].([]any) {
		m := it.(map[string]any)
		statuses = append(statuses, int(m["status"].(float64)))
		if m["status"].(float64) == 429 {
			thr = m
		}
	}
	if n := countOf(statuses, 429); n != 1 {
		t.Fatalf("item statuses %v: want 4 served and the 6th request of the window throttled", statuses)
	}
	h, _ := thr["headers"].(map[string]any)
	if h["Retry-After"] != "10" {
		t.Errorf("throttled item %v: want Retry-After 10", thr)
	}
	if sc, _ := h["x-ms-throttle-scope"].(string); sc == "" || sc[:12] != "Application/" {
		t.Errorf("throttled item's x-ms-throttle-scope %q, want Application/...", sc)
	}
	clock.Add(2 * time.Second)
	// Another mailbox, and the directory: the app is held back as a whole.
	e.want(e.do("GET", "/users/bob@contoso.onmicrosoft.com/contactFolders", nil), 429, "TooManyRequests")
	e.want(e.do("GET", "/users?$select=id", nil), 429, "TooManyRequests")
	if c := e.srv.Counters(); c.ViolationsByScope["app:"+strings.ToLower(e.cred.ClientID)] != 2 {
		t.Errorf("violations %v, want 2 in the app scope", c.ViolationsByScope)
	}
	clock.Add(8 * time.Second)
	e.want(e.do("GET", "/users/bob@contoso.onmicrosoft.com/contactFolders", nil), 200, "")
}

func countOf(xs []int, v int) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}
