package svcbackend

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/admin/negotiate"
	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/syncer"
)

// Enabled reports whether settings ask for an admin listener: the HTTPS
// one (admin.listen) or the local socket or pipe (admin.localSocket).
func Enabled(a config.Admin) bool { return a.Listen != "" || a.LocalSocket }

// ServerOptions turns the admin section of the settings into admin.Options
// for backend b: the paths the API hides from network callers, the server
// certificate (from admin.certificate, else the one generated in dataDir),
// the Kerberos acceptor (admin.kerberos), pinned client certificates and the
// client CA pool, roles, and the local socket path. The returned close
// releases the acceptor and the certificate (a Windows store handle); call
// it after the server has stopped. Reading the files stops when ctx is done.
func ServerOptions(ctx context.Context, cfg *config.Config, b *Backend, log *slog.Logger) (o admin.Options, close func(), err error) {
	a := cfg.Admin
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	o = admin.Options{
		Backend:                  b,
		Log:                      log,
		Listen:                   a.Listen,
		DataDir:                  cfg.DataDir,
		Hosts:                    certHosts(a),
		PinnedClientCertificates: a.ClientCertificates.Pinned,
		// Of the configuration the service runs with now (b) once it
		// runs; of cfg before, and with a backend that has no service.
		Paths: func() []admin.NamedPath {
			if b != nil && b.svc != nil {
				return b.Paths()
			}
			return ConfigPaths(cfg)
		},
	}
	if a.LocalSocket {
		o.LocalPath = localipc.DefaultPath(cfg.DataDir)
	}
	if !a.Certificate.IsZero() {
		c, release, err := LoadServerCertificate(ctx, a.Certificate, time.Now())
		if err != nil {
			return admin.Options{}, close, fmt.Errorf("admin.certificate: %w", err)
		}
		closers = append(closers, release)
		o.Certificate = &c
	}
	if a.ClientCertificates.CAFile != "" {
		pem, err := entra.ReadFile(ctx, a.ClientCertificates.CAFile, entra.MaxCAFileSize)
		if err != nil {
			return admin.Options{}, close, fmt.Errorf("admin.clientCertificates.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return admin.Options{}, close, fmt.Errorf("admin.clientCertificates.caFile: %s holds no PEM certificate", a.ClientCertificates.CAFile)
		}
		o.ClientCAs = pool
	}
	for i, r := range a.Roles {
		role, err := admin.ParseRole(string(r.Role))
		if err != nil {
			return admin.Options{}, close, fmt.Errorf("admin.roles[%d]: %w", i, err)
		}
		o.Roles = append(o.Roles, admin.RoleBinding{Principal: r.Principal, Role: role})
	}
	if c := cfg.Console; c != nil {
		role, err := admin.ParseRole(string(c.Role))
		if err != nil {
			return admin.Options{}, close, fmt.Errorf("console.role: %w", err)
		}
		o.ConsoleRole = role
	}
	if k := a.Kerberos; k != nil && a.Listen != "" {
		acc, err := negotiate.NewAcceptor(negotiate.AcceptorConfig{Keytab: k.Keytab, SPN: k.SPN})
		if err != nil {
			return admin.Options{}, close, fmt.Errorf("admin.kerberos: %w", err)
		}
		closers = append(closers, func() { _ = acc.Close() })
		o.Acceptor = acc
	}
	return o, close, nil
}

// LoadServerCertificate loads the admin server certificate that
// admin.certificate names: a PEM file with the certificate (and chain) and
// its unencrypted key, a PFX file (password in the passwordEnv variable or
// passwordProtected), or on Windows a LocalMachine\My thumbprint. Files may
// hold RSA or ECDSA keys; the Windows store goes through
// entra.LoadCertificate, which takes RSA keys only. The certificate must be
// valid at now. A file is read as entra.ReadFile does (a regular file of
// at most entra.MaxCertificateFileSize bytes, stopping when ctx is done).
// release frees a store handle.
func LoadServerCertificate(ctx context.Context, c config.Certificate, now time.Time) (cert tls.Certificate, release func(), err error) {
	release = func() {}
	if c.File == "" {
		ec, err := entra.LoadCertificate(ctx, entra.CertificateSource{Thumbprint: c.Thumbprint}, now)
		if err != nil {
			return tls.Certificate{}, release, err
		}
		cert = tls.Certificate{PrivateKey: ec.Signer(), Leaf: ec.Leaf}
		for _, x := range ec.Chain {
			cert.Certificate = append(cert.Certificate, x.Raw)
		}
		return cert, func() { _ = ec.Close() }, nil
	}
	data, err := entra.ReadFile(ctx, c.File, entra.MaxCertificateFileSize)
	if err != nil {
		return tls.Certificate{}, release, err
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		if cert, err = tls.X509KeyPair(data, data); err != nil {
			return tls.Certificate{}, release, fmt.Errorf("%s: %w (the PEM file must hold the certificate and its unencrypted key)", c.File, err)
		}
	} else {
		pw, err := syncer.CertificatePassword(c)
		if err != nil {
			return tls.Certificate{}, release, fmt.Errorf("%s: %w", c.File, err)
		}
		key, leaf, chain, err := pkcs12.DecodeChain(data, pw)
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			from := "no password is configured (passwordEnv or passwordProtected)"
			switch {
			case c.PasswordEnv != "":
				from = "check the variable " + c.PasswordEnv
			case c.PasswordProtected != "":
				from = "passwordProtected holds another password"
			}
			return tls.Certificate{}, release, fmt.Errorf("%s: the PFX password is wrong (%s)", c.File, from)
		case err != nil:
			return tls.Certificate{}, release, fmt.Errorf("%s: not a usable PFX file: %w", c.File, err)
		}
		cert = tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
		for _, x := range chain {
			cert.Certificate = append(cert.Certificate, x.Raw)
		}
	}
	switch {
	case now.After(cert.Leaf.NotAfter):
		return tls.Certificate{}, release, fmt.Errorf("%s: the certificate expired on %s", c.File, cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(cert.Leaf.NotBefore):
		return tls.Certificate{}, release, fmt.Errorf("%s: the certificate is not valid before %s", c.File, cert.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return cert, release, nil
}

// certHosts are the names a generated server certificate is valid for
// besides the host name and localhost: the listen address unless it is a
// wildcard, and the Kerberos SPN's host (the name clients connect by).
func certHosts(a config.Admin) []string {
	var hosts []string
	if h, _, err := net.SplitHostPort(a.Listen); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	if a.Kerberos != nil {
		// HTTP/host, or HTTP/host@REALM.
		if _, h, ok := strings.Cut(a.Kerberos.SPN, "/"); ok {
			if h, _, _ = strings.Cut(h, "@"); h != "" {
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

// localRetry is how often Start tries again to open a local socket or pipe
// it could not open.
var localRetry = 30 * time.Second

// Start opens the listeners of o (HTTPS on o.Listen, the socket or pipe on
// o.LocalPath) and serves s on them in the background until ctx is done.
// Unlike admin.Server.Run it returns only once the HTTPS listener is bound,
// so that a port in use stops the service from starting rather than leaving
// it running without its remote API.
//
// The local socket or pipe is different: its name can be held by another
// process (a second galmirror, or on Windows any local user squatting the
// pipe's name), and that must not stop the service. When it cannot be
// opened, Start emits event 603 (AdminLocalUnavailable) through emit, logs,
// and tries again every 30 s until it succeeds or ctx ends. wait blocks
// until serving has ended and returns the first serving error.
func Start(ctx context.Context, s *admin.Server, o admin.Options, emit func(context.Context, events.Event)) (wait func() error, err error) {
	var tcp net.Listener
	if o.Listen != "" {
		var lc net.ListenConfig
		if tcp, err = lc.Listen(ctx, "tcp", o.Listen); err != nil {
			return nil, fmt.Errorf("admin.listen: %w", err)
		}
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	serve := func(ln net.Listener, fn func(context.Context, net.Listener) error) {
		if err := fn(ctx, ln); err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			cancel() // one listener failing stops the other
		}
	}
	if tcp != nil {
		wg.Go(func() { serve(tcp, s.Serve) })
	}
	socket := ""
	if o.LocalPath != "" {
		if ln, err := localipc.Listen(o.LocalPath, o.Log); err == nil {
			socket = o.LocalPath
			wg.Go(func() { serve(ln, s.ServeLocal) })
		} else {
			emit(ctx, events.Event{ID: events.AdminLocalUnavailable, Detail: "the service runs on without it and tries again",
				Fields: []events.Field{events.F("path", o.LocalPath), events.F("error", err.Error()), events.F("retry", localRetry.String())}})
			wg.Go(func() {
				if ln := retryLocal(ctx, o.LocalPath, log, err); ln != nil {
					serve(ln, s.ServeLocal)
				}
			})
		}
	}
	log.Info("admin API serving", "listen", o.Listen, "socket", socket, "certificate_sha256", s.Fingerprint())
	return func() error {
		wg.Wait()
		cancel()
		return first
	}, nil
}

// retryLocal tries to open the local socket or pipe every localRetry until
// it succeeds (it returns the listener) or ctx ends (nil). It logs a
// failure when its reason changes, and the success.
func retryLocal(ctx context.Context, path string, log *slog.Logger, last error) net.Listener {
	t := time.NewTicker(localRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ln, err := localipc.Listen(path, log)
		if err == nil {
			log.Info("admin API local socket serving", "socket", path)
			return ln
		}
		if err.Error() != last.Error() {
			log.Warn("admin API local socket still unavailable", "socket", path, "err", err)
		}
		last = err
	}
}
