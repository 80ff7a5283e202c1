package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/svcbackend"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/tunnel"
)

// pushTunnel prepares push mode (the settings' console section): the
// client certificate (console.certificate, else the admin API's server
// certificate), the console's CA or pinned fingerprint, and a run function
// that keeps the tunnel up and serves srv's API through it until ctx ends;
// b's ServiceInfo reports the connection.
// Errors are configuration errors, reported before the service starts;
// release frees a certificate store handle after run has returned.
func pushTunnel(ctx context.Context, cfg *config.Config, srv *admin.Server, b *svcbackend.Backend, emit func(context.Context, events.Event), log *slog.Logger) (run func(context.Context) error, release func(), err error) {
	c := cfg.Console
	release = func() {}
	cert := srv.Certificate()
	if !c.Certificate.IsZero() {
		cert, release, err = svcbackend.LoadServerCertificate(ctx, c.Certificate, time.Now())
		if err != nil {
			return nil, func() {}, fmt.Errorf("console.certificate: %w", err)
		}
	}
	if len(cert.Certificate) == 0 {
		release()
		return nil, func() {}, fmt.Errorf("console.certificate: none configured and no admin certificate in %s", cfg.DataDir)
	}
	var roots *x509.CertPool
	if c.CAFile != "" {
		pem, err := entra.ReadFile(ctx, c.CAFile, entra.MaxCAFileSize)
		if err != nil {
			release()
			return nil, func() {}, fmt.Errorf("console.caFile: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			release()
			return nil, func() {}, fmt.Errorf("console.caFile: %s holds no PEM certificate", c.CAFile)
		}
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		release()
		return nil, func() {}, fmt.Errorf("console.url: %w", err)
	}
	d, err := tunnel.NewDialer(tunnel.Config{
		URL:               c.URL,
		ServerFingerprint: c.ServerFingerprint,
		RootCAs:           roots,
		Certificate:       cert,
		ConnContext: func(ctx context.Context, fp string) context.Context {
			return admin.ConsoleContext(ctx, fp, u.Host)
		},
		Emit:      emit,
		Log:       log,
		OnState:   pushStateWriter(cfg.DataDir, u.Redacted(), tunnel.Fingerprint(cert.Certificate[0]), log),
		UserAgent: "galmirror/" + buildVersion(),
	})
	if err != nil {
		release()
		return nil, func() {}, err
	}
	shown := u.Redacted()
	b.SetConsole(func() admin.ConsoleConnection {
		st := d.State()
		return admin.ConsoleConnection{URL: shown, Connected: st.Connected, Since: st.Since, LastError: st.LastError, LastErrorAt: st.LastErrorAt}
	})
	log.Info("push mode: reporting to the fleet console", "console", u.Redacted(), "role", c.Role,
		"certificate_sha256", tunnel.Fingerprint(cert.Certificate[0]))
	return func(ctx context.Context) error { return d.Run(ctx, srv.Handler()) }, release, nil
}

// pushStateFile, in the data directory, is the push connection's state as
// the service last saw it, for `galmirror status` (which reads files, not
// the running service).
const pushStateFile = "console-state.json"

// pushState is the content of pushStateFile.
type pushState struct {
	Console           string    `json:"console"`
	CertificateSHA256 string    `json:"certificateSha256"`
	Connected         bool      `json:"connected"`
	Since             time.Time `json:"since"`
	LastError         string    `json:"lastError,omitempty"`
	LastErrorAt       time.Time `json:"lastErrorAt,omitzero"`
	Updated           time.Time `json:"updated"`
}

// pushStateWriter returns the tunnel's OnState: it replaces pushStateFile
// (write, then rename) with each new state.
func pushStateWriter(dir, console, certFP string, log *slog.Logger) func(tunnel.State) {
	path := filepath.Join(dir, pushStateFile)
	return func(s tunnel.State) {
		b, _ := json.MarshalIndent(pushState{Console: console, CertificateSHA256: certFP, Connected: s.Connected, Since: s.Since.UTC(),
			LastError: s.LastError, LastErrorAt: s.LastErrorAt.UTC(), Updated: time.Now().UTC()}, "", "  ")
		tmp := path + ".tmp"
		err := os.WriteFile(tmp, append(b, '\n'), 0o600)
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			log.Debug("push mode: cannot record the connection state", "path", path, "err", err)
		}
	}
}

// readPushState reads pushStateFile from dir; ok is false when the service
// has not written it (never ran with a console section).
func readPushState(dir string) (s pushState, ok bool, err error) {
	f, err := os.Open(filepath.Join(dir, pushStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return s, false, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, false, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return s, true, nil
}

// redactedURL is the console URL as the state file records it.
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
