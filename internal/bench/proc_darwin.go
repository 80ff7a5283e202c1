package bench

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// processCPU is not available without cgo on macOS: graphsim's CPU is not
// reported there.
func processCPU(int) (time.Duration, bool) { return 0, false }

// peakRSS is a finished child's peak resident set size in bytes (macOS
// reports ru_maxrss in bytes).
func peakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

// interrupt asks a child to stop as Ctrl-C would.
func interrupt(cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }

// childAttr: macOS has no parent-death signal; graphsim outlives a killed
// benchmark there.
func childAttr() *syscall.SysProcAttr { return nil }
