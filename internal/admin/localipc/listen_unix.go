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
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// DefaultPath returns the socket path for a data directory.
func DefaultPath(dataDir string) string { return filepath.Join(dataDir, "admin.sock") }

// Listen creates the Unix socket at path with mode 0600 and returns a
// listener whose Accept yields only connections from root or from this
// process's user; others are logged with log and closed.
//
// A socket this process's user left behind (nobody answers on it) is
// replaced. Anything else at path is left alone and Listen fails, saying
// what is there: a process listening on it (another galmirror service of
// this data directory, or one squatting the name), a socket or file of
// another user. The data directory is private (package fsperm), so only
// root or the service's user can have put it there; the service keeps
// running and retries (svcbackend.Start).
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	if err := clearStale(path); err != nil {
		return nil, fmt.Errorf("local admin socket %s: %w", path, err)
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

// clearStale removes a socket at path that this process's user left
// behind, and returns an error naming whatever else is there.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	uid := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		kind := "file"
		if fi.IsDir() {
			kind = "directory"
		}
		return fmt.Errorf("a %s of %s is in the way, and galmirror removes only its own sockets", kind, uidName(uid))
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		who := "a process"
		if p, err := peerCred(c.(*net.UnixConn)); err == nil {
			who = fmt.Sprintf("process %d of %s", p.PID, p.Name)
		}
		c.Close()
		return fmt.Errorf("%s is listening on it (another galmirror service of this data directory, or a process holding the name)", who)
	}
	if uid != os.Geteuid() {
		return fmt.Errorf("a socket of %s is in the way: nobody answers on it, but it is not this user's to remove", uidName(uid))
	}
	// A socket of ours nobody answers on is left over from a crash.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// uidName is "uid=1000(alice)", or "uid=1000" for a user without a name.
func uidName(uid int) string {
	name := "uid=" + strconv.Itoa(uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name += "(" + u.Username + ")"
	}
	return name
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
