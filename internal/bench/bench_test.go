package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseSizes(t *testing.T) {
	got, err := ParseSizes(" 100x100, 300X200 ,1000x1000")
	if err != nil {
		t.Fatal(err)
	}
	want := []Shape{{100, 100}, {300, 200}, {1000, 1000}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("size %d = %v, want %v", i, got[i], want[i])
		}
	}
	for in, msg := range map[string]string{
		"100":        "want USERSxMAILBOXES",
		"ax1":        "whole numbers",
		"10x20":      "cannot exceed users",
		"1x1":        "at least 2 users",
		"100x100,":   `size 2 ""`,
		"2000000x10": "at most 1,000,000",
	} {
		if _, err := ParseSizes(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseSizes(%q) = %v, want an error with %q", in, err, msg)
		}
	}
}

// The bound of 1,000 × 1,000 at 80 ms + U[0, 40 ms): per mailbox, 10
// users/delta pages, then look for the folder by mark and by name, create
// it, 999 writes in 4 lanes (250 rounds) and 5 delta pages: (10 + 3 + 250 +
// 5) × 100 ms = 26.8 s; but the 1,007,010 requests and items of the app
// take 77.5 s under Graph's global 130,000 per 10 s, which bounds.
func TestBoundInitial(t *testing.T) {
	m := GraphModel(80*time.Millisecond, 40*time.Millisecond, 1, 0)
	w := Shape{1000, 1000}.InitialWork(m)
	if w.DirectoryPages != 10 || w.Steps != 8 || w.WritesMax != 999 || w.WritesTotal != 999000 || w.ItemsMax != 1007 {
		t.Fatalf("work %+v", w)
	}
	if got, want := m.Bound(w), globalBound(1007010); got != want {
		t.Fatalf("bound %v, want %v", got, want)
	}
	m.AppQuota = 0 // without the global limit: the mailbox lanes
	if got, want := m.Bound(w), 26800*time.Millisecond; got != want {
		t.Fatalf("bound without the global limit %v, want %v", got, want)
	}
	m = GraphModel(80*time.Millisecond, 40*time.Millisecond, 1, 0)
	// Requests: every item in batches of 20, plus the directory pages.
	if got, want := m.RequestFloor(w), (1007*1000+19)/20+10; got != want {
		t.Fatalf("request floor %d, want %d", got, want)
	}
	// A group selects 300 of 1,000 users: one more directory page.
	w = Shape{1000, 300}.InitialWork(m)
	if w.DirectoryPages != 11 || w.WritesTotal != 999*300 {
		t.Fatalf("work %+v", w)
	}
}

func TestBoundQuotaAndFailures(t *testing.T) {
	// A quota of 100 per 10-minute window at time scale 60 (10 s): 1,006
	// items need 10 more windows, 100 s, more than the lanes' 25.7 s.
	m := GraphModel(80*time.Millisecond, 40*time.Millisecond, 60, 0)
	m.Quota = 100
	w := Shape{1000, 1000}.InitialWork(m)
	if got, want := m.Bound(w), time.Second+100*time.Second; got != want {
		t.Fatalf("bound with quota %v, want %v", got, want)
	}
	// Half the requests fail: each is sent twice on average.
	m = GraphModel(100*time.Millisecond, 0, 1, 0.5)
	w = Work{DirectoryPages: 1, Mailboxes: 1, Steps: 1, WritesMax: 4, ItemsMax: 5}
	if got, want := m.Bound(w), 600*time.Millisecond; got != want {
		t.Fatalf("bound with failures %v, want %v", got, want)
	}
}

func TestWorkOfLaterRuns(t *testing.T) {
	m := GraphModel(80*time.Millisecond, 40*time.Millisecond, 1, 0)
	s := Shape{1000, 1000}
	nc := s.NoChangeWork(m)
	// Each mailbox's contacts delta and folder check: 2,000 items, 100 batches.
	if got, want := m.Bound(nc), 200*time.Millisecond; got != want || m.RequestFloor(nc) != 101 {
		t.Fatalf("no-change bound %v (want %v), floor %d", got, want, m.RequestFloor(nc))
	}
	// 10 changed users, all targets: each mailbox gets 10 updates, less
	// its own when it is one of them.
	if s.ChangedUsers() != 10 || s.ExpectedChangeWrites(10, 10) != 9990 {
		t.Fatalf("changed %d, writes %d", s.ChangedUsers(), s.ExpectedChangeWrites(10, 10))
	}
	cw := s.ChangeWork(m, 10, 10)
	// 1 users/delta page, then per mailbox 1 delta read + ⌈10/4⌉ rounds:
	// 0.5 s; but 2,000 reads, 9,990 updates and 1 page take 0.92 s under
	// the global limit.
	if got, want := m.Bound(cw), globalBound(11991); got != want {
		t.Fatalf("change bound %v, want %v", got, want)
	}
}

