package main

import (
	"os"
	"strings"
	"testing"
)

// TestBillingDocExamples runs every `$ galmirror price ...` example of
// docs/billing.md against the price list of docs/settings.example.json
// and compares the output with the page.
func TestBillingDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/billing.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for _, block := range strings.Split(string(doc), "```")[1:] {
		cmdLine, want, ok := strings.Cut(strings.TrimPrefix(block, "\n"), "\n")
		if !ok || !strings.HasPrefix(cmdLine, "$ galmirror price ") {
			continue
		}
		examples++
		args := append(strings.Fields(strings.TrimPrefix(cmdLine, "$ galmirror ")), "--config", "../../docs/settings.example.json")
		code, got, stderr := runCmd(t, args...)
		if code != exitOK {
			t.Errorf("%s: exit %d: %s", cmdLine, code, stderr)
			continue
		}
		if got != want {
			t.Errorf("%s: docs/billing.md says\n%s\nthe command prints\n%s", cmdLine, want, got)
		}
	}
	if examples != 2 {
		t.Errorf("%d examples of galmirror price in docs/billing.md, want 2", examples)
	}
}
