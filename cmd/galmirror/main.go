// Command galmirror mirrors a Microsoft 365 tenant's directory into a managed
// contact folder in every target mailbox, through Microsoft Graph.
//
// Subcommands register themselves (one file each, cmd_*.go) so that main.go
// holds only dispatch, signal handling and exit codes.
package main

import (
	"context"
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

// softMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT sets one.
// A run's live heap is bounded by its concurrency (batches in flight,
// mailboxes writing at once), not by the tenant's size: about 100 MB at
// its peak. With the runtime's default (a heap of twice the live one
// before it collects) the process grew past 300 MB; with this limit it
// collects earlier, at no measurable CPU cost (README, Performance).
const softMemoryLimit = 256 << 20

func main() {
	// Not for graphsim: the emulator holds every mailbox's contacts (its
	// live heap passes a gigabyte at 1,000 × 1,000), and under the limit
	// it would collect without pause.
	if os.Getenv("GOMEMLIMIT") == "" && (len(os.Args) < 2 || os.Args[1] != "graphsim") {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
