package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/syncer"
)

// isTerminal reports whether w is a terminal (a character device: a
// console on Windows, a tty elsewhere), where a progress line is welcome;
// a pipe, a file or an RMM's capture is not one.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// statusLine is a terminal's last line, kept for a progress display: what
// is written through it (the log) goes above, and the line is drawn again
// below it.
type statusLine struct {
	mu   sync.Mutex
	w    io.Writer
	text string
}

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		fmt.Fprint(s.w, "\r\033[K")
	}
	n, err := s.w.Write(p)
	if s.text != "" {
		fmt.Fprint(s.w, s.text)
	}
	return n, err
}

// set draws text as the status line ("" clears it).
func (s *statusLine) set(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\033[K"+text)
	s.text = text
}

// showProgress draws the runs' progress on line every second until stop
// is closed, then clears it; done is closed when it has.
func showProgress(p *syncer.Progress, line *statusLine, tenants int, stop <-chan struct{}) (done <-chan struct{}) {
	d := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(d)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				line.set("")
				return
			case <-tick.C:
				line.set(progressText(p, tenants, time.Since(start)))
			}
		}
	}()
	return d
}

// progressText reads "syncing 2 tenants: 312/1000 mailboxes, 45210 contacts
// written (1250/s), about 2m10s left".
func progressText(p *syncer.Progress, tenants int, elapsed time.Duration) string {
	total, done, writes := p.Snapshot()
	what := "syncing"
	if tenants > 1 {
		what = fmt.Sprintf("syncing %d tenants", tenants)
	}
	if total == 0 {
		return what + ": reading the directory"
	}
	s := fmt.Sprintf("%s: %d/%d mailboxes, %d contacts written", what, done, total, writes)
	secs := elapsed.Seconds()
	if secs >= 1 {
		s += fmt.Sprintf(" (%.0f/s)", float64(writes)/secs)
	}
	if done > 0 && done < total {
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		s += fmt.Sprintf(", about %s left", left.Round(time.Second))
	}
	return s
}
