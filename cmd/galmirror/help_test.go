package main

import (
	"bytes"
	"testing"
)

// -h and --help print the usage and exit 0 for every command (RMM scripts
// and package managers call them to probe the binary), and a bad flag exits 2.
func TestHelpExitsZeroForEveryCommand(t *testing.T) {
	for name := range commands {
		for _, h := range []string{"-h", "--help"} {
			var out, errb bytes.Buffer
			if code := run(t.Context(), []string{name, h}, &out, &errb); code != exitOK {
				t.Errorf("galmirror %s %s: exit %d\n%s%s", name, h, code, out.String(), errb.String())
			}
		}
		// deploy answers a bad flag with its RMM exit code (1001, or 101
		// where exit codes stop at 255: docs/rmm.md), not 2.
		if name == "version" || name == "deploy" {
			continue
		}
		var out, errb bytes.Buffer
		if code := run(t.Context(), []string{name, "--no-such-flag"}, &out, &errb); code != exitUsage {
			t.Errorf("galmirror %s --no-such-flag: exit %d\n%s%s", name, code, out.String(), errb.String())
		}
	}
}
