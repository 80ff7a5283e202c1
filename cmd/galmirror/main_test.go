package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// built is the galmirror binary the end-to-end tests run, built once per
// test process (go build of this package).
var built struct {
	once sync.Once
	dir  string
	path string
	out  []byte
	err  error
}

// galmirrorBinary builds the binary on first use and returns its path.
func galmirrorBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "galmirror-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "galmirror")
		built.out, built.err = exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
