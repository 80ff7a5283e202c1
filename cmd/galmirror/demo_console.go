package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/admin"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/console"
	"github.com/galmirror/galmirror/internal/graphsim"
)

// demoConsole is `galmirror demo --console`: graphsim with three tenants
// (one whose app certificate Entra does not know, one with mailboxes
// outside the app's scope), one `galmirror run` per tenant as its own
// service with an admin endpoint on loopback, and the fleet console over
// them on listen, until ctx is done (Ctrl-C).
func demoConsole(ctx context.Context, dir, listen string, users int, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "galmirror demo: "+format+"\n", args...)
		return exitFailed
	}
	custs, err := demoConsoleTenants(users)
	if err != nil {
		return fail("%v", err)
	}
	var tenants []graphsim.Tenant
	for _, c := range custs {
		tenants = append(tenants, c.tenant)
	}
	srv, err := graphsim.Start(graphsim.Options{Tenants: tenants, Seed: 1})
	if err != nil {
		return fail("start graphsim: %v", err)
	}
	defer srv.Close()
	caFile := filepath.Join(dir, "graphsim-ca.pem")
	if err := os.WriteFile(caFile, srv.CACertPEM(), 0o644); err != nil {
		return fail("%v", err)
	}
	env, endpointCA := demoTrust(caFile)

	// The console's own client certificate, pinned by every service.
	certFile, consoleFP, err := writeDemoClientCert(dir, "galmirror-console")
	if err != nil {
		return fail("%v", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail("%v", err)
	}
	var customers []console.Customer
	var children []*exec.Cmd
	defer func() {
		for _, c := range children {
			// Windows cannot deliver an interrupt to another process: the
			// services are ended there, as a closed console window ends them.
			if c.Process.Signal(os.Interrupt) != nil {
				_ = c.Process.Kill()
			}
		}
		for _, c := range children {
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = c.Process.Kill()
				<-done
			}
		}
	}()
	for _, c := range custs {
		cu, cmd, err := startDemoService(ctx, dir, self, env, endpointCA, srv, c, consoleFP)
		if cmd != nil {
			children = append(children, cmd)
		}
		if err != nil {
			return fail("%v", err)
		}
		customers = append(customers, cu)
		fmt.Fprintf(stdout, "service for %-10s admin endpoint %s (log %s)\n", c.name, cu.Address, filepath.Join(dir, c.name, "service.log"))
	}
	cfgDoc := map[string]any{
		"listen":            listen,
		"dataDir":           "console-state",
		"poll":              map[string]any{"every": "5s", "timeout": "5s"},
		"clientCertificate": map[string]any{"file": certFile},
		"customers":         customers,
	}
	b, _ := json.MarshalIndent(cfgDoc, "", "  ")
	cfgPath := filepath.Join(dir, "console.json")
	if err := os.WriteFile(cfgPath, append(b, '\n'), 0o600); err != nil {
		return fail("%v", err)
	}
	cfg, err := console.LoadConfig(cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "console settings: %s\n", cfgPath)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return serveConsole(ctx, cfg, log, stdout, stderr, func(url string) {
		fmt.Fprintf(stdout, "\nOpen %s in a browser (Ctrl-C stops the demo).\n", url)
		openBrowser(url)
	})
}

// addDemoAdmin gives the service an admin endpoint on loopback that admits
// the console's certificate as an operator.
func addDemoAdmin(settings string, port int, consoleFP string) error {
	b, err := os.ReadFile(settings)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	doc["admin"] = map[string]any{
		"listen":             fmt.Sprintf("127.0.0.1:%d", port),
		"clientCertificates": map[string]any{"pinned": []string{consoleFP}},
		"roles":              []any{map[string]any{"principal": "cert:" + consoleFP, "role": "operator"}},
	}
	for _, t := range doc["tenants"].([]any) {
		t.(map[string]any)["schedule"] = map[string]any{"every": "15m"}
	}
	b, _ = json.MarshalIndent(doc, "", "  ")
	return os.WriteFile(settings, append(b, '\n'), 0o600)
}

