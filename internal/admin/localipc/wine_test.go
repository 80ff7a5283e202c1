//go:build linux

package localipc

import (
	"testing"

	"github.com/galmirror/galmirror/internal/winetest"
)

// TestWindowsUnderWine runs this package's Windows tests (the named pipe)
// under Wine.
func TestWindowsUnderWine(t *testing.T) {
	winetest.Run(t, ".")
}
