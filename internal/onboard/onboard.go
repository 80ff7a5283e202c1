// Package onboard takes a customer tenant from nothing to a working
// galmirror entry with one administrator sign-in: `galmirror onboard`
// signs the administrator in with the device code flow, creates (or
// repairs) the single-tenant app with its certificate, its service
// principal and its application permissions, waits until a token of the
// new app carries the roles, runs `check`, and adds the tenant block to
// settings.json. `galmirror offboard` undoes it. See docs/onboarding.md.
package onboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/syncer"
)

// Tags mark the applications galmirror creates: every one carries TagApp,
// and TagPrefix + the settings name finds the one of a tenant entry again.
const (
	TagApp    = "galmirror"
	TagPrefix = "galmirror:"
)

// ConsentRedirectURI is the redirect URI registered on the app for the
// admin consent link (the endpoint requires one registered on the app).
// The browser ends on it after consent; nothing needs to answer there.
const ConsentRedirectURI = "http://localhost/galmirror-consent"

// DefaultWait bounds the wait for Entra to honour a new app, key or grant.
const DefaultWait = 15 * time.Minute

// Options describe one onboarding.
type Options struct {
	// ConfigPath is settings.json; it is created when missing (DataDir
	// then names its dataDir).
	ConfigPath string
	DataDir    string
	// Name is the tenant entry's name in settings.json.
	Name string
	// Domain names the customer's tenant for the sign-in (a verified
	// domain or the tenant id); empty lets the administrator's account
	// decide ("organizations").
	Domain string
	// Cloud and, for the custom cloud, Authority and Graph; CAFile adds a
	// trusted CA (endpoints.caFile).
	Cloud     string
	Authority string
	Graph     string
	CAFile    string
	// Certificate: a PFX or PEM file (created when missing, with the
	// password from PasswordEnv), or on Windows a thumbprint in
	// LocalMachine\My.
	CertFile    string
	PasswordEnv string
	Thumbprint  string
	// OrgContacts adds OrgContact.Read.All and sets "orgContacts".
	OrgContacts bool
	// ResourceMailboxes adds MailboxSettings.Read and sets
	// source.includeShared, includeRooms and includeEquipment.
	ResourceMailboxes bool
	// ScopeGroup limits mailbox access to one group's members with
	// Exchange RBAC for Applications: Contacts.ReadWrite is not granted in
	// Entra, and the Exchange Online PowerShell to run is printed.
	ScopeGroup string
	// ClientID is the public client of the sign-in; empty means Microsoft
	// Graph Command Line Tools.
	ClientID string
	// Wait bounds the wait for propagation; zero means DefaultWait.
	Wait time.Duration
	// Out receives the progress lines and the sign-in instructions.
	Out io.Writer
}

// UsageError is a problem with the options or the settings file, found
// before anything is contacted (exit code 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// Result is what an onboarding did.
type Result struct {
	TenantID            string
	ClientID            string
	ApplicationObjectID string
	ServicePrincipalID  string
	// Created says the app was made now (not found and repaired).
	Created bool
	// Repaired lists what a re-run added to an existing app.
	Repaired []string
	// SignIns counts the administrator sign-ins (always 1).
	SignIns int
	// Propagation is how long Entra took to honour the app and its roles.
	Propagation time.Duration
	// Check is `check`'s report on the new entry.
	Check *syncer.CheckReport
	// SettingsChanged says settings.json was written.
	SettingsChanged bool
}

// session is one onboarding in progress.
type session struct {
	o        Options
	out      io.Writer
	file     *config.SettingsFile
	existing *config.Tenant // the entry of that name, when the file has one
	ep       entra.Endpoints
	hc       *http.Client
	cert     *entra.Certificate
	certNew  bool // the certificate file was made now
	needs    []string
	res      *Result
}