// waitForAdmin waits for a starting service's local socket and returns
// its admin certificate's fingerprint.
func waitForAdmin(ctx context.Context, dataDir string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := localipc.Dial(ctx, localipc.DefaultPath(dataDir)); err == nil {
			c.Close()
			return admin.StoredFingerprint(dataDir)
		}
		if time.Now().After(deadline) {
			return "", errors.New("no admin socket after 30s")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeDemoClientCert writes a self-signed client certificate with its key
// (one PEM file) and returns the file and its fingerprint.
func writeDemoClientCert(dir, cn string) (string, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	out := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	path := filepath.Join(dir, cn+".pem")
	return path, admin.Fingerprint(der), os.WriteFile(path, out, 0o600)
}

// demoCustomer is one of the demo's tenants with its app credential.
type demoCustomer struct {
	name   string
	tenant graphsim.Tenant
	cred   graphsim.AppCredential
}

// demoConsoleTenants generates contoso (fine), fabrikam (a few mailboxes
// outside the app's scope) and northwind (an app certificate Entra does
// not know).
func demoConsoleTenants(users int) ([]demoCustomer, error) {
	var custs []demoCustomer
	for i, name := range []string{"contoso", "fabrikam", "northwind"} {
		tn, cred, err := graphsim.Generate(graphsim.GenerateOptions{Users: users + 10*i, Groups: 4, Seed: int64(11 + i), Name: name})
		if err != nil {
			return nil, fmt.Errorf("generate a tenant: %w", err)
		}
		switch name {
		case "fabrikam":
			n := 0
			for j := range tn.Users {
				if (tn.Users[j].Mailbox == "" || tn.Users[j].Mailbox == graphsim.MailboxNormal) && j%7 == 3 && n < 3 {
					tn.Users[j].Mailbox = graphsim.MailboxOutOfScope
					n++
				}
			}
		case "northwind":
			_, stranger, err := graphsim.NewApp("stranger")
			if err != nil {
				return nil, err
			}
			cred.CertPEM, cred.KeyPEM = stranger.CertPEM, stranger.KeyPEM
		}
		custs = append(custs, demoCustomer{name, tn, cred})
	}
	return custs, nil
}

// startDemoService writes a customer's settings with an admin endpoint
// that admits the console, starts `galmirror run` on them, and waits for
// its admin socket. The command is returned once started, also with an
// error, so that the caller stops it.
func startDemoService(ctx context.Context, dir, self string, env []string, endpointCA string, srv *graphsim.Server, c demoCustomer, consoleFP string) (console.Customer, *exec.Cmd, error) {
	cdir := filepath.Join(dir, c.name)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return console.Customer{}, nil, err
	}
	settings, err := writeDemoSettings(cdir, srv, c.tenant, c.cred, endpointCA)
	if err != nil {
		return console.Customer{}, nil, err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return console.Customer{}, nil, err
	}
	if err := addDemoAdmin(settings, port, consoleFP); err != nil {
		return console.Customer{}, nil, err
	}
	logf, err := os.Create(filepath.Join(cdir, "service.log"))
	if err != nil {
		return console.Customer{}, nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.CommandContext(context.WithoutCancel(ctx), self, "run", "--config", settings)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return console.Customer{}, nil, fmt.Errorf("start the service of %s: %w", c.name, err)
	}
	fp, err := waitForAdmin(ctx, filepath.Join(cdir, "state"))
	if err != nil {
		return console.Customer{}, cmd, fmt.Errorf("the service of %s did not start (%s): %w", c.name, filepath.Join(cdir, "service.log"), err)
	}
	return console.Customer{Name: c.name, Address: fmt.Sprintf("https://127.0.0.1:%d", port), Fingerprint: fp}, cmd, nil
}
