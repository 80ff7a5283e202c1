// Package tunnel is galmirror's push mode: a service at a customer that
// allows no inbound connection dials out to the MSP's fleet console over
// HTTPS with a client certificate, and serves its admin API back through
// that connection.
//
// The wire protocol is deliberately plain, so that it passes corporate
// proxies and TLS terminators that know HTTP/1.1:
//
//  1. The service opens TCP to the console (through HTTPS_PROXY with
//     CONNECT when the environment names one), then TLS with its client
//     certificate, offering only HTTP/1.1 by ALPN. It checks the console's
//     server certificate against a pinned SHA-256 fingerprint or a CA.
//  2. It sends `GET <url path>/.galmirror/tunnel/v1` with
//     `Connection: Upgrade` and `Upgrade: galmirror-tunnel/1`.
//  3. The console checks the client certificate against the fingerprints
//     console.json lists for its customers and answers
//     `101 Switching Protocols` (or 403 naming the fingerprint).
//  4. From then on the roles are reversed: the service is the HTTP/2
//     server on the connection (golang.org/x/net/http2 Server.ServeConn)
//     and the console the HTTP/2 client (Transport.NewClientConn). The
//     console calls the admin API exactly as it would over a direct
//     connection; WatchEvents streams are HTTP/2 streams.
//
// Both ends send HTTP/2 PINGs when the connection has been quiet for
// PingInterval and drop it when no answer comes within PingTimeout, so a
// dead tunnel (a NAT that forgot the flow, a sleeping laptop) is noticed in
// about 30 seconds. The service then dials again with exponential back-off
// and jitter.
package tunnel

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"sync"
	"time"
)

// Protocol is the Upgrade token of the tunnel.
const Protocol = "galmirror-tunnel/1"

// Path is appended to the console URL's path for the upgrade request.
const Path = "/.galmirror/tunnel/v1"

// Defaults of both ends.
const (
	// DefaultPingInterval: a PING is sent after this long without a frame.
	DefaultPingInterval = 15 * time.Second
	// DefaultPingTimeout: the connection is dropped when a PING is not
	// answered within this long.
	DefaultPingTimeout = 15 * time.Second
	// handshakeTimeout bounds TCP, proxy CONNECT, TLS and the upgrade.
	handshakeTimeout = 30 * time.Second
	// maxStreams is the concurrent calls the service serves per tunnel.
	maxStreams = 100
)

// Fingerprint is the SHA-256 of a DER certificate as 64 lower-case hex
// digits (the form console.json and settings.json use, without "sha256:").
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// bufConn is a connection whose first bytes were read into r while the
// upgrade response or request was parsed. It hides the TLS connection state
// on purpose: through the tunnel the peer certificate is the console's (on
// the service) and the TLS roles are the reverse of the HTTP/2 ones, so
// nothing above must mistake it for a client certificate.
type bufConn struct {
	net.Conn
	r *bufio.Reader
	// peerFingerprint is the peer's certificate (the console's, on the
	// service).
	peerFingerprint string

	once   sync.Once
	closed chan struct{} // closed on the first read error or Close
}

func newBufConn(c net.Conn, r *bufio.Reader) *bufConn {
	return &bufConn{Conn: c, r: r, closed: make(chan struct{})}
}

func (c *bufConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.closed) })
	}
	return n, err
}

func (c *bufConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// done is closed when the connection has ended.
func (c *bufConn) done() <-chan struct{} { return c.closed }

// readLimited reads at most n bytes of r for an error message.
func readLimited(r io.Reader, n int64) string {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return string(b)
}
