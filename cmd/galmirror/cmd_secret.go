package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/galmirror/galmirror/internal/dpapi"
)

func init() {
	register(&command{
		name:    "secret",
		summary: "protect a PFX password or the Stripe secret key for settings.json with DPAPI (Windows): secret protect",
		run:     runSecret,
	})
}

const secretUsage = `usage: galmirror secret protect < password.txt

Reads a PFX password from standard input (the first line; typed at a console
it is not echoed), protects it with DPAPI for this machine, and prints the
base64 blob for the certificate's "passwordProtected" setting. The Stripe
secret key is protected the same way, for billing.stripe's
"secretKeyProtected". The blob decrypts only on this Windows installation:
make it on the machine that runs the service. Windows only.`

// secretStdin is where `secret protect` reads the password (tests replace
// it).
var secretStdin io.Reader = os.Stdin

func runSecret(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "protect" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stderr, secretUsage)
			return exitOK
		}
		fmt.Fprintln(stderr, secretUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("secret protect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, secretUsage) }
	if code, done := parseFlags(fs, args[1:]); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "galmirror secret protect: the password is read from standard input, never from the command line (got %d arguments)\n", fs.NArg())
		return exitUsage
	}
	if !secretSupported {
		fmt.Fprintf(stderr, "galmirror secret protect: %v; on this system name the password's environment variable in passwordEnv\n", dpapi.ErrUnsupported)
		return exitUsage
	}
	pw, err := readSecret(secretStdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror secret protect: %v\n", err)
		return exitUsage
	}
	defer clear(pw)
	blob, err := dpapi.Protect(pw)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror secret protect: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, dpapi.Encode(blob))
	fmt.Fprintln(stderr, `Put the line above into the tenant's certificate as "passwordProtected": "..." (instead of passwordEnv), or, for the Stripe key, into billing.stripe as "secretKeyProtected". It decrypts only on this machine.`)
	return exitOK
}

// readPassword reads the first line of r as a password: without the line
// break, a UTF-8 byte order mark (what some shells pipe first) or anything
// after the first line; at most dpapi.MaxSecret bytes. Errors never
// contain what was read.
func readPassword(r io.Reader) ([]byte, error) {
	const limit = dpapi.MaxSecret + 8 // room for a byte order mark and CR LF
	br := bufio.NewReaderSize(io.LimitReader(r, limit), limit)
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("the password is longer than %d bytes", dpapi.MaxSecret)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	switch {
	case len(line) == 0:
		return nil, errors.New("no password on standard input (pipe it in, or type it at the console)")
	case len(line) > dpapi.MaxSecret:
		return nil, fmt.Errorf("the password is longer than %d bytes", dpapi.MaxSecret)
	}
	return append([]byte(nil), line...), nil
}
