//go:build race

package winetest

// raceEnabled: this test binary was built with -race.
const raceEnabled = true
