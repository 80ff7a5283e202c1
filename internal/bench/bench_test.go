package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/config"
)

func TestParseSizes(t *testing.T) {
	got, err := ParseSizes(" 100x100, 300X200 ,1000x1000,10000x10000x20, 50x10x50")
	if err != nil {
		t.Fatal(err)
	}
	// UxM has every user a source; UxMxS the first S.
	want := []Shape{{100, 100, 100}, {300, 200, 300}, {1000, 1000, 1000}, {10000, 10000, 20}, {50, 10, 50}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("size %d = %v, want %v", i, got[i], want[i])
		}
	}
	for in, msg := range map[string]string{
		"100":              "want USERSxMAILBOXES",
		"ax1":              "whole numbers",
		"10x20":            "cannot exceed users",
		"1x1":              "at least 2 users",
		"100x100,":         `size 2 ""`,
		"2000000x10":       "at most 1,000,000",
		"10x5x11":          "sources (11) cannot exceed users (10)",
		"10x5x0":           "at least 1 source",
		"10x5x-3":          "at least 1 source",
		"10x5xa":           "whole numbers",
		"10x5x":            "whole numbers",
		"10x5x2x1":         "USERSxMAILBOXESxSOURCES",
		"100x100,10x10x20": `size 2 "10x10x20": sources (20) cannot exceed users (10)`,
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
	w := Shape{Users: 1000, Mailboxes: 1000}.InitialWork(m)
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
	w = Shape{Users: 1000, Mailboxes: 300}.InitialWork(m)
	if w.DirectoryPages != 11 || w.WritesTotal != 999*300 {
		t.Fatalf("work %+v", w)
	}
}

