package pacer

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 400_000_000, time.UTC) // .4 s into the second
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10", 10 * time.Second, true},
		{" 2 ", 2 * time.Second, true},
		{"0", 0, true},
		{"0.249", 249 * time.Millisecond, true},
		{"0.2491", 250 * time.Millisecond, true}, // rounded up, never truncated
		{"0.0001", time.Millisecond, true},
		{"2.128", 2128 * time.Millisecond, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"1.000000", time.Second, true},
		{"99999999999999999999999", MaxRetryAfter, true},
		{"7200", MaxRetryAfter, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1e3", 0, false},
		{"1.2.3", 0, false},
		{"abc", 0, false},
		{"NaN", 0, false},
		// HTTP date: honoured to the end of the named second.
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5*time.Second + 600*time.Millisecond, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"Thu, 26 Nov 2026 12:00:03 GMT", 3*time.Second + 600*time.Millisecond, true},
		{"Thursday, 26-Nov-26 12:00:03 GMT", 3*time.Second + 600*time.Millisecond, true}, // RFC 850
		{"Thu, 26 Nov 2027 12:00:03 GMT", MaxRetryAfter, true},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseRetryAfter checks that no input panics, results are within
// [0, MaxRetryAfter], and a delay-seconds value is never shortened.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"10", "0.249", "2.128", "", "1.", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if !ok {
			if d != 0 {
				t.Fatalf("%q: not ok but %v", s, d)
			}
			return
		}
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("%q: %v out of range", s, d)
		}
		v := strings.TrimSpace(s)
		if f, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "eEpPxX_+-") && f < 3000 {
			if float64(d) < f*float64(time.Second)*(1-1e-12) {
				t.Fatalf("%q: %v is shorter than the value", s, d)
			}
			if float64(d) >= f*float64(time.Second)+float64(time.Millisecond)+1 {
				t.Fatalf("%q: %v rounds up by more than 1ms", s, d)
			}
		}
	})
}
