package pacer

import (
	"net/http"
	"strings"
	"time"
)

// MaxRetryAfter bounds a parsed Retry-After so that a hostile or broken
// value cannot park a scope for days; Graph's longest windows are minutes.
const MaxRetryAfter = time.Hour

// ParseRetryAfter parses a Retry-After header value relative to now.
//
// Graph sends delay-seconds, sometimes with a fraction ("0.249"); the
// fraction is rounded up to the next millisecond, never truncated, so a
// retry cannot arrive before the deadline. An HTTP-date is honoured to the
// end of the second it names (the format has one-second resolution, and a
// server that truncated its deadline must still be respected); a date in
// the past gives 0. Values are capped at MaxRetryAfter. ok is false for an
// empty or malformed value.
func ParseRetryAfter(value string, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		return parseSeconds(v)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Add(time.Second).Sub(now)
	if d < 0 {
		d = 0
	}
	if d > MaxRetryAfter {
		d = MaxRetryAfter
	}
	return d, true
}

// parseSeconds parses "123" or "123.456789" exactly (no floating point) and
// rounds up to the millisecond.
func parseSeconds(v string) (time.Duration, bool) {
	intPart, frac, hasDot := strings.Cut(v, ".")
	if intPart == "" || (hasDot && frac == "") {
		return 0, false
	}
	const maxSec = int64(MaxRetryAfter / time.Second)
	var sec int64
	capped := false
	for i := 0; i < len(intPart); i++ {
		c := intPart[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if !capped {
			sec = sec*10 + int64(c-'0')
			if sec > maxSec {
				capped = true
			}
		}
	}
	var ms int64
	roundUp := false
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if i < 3 {
			ms = ms*10 + int64(c-'0')
		} else if c != '0' {
			roundUp = true
		}
	}
	for i := len(frac); i < 3; i++ {
		ms *= 10
	}
	if roundUp {
		ms++
	}
	if capped {
		return MaxRetryAfter, true
	}
	d := time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond
	if d > MaxRetryAfter {
		d = MaxRetryAfter
	}
	return d, true
}
