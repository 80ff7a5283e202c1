package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/console"
)

func init() {
	register(&command{
		name:    "console",
		summary: "serve the fleet console: every customer's sync on one web page",
		run:     runConsole,
	})
}

func runConsole(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "console.json", "the console's settings: listen address, sign-in, customers (docs/console.md)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := console.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror console: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return serveConsole(ctx, cfg, log, stdout, stderr, nil)
}

// serveConsole runs the console of cfg until ctx is done; ready, if not
// nil, gets the console's URL once it listens.
func serveConsole(ctx context.Context, cfg *console.Config, log *slog.Logger, stdout, stderr io.Writer, ready func(url string)) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "galmirror console: "+format+"\n", args...)
		return code
	}
	auth, err := consoleAuthenticator(cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if auth.middleware == nil && !console.Loopback(cfg.Listen) {
		return fail(exitUsage, "listening on %s needs an authentication method: auth.oidc or auth.clientCertificates (only a loopback address may go without sign-in)", cfg.Listen)
	}
	push, err := consolePush(ctx, cfg, log)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	fleet, err := console.NewFleet(cfg, push.source, log)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	srv, err := console.New(console.Options{Config: cfg, Fleet: fleet, Authenticate: auth.middleware, AuthRoutes: auth.routes, Log: log})
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	defer srv.Close()

	// HTTPS everywhere but on loopback without a configured certificate:
	// there the traffic never leaves the machine, and browsers treat
	// http://127.0.0.1 as a secure context.
	var tc *tls.Config
	switch {
	case cfg.TLS != nil:
		c, err := admin.LoadClientCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return fail(exitUsage, "tls.certFile: %v", err)
		}
		tc = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}
	case !console.Loopback(cfg.Listen):
		host, _, _ := net.SplitHostPort(cfg.Listen)
		c, err := admin.LoadOrCreateCertificate(filepath.Join(cfg.DataDir, "tls"), []string{host})
		if err != nil {
			return fail(exitFailed, "the console's certificate: %v", err)
		}
		tc = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}
		fmt.Fprintf(stdout, "serving with a generated certificate, SHA-256 %s\n", admin.Fingerprint(c.Certificate[0]))
	}
	if tc != nil && auth.tlsConfig != nil {
		auth.tlsConfig(tc)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(exitFailed, "listen on %s: %v", cfg.Listen, err)
	}
	scheme := "http"
	if tc != nil {
		ln = tls.NewListener(ln, tc)
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s/", scheme, ln.Addr())
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug), BaseContext: func(net.Listener) context.Context { return ctx }}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); fleet.Run(ctx) }()
	pushDone := make(chan error, 1)
	go func() { pushDone <- push.run(ctx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "galmirror console: %d customers, serving %s\n", len(cfg.Customers), url)
	if ready != nil {
		ready(url)
	}
	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		code = fail(exitFailed, "serve: %v", err)
	case err := <-pushDone:
		if err != nil {
			code = fail(exitFailed, "push listener: %v", err)
		}
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		hs.Close()
	}
	<-done
	return code
}
