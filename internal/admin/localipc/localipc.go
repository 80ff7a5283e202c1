// Package localipc serves the admin API to local administrators without
// network authentication: a Unix domain socket (mode 0600 in the private
// data directory, the peer's credentials read with SO_PEERCRED) or, on
// Windows, a named pipe whose DACL admits only SYSTEM, Administrators and
// the pipe's owner (the caller's token read by impersonating it at
// identification level). The operating system has already authenticated
// the caller; the listener only admits root, the service's own user,
// SYSTEM, NT SERVICE\galmirror and elevated administrators, and tells the
// server who connected.
//
// The other way round, a client must not trust whoever serves the name: on
// Windows any local user could create the pipe first, so Dial checks the
// pipe's owner (identity.go has the rules); on Unix the socket lives in the
// data directory, which only root and the service's user can write to.
// Listen never takes over a name another process or user holds: it fails,
// saying who holds it, and the service retries (svcbackend.Start).
//
// Platform files: listen_unix.go (+ peercred_linux.go, peercred_other.go) and
// pipe_windows.go offer the same API: Listen, Dial, DefaultPath.
package localipc

import (
	"errors"
	"net"
)

// Peer is the operating-system identity of a local caller.
type Peer struct {
	// Name is a display name for logs and the audit trail: "uid=0(root)"
	// or "NT AUTHORITY\SYSTEM".
	Name string
	// UID and PID are the caller's user and process ids (UID is -1 on
	// Windows).
	UID int
	PID int
	// SID is the caller's user SID on Windows.
	SID string
}

// Conn is a connection accepted by a Listener; it carries the peer.
type Conn interface {
	net.Conn
	// Peer returns the authenticated local caller.
	Peer() Peer
}

// ErrPeerRefused is logged when a local caller is neither root, the
// service's user, SYSTEM nor an administrator; its connection is closed.
var ErrPeerRefused = errors.New("local admin connection refused: the caller is not an administrator or the service's user")

// PeerOf returns the peer of a connection accepted by a Listener.
func PeerOf(c net.Conn) (Peer, bool) {
	if lc, ok := c.(Conn); ok {
		return lc.Peer(), true
	}
	return Peer{}, false
}

// peerConn attaches a Peer to a connection.
type peerConn struct {
	net.Conn
	peer Peer
}

func (c *peerConn) Peer() Peer { return c.peer }
