package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// DefaultSizes are issue 6's sizes.
const DefaultSizes = "100x100,300x300,1000x1000"

// ParseSizes parses "UxM[xS][,...]": U users, M ≤ U of them target
// mailboxes, S ≤ U of them sources (default: every user; UxMxU is UxM).
func ParseSizes(s string) ([]Shape, error) {
	var out []Shape
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		fields := strings.Split(strings.ToLower(part), "x")
		if len(fields) != 2 && len(fields) != 3 {
			return nil, fmt.Errorf("size %d %q: want USERSxMAILBOXES or USERSxMAILBOXESxSOURCES, e.g. 300x300 or 10000x10000x20", i+1, part)
		}
		var n [3]int
		for k, f := range fields {
			v, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("size %d %q: users, mailboxes and sources must be whole numbers", i+1, part)
			}
			n[k] = v
		}
		u, m, src := n[0], n[1], n[2]
		if len(fields) == 2 {
			src = u
		}
		switch {
		case u < 2 || m < 1:
			return nil, fmt.Errorf("size %d %q: want at least 2 users and 1 mailbox", i+1, part)
		case src < 1:
			return nil, fmt.Errorf("size %d %q: want at least 1 source", i+1, part)
		case m > u:
			return nil, fmt.Errorf("size %d %q: mailboxes (%d) cannot exceed users (%d): every target mailbox is a user", i+1, part, m, u)
		case src > u:
			return nil, fmt.Errorf("size %d %q: sources (%d) cannot exceed users (%d): every source is a user", i+1, part, src, u)
		case u > 1_000_000:
			return nil, fmt.Errorf("size %d %q: at most 1,000,000 users", i+1, part)
		}
		out = append(out, Shape{Users: u, Mailboxes: m, Sources: src})
	}
	return out, nil
}

