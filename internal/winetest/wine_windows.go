package winetest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// UnderWine reports whether this Windows process runs under Wine (whose
// ntdll exports wine_get_version).
func UnderWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// TempDir is t.TempDir, except under Wine, where os.RemoveAll fails
// ("unlinkat ...: Invalid function"): there the folder is removed entry by
// entry at the end of the test, and what cannot be removed is left in the
// throwaway prefix.
func TempDir(t *testing.T) string {
	t.Helper()
	if !UnderWine() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "winetest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(dir) })
	return dir
}

func removeTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			removeTree(p)
		} else {
			os.Remove(p)
		}
	}
	os.Remove(dir)
}
