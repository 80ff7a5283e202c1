package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/galmirror/galmirror/internal/onboard"
)

func init() {
	register(&command{
		name:    "offboard",
		summary: "remove a tenant: purge its contacts, delete its app registration, remove its settings entry",
		run:     runOffboard,
	})
}

func runOffboard(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "settings file (settings.json)")
	tenant := fs.String("tenant", "", "the tenant to offboard (required)")
	yes := fs.Bool("yes", false, "confirm: delete galmirror's contacts and folders, the app registration and the settings entry")
	clientID := fs.String("client-id", "", "the public client the administrator signs in to (default: Microsoft Graph Command Line Tools)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror offboard --config FILE --tenant NAME --yes")
		fmt.Fprintln(stderr, "Runs purge, then (one administrator sign-in) deletes the app registration, then removes the tenant's entry from the settings file.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *cfgPath == "" || *tenant == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if !*yes {
		fmt.Fprintln(stderr, "galmirror offboard: refusing without --yes: this deletes galmirror's contacts and folders, the tenant's app registration and its settings entry")
		return exitUsage
	}
	fmt.Fprintf(stdout, "Step 1 of 3: purge %s.\n", *tenant)
	if code := runPurge(ctx, []string{"--config", *cfgPath, "--tenant", *tenant, "--yes"}, stdout, stderr); code != exitOK {
		fmt.Fprintf(stderr, "galmirror offboard: the purge did not finish cleanly (exit %d): the app and the settings entry are kept so that it can run again\n", code)
		return code
	}
	fmt.Fprintf(stdout, "Step 2 of 3: delete the app registration.\n")
	err := onboard.DeleteApp(ctx, onboard.OffboardOptions{ConfigPath: *cfgPath, Name: *tenant, ClientID: *clientID, Out: stdout})
	var ue *onboard.UsageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "galmirror offboard: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "galmirror offboard: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Step 3 of 3: remove the settings entry.\n")
	if _, err := onboard.RemoveEntry(*cfgPath, *tenant); err != nil {
		fmt.Fprintf(stderr, "galmirror offboard: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Offboarded %s.\n", *tenant)
	return exitOK
}
