//go:build windows

package localipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/galmirror/galmirror/internal/fsperm"
)

// PipeName is the admin API's named pipe.
const PipeName = `\\.\pipe\galmirror-admin`

// pipeDACL admits SYSTEM, the Administrators group and the pipe's owner
// (the service's own account, which needs access to create further
// instances when it runs as a virtual account) with full access, and no one
// else. P protects the DACL from inheritance. Administrators must run
// elevated: a UAC-filtered token holds Administrators only for deny.
const pipeDACL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)"

// firstReadTimeout bounds how long an accepted client may take to send its
// first bytes, which must arrive before it can be identified.
var firstReadTimeout = 10 * time.Second

// procImpersonateNamedPipeClient is not in golang.org/x/sys/windows.
var procImpersonateNamedPipeClient = windows.NewLazySystemDLL("advapi32.dll").NewProc("ImpersonateNamedPipeClient")

// DefaultPath returns the pipe name; the data directory plays no part.
func DefaultPath(dataDir string) string { return PipeName }

// Listen creates the named pipe and returns a listener for it.
//
// The pipe is owned by Administrators when this process's token holds that
// group enabled (LocalSystem, an elevated prompt), else by its own user
// (NT SERVICE\galmirror under the virtual account): Dial accepts only such
// owners (and the caller itself), and no other user can create a pipe so
// owned. The first instance is created with
// FILE_FLAG_FIRST_PIPE_INSTANCE, so Listen fails, naming the holder where it
// can, if another process already owns the name (squatting); the service
// then runs on and retries (svcbackend.Start). Remote clients are rejected
// by the pipe itself; local ones are identified from their token
// (ImpersonateNamedPipeClient at identification level, which works whatever
// account the service runs as) and only SYSTEM, elevated administrators,
// NT SERVICE\galmirror and the service's own user are admitted.
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	self, admin, err := fsperm.TokenIdentity(windows.GetCurrentProcessToken())
	if err != nil {
		return nil, fmt.Errorf("local admin pipe: current user: %w", err)
	}
	owner := self // always a valid owner for the process's own token
	if admin {
		owner = "BA"
	}
	sddl := "O:" + owner + pipeDACL
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("local admin pipe: security descriptor: %w", err)
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
		conns:   make(chan net.Conn),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	first, err := l.create()
	if err != nil {
		windows.CloseHandle(closeEv)
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_PIPE_BUSY) {
			return nil, fmt.Errorf("local admin pipe %s: another process holds the name (%s): %w", path, describeHolder(path), err)
		}
		return nil, fmt.Errorf("local admin pipe %s: %w", path, err)
	}
	go l.serve(first)
	return l, nil
}

type pipeListener struct {
	path    string
	sa      *windows.SecurityAttributes
	closeEv windows.Handle
	self    string
	log     *slog.Logger

	// live counts the pipe instances this listener holds (idle, being
	// identified or serving). While it is above zero the name is ours; at
	// zero the next instance must be a first one again, or it could join
	// a squatter's pipe.
	live atomic.Int32

	conns   chan net.Conn // admitted connections, for Accept
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when serve has returned
	once    sync.Once
}

// create makes an instance of the pipe.
func (l *pipeListener) create() (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(l.path)
	if err != nil {
		return 0, err
	}
	flags := uint32(windows.PIPE_ACCESS_DUPLEX | windows.FILE_FLAG_OVERLAPPED)
	if l.live.Load() == 0 {
		flags |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE | windows.PIPE_WAIT | windows.PIPE_REJECT_REMOTE_CLIENTS)
	h, err := windows.CreateNamedPipe(name, flags, mode, windows.PIPE_UNLIMITED_INSTANCES, 64<<10, 64<<10, 0, l.sa)
	if err != nil {
		return 0, err
	}
	l.live.Add(1)
	return h, nil
}

func (l *pipeListener) release(h windows.Handle) {
	windows.CloseHandle(h)
	l.live.Add(-1)
}

// serve waits for clients on one idle instance at a time and hands each
// connected one to identify, until Close.
func (l *pipeListener) serve(h windows.Handle) {
	defer close(l.stopped)
	for {
		if h == 0 {
			var err error
			if h, err = l.create(); err != nil {
				l.log.Warn("local admin pipe: cannot create an instance; trying again", "err", err)
				select {
				case <-l.done:
					return
				case <-time.After(time.Second):
				}
				continue
			}
		}
		err := l.waitConnect(h)
		if errors.Is(err, net.ErrClosed) {
			l.release(h)
			return
		}
		if err != nil {
			l.release(h)
			h = 0
			l.log.Warn("local admin pipe: connect failed", "err", err)
			continue
		}
		// Create the next instance while h is still ours (so it need not
		// be a first one), before identifying: a client arriving now
		// finds one.
		connected := h
		h, err = l.create()
		if err != nil {
			h = 0
		}
		go l.identify(connected)
	}
}

// identify reads the client's first bytes (the pipe file system
// impersonates the sender of the last message read), identifies the client
// from its token, and queues an admitted connection for Accept.
func (l *pipeListener) identify(h windows.Handle) {
	c := newPipeConn(h, l.path, func() { l.live.Add(-1) })
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(firstReadTimeout))
	n, err := c.Read(buf)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		l.log.Warn("local admin pipe: client sent nothing", "err", err)
		c.Close()
		return
	}
	var p Peer
	raw, err := c.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) { p, err = pipePeer(windows.Handle(fd), l.self) })
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		l.log.Warn(ErrPeerRefused.Error(), "err", err)
		c.Close()
		return
	}
	conn := &peerConn{Conn: &replayConn{pipeConn: c, pending: buf[:n]}, peer: p}
	select {
	case l.conns <- conn:
	case <-l.done:
		conn.Close()
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

// Accept waits for an admitted client.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and removes the pipe's idle instance; connections
// already accepted stay open.
func (l *pipeListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		windows.SetEvent(l.closeEv)
		<-l.stopped
		windows.CloseHandle(l.closeEv)
	})
	return nil
}

