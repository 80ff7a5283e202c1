package houserules

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// syncer reaches Graph only through graph's typed calls: it neither paces
// requests itself nor builds URLs (issue 11). It does make the run's
// http.Client (trust, the network watch), so net/http is allowed.
func TestSyncerReachesGraphOnlyThroughGraph(t *testing.T) {
	forbidden := map[string]string{
		"github.com/galmirror/galmirror/internal/pacer": "pacing and retries belong to graph",
		"net/url": "URLs are built by graph",
	}
	files, err := filepath.Glob(filepath.Join(moduleRoot(t), "internal", "syncer", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no syncer sources found: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if why, bad := forbidden[p]; bad {
				t.Errorf("%s imports %s: %s", filepath.Base(f), p, why)
			}
		}
	}
}
