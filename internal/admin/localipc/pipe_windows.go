//go:build windows

package localipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// PipeName is the admin API's named pipe.
const PipeName = `\\.\pipe\galmirror-admin`

// pipeSDDL admits SYSTEM, the Administrators group and the pipe's owner (the
// service's own account, which needs access to create further instances
// when it runs as a virtual account) with full access, and no one else. P
// protects the DACL from inheritance. Administrators must run elevated: a
// UAC-filtered token holds Administrators only for deny.
const pipeSDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)"

// DefaultPath returns the pipe name; the data directory plays no part.
func DefaultPath(dataDir string) string { return PipeName }

// Listen creates the named pipe and returns a listener for it. The first
// instance is created with FILE_FLAG_FIRST_PIPE_INSTANCE, so Listen fails if
// another process already owns the name (squatting); remote clients are
// rejected by the pipe itself.
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sd, err := windows.SecurityDescriptorFromString(pipeSDDL)
	if err != nil {
		return nil, fmt.Errorf("local admin pipe: security descriptor: %w", err)
	}
	self, err := currentUserSID()
	if err != nil {
		return nil, fmt.Errorf("local admin pipe: %w", err)
	}
	closeEv, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("local admin pipe: %w", err)
	}
	l := &pipeListener{
		path:    path,
		sa:      &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd},
		closeEv: closeEv,
		self:    self,
		log:     log,
	}
	l.next, err = l.create(true)
	if err != nil {
		windows.CloseHandle(closeEv)
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, fmt.Errorf("local admin pipe %s: another process owns it: %w", path, err)
		}
		return nil, fmt.Errorf("local admin pipe %s: %w", path, err)
	}
	return l, nil
}

type pipeListener struct {
	path    string
	sa      *windows.SecurityAttributes
	closeEv windows.Handle
	self    string
	log     *slog.Logger

	mu     sync.Mutex // serialises Accept and guards next
	next   windows.Handle
	closed bool
	once   sync.Once
}

func (l *pipeListener) create(first bool) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(l.path)
	if err != nil {
		return 0, err
	}
	flags := uint32(windows.PIPE_ACCESS_DUPLEX | windows.FILE_FLAG_OVERLAPPED)
	if first {
		flags |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE | windows.PIPE_WAIT | windows.PIPE_REJECT_REMOTE_CLIENTS)
	return windows.CreateNamedPipe(name, flags, mode, windows.PIPE_UNLIMITED_INSTANCES, 64<<10, 64<<10, 0, l.sa)
}

// Accept waits for an admitted client.
func (l *pipeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed {
			return nil, net.ErrClosed
		}
		h := l.next
		if h == 0 {
			var err error
			if h, err = l.create(false); err != nil {
				return nil, fmt.Errorf("local admin pipe: %w", err)
			}
		}
		l.next = 0
		if err := l.waitConnect(h); err != nil {
			windows.CloseHandle(h)
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.log.Warn("local admin pipe: connect failed", "err", err)
			continue
		}
		// Create the next instance before serving, so a client arriving
		// now finds one.
		if next, err := l.create(false); err == nil {
			l.next = next
		}
		p, err := pipePeer(h, l.self)
		if err != nil {
			l.log.Warn(ErrPeerRefused.Error(), "err", err)
			windows.DisconnectNamedPipe(h)
			windows.CloseHandle(h)
			continue
		}
		return &peerConn{Conn: newPipeConn(h, l.path), peer: p}, nil
	}
}

