//go:build linux

package fsperm

import (
	"testing"

	"github.com/galmirror/galmirror/internal/winetest"
)

// TestWindowsUnderWine runs this package's Windows tests under Wine.
func TestWindowsUnderWine(t *testing.T) {
	winetest.Run(t, ".")
}
