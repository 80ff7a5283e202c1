//go:build !linux && !windows

package localipc

import (
	"errors"
	"net"
)

// peerCred is not implemented on this system, so every local connection is
// refused: without the peer's identity the socket would be anonymous.
func peerCred(c *net.UnixConn) (Peer, error) {
	return Peer{}, errors.New("peer credentials are not supported on this system")
}
