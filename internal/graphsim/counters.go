package graphsim

import (
	"maps"
	"sync"
)

// Counters are what graphsim observed since start or the last
// ResetCounters. Batch items count as requests in ByRoute, ByMailbox and
// ByStatus; Requests counts HTTP requests (a $batch once).
type Counters struct {
	// Requests is the number of Graph HTTP requests (a $batch is one).
	Requests int64 `json:"requests"`
	// Connections counts the TCP connections accepted (each a TLS
	// handshake), token service and control API included.
	Connections int64 `json:"connections"`
	// ByRoute counts requests and batch items by "METHOD /route/{id}"
	// template, e.g. "POST /users/{id}/contactFolders/{id}/contacts".
	ByRoute map[string]int64 `json:"byRoute"`
	// ByMailbox counts mailbox requests and batch items by user id.
	ByMailbox map[string]int64 `json:"byMailbox"`
	// ByStatus counts responses (and batch item responses) by status code.
	ByStatus map[int]int64 `json:"byStatus"`
	// Batches and BatchItems count $batch requests and their items.
	Batches    int64 `json:"batches"`
	BatchItems int64 `json:"batchItems"`
	// Writes counts successful POST/PATCH/PUT/DELETE on mailbox items and folders.
	Writes int64 `json:"writes"`
	// Throttled counts 429 responses served (batch items included).
	Throttled int64 `json:"throttled"`
	// Unavailable counts 503 responses served (batch items included).
	Unavailable int64 `json:"unavailable"`
	// GatewayTimeouts counts 504 responses served.
	GatewayTimeouts int64 `json:"gatewayTimeouts"`
	// RetryAfterViolations counts requests (and batch items) that arrived
	// in a scope before the deadline a 429/503 Retry-After had named for it:
	// resends of the throttled request at once, other requests of the scope
	// once Throttle.ReactionTime has passed since the response was sent.
	RetryAfterViolations int64 `json:"retryAfterViolations"`
	// ViolationsByScope breaks RetryAfterViolations down by scope
	// ("mailbox:{userId}", "directory:{tenantId}").
	ViolationsByScope map[string]int64 `json:"violationsByScope"`
	// AfterCommitFaults counts mailbox writes carried out whose response
	// Faults.AfterCommitRate replaced by a 5xx.
	AfterCommitFaults int64 `json:"afterCommitFaults"`
	// DroppedBatches counts $batch requests carried out whose connection
	// Faults.BatchDropRate aborted without a response.
	DroppedBatches int64 `json:"droppedBatches"`
	// PeakConcurrency is the highest number of requests (counting batch
	// items) in flight per mailbox (user id), across apps.
	PeakConcurrency map[string]int `json:"peakConcurrency"`
}

type counters struct {
	mu sync.Mutex
	c  Counters
}

func newCounters() *counters {
	c := &counters{}
	c.reset()
	return c
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c = Counters{
		ByRoute:           map[string]int64{},
		ByMailbox:         map[string]int64{},
		ByStatus:          map[int]int64{},
		ViolationsByScope: map[string]int64{},
		PeakConcurrency:   map[string]int{},
	}
}

func (c *counters) connection() {
	c.mu.Lock()
	c.c.Connections++
	c.mu.Unlock()
}

func (c *counters) snapshot() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.c
	out.ByRoute = maps.Clone(c.c.ByRoute)
	out.ByMailbox = maps.Clone(c.c.ByMailbox)
	out.ByStatus = maps.Clone(c.c.ByStatus)
	out.ViolationsByScope = maps.Clone(c.c.ViolationsByScope)
	out.PeakConcurrency = maps.Clone(c.c.PeakConcurrency)
	return out
}

// served records one response (of a request or batch item).
func (c *counters) served(route, mailbox string, method string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.ByRoute[route]++
	if mailbox != "" {
		c.c.ByMailbox[mailbox]++
	}
	c.c.ByStatus[status]++
	switch status {
	case 429:
		c.c.Throttled++
	case 503:
		c.c.Unavailable++
	case 504:
		c.c.GatewayTimeouts++
	}
	if mailbox != "" && status < 300 && method != "GET" {
		c.c.Writes++
	}
}

func (c *counters) add(f func(*Counters)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.c)
}

func (c *counters) violation(scope string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.RetryAfterViolations++
	c.c.ViolationsByScope[scope]++
}

func (c *counters) peak(mailbox string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.c.PeakConcurrency[mailbox] {
		c.c.PeakConcurrency[mailbox] = n
	}
}