// waitConnect waits for a client on h, or for Close.
func (l *pipeListener) waitConnect(h windows.Handle) error {
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(ev)
	// Heap-allocated: the kernel writes to it until the operation ends, and
	// goroutine stacks move.
	ov := &windows.Overlapped{HEvent: ev}
	err = windows.ConnectNamedPipe(h, ov)
	switch {
	case err == nil, errors.Is(err, windows.ERROR_PIPE_CONNECTED):
		return nil
	case !errors.Is(err, windows.ERROR_IO_PENDING):
		return err
	}
	r, err := windows.WaitForMultipleObjects([]windows.Handle{ev, l.closeEv}, false, windows.INFINITE)
	var n uint32
	if err != nil || r != windows.WAIT_OBJECT_0 {
		windows.CancelIoEx(h, ov)
		windows.GetOverlappedResult(h, ov, &n, true)
		if err != nil {
			return err
		}
		return net.ErrClosed
	}
	return windows.GetOverlappedResult(h, ov, &n, false)
}

// Close stops Accept and removes the pipe's idle instance.
func (l *pipeListener) Close() error {
	l.once.Do(func() { windows.SetEvent(l.closeEv) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		if l.next != 0 {
			windows.CloseHandle(l.next)
			l.next = 0
		}
		windows.CloseHandle(l.closeEv)
	}
	return nil
}

// Addr returns the pipe's address.
func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.path) }

// pipePeer identifies the client process of h and admits SYSTEM, members of
// Administrators (enabled, so elevated) and the service's own user.
func pipePeer(h windows.Handle, self string) (Peer, error) {
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(h, &pid); err != nil {
		return Peer{}, fmt.Errorf("client process id: %w", err)
	}
	proc, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Peer{}, fmt.Errorf("open client process %d: %w", pid, err)
	}
	defer windows.CloseHandle(proc)
	var tok windows.Token
	if err := windows.OpenProcessToken(proc, windows.TOKEN_QUERY, &tok); err != nil {
		return Peer{}, fmt.Errorf("open client token: %w", err)
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return Peer{}, err
	}
	sid := tu.User.Sid.String()
	name := sid
	if acct, dom, _, err := tu.User.Sid.LookupAccount(""); err == nil {
		name = dom + `\` + acct
	}
	p := Peer{Name: name, UID: -1, PID: int(pid), SID: sid}
	if sid == self || tu.User.Sid.IsWellKnown(windows.WinLocalSystemSid) {
		return p, nil
	}
	groups, err := tok.GetTokenGroups()
	if err != nil {
		return Peer{}, err
	}
	for _, g := range groups.AllGroups() {
		if g.Sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) &&
			g.Attributes&windows.SE_GROUP_ENABLED != 0 && g.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY == 0 {
			return p, nil
		}
	}
	return Peer{}, fmt.Errorf("%s (pid %d) is not an elevated administrator", name, pid)
}

func currentUserSID() (string, error) {
	tok := windows.GetCurrentProcessToken()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("current user: %w", err)
	}
	return tu.User.Sid.String(), nil
}

// Dial connects to the pipe, waiting while all instances are busy. The
// client allows only identification-level impersonation, so a server that
// squats the name cannot act as the caller.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	for {
		h, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
			windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
		switch {
		case err == nil:
			return newPipeConn(h, path), nil
		case errors.Is(err, windows.ERROR_FILE_NOT_FOUND):
			return nil, fmt.Errorf("no galmirror service is listening on %s (is it running, with admin.localSocket on?)", path)
		case errors.Is(err, windows.ERROR_ACCESS_DENIED):
			return nil, fmt.Errorf("%s: access denied (run from an elevated prompt or as SYSTEM)", path)
		case !errors.Is(err, windows.ERROR_PIPE_BUSY):
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// pipeConn is a net.Conn over an overlapped pipe handle; os.File puts such a
// handle on the runtime's I/O completion port, which gives it deadlines and
// a Close that unblocks Read.
type pipeConn struct {
	*os.File
	addr pipeAddr
}

func newPipeConn(h windows.Handle, path string) *pipeConn {
	return &pipeConn{File: os.NewFile(uintptr(h), path), addr: pipeAddr(path)}
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.addr }
func (c *pipeConn) RemoteAddr() net.Addr { return c.addr }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }
