package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/console"
	"github.com/galmirror/galmirror/internal/tunnel"
)

// consolePushMode is the console's side of push mode: the PushSource the
// fleet asks for pushed customers' connections, and the listener on
// cfg.PushListen, run until ctx is done.
type consolePushMode struct {
	source console.PushSource
	run    func(ctx context.Context) error
}

// consolePush starts nothing when no customer is pushed. Otherwise it
// binds cfg.PushListen (so that a port in use stops the start) with the
// console's certificate (tls.certFile, else one generated in the data
// directory's "push" folder, whose fingerprint it logs for the services'
// console.serverFingerprint) and accepts the services whose client
// certificates the pushed customers list.
func consolePush(_ context.Context, cfg *console.Config, log *slog.Logger) (consolePushMode, error) {
	idle := func(ctx context.Context) error { <-ctx.Done(); return nil }
	if cfg.PushListen == "" {
		return consolePushMode{run: idle}, nil
	}
	customers := map[string]string{}
	for _, cu := range cfg.Customers {
		if cu.Push != nil {
			customers[cu.Name] = cu.Push.ClientCertFingerprint
		}
	}
	srv, err := tunnel.NewServer(tunnel.ServerOptions{Customers: customers, Log: log})
	if err != nil {
		return consolePushMode{}, fmt.Errorf("%s: %w", cfg.File(), err)
	}
	var cert tls.Certificate
	if cfg.TLS != nil {
		cert, err = admin.LoadClientCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	} else {
		cert, err = admin.LoadOrCreateCertificate(filepath.Join(cfg.DataDir, "push"), pushHosts(cfg.PushListen))
	}
	if err != nil {
		return consolePushMode{}, fmt.Errorf("the push listener's certificate: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.PushListen)
	if err != nil {
		return consolePushMode{}, fmt.Errorf("pushListen: %w", err)
	}
	log.Info("push listener serving: services set console.serverFingerprint to its certificate's",
		"listen", ln.Addr().String(), "certificate_sha256", admin.Fingerprint(cert.Certificate[0]), "customers", len(customers))
	return consolePushMode{source: srv, run: func(ctx context.Context) error { return srv.Serve(ctx, ln, cert) }}, nil
}

// pushHosts names the generated push certificate after the listen host
// (services pin it by fingerprint, so the name is for people).
func pushHosts(listen string) []string {
	host, _, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		return nil
	}
	return []string{host}
}