func TestChangeSetSpreadsOverTargets(t *testing.T) {
	bt, err := newTenant("t", Shape{Users: 300, Mailboxes: 100}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids, targets := bt.changeSet()
	if len(ids) != 3 || targets != 1 {
		t.Fatalf("changed %d users, %d targets; want 3 and 1", len(ids), targets)
	}
	if bt.groupID == "" || len(bt.t.Groups) != 1 || len(bt.t.Groups[0].Members) != 100 {
		t.Fatalf("target group %q with %d groups", bt.groupID, len(bt.t.Groups))
	}
	for _, u := range bt.t.Users {
		if u.UserType == "Guest" || u.AccountEnabled != nil || u.Mailbox != "normal" || u.Mail == "" {
			t.Fatalf("user %s is not a plain source: %+v", u.UserPrincipalName, u)
		}
	}
}

// The JSON names are what runs are compared by across commits: keep them.
func TestResultJSONShape(t *testing.T) {
	r := Result{Size: "10x10", Users: 10, Mailboxes: 10, Tenants: 1, Phase: PhaseInitial, Status: "ok",
		WallSeconds: 2.6, BoundSeconds: 2, Writes: 90, ExpectedWrites: 90, Requests: 8, CPUSeconds: 0.0018, PeakRSSBytes: 50 << 20}
	finish(&r)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Result{r, r}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"size", "users", "mailboxes", "tenants", "phase", "status", "exitCode", "wallSeconds", "syncSeconds",
		"boundSeconds", "ratio", "floorRatio", "requests", "batches", "batchItems", "galmirrorRequests", "galmirrorBatchItems", "requestFloor",
		"writes", "simWrites", "expectedWrites", "failedItems", "throttled429", "unavailable503", "retryAfterViolations",
		"peakRSSBytes", "cpuSeconds", "cpuMicrosPerWrite", "simCPUSeconds", "cpuFloorSeconds", "latency", "jitter", "timeScale", "failRate", "targets", "machine"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, lines[0])
		}
	}
	if m["ratio"] != 1.3 || m["floorRatio"] != 1.3 || m["cpuMicrosPerWrite"] != 20.0 {
		t.Errorf("ratio %v, floor ratio %v, µs/write %v", m["ratio"], m["floorRatio"], m["cpuMicrosPerWrite"])
	}
	// 1.3 × bound and 20 µs/write are within the targets; 1.5 × bound and
	// 40 µs/write are not.
	for _, c := range r.Targets {
		if !c.OK {
			t.Errorf("target %s missed", c)
		}
	}
	r.WallSeconds, r.CPUSeconds = 3.01, 0.00361
	finish(&r)
	missed := map[string]bool{}
	for _, c := range r.Targets {
		if !c.OK {
			missed[c.Name] = true
		}
	}
	if !missed["wall/max(bound, CPU floor)"] || !missed["CPU µs/write"] || len(missed) != 2 {
		t.Errorf("missed %v", missed)
	}
}

func TestTargetsOfLaterRuns(t *testing.T) {
	// No-change at 1,000 mailboxes: two reads each, at most 100 + 5
	// requests, no write, 1.5 s.
	r := Result{Phase: PhaseNoChange, Mailboxes: 1000, Requests: 105, WallSeconds: 1.5}
	finish(&r)
	for _, c := range r.Targets {
		if !c.OK {
			t.Errorf("no-change target %s missed", c)
		}
	}
	r.Requests, r.Writes = 106, 1
	finish(&r)
	n := 0
	for _, c := range r.Targets {
		if !c.OK {
			n++
		}
	}
	if n != 2 {
		t.Errorf("targets %v: want requests and writes missed", r.Targets)
	}
	r.Requests, r.Writes, r.WallSeconds = 105, 0, 1.51
	finish(&r)
	if r.Targets[2].OK {
		t.Errorf("targets %v: want the wall time missed", r.Targets)
	}
	// 1%: 9,990 updates in ≤ 500 + 100 + 10 requests and 3 s.
	r = Result{Phase: PhaseChange, Mailboxes: 1000, Writes: 9990, ExpectedWrites: 9990, Requests: 610, WallSeconds: 3}
	finish(&r)
	for _, c := range r.Targets {
		if !c.OK {
			t.Errorf("change target %s missed", c)
		}
	}
}

func TestGrowth(t *testing.T) {
	rs := []Result{
		{Users: 100, Mailboxes: 100, Tenants: 1, Phase: PhaseInitial, WallSeconds: 1, Requests: 100, BatchItems: 1000, Writes: 9900, PeakRSSBytes: 100, CPUSeconds: 1},
		{Users: 1000, Mailboxes: 1000, Tenants: 1, Phase: PhaseInitial, WallSeconds: 100, Requests: 10000, BatchItems: 10000, Writes: 999000, PeakRSSBytes: 100, CPUSeconds: 10},
	}
	g := Growth(rs)
	if len(g) != 1 {
		t.Fatalf("growth %v", g)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 0.01 }
	if !near(g[0].Wall, 1) || !near(g[0].BatchItems, 0.5) || !near(g[0].RSS, 0) || !near(g[0].CPU, 0.5) {
		t.Fatalf("growth %+v", g[0])
	}
	var buf bytes.Buffer
	WriteTable(&buf, rs)
	if !strings.Contains(buf.String(), "growth with U×M") {
		t.Fatalf("table:\n%s", buf.String())
	}
}

// The service's log lines name the tenant of every run event.
func TestRunEventLines(t *testing.T) {
	line := `time=2026-01-01T00:00:00Z level=INFO msg="run succeeded" event_id=200 event=RunSucceeded tenant=bench07 created=39800`
	if m := runEventRE.FindStringSubmatch(line); m == nil || m[1] != "200" {
		t.Fatalf("event %v", m)
	}
	if m := runTenantRE.FindStringSubmatch(line); m == nil || m[1] != "bench07" {
		t.Fatalf("tenant %v", m)
	}
	if runEventRE.MatchString(`event_id=2001`) || runEventRE.MatchString(`event_id=300`) {
		t.Fatal("matched another event")
	}
}

// globalBound is the time n requests take at 130,000 per 10 s.
func globalBound(n int) time.Duration {
	return time.Duration(float64(n) * float64(10*time.Second) / 130000)
}
