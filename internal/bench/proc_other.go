//go:build !linux && !darwin

package bench

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// processCPU is only read on Linux: graphsim's CPU is not reported here.
func processCPU(int) (time.Duration, bool) { return 0, false }

// peakRSS is not reported on this system (its rusage has no maxrss).
func peakRSS(*os.ProcessState) int64 { return 0 }

// interrupt stops a child; Windows has no signal to send a console
// process that is not attached to ours, so it is killed.
func interrupt(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// childAttr: no parent-death signal here; graphsim outlives a killed
// benchmark.
func childAttr() *syscall.SysProcAttr { return nil }
