package graphsim

import (
	"bytes"
	"errors"
	"runtime/pprof"
	"sync"
)

// cpuProfile is a CPU profile of the graphsim process in progress, taken
// through the control API so that `galmirror bench --profile` shows where
// the emulator's own CPU goes beside galmirror's.
type cpuProfile struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

var simProfile cpuProfile

// StartCPUProfile starts profiling this process's CPU.
func (s *Server) StartCPUProfile() error {
	p := &simProfile
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buf != nil {
		return errors.New("graphsim: a CPU profile is already running")
	}
	buf := &bytes.Buffer{}
	if err := pprof.StartCPUProfile(buf); err != nil {
		return err
	}
	p.buf = buf
	return nil
}

// StopCPUProfile stops the profile StartCPUProfile started and returns it
// (pprof's format).
func (s *Server) StopCPUProfile() ([]byte, error) {
	p := &simProfile
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buf == nil {
		return nil, errors.New("graphsim: no CPU profile is running")
	}
	pprof.StopCPUProfile()
	b := p.buf.Bytes()
	p.buf = nil
	return b, nil
}