// Run onboards a tenant. Problems with the options, the settings file or
// the certificate are *UsageError, found before any request.
func Run(ctx context.Context, o Options) (*Result, error) {
	s := &session{o: o, out: o.Out, res: &Result{}}
	if s.out == nil {
		s.out = io.Discard
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	defer s.cert.Close()
	tok, tenantID, err := s.signIn(ctx)
	if err != nil {
		return nil, err
	}
	s.res.SignIns, s.res.TenantID = 1, tenantID
	p, err := s.provision(ctx, tok)
	if err != nil {
		return s.res, err
	}
	if err := s.waitForApp(ctx, p); err != nil {
		return s.res, err
	}
	return s.res, s.finish(ctx)
}

// prepare checks the options and the settings file, and loads (or makes)
// the certificate.
func (s *session) prepare(ctx context.Context) error {
	o := &s.o
	if o.ConfigPath == "" {
		return usagef("--config is required")
	}
	if !validName(o.Name) {
		return usagef("--name %q: use 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", o.Name)
	}
	if o.ScopeGroup != "" && !isGUID(o.ScopeGroup) {
		return usagef("--scope-group %q: the group's object id (a GUID)", o.ScopeGroup)
	}
	if err := s.openSettings(); err != nil {
		return err
	}
	if err := s.resolveCloud(ctx); err != nil {
		return err
	}
	if err := s.loadCertificate(ctx); err != nil {
		return err
	}
	s.needs = Permissions(o.OrgContacts, o.ScopeGroup != "")
	if o.ResourceMailboxes {
		s.needs = append(s.needs, entra.RoleMailboxSettingsRead)
	}
	return nil
}

func (s *session) openSettings() error {
	f, err := config.OpenForEdit(s.o.ConfigPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.o.DataDir == "" {
			return usagef("%s does not exist: pass --data-dir to create it (the folder for the state database, e.g. %s)", s.o.ConfigPath, defaultDataDir())
		}
		f, err = config.NewSettingsFile(s.o.ConfigPath, s.o.DataDir)
		if err != nil {
			return usagef("%v", err)
		}
	case err != nil:
		return usagef("%v", err)
	}
	cfg, err := f.Config()
	if err != nil {
		return usagef("%v", err)
	}
	s.file = f
	if t, ok := cfg.Tenant(s.o.Name); ok {
		s.existing = t
	}
	return nil
}

func defaultDataDir() string {
	if runtime.GOOS == "windows" {
		return `C:\ProgramData\galmirror`
	}
	return "/var/lib/galmirror"
}

// resolveCloud picks the cloud's hosts and the HTTP client: the flags, or
// the existing entry's settings.
func (s *session) resolveCloud(ctx context.Context) error {
	t := config.Tenant{Cloud: config.Cloud(s.o.Cloud), Endpoints: config.Endpoints{Authority: s.o.Authority, Graph: s.o.Graph, CAFile: s.o.CAFile}}
	if s.existing != nil && s.o.Cloud == "" {
		t.Cloud, t.Endpoints = s.existing.Cloud, s.existing.Endpoints
	}
	if t.Cloud == "" {
		t.Cloud = config.CloudGlobal
	}
	if t.Endpoints.CAFile != "" && !filepath.IsAbs(t.Endpoints.CAFile) {
		abs, err := filepath.Abs(t.Endpoints.CAFile)
		if err != nil {
			return usagef("--ca-file: %v", err)
		}
		t.Endpoints.CAFile = abs
	}
	ep, err := entra.ResolveCloud(string(t.Cloud), t.Endpoints.Authority, t.Endpoints.Graph, t.Endpoints.CAFile)
	if err != nil {
		return usagef("%v", err)
	}
	hc, err := syncer.HTTPClient(ctx, &t)
	if err != nil {
		return usagef("%v", err)
	}
	s.ep, s.hc = ep, hc
	s.o.Cloud, s.o.Authority, s.o.Graph, s.o.CAFile = string(t.Cloud), t.Endpoints.Authority, t.Endpoints.Graph, t.Endpoints.CAFile
	return nil
}

// loadCertificate loads the certificate the flags (or the existing entry)
// name, making a new one when the file does not exist yet.
func (s *session) loadCertificate(ctx context.Context) error {
	o := &s.o
	if o.CertFile == "" && o.Thumbprint == "" && s.existing != nil {
		c := s.existing.Certificate
		o.CertFile, o.Thumbprint, o.PasswordEnv = c.File, c.Thumbprint, c.PasswordEnv
		if c.PasswordProtected != "" {
			return usagef("tenant %s: a certificate with passwordProtected: pass --certificate and --password-env for onboard", o.Name)
		}
	}
	switch {
	case o.CertFile != "" && o.Thumbprint != "":
		return usagef("give either --certificate or --thumbprint, not both")
	case o.CertFile == "" && o.Thumbprint == "":
		o.CertFile = filepath.Join(filepath.Dir(s.file.Path), o.Name+".pfx")
	}
	if o.Thumbprint != "" {
		c, err := entra.LoadCertificate(ctx, entra.CertificateSource{Thumbprint: o.Thumbprint}, time.Now())
		if err != nil {
			return usagef("--thumbprint: %v", err)
		}
		s.cert = c
		return nil
	}
	if !filepath.IsAbs(o.CertFile) {
		abs, err := filepath.Abs(o.CertFile)
		if err != nil {
			return usagef("--certificate: %v", err)
		}
		o.CertFile = abs
	}
	pw := ""
	if isPFX(o.CertFile) {
		if o.PasswordEnv == "" {
			return usagef("--password-env is required with a PFX file: the name of the environment variable that holds (or, for a new file, will hold) its password")
		}
		v, ok := os.LookupEnv(o.PasswordEnv)
		if !ok || v == "" {
			return usagef("--password-env: the environment variable %s is not set (set it to the PFX password; for a new certificate, choose one, e.g. from `openssl rand -hex 16`)", o.PasswordEnv)
		}
		pw = v
	}
	if _, err := os.Stat(o.CertFile); errors.Is(err, fs.ErrNotExist) {
		if err := s.makeCertificate(pw); err != nil {
			return err
		}
	}
	c, err := entra.LoadCertificateFile(ctx, o.CertFile, pw, time.Now())
	var expired *entra.CertificateExpiredError
	switch {
	case errors.As(err, &expired) && !expired.NotYet:
		return usagef("the certificate %s expired on %s: pass --certificate with a new file name (onboard makes the certificate and adds it to the app)",
			o.CertFile, expired.NotAfter.UTC().Format("2006-01-02"))
	case err != nil:
		return usagef("--certificate: %v", err)
	}
	s.cert = c
	return nil
}

// makeCertificate writes a new certificate for the tenant to the file the
// options name (PFX, or PEM for a .pem name) and its .cer beside it.
func (s *session) makeCertificate(password string) error {
	cert, key, err := entra.NewSelfSigned(entra.NewCertificateRequest{CommonName: "galmirror " + s.o.Name})
	if err != nil {
		return err
	}
	if err := entra.WriteCertificateFiles(s.o.CertFile, cert, key, password); err != nil {
		return usagef("%v", err)
	}
	s.certNew = true
	sha1, sha256 := entra.Thumbprints(cert)
	fmt.Fprintf(s.out, "Created certificate %s (RSA 3072, valid until %s)\n  SHA-1 thumbprint   %s\n  SHA-256 thumbprint %s\n",
		s.o.CertFile, cert.NotAfter.Format("2006-01-02"), sha1, sha256)
	return nil
}

func isPFX(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pem", ".crt", ".key":
		return false
	}
	return true
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i, r := range n {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
		case (r == '.' || r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

// Permissions are the Microsoft Graph application permissions galmirror
// asks for: the least the engine needs (entra.RequiredRoles), plus
// Contacts.ReadWrite unless mailbox access comes from Exchange RBAC for
// Applications.
func Permissions(orgContacts, rbacScoped bool) []string {
	p := entra.RequiredRoles(orgContacts)
	if !rbacScoped {
		p = append(p, entra.RoleContactsReadWrite)
	}
	return p
}
