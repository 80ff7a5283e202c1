package logfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The file never grows past its bound, rotated files are kept up to the
// count, oldest dropped, and nothing written is lost between them.
func TestRotationIsBounded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "galmirror.log")
	l, err := Open(path, 64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 999) + "\n")
	for range 400 { // 400 KB: six files' worth
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	ents, _ := os.ReadDir(dir)
	var names []string
	total := 0
	for _, e := range ents {
		names = append(names, e.Name())
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if len(b) > 64<<10 {
			t.Errorf("%s holds %d bytes", e.Name(), len(b))
		}
		if !bytes.HasSuffix(b, []byte("\n")) {
			t.Errorf("%s ends mid-record", e.Name())
		}
		total += len(b)
	}
	if strings.Join(names, ",") != "galmirror.log,galmirror.log.1,galmirror.log.2,galmirror.log.3" {
		t.Errorf("files %v", names)
	}
	if total < 3*64*1000 {
		t.Errorf("%d bytes kept", total)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("log folder mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v", fi.Mode().Perm())
	}
	// Reopened, it appends.
	l, _ = Open(path, 64<<10, 3)
	before, _ := os.Stat(path)
	l.Write([]byte("again\n"))
	l.Close()
	after, _ := os.Stat(path)
	if after.Size() != before.Size()+6 {
		t.Errorf("reopen did not append: %d → %d", before.Size(), after.Size())
	}
}
