package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/galmirror/galmirror/internal/onboard"
)

func init() {
	register(&command{
		name:    "onboard",
		summary: "set a customer tenant up with one administrator sign-in: app, certificate, permissions, settings",
		run:     runOnboard,
	})
}

func runOnboard(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("onboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o onboard.Options
	fs.StringVar(&o.ConfigPath, "config", "", "settings file (settings.json); created when missing (with --data-dir)")
	fs.StringVar(&o.Name, "name", "", "the tenant entry's name (e.g. contoso)")
	fs.StringVar(&o.Domain, "domain", "", "the customer's tenant for the sign-in: a verified domain (contoso.com) or the tenant id; default: the signing-in administrator's")
	fs.StringVar(&o.Cloud, "cloud", "", "global (default), usgov, usgovdod, china or custom")
	fs.StringVar(&o.Authority, "authority", "", "with --cloud custom: the login host (https://...)")
	fs.StringVar(&o.Graph, "graph", "", "with --cloud custom: the Graph root (https://...)")
	fs.StringVar(&o.CAFile, "ca-file", "", "a PEM bundle of extra trusted CAs (endpoints.caFile)")
	fs.StringVar(&o.CertFile, "certificate", "", "the app's certificate: a PFX or PEM file, made when it does not exist (default: NAME.pfx beside the settings file)")
	fs.StringVar(&o.PasswordEnv, "password-env", "", "the environment variable holding the PFX password (the name, never the password)")
	fs.StringVar(&o.Thumbprint, "thumbprint", "", "Windows: a certificate in LocalMachine\\My instead of a file")
	fs.BoolVar(&o.OrgContacts, "org-contacts", false, "also mirror organizational contacts (adds OrgContact.Read.All)")
	fs.BoolVar(&o.ResourceMailboxes, "resource-mailboxes", false, "also mirror shared, room and equipment mailboxes (adds MailboxSettings.Read; sets source.includeShared, includeRooms, includeEquipment)")
	fs.StringVar(&o.ScopeGroup, "scope-group", "", "limit mailbox access to this group's members with Exchange RBAC for Applications (prints the Exchange PowerShell) instead of granting Contacts.ReadWrite tenant-wide")
	fs.StringVar(&o.ClientID, "client-id", "", "the public client the administrator signs in to (default: Microsoft Graph Command Line Tools)")
	fs.DurationVar(&o.Wait, "wait", onboard.DefaultWait, "how long to wait for Entra ID to honour the new app")
	fs.StringVar(&o.DataDir, "data-dir", "", "dataDir of a settings file onboard creates")
	tenantID := fs.String("tenant-id", "", "without a sign-in (device code blocked): the tenant id of an app registered by hand")
	appID := fs.String("app-id", "", "without a sign-in: the client id of the app registered by hand")
	objectID := fs.String("app-object-id", "", "without a sign-in: the app registration's object id (for certificate renewal)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror onboard --config FILE --name NAME [--domain contoso.com] [--cloud global] [--certificate FILE --password-env VAR | --thumbprint TP]")
		fmt.Fprintln(stderr, "                         [--org-contacts] [--resource-mailboxes] [--scope-group GROUP-ID] [--wait 15m]")
		fmt.Fprintln(stderr, "       galmirror onboard --config FILE --name NAME --tenant-id ID --app-id ID [--app-object-id ID] ...   (no sign-in: docs/onboarding.md)")
		fmt.Fprintln(stderr, "exit codes: 0 onboarded and check passed, 1 failed or check found a problem (the entry is written when the app works), 2 usage or settings error")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if o.ConfigPath == "" || o.Name == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	manual := *tenantID != "" || *appID != ""
	if manual && (*tenantID == "" || *appID == "") {
		fmt.Fprintln(stderr, "galmirror onboard: --tenant-id and --app-id go together")
		return exitUsage
	}
	o.Out = stdout
	start := time.Now()
	var res *onboard.Result
	var err error
	if manual {
		res, err = onboard.RunManual(ctx, o, *tenantID, *appID, *objectID)
	} else {
		res, err = onboard.Run(ctx, o)
	}
	var ue *onboard.UsageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "galmirror onboard: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "galmirror onboard: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "\nOnboarded %s in %s (Entra ID took %s to honour the app): %d administrator sign-in, no file edited by hand.\n",
		o.Name, time.Since(start).Round(time.Second), res.Propagation.Round(time.Second), res.SignIns)
	if res.Check != nil && !res.Check.OK {
		fmt.Fprintf(stdout, "`check` found a problem (above); fix it and run galmirror check --config %s --tenant %s\n", o.ConfigPath, o.Name)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Next: galmirror sync --config %s --tenant %s\n", o.ConfigPath, o.Name)
	return exitOK
}
