//go:build race

package graph

// The race detector slows goroutine hand-offs by an order of magnitude.
const raceEnabled = true
