package config

import (
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	utc := time.UTC
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		expr     string
		loc      *time.Location
		from, to string
	}{
		{"*/15 * * * *", utc, "2026-03-01 10:07", "2026-03-01 10:15"},
		{"*/15 * * * *", utc, "2026-03-01 10:15", "2026-03-01 10:30"}, // strictly after
		{"30 2 * * *", utc, "2026-03-01 02:30", "2026-03-02 02:30"},
		{"0 0 1 1 *", utc, "2026-03-01 00:00", "2027-01-01 00:00"},
		{"15 6-18 * * mon-fri", utc, "2026-03-06 18:20", "2026-03-09 06:15"}, // Friday evening → Monday
		{"0 9 * * 7", utc, "2026-03-02 00:00", "2026-03-08 09:00"},           // 7 is Sunday
		{"0 12 13 * 5", utc, "2026-03-01 00:00", "2026-03-06 12:00"},         // day 13 OR Friday
		{"0 0 29 feb *", utc, "2026-03-01 00:00", "2028-02-29 00:00"},
		{"0 0 31 * *", utc, "2026-04-01 00:00", "2026-05-31 00:00"},
		{"1-10/3 * * * *", utc, "2026-03-01 10:05", "2026-03-01 10:07"},
		{"5,55 23 * * *", utc, "2026-12-31 23:56", "2027-01-01 23:05"},
		// 2026-03-08 02:30 does not exist in New York: that day is skipped.
		{"30 2 * * *", ny, "2026-03-07 12:00", "2026-03-09 02:30"},
		// 2026-11-01 01:30 happens twice: it runs once.
		{"30 1 * * *", ny, "2026-10-31 12:00", "2026-11-01 01:30"},
	}
	for _, c := range cases {
		spec, err := ParseCron(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		got := spec.Next(at(c.loc, c.from))
		if want := at(c.loc, c.to); !got.Equal(want) {
			t.Errorf("%q after %s = %s, want %s", c.expr, c.from, got, want)
		}
	}
	// The repeated hour runs once: from the first 01:30, the next is a day later.
	spec, _ := ParseCron("30 1 * * *")
	first := spec.Next(at(ny, "2026-10-31 12:00"))
	if next := spec.Next(first); next.Sub(first) < 24*time.Hour {
		t.Errorf("ran twice in the repeated hour: %s then %s", first, next)
	}
	never, _ := ParseCron("0 0 30 feb *")
	if got := never.Next(at(utc, "2026-01-01 00:00")); !got.IsZero() {
		t.Errorf("February 30 matched %s", got)
	}
}

func TestCronParseErrors(t *testing.T) {
	for _, bad := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"*/0 * * * *", "5-1 * * * *", "a * * * *", "* * * foo *", "1,,2 * * * *", "-1 * * * *", "*/100 * * * *"} {
		if _, err := ParseCron(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestScheduleNext(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 7, 0, 0, time.UTC)
	s := Schedule{Every: Duration(time.Hour)}
	if got := s.Next(t0); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("every: %s", got)
	}
	spec, _ := ParseCron("0 * * * *")
	s = Schedule{cron: spec, loc: time.UTC}
	if got := s.Next(t0); !got.Equal(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("cron: %s", got)
	}
}
