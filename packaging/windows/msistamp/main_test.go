package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const code = "{0123ABCD-4567-4890-8ABC-DEF012345678}"

// testdata/tiny.msi is what wixl 0.101 makes of testdata/tiny.wxs: its
// summary information says when and with which random package code.
func tiny(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/tiny.msi")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// summary reads back the package code and the two times.
func summary(t *testing.T, b []byte) (rev string, created, saved uint64) {
	t.Helper()
	cf, err := parseCompound(b)
	if err != nil {
		t.Fatal(err)
	}
	offs, err := cf.streamOffsets("\x05SummaryInformation")
	if err != nil {
		t.Fatal(err)
	}
	s := make([]byte, len(offs))
	for i, o := range offs {
		s[i] = b[o]
	}
	le := binary.LittleEndian
	sec := int(le.Uint32(s[44:]))
	for i := range int(le.Uint32(s[sec+4:])) {
		e := sec + 8 + 8*i
		pid, at := le.Uint32(s[e:]), sec+int(le.Uint32(s[e+4:]))
		switch pid {
		case pidRevision:
			n := int(le.Uint32(s[at+4:]))
			rev = string(s[at+8 : at+8+n-1])
		case pidCreated:
			created = le.Uint64(s[at+4:])
		case pidSaved:
			saved = le.Uint64(s[at+4:])
		}
	}
	return rev, created, saved
}

// The package code and both times are replaced, nothing else in the file
// changes, and stamping again changes nothing.
func TestStamp(t *testing.T) {
	orig := tiny(t)
	b := bytes.Clone(orig)
	if err := stamp(b, 1700000000, code); err != nil {
		t.Fatal(err)
	}
	rev, created, saved := summary(t, b)
	want := uint64(1700000000+11644473600) * 10000000
	if rev != code || created != want || saved != want {
		t.Errorf("after stamping: %s %d %d, want %s %d", rev, created, saved, code, want)
	}
	changed := 0
	for i := range b {
		if b[i] != orig[i] {
			changed++
		}
	}
	if changed == 0 || changed > len(code)+16 {
		t.Errorf("%d bytes changed", changed)
	}
	again := bytes.Clone(b)
	if err := stamp(again, 1700000000, code); err != nil || !bytes.Equal(again, b) {
		t.Errorf("stamping twice differs (%v)", err)
	}
	// msitools agrees, where it is installed.
	if _, err := exec.LookPath("msiinfo"); err == nil {
		p := filepath.Join(t.TempDir(), "t.msi")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("msiinfo", "suminfo", p).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Revision number (UUID): "+code) || !strings.Contains(string(out), "Created: Tue Nov 14 22:13:20 2023") {
			t.Errorf("msiinfo suminfo: %v\n%s", err, out)
		}
	}
}

func TestStampRefusesWhatItCannotStamp(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":        nil,
		"not an MSI":   []byte(strings.Repeat("PK\x03\x04", 200)),
		"cut in half":  tiny(t)[:4096],
		"header alone": tiny(t)[:512],
	} {
		if err := stamp(b, 0, code); err == nil {
			t.Errorf("%s: stamped", name)
		}
	}
	if err := stampFile("testdata/tiny.msi", "yesterday", code); err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Errorf("a bad time: %v", err)
	}
	if err := stampFile("testdata/tiny.msi", "0", "{lower-case}"); err == nil || !strings.Contains(err.Error(), "GUID") {
		t.Errorf("a bad package code: %v", err)
	}
}

// FuzzStamp: whatever the file, stamp returns an error or stamps; it never
// panics nor writes outside the file.
func FuzzStamp(f *testing.F) {
	f.Add(tiny(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b)
		start := time.Now()
		_ = stamp(b, 1700000000, code)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("stamping %d bytes took %s", n, d)
		}
		if len(b) != n {
			t.Fatal("the file changed size")
		}
	})
}
