package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"connectrpc.com/connect"

	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
	"github.com/galmirror/galmirror/internal/admin/localipc"
	"github.com/galmirror/galmirror/internal/admin/negotiate"
)

// ClientOptions say how to reach and authenticate to an admin API.
type ClientOptions struct {
	// Endpoint is https://host:port of a remote service.
	Endpoint string
	// LocalPath, when set instead of Endpoint, is the service's Unix socket
	// or named pipe (localipc.DefaultPath).
	LocalPath string

	// Fingerprint pins the server certificate by SHA-256 (any format
	// ParseFingerprint takes) instead of verifying it against the system's
	// roots: the normal case, since services generate their certificate.
	Fingerprint string
	// RootCAs verifies the server certificate when Fingerprint is empty
	// (nil: the system's roots).
	RootCAs *x509.CertPool

	// Kerberos authenticates with Negotiate; TokenSource defaults to
	// negotiate.NewClientTokenSource() and SPN to HTTP/<endpoint host>.
	Kerberos    bool
	TokenSource negotiate.TokenSource
	SPN         string

	// Certificate authenticates with a client certificate.
	Certificate *tls.Certificate

	// Protocol is "connect" (default), "grpc" or "grpcweb".
	Protocol string
}

// NewClient returns an AdminService client for o.
func NewClient(o ClientOptions) (adminv1connect.AdminServiceClient, error) {
	hc, base, opts, err := newHTTPClient(o)
	if err != nil {
		return nil, err
	}
	return adminv1connect.NewAdminServiceClient(hc, base, opts...), nil
}

func newHTTPClient(o ClientOptions) (*http.Client, string, []connect.ClientOption, error) {
	var opts []connect.ClientOption
	switch o.Protocol {
	case "", "connect":
	case "grpc":
		opts = append(opts, connect.WithGRPC())
	case "grpcweb":
		opts = append(opts, connect.WithGRPCWeb())
	default:
		return nil, "", nil, fmt.Errorf("protocol %q: want connect, grpc or grpcweb", o.Protocol)
	}
	opts = append(opts, connect.WithReadMaxBytes(maxResponseBytes))

	if o.LocalPath != "" {
		if o.Endpoint != "" {
			return nil, "", nil, errors.New("give an endpoint or the local socket, not both")
		}
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		path := o.LocalPath
		tr := &http.Transport{
			Protocols: &p,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return localipc.Dial(ctx, path)
			},
		}
		return &http.Client{Transport: tr}, "http://galmirror-admin", opts, nil
	}

	u, err := url.Parse(o.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, "", nil, fmt.Errorf("endpoint %q: want https://host:port", o.Endpoint)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs, ServerName: u.Hostname()}
	if o.Fingerprint != "" {
		want, err := ParseFingerprint(o.Fingerprint)
		if err != nil {
			return nil, "", nil, err
		}
		// The pin replaces chain and name verification; it is stronger.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			if got := Fingerprint(cs.PeerCertificates[0].Raw); got != want {
				return fmt.Errorf("server certificate fingerprint is %s, not the pinned %s: wrong host, a replaced certificate, or an interception", got, want)
			}
			return nil
		}
	}
	if o.Certificate != nil {
		tc.Certificates = []tls.Certificate{*o.Certificate}
	}
	var p http.Protocols
	p.SetHTTP2(true)
	p.SetHTTP1(true)
	var rt http.RoundTripper = &http.Transport{
		TLSClientConfig:     tc,
		Protocols:           &p,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	if o.Kerberos {
		ts := o.TokenSource
		if ts == nil {
			if ts, err = negotiate.NewClientTokenSource(); err != nil {
				return nil, "", nil, err
			}
		}
		spn := o.SPN
		if spn == "" {
			spn = negotiate.SPNForHost(u.Hostname())
		}
		rt = &negotiateTransport{next: rt, ts: ts, spn: spn}
	}
	return &http.Client{Transport: rt}, "https://" + u.Host, opts, nil
}

// negotiateTransport adds a fresh Kerberos token to every request:
// Kerberos is single-leg, so no 401 round trip is needed.
type negotiateTransport struct {
	next http.RoundTripper
	ts   negotiate.TokenSource
	spn  string
}

func (t *negotiateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := t.ts.Token(r.Context(), t.spn)
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", negotiate.FormatAuthorization(tok))
	return t.next.RoundTrip(r)
}

// LoadClientCertificate reads a client certificate and its key from PEM
// files; keyFile may be empty when certFile holds both.
func LoadClientCertificate(certFile, keyFile string) (tls.Certificate, error) {
	if keyFile == "" {
		keyFile = certFile
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate %s: %w", certFile, err)
	}
	return c, nil
}
