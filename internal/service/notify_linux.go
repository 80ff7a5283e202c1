package service

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// SystemdNotifier returns a Notifier writing to $NOTIFY_SOCKET (the
// sd_notify protocol: one datagram of newline-separated KEY=VALUE
// assignments), or a no-op Notifier when the variable is unset (not started
// by systemd with Type=notify).
func SystemdNotifier() Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nopNotifier{}
	}
	return sdNotifier{path: path}
}

type sdNotifier struct{ path string }

func (n sdNotifier) Ready() error { return n.send("READY=1\nSTATUS=running") }

// Reloading includes MONOTONIC_USEC, which systemd 253+ requires to match a
// reload to the READY=1 that ends it.
func (n sdNotifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.send("RELOADING=1\nSTATUS=reloading configuration")
	}
	usec := ts.Nano() / 1000
	return n.send("RELOADING=1\nSTATUS=reloading configuration\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

func (n sdNotifier) Stopping() error { return n.send("STOPPING=1\nSTATUS=stopping") }

func (n sdNotifier) send(msg string) error {
	addr := n.path
	if addr[0] == '@' {
		// An abstract socket: the leading @ stands for a NUL byte.
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
