package config

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// CronSpec is a parsed five-field cron expression: minute (0-59), hour
// (0-23), day of month (1-31), month (1-12 or jan-dec), day of week (0-7 or
// sun-sat, 0 and 7 both Sunday). Fields take *, lists (1,5), ranges (1-5) and
// steps (*/15, 1-30/2). As in Vixie cron, when both day fields are
// restricted a day matching either runs.
type CronSpec struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
}

var (
	monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	dayNames   = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
)

// ParseCron parses a five-field cron expression.
func ParseCron(expr string) (*CronSpec, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("invalid cron expression %q: expected five fields (minute hour day-of-month month day-of-week), such as \"30 2 * * *\"", expr)
	}
	c := &CronSpec{}
	var err error
	type spec struct {
		name     string
		lo, hi   int
		names    map[string]int
		dst      *uint64
		starFlag *bool
	}
	specs := []spec{
		{"minute", 0, 59, nil, &c.minute, nil},
		{"hour", 0, 23, nil, &c.hour, nil},
		{"day of month", 1, 31, nil, &c.dom, &c.domStar},
		{"month", 1, 12, monthNames, &c.month, nil},
		{"day of week", 0, 7, dayNames, &c.dow, &c.dowStar},
	}
	for i, s := range specs {
		var star bool
		*s.dst, star, err = parseCronField(f[i], s.lo, s.hi, s.names)
		if err != nil {
			return nil, fmt.Errorf("invalid cron expression %q: %s field: %w", expr, s.name, err)
		}
		if s.starFlag != nil {
			*s.starFlag = star
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
		c.dow &^= 1 << 7
	}
	return c, nil
}

func parseCronField(s string, lo, hi int, names map[string]int) (bits uint64, star bool, err error) {
	num := func(t string) (int, error) {
		if v, ok := names[strings.ToLower(t)]; ok {
			return v, nil
		}
		n, err := strconv.Atoi(t)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%q is not a number from %d to %d", t, lo, hi)
		}
		return n, nil
	}
	for _, item := range strings.Split(s, ",") {
		rng, stepS, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			step, err = strconv.Atoi(stepS)
			if err != nil || step < 1 || step > hi-lo+1 {
				return 0, false, fmt.Errorf("bad step %q", stepS)
			}
		}
		var a, b int
		switch {
		case rng == "*":
			a, b = lo, hi
			if !hasStep {
				star = true
			}
		case strings.Contains(rng, "-"):
			as, bs, _ := strings.Cut(rng, "-")
			if a, err = num(as); err != nil {
				return 0, false, err
			}
			if b, err = num(bs); err != nil {
				return 0, false, err
			}
			if b < a {
				return 0, false, fmt.Errorf("range %q ends before it starts", rng)
			}
		default:
			if a, err = num(rng); err != nil {
				return 0, false, err
			}
			b = a
			if hasStep {
				b = hi
			}
		}
		for v := a; v <= b; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, star, nil
}

func (c *CronSpec) dayMatches(t time.Time) bool {
	d := c.dom&(1<<uint(t.Day())) != 0
	w := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domStar && c.dowStar:
		return true
	case c.domStar:
		return w
	case c.dowStar:
		return d
	default:
		return d || w
	}
}

// Next returns the first minute strictly after t that matches, in t's
// location. A wall-clock minute skipped by a daylight-saving jump does not
// run; one repeated by it runs once. It returns the zero time when nothing
// matches within five years (such as February 30).
func (c *CronSpec) Next(t time.Time) time.Time {
	loc := t.Location()
	// Walk wall-clock fields, then convert; skipping by day and hour keeps
	// this to a few hundred steps at most.
	y, mo, d := t.Date()
	h, mi := t.Hour(), t.Minute()+1
	limit := y + 5
	for y <= limit {
		if c.month&(1<<uint(mo)) == 0 {
			y, mo, d, h, mi = nextMonth(y, mo)
			continue
		}
		day := time.Date(y, mo, d, 12, 0, 0, 0, loc)
		if day.Month() != mo { // ran past the end of the month
			y, mo, d, h, mi = nextMonth(y, mo)
			continue
		}
		if !c.dayMatches(day) {
			d, h, mi = d+1, 0, 0
			continue
		}
		if h > 23 {
			d, h, mi = d+1, 0, 0
			continue
		}
		if c.hour&(1<<uint(h)) == 0 {
			h, mi = h+1, 0
			continue
		}
		if mi > 59 {
			h, mi = h+1, 0
			continue
		}
		rest := c.minute >> uint(mi)
		if rest == 0 {
			h, mi = h+1, 0
			continue
		}
		mi += bits.TrailingZeros64(rest)
		cand := time.Date(y, mo, d, h, mi, 0, 0, loc)
		// time.Date normalises a wall time inside a DST gap to another
		// hour: that minute does not exist, so it does not run.
		if cand.Hour() != h || cand.Minute() != mi || !cand.After(t) {
			mi++
			continue
		}
		return cand
	}
	return time.Time{}
}

func nextMonth(y int, mo time.Month) (int, time.Month, int, int, int) {
	if mo == 12 {
		return y + 1, 1, 1, 0, 0
	}
	return y, mo + 1, 1, 0, 0
}
