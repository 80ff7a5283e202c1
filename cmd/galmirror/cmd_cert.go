package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/renew"
	"github.com/galmirror/galmirror/internal/store"
)

func init() {
	register(&command{
		name:    "cert",
		summary: "make a certificate for a tenant's app (cert new), or renew one now (cert rotate)",
		run:     runCert,
	})
}

func runCert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, "usage: galmirror cert new|rotate [flags]  (galmirror cert new -h)")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "new":
		return runCertNew(ctx, args[1:], stdout, stderr)
	case "rotate":
		return runCertRotate(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "galmirror cert: unknown subcommand %q (new, rotate)\n", args[0])
	return exitUsage
}

func runCertNew(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cert new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the key file to write: NAME.pfx (PKCS#12, with --password-env) or NAME.pem; NAME.cer is written beside it for upload")
	name := fs.String("name", "galmirror", "the certificate's subject common name (e.g. \"galmirror contoso\")")
	days := fs.Int("days", 730, "validity in days (60 to 1830)")
	key := fs.String("key", entra.DefaultKeyType, "key type: rsa2048, rsa3072 or rsa4096 (Entra ID accepts only RSA)")
	pwEnv := fs.String("password-env", "", "the environment variable holding the PFX password (the name, never the password)")
	toStore := fs.Bool("store", false, "Windows: put the certificate into LocalMachine\\My with a non-exportable key instead of a file (--out then names only the .cer)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror cert new --out FILE.pfx --password-env VAR [--name CN] [--days 730] [--key rsa3072]")
		fmt.Fprintln(stderr, "       galmirror cert new --store --out FILE.cer [--name CN]   (Windows)")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if _, err := entra.KeyBits(*key); err != nil {
		fmt.Fprintf(stderr, "galmirror cert new: --key: %v\n", err)
		return exitUsage
	}
	pw := ""
	if !*toStore && !strings.EqualFold(filepath.Ext(*out), ".pem") {
		if strings.EqualFold(filepath.Ext(*out), ".cer") {
			fmt.Fprintln(stderr, "galmirror cert new: --out names the key file (.pfx or .pem); the .cer is written beside it")
			return exitUsage
		}
		if *pwEnv == "" {
			fmt.Fprintln(stderr, "galmirror cert new: --password-env is required for a PFX file: the name of an environment variable holding its password (e.g. CONTOSO_PFX_PASSWORD=$(openssl rand -hex 16))")
			return exitUsage
		}
		v, ok := os.LookupEnv(*pwEnv)
		if !ok || v == "" {
			fmt.Fprintf(stderr, "galmirror cert new: --password-env: the environment variable %s is not set\n", *pwEnv)
			return exitUsage
		}
		pw = v
	}
	cert, k, err := entra.NewSelfSigned(entra.NewCertificateRequest{CommonName: *name, KeyType: *key, Validity: time.Duration(*days) * 24 * time.Hour})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror cert new: %v\n", err)
		return exitUsage
	}
	sha1, sha256 := entra.Thumbprints(cert)
	if *toStore {
		tp, err := entra.ImportToMachineStore(cert, k)
		if err != nil {
			fmt.Fprintf(stderr, "galmirror cert new: %v\n", err)
			if errors.Is(err, entra.ErrStoreUnavailable) {
				return exitUsage
			}
			return exitFailed
		}
		if err := writeCer(*out, cert.Raw); err != nil {
			fmt.Fprintf(stderr, "galmirror cert new: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "Put the certificate into LocalMachine\\My (non-exportable key) and wrote %s for upload.\n", *out)
		fmt.Fprintf(stdout, "In settings.json: \"certificate\": { \"thumbprint\": %q }\n", tp)
	} else {
		if err := entra.WriteCertificateFiles(*out, cert, k, pw); err != nil {
			fmt.Fprintf(stderr, "galmirror cert new: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "Wrote %s (key, mode 0600) and %s (public certificate, for upload to the app registration).\n", *out, entra.CerPath(*out))
	}
	fmt.Fprintf(stdout, "  subject            CN=%s\n  valid              %s to %s\n  key                RSA %d\n  SHA-1 thumbprint   %s\n  SHA-256 thumbprint %s\n",
		cert.Subject.CommonName, cert.NotBefore.Format("2006-01-02"), cert.NotAfter.Format("2006-01-02"), keyBits(*key), sha1, sha256)
	return exitOK
}

func keyBits(t string) int {
	b, _ := entra.KeyBits(t)
	return b
}

// writeCer writes the public certificate (DER) without overwriting.
func writeCer(path string, der []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(der); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func runCertRotate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cert rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "settings file (settings.json)")
	tenant := fs.String("tenant", "", "the tenant whose certificate to renew (required)")
	wait := fs.Duration("wait", 15*time.Minute, "how long to wait for Entra ID to honour the new key")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: galmirror cert rotate --config FILE --tenant NAME [--wait 15m]")
		fmt.Fprintln(stderr, "Renews the tenant's certificate now, as the service does before it expires: a new key pair, added to the app")
		fmt.Fprintln(stderr, "by the app itself (addKey), used once a token with it succeeds; then the old key is removed (removeKey).")
		fmt.Fprintln(stderr, "exit codes: 0 renewed, 1 a step failed (the old certificate keeps working), 2 usage or configuration error")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *cfgPath == "" || *tenant == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, tenants, code := loadTenants(*cfgPath, *tenant, stderr)
	if code != exitOK {
		return code
	}
	st, err := store.Open(ctx, cfg.DataDir, store.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror: open the state database in %s: %v\n", cfg.DataDir, err)
		return exitFailed
	}
	defer st.Close()
	t := tenants[0]
	r := renew.Renew(ctx, renew.Options{Tenant: t, SettingsPath: cfg.Path, Keys: st, Force: true, Wait: *wait,
		Progress: func(s string) { fmt.Fprintf(stdout, "  %s\n", s) }})
	for _, e := range r.Events {
		d, _ := events.Lookup(e.ID)
		fmt.Fprintf(stdout, "event %d %s", e.ID, d.Name)
		for _, f := range e.Fields {
			fmt.Fprintf(stdout, " %s=%s", f.Key, f.Value)
		}
		if e.Detail != "" {
			fmt.Fprintf(stdout, ": %s", e.Detail)
		}
		fmt.Fprintln(stdout)
	}
	if r.Err != nil {
		fmt.Fprintf(stderr, "galmirror cert rotate: %s: %v\n", t.Name, r.Err)
		if r.Switched {
			fmt.Fprintf(stderr, "(the tenant already uses the new certificate %s)\n", r.NewThumbprint)
		} else {
			fmt.Fprintf(stderr, "(the tenant keeps using its certificate %s)\n", r.OldThumbprint)
		}
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: renewed: certificate %s, valid until %s (was %s)\n", t.Name, r.NewThumbprint, r.NewNotAfter.UTC().Format("2006-01-02"), r.OldThumbprint)
	return exitOK
}