// WriteJSON writes one JSON object per result per line.
func WriteJSON(w io.Writer, rs []Result) error {
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable prints the results as a table, the missed targets, and how
// each figure grows with S × M (sources × target mailboxes: the contacts
// the mailboxes hold; S = U unless a size says UxMxS).
func WriteTable(w io.Writer, rs []Result) {
	if len(rs) == 0 {
		return
	}
	m := rs[0].Machine
	fmt.Fprintf(w, "machine: %d CPUs, %s, %d MB; %s, %s", m.CPUs, orNA(m.CPUModel), m.MemoryMB, m.OS, m.Go)
	if m.Revision != "" {
		fmt.Fprintf(w, ", galmirror %s", m.Revision)
	}
	fmt.Fprintf(w, "\nCPU floor = (galmirror's + graphsim's CPU seconds) / CPUs: where it nears the wall time, the machine, not the model, is the limit")
	fmt.Fprintf(w, "\nmodel: latency %s + U[0,%s) per request and per $batch item, 4 concurrent and 10,000/10 min per mailbox, 130,000/10 s per app, time scale %g, 503 rate %g\n\n",
		rs[0].Latency, rs[0].Jitter, rs[0].TimeScale, rs[0].FailRate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tphase\twall s\tbound s\twall/bound\tCPU floor s\twall/floor\trequests\tfloor\tbatch items\twrites\t429\t503\tRA viol.\tRSS MB\tCPU s\tµs/write\tgraphsim CPU s\t")
	for _, r := range rs {
		size := r.Size
		if r.Tenants > 1 {
			size = fmt.Sprintf("%d×%s", r.Tenants, r.Size)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.2f\t%.1f\t%.2f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.1f\t%s\t%.1f\t\n",
			size, r.Phase, r.WallSeconds, r.BoundSeconds, r.Ratio, r.CPUFloorSeconds, r.FloorRatio, r.Requests, r.RequestFloor, r.BatchItems, r.Writes,
			r.Throttled, r.Unavailable, r.RetryAfterViolations, mb(r.PeakRSSBytes), r.CPUSeconds, perWrite(r), r.SimCPUSeconds)
	}
	tw.Flush()
	photoTable(w, rs)
	var missed []string
	for _, r := range rs {
		for _, c := range r.Targets {
			if !c.OK {
				missed = append(missed, fmt.Sprintf("  %s %s: %s", r.Size, r.Phase, c))
			}
		}
		if r.Status != "ok" {
			missed = append(missed, fmt.Sprintf("  %s %s: sync status %s (exit %d)", r.Size, r.Phase, r.Status, r.ExitCode))
		}
	}
	if len(missed) > 0 {
		fmt.Fprintln(w, "\nmissed targets (issue 11 states them for 1000x1000; floor = max(bound, CPU floor)):")
		for _, s := range missed {
			fmt.Fprintln(w, s)
		}
	} else {
		fmt.Fprintln(w, "\nevery target met")
	}
	if g := Growth(rs); len(g) > 0 {
		fmt.Fprintln(w, "\ngrowth with S×M, sources × mailboxes (exponent k in figure ∝ (S×M)^k between the smallest and largest size; 1 = linear):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\twall\trequests\tbatch items\twrites\tRSS\tCPU\t")
		for _, row := range g {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Phase, exp(row.Wall), exp(row.Requests), exp(row.BatchItems), exp(row.Writes), exp(row.RSS), exp(row.CPU))
		}
		tw.Flush()
	}
}

// GrowthRow holds, for one phase, the exponent k of each figure ∝ (S×M)^k
// between the smallest and the largest size (NaN when undefined). S×M
// (sources × target mailboxes) is the contacts the mailboxes hold: the
// work of a full sync; with every user a source it is U×M.
type GrowthRow struct {
	Phase                                        string
	Wall, Requests, BatchItems, Writes, RSS, CPU float64
}

// Growth computes the growth exponents of each phase measured at two or
// more sizes of one tenant.
func Growth(rs []Result) []GrowthRow {
	var phases []string
	by := map[string][]Result{}
	for _, r := range rs {
		if r.Tenants > 1 {
			continue
		}
		if _, ok := by[r.Phase]; !ok {
			phases = append(phases, r.Phase)
		}
		by[r.Phase] = append(by[r.Phase], r)
	}
	var out []GrowthRow
	for _, p := range phases {
		list := by[p]
		if len(list) < 2 {
			continue
		}
		lo, hi := list[0], list[0]
		for _, r := range list {
			if r.contacts() < lo.contacts() {
				lo = r
			}
			if r.contacts() > hi.contacts() {
				hi = r
			}
		}
		x := float64(hi.contacts()) / float64(lo.contacts())
		if x <= 1 {
			continue
		}
		k := func(a, b float64) float64 {
			if a <= 0 || b <= 0 {
				return math.NaN()
			}
			return math.Log(b/a) / math.Log(x)
		}
		out = append(out, GrowthRow{
			Phase: p, Wall: k(lo.WallSeconds, hi.WallSeconds), Requests: k(float64(lo.Requests), float64(hi.Requests)),
			BatchItems: k(float64(lo.BatchItems), float64(hi.BatchItems)), Writes: k(float64(lo.Writes), float64(hi.Writes)),
			RSS: k(float64(lo.PeakRSSBytes), float64(hi.PeakRSSBytes)), CPU: k(lo.CPUSeconds, hi.CPUSeconds),
		})
	}
	return out
}

// contacts is S×M, the growth figures' measure of a size. A result
// without sources (JSON from before sizes had them) has every user a source.
func (r Result) contacts() int {
	s := r.Sources
	if s <= 0 {
		s = r.Users
	}
	return s * r.Mailboxes
}

func exp(k float64) string {
	if math.IsNaN(k) {
		return "-"
	}
	return fmt.Sprintf("%.2f", k)
}

func mb(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}

func perWrite(r Result) string {
	if r.Writes == 0 || r.CPUSeconds == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", r.CPUMicrosPerWrite)
}

func orNA(s string) string {
	if s == "" {
		return "CPU model n/a"
	}
	return s
}

// photoTable prints the photo figures of a --photos run.
func photoTable(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := false
	for _, r := range rs {
		p := r.Photos
		if p == nil {
			continue
		}
		if !head {
			fmt.Fprintln(w, "\nphotos (every other user has one):")
			fmt.Fprintln(tw, "size\tphase\tchecked\tdownloaded\tbytes read\tuploaded\tbytes written\tphoto calls\tfailed\t")
			head = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%d\t%d/%d\t%d\t%d\t%d\t\n", r.Size, r.Phase, p.Checked, p.Downloaded, p.ExpectedDownloads,
			p.DownloadedBytes, p.Uploaded, p.ExpectedUploads, p.UploadedBytes, p.Requests, p.Failed)
	}
	tw.Flush()
}
