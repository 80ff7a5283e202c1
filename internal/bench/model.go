package bench

import (
	"math"
	"time"
)

// Model is Graph's throttling model as graphsim applies it, with the
// latency the benchmark injects. Bound computes from it the shortest wall
// time any client could take for a phase's work.
type Model struct {
	// Latency and Jitter are added by graphsim to every request and every
	// $batch item: Latency plus a uniform extra in [0, Jitter).
	Latency, Jitter time.Duration
	// Concurrency is the number of requests (counting $batch items) one
	// app may have in flight per mailbox. Graph: 4.
	Concurrency int
	// Quota is the number of requests (counting items) per Window per
	// (app, mailbox); TimeScale divides Window. Graph: 10,000 / 10 min.
	Quota     int
	Window    time.Duration
	TimeScale float64
	// AppQuota is the number of requests (counting items, mailbox and
	// directory alike) per AppWindow per app: Graph's global limit,
	// 130,000 / 10 s. TimeScale divides AppWindow too.
	AppQuota  int
	AppWindow time.Duration
	// BatchSize is the most items in one $batch. Graph: 20.
	BatchSize int
	// UsersPage is the page size of users/delta (Graph's, not the
	// client's, choice; graphsim: 100); MembersPage the most members per
	// transitiveMembers page ($top 999).
	UsersPage, MembersPage int
	// FailRate is the probability of an injected 503 per request and item.
	FailRate float64
}

// GraphModel returns Graph's published limits with the given latency.
func GraphModel(latency, jitter time.Duration, timeScale, failRate float64) Model {
	if timeScale <= 0 {
		timeScale = 1
	}
	return Model{
		Latency: latency, Jitter: jitter,
		Concurrency: 4, Quota: 10000, Window: 10 * time.Minute, TimeScale: timeScale,
		AppQuota: 130000, AppWindow: 10 * time.Second,
		BatchSize: 20, UsersPage: 100, MembersPage: 999, FailRate: failRate,
	}
}

// MeanLatency is the expected latency of one request or item: Latency +
// Jitter/2. The bound uses the mean, not the minimum: a mailbox's writes
// pass through four lanes of hundreds of sequential requests each, whose
// sum concentrates tightly around the mean (250 draws of 80 ms + U[0, 40
// ms) sum to 25.0 s ± 0.2 s), so no client can beat the mean-based figure
// by more than noise.
func (m Model) MeanLatency() time.Duration { return m.Latency + m.Jitter/2 }

// Work is what a phase must do at least, whatever the client: the
// directory pages it must read one after another, and per target mailbox
// the requests that depend on each other (Steps: each needs the previous
// one's answer) and the independent writes.
type Work struct {
	// DirectoryPages are sequential directory requests before any
	// mailbox can be planned (users/delta pages, group member pages).
	DirectoryPages int
	// Mailboxes is the number of target mailboxes.
	Mailboxes int
	// Steps per mailbox: requests that must follow one another (find the
	// folder, create it, the contacts delta pages).
	Steps int
	// WritesMax is the most contact writes any one mailbox needs;
	// WritesTotal the writes in all mailboxes.
	WritesMax, WritesTotal int
	// ItemsMax is the most requests (items) any one mailbox needs,
	// steps and writes together; it meets the quota.
	ItemsMax int
	// ItemsTotal is every mailbox request (item) of the phase.
	ItemsTotal int
}

// Bound returns the shortest wall time of w under m:
//
//	L        = Latency + Jitter/2                 (mean latency per request and per item)
//	dir      = DirectoryPages × L                 (pages follow nextLinks: sequential)
//	lanes    = (Steps + ⌈WritesMax / 4⌉) × L      (4 concurrent per mailbox; a dependsOn
//	                                               chain of 20 is one lane running its items
//	                                               one at a time, 4 chains fill the 4 lanes)
//	quota    = ⌊(ItemsMax − 1) / Quota⌋ × Window / TimeScale
//	                                              (windows a mailbox must wait through)
//	global   = (ItemsTotal + DirectoryPages) / (AppQuota / (AppWindow / TimeScale))
//	                                              (every request and item of the app
//	                                               shares Graph's global limit)
//	bound    = max(dir + max(lanes, quota), global)
//	                                              (mailboxes run in parallel, within the
//	                                               global limit)
//
// With a fail rate R every request is expected to be sent 1/(1−R) times,
// so the lane term is divided by 1−R (Retry-After waits are not counted:
// the bound stays a bound). The batch size does not shorten the bound in
// this model (graphsim adds latency per item, not per $batch); it sets the
// floor of HTTP requests, RequestFloor.
func (m Model) Bound(w Work) time.Duration {
	L := float64(m.MeanLatency())
	c := max(m.Concurrency, 1)
	inflate := 1.0
	if m.FailRate > 0 && m.FailRate < 1 {
		inflate = 1 / (1 - m.FailRate)
	}
	dir := float64(w.DirectoryPages) * L * inflate
	lanes := 0.0
	if w.Mailboxes > 0 {
		lanes = float64(w.Steps+ceilDiv(w.WritesMax, c)) * L * inflate
	}
	quota := 0.0
	if m.Quota > 0 && w.ItemsMax > 0 {
		win := float64(m.Window) / max(m.TimeScale, 1e-9)
		quota = float64((w.ItemsMax-1)/m.Quota) * win
	}
	global := 0.0
	if m.AppQuota > 0 && m.AppWindow > 0 {
		win := float64(m.AppWindow) / max(m.TimeScale, 1e-9)
		global = float64(w.ItemsTotal+w.DirectoryPages) * inflate * win / float64(m.AppQuota)
	}
	return time.Duration(math.Max(dir+math.Max(lanes, quota), global))
}

// RequestFloor is the fewest HTTP requests for w: every mailbox request
// in $batch requests of BatchSize, plus the directory pages.
func (m Model) RequestFloor(w Work) int {
	return ceilDiv(w.ItemsTotal, max(m.BatchSize, 1)) + w.DirectoryPages
}

func ceilDiv(a, b int) int {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