func TestBoundQuotaAndFailures(t *testing.T) {
	// A quota of 100 per 10-minute window at time scale 60 (10 s): 1,006
	// items need 10 more windows, 100 s, more than the lanes' 25.7 s.
	m := GraphModel(80*time.Millisecond, 40*time.Millisecond, 60, 0)
	m.Quota = 100
	w := Shape{Users: 1000, Mailboxes: 1000}.InitialWork(m)
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
	s := Shape{Users: 1000, Mailboxes: 1000}
	nc := s.NoChangeWork(m)
	// Each mailbox's contacts delta and folder check: 2,000 items, 100 batches.
	if got, want := m.Bound(nc), 200*time.Millisecond; got != want || m.RequestFloor(nc) != 101 {
		t.Fatalf("no-change bound %v (want %v), floor %d", got, want, m.RequestFloor(nc))
	}
	// 10 changed users, all targets: each mailbox gets 10 updates, less
	// its own when it is one of them.
	c := Change{Users: 10, Sources: 10, SourceTargets: 10}
	if s.ChangedUsers() != 10 || s.ExpectedChangeWrites(c) != 9990 {
		t.Fatalf("changed %d, writes %d", s.ChangedUsers(), s.ExpectedChangeWrites(c))
	}
	cw := s.ChangeWork(m, c)
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
	ids, c := bt.changeSet()
	if len(ids) != 3 || c != (Change{Users: 3, Sources: 3, SourceTargets: 1}) {
		t.Fatalf("changed %d users, %+v; want 3, all sources, 1 target", len(ids), c)
	}
	if bt.sourceID != "" {
		t.Fatalf("a source group %q where every user is a source", bt.sourceID)
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
	r := Result{Size: "10x10", Users: 10, Mailboxes: 10, Sources: 10, Tenants: 1, Phase: PhaseInitial, Status: "ok",
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
	for _, k := range []string{"size", "users", "mailboxes", "sources", "tenants", "phase", "status", "exitCode", "wallSeconds", "syncSeconds",
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
	if !strings.Contains(buf.String(), "growth with S×M") {
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

// Issue 11's 10,000 mailboxes × 20 users: 10,000 users, every one a target,
// the first 20 of them sources. Every phase's work, bound and request floor
// at 80 ms + U[0, 40 ms).
func TestWorkOfSourcesShape(t *testing.T) {
	m := GraphModel(80*time.Millisecond, 40*time.Millisecond, 1, 0)
	s := Shape{Users: 10000, Mailboxes: 10000, Sources: 20}
	if s.Name() != "10000x10000x20" || s.S() != 20 || s.SourceTargets() != 20 {
		t.Fatalf("name %s, S %d, source targets %d", s.Name(), s.S(), s.SourceTargets())
	}
	// 100 users/delta pages and 1 page of the source group's members; the
	// 20 sources' mailboxes get 19 contacts, the 9,980 others 20; each
	// mailbox: 2 folder lookups, the creation, 1 contacts delta page.
	if got := s.ExpectedInitialWrites(); got != 20*19+9980*20 {
		t.Fatalf("initial writes %d", got)
	}
	w := s.InitialWork(m)
	want := Work{DirectoryPages: 101, Mailboxes: 10000, Steps: 4, WritesMax: 20, WritesTotal: 199980,
		ItemsMax: 24, ItemsTotal: 20*(4+19) + 9980*(4+20)}
	if w != want {
		t.Fatalf("initial work %+v, want %+v", w, want)
	}
	// The directory pages and the lanes take (101 + 4 + 5) × 100 ms =
	// 11 s; the 239,980 items and 101 pages under the global limit 18.5 s.
	if got, want := m.Bound(w), globalBound(239980+101); got != want {
		t.Fatalf("initial bound %v, want %v", got, want)
	}
	if got, want := m.RequestFloor(w), (239980+19)/20+101; got != want {
		t.Fatalf("initial request floor %d, want %d", got, want)
	}

	// No change: 1 users/delta page, 1 source group page, 2 reads in
	// each of 10,000 mailboxes: 20,002 requests take 1.54 s under the
	// global limit, more than the 0.3 s of the pages and the reads.
	nc := s.NoChangeWork(m)
	if nc.DirectoryPages != 2 || nc.ItemsTotal != 20000 || nc.WritesTotal != 0 {
		t.Fatalf("no-change work %+v", nc)
	}
	if got, want := m.Bound(nc), globalBound(20002); got != want || m.RequestFloor(nc) != 1002 {
		t.Fatalf("no-change bound %v (want %v), floor %d", got, want, m.RequestFloor(nc))
	}

	// 1%: 100 users change, one of them (user 0) a source and a target.
	bt, err := newTenant("t", s, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids, c := bt.changeSet()
	if len(ids) != 100 || c != (Change{Users: 100, Sources: 1, SourceTargets: 1}) {
		t.Fatalf("changed %d users: %+v", len(ids), c)
	}
	if got := s.ExpectedChangeWrites(c); got != 9999 {
		t.Fatalf("change writes %d, want 9,999", got)
	}
	cw := s.ChangeWork(m, c)
	want = Work{DirectoryPages: 2, Mailboxes: 10000, Steps: 1, WritesMax: 1, WritesTotal: 9999, ItemsMax: 3, ItemsTotal: 20000 + 9999}
	if cw != want {
		t.Fatalf("change work %+v, want %+v", cw, want)
	}
	if got, want := m.Bound(cw), globalBound(29999+2); got != want {
		t.Fatalf("change bound %v, want %v", got, want)
	}
}

// Sources and targets overlapping every way: the per-mailbox contacts,
// their delta pages and the changed sources are counted mailbox by mailbox.
func TestWorkOfPartialSources(t *testing.T) {
	m := GraphModel(80*time.Millisecond, 40*time.Millisecond, 1, 0)
	// More sources than targets: every target is a source (499 contacts
	// each); the target group and the source group add a page each.
	s := Shape{Users: 1000, Mailboxes: 300, Sources: 500}
	w := s.InitialWork(m)
	if w.DirectoryPages != 12 || w.WritesMax != 499 || w.WritesTotal != 300*499 || w.Steps != 6 ||
		w.ItemsMax != 505 || w.ItemsTotal != 300*505 || s.ExpectedInitialWrites() != 300*499 {
		t.Fatalf("1000x300x500 work %+v", w)
	}
	// 201 sources in 1,000 mailboxes: the sources' 201 mailboxes hold 200
	// contacts (1 delta page), the 799 others 201 (2 pages).
	s = Shape{Users: 1000, Mailboxes: 1000, Sources: 201}
	w = s.InitialWork(m)
	if w.DirectoryPages != 11 || w.WritesMax != 201 || w.WritesTotal != 201*200+799*201 || w.Steps != 5 ||
		w.ItemsMax != 206 || w.ItemsTotal != 201*(4+200)+799*(5+201) {
		t.Fatalf("1000x1000x201 work %+v", w)
	}
	// A single source: 999 mailboxes get its contact, its own none.
	s = Shape{Users: 1000, Mailboxes: 1000, Sources: 1}
	if s.ExpectedInitialWrites() != 999 || s.InitialWork(m).WritesMax != 1 {
		t.Fatalf("1000x1000x1: %d writes, %+v", s.ExpectedInitialWrites(), s.InitialWork(m))
	}
	// Changed users that are not sources cost directory pages, no write;
	// a changed source whose mailbox is no target is updated everywhere.
	s = Shape{Users: 1000, Mailboxes: 100, Sources: 500}
	c := Change{Users: 250, Sources: 3, SourceTargets: 1}
	cw := s.ChangeWork(m, c)
	if s.ExpectedChangeWrites(c) != 299 || cw.WritesTotal != 299 || cw.WritesMax != 3 || cw.DirectoryPages != 3+1+1 ||
		cw.ItemsTotal != 200+299 {
		t.Fatalf("change work %+v", cw)
	}
	// When every target is a changed source, each misses its own.
	s = Shape{Users: 1000, Mailboxes: 2, Sources: 500}
	if cw := s.ChangeWork(m, Change{Users: 10, Sources: 5, SourceTargets: 2}); cw.WritesMax != 4 || cw.WritesTotal != 8 {
		t.Fatalf("change work %+v", cw)
	}
}

// A UxMxS tenant: the source group holds the first S users, the target
// group the first M; the settings name the source group in
// source.includeGroups, and galmirror's own settings loader accepts them.
func TestSourcesTenantAndSettings(t *testing.T) {
	bt, err := newTenant("t", Shape{Users: 300, Mailboxes: 100, Sources: 150}, 1)
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]int{}
	for _, g := range bt.t.Groups {
		members[g.ID] = len(g.Members)
		for i, id := range g.Members {
			if bt.t.Users[i].ID != id {
				t.Fatalf("group %s member %d is %s, not user %d", g.DisplayName, i, id, i)
			}
		}
	}
	if len(bt.t.Groups) != 2 || members[bt.groupID] != 100 || members[bt.sourceID] != 150 {
		t.Fatalf("groups %v (target %s, source %s)", members, bt.groupID, bt.sourceID)
	}
	// Users 0, 100 and 200 change: 0 and 100 are sources, 0 a target.
	ids, c := bt.changeSet()
	if len(ids) != 3 || c != (Change{Users: 3, Sources: 2, SourceTargets: 1}) {
		t.Fatalf("changed %d users: %+v", len(ids), c)
	}
	if got := bt.shape.ExpectedChangeWrites(c); got != 2*100-1 {
		t.Fatalf("change writes %d", got)
	}

	dir := t.TempDir()
	s := &sim{info: clientInfo{AuthorityHost: "https://127.0.0.1:1", GraphURL: "https://127.0.0.1:1/v1.0", CAFile: filepath.Join(dir, "ca.pem")}}
	path, err := writeSettings(dir, s, []*benchTenant{bt}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Tenants[0]
	if !slices.Equal(tc.Source.IncludeGroups, []string{bt.sourceID}) || !slices.Equal(tc.Target.Groups, []string{bt.groupID}) {
		t.Fatalf("source %+v, target %+v", tc.Source, tc.Target)
	}

	if _, err := newTenant("t", Shape{Users: 10, Mailboxes: 10, Sources: 11}, 1); err == nil || !strings.Contains(err.Error(), "10x10x11") {
		t.Fatalf("11 sources of 10 users: %v", err)
	}
}

// Issue 11's no-change wall target is 1.5 s at 1,000 mailboxes and 5 s at
// 10,000.
func TestNoChangeWallAtTenThousand(t *testing.T) {
	for _, tc := range []struct {
		mailboxes int
		wall      float64
		ok        bool
	}{{10000, 5, true}, {10000, 5.01, false}, {20000, 4, true}, {9999, 1.5, true}, {9999, 1.6, false}} {
		r := Result{Phase: PhaseNoChange, Mailboxes: tc.mailboxes, Sources: 20, Requests: 1000, WallSeconds: tc.wall}
		finish(&r)
		for _, c := range r.Targets {
			if c.Name == "wall seconds" && c.OK != tc.ok {
				t.Errorf("%d mailboxes, %.2f s: %s", tc.mailboxes, tc.wall, c)
			}
		}
	}
}

// Growth is measured in S×M, the contacts the mailboxes hold: 1000x1000
// (1,000,000) is the largest size, not 10000x10000x20 (200,000, though
// U×M is 100,000,000), and 100x100 (10,000) the smallest.
func TestGrowthWithSources(t *testing.T) {
	rs := []Result{
		{Users: 1000, Mailboxes: 1000, Sources: 1000, Tenants: 1, Phase: PhaseNoChange, WallSeconds: 1, Requests: 100},
		// A result from JSON older than "sources": every user a source.
		{Users: 100, Mailboxes: 100, Tenants: 1, Phase: PhaseNoChange, WallSeconds: 0.5, Requests: 10},
		{Users: 10000, Mailboxes: 10000, Sources: 20, Tenants: 1, Phase: PhaseNoChange, WallSeconds: 2, Requests: 1000},
	}
	g := Growth(rs)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if len(g) != 1 || !near(g[0].Wall, math.Log(2)/math.Log(100)) || !near(g[0].Requests, 0.5) {
		t.Fatalf("growth %+v", g)
	}
}

func FuzzParseSizes(f *testing.F) {
	for _, s := range []string{"100x100", "10000x10000x20", "10x5x11", "1x1", "2x1x1,3x3x3", "x", "0x0x0", "9x9x-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		shapes, err := ParseSizes(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "size ") {
				t.Fatalf("ParseSizes(%q): error %q does not name the size", in, err)
			}
			return
		}
		for _, s := range shapes {
			if s.Users < 2 || s.Users > 1_000_000 || s.Mailboxes < 1 || s.Mailboxes > s.Users || s.S() < 1 || s.S() > s.Users {
				t.Fatalf("ParseSizes(%q) = %+v", in, s)
			}
			if again, err := ParseSizes(s.Name()); err != nil || len(again) != 1 || again[0].Users != s.Users ||
				again[0].Mailboxes != s.Mailboxes || again[0].S() != s.S() {
				t.Fatalf("ParseSizes(%q) = %+v, whose name %q parses as %+v, %v", in, s, s.Name(), again, err)
			}
		}
	})
}
