//go:build !windows

package winetest

import "testing"

// UnderWine reports whether this Windows process runs under Wine: never,
// on this system.
func UnderWine() bool { return false }

// TempDir is t.TempDir.
func TempDir(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}
