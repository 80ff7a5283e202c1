package bench

import (
	"fmt"
	"time"
)

// Issue 6's targets, stated for 1,000 × 1,000 and checked at every size.
const (
	TargetBoundRatio     = 1.3              // initial sync wall ≤ 1.3 × bound
	TargetRequestSlack   = 1.05             // requests ≤ 1.05 × ⌈writes/20⌉ + ...
	TargetNoChangeWall   = 10 * time.Second // no-change run under 10 s (at 80 ms)
	TargetPeakRSS        = 300 << 20        // galmirror's peak RSS
	TargetCPUPerWrite    = 20e-6            // seconds of CPU per contact written
	targetInitialPerMbox = 3                // + 3M requests in the initial sync
	targetFixedRequests  = 10               // + 10 requests for the directory
)

// Check is one target and whether the phase met it.
type Check struct {
	Name  string  `json:"name"`
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	OK    bool    `json:"ok"`
}

func (c Check) String() string {
	mark := "ok"
	if !c.OK {
		mark = "MISSED"
	}
	return fmt.Sprintf("%s %s (%.4g, limit %.4g)", c.Name, mark, c.Value, c.Limit)
}

func atMost(name string, value, limit float64) Check {
	return Check{Name: name, Limit: limit, Value: value, OK: value <= limit}
}

func below(name string, value, limit float64) Check {
	return Check{Name: name, Limit: limit, Value: value, OK: value < limit}
}

func equal(name string, value, want float64) Check {
	return Check{Name: name, Limit: want, Value: value, OK: value == want}
}

// checkTargets evaluates the targets of r's phase (r's figures filled in).
func checkTargets(r *Result) []Check {
	var cs []Check
	m := float64(r.Mailboxes)
	writes := float64(r.Writes)
	batchesOfWrites := float64(ceilDiv(int(r.Writes), 20))
	switch r.Phase {
	case PhaseInitial:
		cs = append(cs,
			atMost("wall/bound", r.Ratio, TargetBoundRatio),
			atMost("requests", float64(r.Requests), TargetRequestSlack*batchesOfWrites+targetInitialPerMbox*m),
			equal("writes", writes, float64(r.ExpectedWrites)),
		)
	case PhaseNoChange:
		cs = append(cs,
			equal("writes", writes, 0),
			atMost("requests", float64(r.Requests), float64(ceilDiv(readsPerMailbox*r.Mailboxes, 20)+targetFixedRequests)),
			below("wall seconds", r.WallSeconds, TargetNoChangeWall.Seconds()),
		)
	case PhaseChange:
		cs = append(cs,
			equal("writes", writes, float64(r.ExpectedWrites)),
			atMost("requests", float64(r.Requests), TargetRequestSlack*batchesOfWrites+float64(ceilDiv(readsPerMailbox*r.Mailboxes, 20)+targetFixedRequests)),
		)
	}
	cs = append(cs, equal("Retry-After violations", float64(r.RetryAfterViolations), 0))
	if r.PeakRSSBytes > 0 {
		cs = append(cs, atMost("peak RSS MB", float64(r.PeakRSSBytes)/(1<<20), TargetPeakRSS/(1<<20)))
	}
	if r.Writes > 0 && r.CPUSeconds > 0 {
		cs = append(cs, atMost("CPU µs/write", r.CPUMicrosPerWrite, TargetCPUPerWrite*1e6))
	}
	return cs
}
