package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/galmirror/galmirror/internal/dpapi"
)

func TestReadPassword(t *testing.T) {
	for in, want := range map[string]string{
		"Correct-Horse-9\n":                           "Correct-Horse-9",
		"Correct-Horse-9\r\n":                         "Correct-Horse-9",
		"Correct-Horse-9":                             "Correct-Horse-9",
		"\xef\xbb\xbfpw with space\r\n":               "pw with space",
		"first\nsecond\n":                             "first",
		strings.Repeat("x", dpapi.MaxSecret) + "\r\n": strings.Repeat("x", dpapi.MaxSecret),
	} {
		got, err := readPassword(strings.NewReader(in))
		if err != nil || string(got) != want {
			t.Errorf("readPassword(%.30q) = %.30q, %v; want %.30q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":     "no password",
		"\r\n": "no password",
		strings.Repeat("y", dpapi.MaxSecret+1) + "\n": "longer than 1024 bytes",
		strings.Repeat("y", 5000):                     "longer than 1024 bytes",
	} {
		_, err := readPassword(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "yyyy") {
			t.Errorf("readPassword(%.30q): %v, want %q", in, err, want)
		}
	}
}

// Outside Windows `secret protect` says it is Windows only, before it
// reads anything; the password never reaches the output.
func TestSecretProtectElsewhere(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("DPAPI is available")
	}
	old := secretStdin
	defer func() { secretStdin = old }()
	in := bytes.NewBufferString("Hunter2-Secret\n")
	secretStdin = in
	code, stdout, stderr := runCmd(t, "secret", "protect")
	if code != exitUsage || !strings.Contains(stderr, "only available on Windows") || !strings.Contains(stderr, "passwordEnv") {
		t.Errorf("secret protect: exit %d\n%s%s", code, stdout, stderr)
	}
	if in.Len() == 0 || strings.Contains(stdout+stderr, "Hunter2") {
		t.Errorf("the password was read or printed")
	}
	if code, _, stderr := runCmd(t, "secret", "protect", "Hunter2-Secret"); code != exitUsage || strings.Contains(stderr, "Hunter2") || !strings.Contains(stderr, "never from the command line") {
		t.Errorf("password as an argument: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "secret"); code != exitUsage || !strings.Contains(stderr, "usage: galmirror secret protect") {
		t.Errorf("secret without a subcommand: exit %d\n%s", code, stderr)
	}
}
