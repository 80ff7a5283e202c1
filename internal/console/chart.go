package console

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
)

// chartSVG draws a tenant's runs, oldest left: a bar per run for its
// duration (left scale), a dot per run for its writes (created + updated +
// deleted, right scale), failed runs in red with a cross above. Every value
// in it is a number or escaped text, so it is safe to inline.
func chartSVG(runs []*adminv1.RunSummary) template.HTML {
	const w, h, padL, padR, padT, padB = 720, 170, 46, 46, 14, 26
	if len(runs) == 0 {
		return template.HTML(`<p class="muted">No runs yet.</p>`)
	}
	type pt struct {
		dur    time.Duration
		writes int64
		failed bool
		status string
		at     time.Time
		id     string
	}
	var pts []pt
	var maxDur time.Duration
	var maxW int64
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		p := pt{at: r.GetStartedAt().AsTime(), id: r.GetId(), status: r.GetStatus(), failed: r.GetOutcome() == adminv1.RunOutcome_RUN_OUTCOME_FAILED}
		if r.GetFinishedAt() != nil {
			p.dur = r.GetFinishedAt().AsTime().Sub(p.at)
		}
		c := r.GetCounts()
		p.writes = c.GetCreated() + c.GetUpdated() + c.GetDeleted()
		maxDur = max(maxDur, p.dur)
		maxW = max(maxW, p.writes)
		pts = append(pts, p)
	}
	if maxDur <= 0 {
		maxDur = time.Second
	}
	if maxW <= 0 {
		maxW = 1
	}
	plotW, plotH := float64(w-padL-padR), float64(h-padT-padB)
	// A fixed slot per run, newest at the right: a tenant with few runs
	// does not get bars the width of the chart.
	slots := max(len(pts), runsKept)
	slot := plotW / float64(slots)
	off := slots - len(pts)
	barW := max(2, min(28, slot*0.6))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-t chart-d" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-t">Runs over time</title><desc id="chart-d">%d runs: bars are durations (longest %s), dots are writes per run (most %d); failed runs are red with a cross.</desc>`,
		len(pts), fmtDur(maxDur), maxW)
	// Axes and scale labels.
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, padL, h-padB, w-padR, h-padB)
	fmt.Fprintf(&b, `<text class="lbl" x="%d" y="%d" text-anchor="end">%s</text>`, padL-4, padT+8, html.EscapeString(fmtDur(maxDur)))
	fmt.Fprintf(&b, `<text class="lbl" x="%d" y="%d" text-anchor="end">0</text>`, padL-4, h-padB)
	fmt.Fprintf(&b, `<text class="lbl w" x="%d" y="%d">%d</text>`, w-padR+4, padT+8, maxW)
	fmt.Fprintf(&b, `<text class="lbl w" x="%d" y="%d">0</text>`, w-padR+4, h-padB)
	fmt.Fprintf(&b, `<text class="lbl" x="%d" y="%d">duration</text>`, 2, h-6)
	fmt.Fprintf(&b, `<text class="lbl w" x="%d" y="%d" text-anchor="end">writes ●</text>`, w-2, h-6)
	var line strings.Builder
	for i, p := range pts {
		cx := float64(padL) + slot*(float64(off+i)+0.5)
		bh := plotH * float64(p.dur) / float64(maxDur)
		if bh < 1.5 {
			bh = 1.5
		}
		cls := "bar"
		if p.failed {
			cls = "bar fail"
		} else if p.status == "partial" {
			cls = "bar part"
		}
		tip := fmt.Sprintf("run %s, %s: %s, %s, %d writes", p.id, p.at.UTC().Format("2006-01-02 15:04"), p.status, fmtDur(p.dur), p.writes)
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			cls, cx-barW/2, float64(h-padB)-bh, barW, bh, html.EscapeString(tip))
		if p.failed {
			fmt.Fprintf(&b, `<text class="x" x="%.1f" y="%.1f" text-anchor="middle">✖</text>`, cx, float64(h-padB)-bh-3)
		}
		wy := float64(h-padB) - plotH*float64(p.writes)/float64(maxW)
		if i == 0 {
			fmt.Fprintf(&line, "M%.1f %.1f", cx, wy)
		} else {
			fmt.Fprintf(&line, " L%.1f %.1f", cx, wy)
		}
		fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="3"><title>%s</title></circle>`, cx, wy, html.EscapeString(tip))
	}
	fmt.Fprintf(&b, `<path class="wline" d="%s"/>`, line.String())
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
