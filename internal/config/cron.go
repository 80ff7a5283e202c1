package config

import "time"

// CronSpec is a parsed five-field cron expression: minute (0-59), hour
// (0-23), day of month (1-31), month (1-12 or jan-dec), day of week (0-7 or
// sun-sat, 0 and 7 both Sunday). Fields take *, lists (1,5), ranges (1-5) and
// steps (*/15, 1-30/2). As in Vixie cron, when both day fields are
// restricted a day matching either runs.
type CronSpec struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
}

// ParseCron parses a five-field cron expression.
func ParseCron(expr string) (*CronSpec, error) {
	return nil, nil
}

// Next returns the first minute strictly after t that matches, in t's
// location. A wall-clock minute skipped by a daylight-saving jump does not
// run; one repeated by it runs once. It returns the zero time when nothing
// matches within five years (such as February 30).
func (c *CronSpec) Next(t time.Time) time.Time {
	return time.Time{}
}
