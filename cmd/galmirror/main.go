// Command galmirror mirrors a Microsoft 365 tenant's directory into a managed
// contact folder in every target mailbox, through Microsoft Graph.
//
// Subcommands register themselves (one file each, cmd_*.go) so that main.go
// holds only dispatch, signal handling and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"

	// Time zones for cron schedules on machines without tz data (Windows).
	_ "time/tzdata"
)

// Exit codes shared by every subcommand. They are a public interface: RMM
// scripts branch on them.
const (
	exitOK      = 0 // everything succeeded (skips for a known reason count as success)
	exitFailed  = 1 // a tenant's run failed as a whole (auth, consent, source read), or an internal error
	exitUsage   = 2 // usage or configuration error, reported before any Graph call
	exitPartial = 3 // finished with mailbox or item failures, or held-back deletes
	// exitInterrupted: stopped (Ctrl-C, SIGTERM) before it finished;
	// recorded as interrupted, not failed, and the next run continues.
	// 128 + SIGINT, as shells report a command Ctrl-C stopped.
	exitInterrupted = 130
)

// command is one subcommand of the galmirror binary.
type command struct {
	name    string
	summary string
	// run executes the subcommand with its own arguments (without the
	// subcommand name) and returns the process exit code.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]*command{}

// register adds a subcommand; it is called from the init functions of the
// cmd_*.go files.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("galmirror: duplicate subcommand " + c.name)
	}
	commands[c.name] = c
}

// softMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// sets one (SQLite's page caches come on top).
// A run's live heap is bounded by its concurrency (batches in flight,
// mailboxes writing at once), not by the tenant's size: about 100 MB at
// its peak. With the runtime's default (a heap of twice the live one
// before it collects) the process grew past 300 MB; with this limit it
// collects earlier, at no measurable CPU cost (README, Performance).
const softMemoryLimit = 200 << 20

func main() {
	// Not for graphsim: the emulator holds every mailbox's contacts (its
	// live heap passes a gigabyte at 1,000 × 1,000), and under the limit
	// it would collect without pause.
	if os.Getenv("GOMEMLIMIT") == "" && (len(os.Args) < 2 || os.Args[1] != "graphsim") {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C stops the command cleanly; a second one ends the
	// process at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand. It is separate from main so that tests can
// run the whole command line in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "galmirror: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: galmirror <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'galmirror <command> -h' for a command's flags.")
}

// parseFlags parses a subcommand's flags, which may come before, between or
// after its arguments (`admin pause contoso --reason x`); the arguments
// are left in fs.Args(). done is true when the command should end with
// code: 0 after -h or --help (the usage was printed), 2 after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK, true
			}
			return exitUsage, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse stops at the first argument, or after "--", which it
		// drops: everything after "--" is arguments.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Parse again with the arguments alone behind "--", so that fs.Args()
	// returns them.
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return exitUsage, true
	}
	return 0, false
}
