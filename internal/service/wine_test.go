//go:build linux

package service

import (
	"testing"

	"github.com/galmirror/galmirror/internal/winetest"
)

// TestWindowsUnderWine runs this package's Windows tests (the service
// manager calls) under Wine.
func TestWindowsUnderWine(t *testing.T) {
	winetest.Run(t, "TestCommandLineSplitsBack|TestInstallIdempotentAndUninstall")
}
