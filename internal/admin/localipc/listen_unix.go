//go:build !windows

package localipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
)

// DefaultPath returns the socket path for a data directory.
func DefaultPath(dataDir string) string { return filepath.Join(dataDir, "admin.sock") }

// Listen creates the Unix socket at path (replacing a stale one) with mode
// 0600 and returns a listener whose Accept yields only connections from root
// or from this process's user; others are logged with log and closed.
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("local admin socket %s: exists and is not a socket", path)
		}
		// A socket nobody answers on is left over from a crash.
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("local admin socket %s: another galmirror service is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("local admin socket %s: remove stale socket: %w", path, err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("local admin socket: %w", err)
	}
	// The peer check below is the real guard; the mode keeps other users
	// from even connecting. Between bind and chmod the umask applies.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("local admin socket %s: %w", path, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &unixListener{UnixListener: l, uid: os.Geteuid(), log: log}, nil
}

type unixListener struct {
	*net.UnixListener
	uid int
	log *slog.Logger
}

// Accept waits for a connection from an admitted peer.
func (l *unixListener) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		p, err := peerCred(c)
		if err != nil {
			l.log.Warn("local admin connection without peer credentials refused", "err", err)
			c.Close()
			continue
		}
		if p.UID != 0 && p.UID != l.uid {
			l.log.Warn(ErrPeerRefused.Error(), "uid", p.UID, "pid", p.PID)
			c.Close()
			continue
		}
		return &peerConn{Conn: c, peer: p}, nil
	}
}

// Dial connects to the socket at path.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no galmirror service is listening on %s (is it running, with admin.localSocket on?)", path)
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%s: permission denied (run as root or as the service's user)", path)
		}
		return nil, err
	}
	return c, nil
}