// Addr returns the pipe's address.
func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.path) }

// pipePeer identifies the client of h, which has sent data, from its token
// (identification level: the client allows no more, and none is needed)
// and admits it by admitClient.
func pipePeer(h windows.Handle, self string) (Peer, error) {
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(h, &pid); err != nil {
		return Peer{}, fmt.Errorf("client process id: %w", err)
	}
	tok, err := clientToken(h)
	if err != nil {
		return Peer{}, fmt.Errorf("client (pid %d): %w", pid, err)
	}
	defer tok.Close()
	sid, admin, err := fsperm.TokenIdentity(tok)
	if err != nil {
		return Peer{}, fmt.Errorf("client (pid %d): %w", pid, err)
	}
	name := fsperm.AccountName(sid)
	if !admitClient(sid, admin, self) {
		return Peer{}, fmt.Errorf("%s (pid %d) is not an elevated administrator", name, pid)
	}
	return Peer{Name: name, UID: -1, PID: int(pid), SID: sid}, nil
}

// clientToken returns the token of the client of h, by impersonating it on
// a locked thread for as long as it takes to open the thread's token.
func clientToken(h windows.Handle) (windows.Token, error) {
	runtime.LockOSThread()
	if r, _, e := procImpersonateNamedPipeClient.Call(uintptr(h)); r == 0 {
		runtime.UnlockOSThread()
		return 0, fmt.Errorf("ImpersonateNamedPipeClient: %w", e)
	}
	var tok windows.Token
	err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok)
	if rerr := windows.RevertToSelf(); rerr != nil {
		// The thread still wears the client's identity: it stays locked
		// to this goroutine, and the runtime ends it when the goroutine
		// (identify, which gives up) returns.
		if err == nil {
			tok.Close()
		}
		return 0, fmt.Errorf("RevertToSelf: %w", rerr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return 0, fmt.Errorf("client token: %w", err)
	}
	return tok, nil
}

// pipeServer returns the owner SID of the pipe whose client end is h, and
// a description of its server for messages ("process 1234, owner
// CONTOSO\mallory").
func pipeServer(h windows.Handle) (owner, desc string, err error) {
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return "", "", fmt.Errorf("read the pipe's owner: %w", err)
	}
	o, _, err := sd.Owner()
	if err != nil || o == nil {
		return "", "", fmt.Errorf("read the pipe's owner: %v", err)
	}
	owner = o.String()
	desc = "owner " + fsperm.AccountName(owner)
	var pid uint32
	if windows.GetNamedPipeServerProcessId(h, &pid) == nil {
		desc = fmt.Sprintf("process %d, %s", pid, desc)
	}
	return owner, desc, nil
}

// describeHolder says who serves the pipe path, as far as a client can
// tell.
func describeHolder(path string) string {
	h, err := openPipe(path)
	if err != nil {
		return "its server cannot be opened: " + err.Error()
	}
	defer windows.CloseHandle(h)
	_, desc, err := pipeServer(h)
	if err != nil {
		return err.Error()
	}
	return desc
}

// openPipe opens the client end of the pipe. The client allows only
// identification-level impersonation, so a server that squats the name
// can learn who called but not act as the caller.
func openPipe(path string) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
}

// Dial connects to the pipe, waiting while all instances are busy, and
// checks that the service serves it (trustedServer: the pipe is owned by
// SYSTEM, Administrators, NT SERVICE\galmirror or the caller). A pipe
// someone else created is refused before a byte is sent, so a squatter
// cannot hand administrators a certificate fingerprint to pin.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	for {
		h, err := openPipe(path)
		switch {
		case err == nil:
			return checkServer(h, path)
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

func checkServer(h windows.Handle, path string) (net.Conn, error) {
	owner, desc, err := pipeServer(h)
	if err == nil {
		var self string
		if self, _, err = fsperm.TokenIdentity(windows.GetCurrentProcessToken()); err == nil && !trustedServer(owner, self) {
			err = fmt.Errorf("it is served by %s, not by SYSTEM, Administrators or NT SERVICE\\galmirror: refusing to talk to it (another process may hold the name; the service reports event 603)", desc)
		}
	}
	if err != nil {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return newPipeConn(h, path, nil), nil
}

// pipeConn is a net.Conn over an overlapped pipe handle; os.File puts such a
// handle on the runtime's I/O completion port, which gives it deadlines and
// a Close that unblocks Read.
type pipeConn struct {
	*os.File
	addr    pipeAddr
	closed  sync.Once
	onClose func()
}

func newPipeConn(h windows.Handle, path string, onClose func()) *pipeConn {
	return &pipeConn{File: os.NewFile(uintptr(h), path), addr: pipeAddr(path), onClose: onClose}
}

func (c *pipeConn) Close() error {
	err := c.File.Close()
	c.closed.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.addr }
func (c *pipeConn) RemoteAddr() net.Addr { return c.addr }

// replayConn returns the bytes read to identify the client before reading
// on.
type replayConn struct {
	*pipeConn
	pending []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.pipeConn.Read(b)
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }
