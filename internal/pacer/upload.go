package pacer

import (
	"context"
	"fmt"
	"time"
)

// Exchange's upload budget: 150 MB of POST, PATCH and PUT bodies per 5
// minutes per (app, mailbox) (https://learn.microsoft.com/graph/throttling-limits,
// Outlook service limits). galmirror spends at most DefaultUploadBytes of it
// on large bodies (photos), leaving the rest to its contact writes.
const (
	DefaultUploadBytes  = 140 << 20
	DefaultUploadWindow = 5 * time.Minute
)

type upload struct {
	at time.Time
	n  int64
}

// Upload waits until n more bytes fit the scope's upload budget (the
// sliding window of Config.UploadWindow), then charges them. A body larger
// than the whole budget is refused at once; a context done while waiting
// charges nothing.
func (p *Pacer) Upload(ctx context.Context, scopeName string, n int64) error {
	limit, win := p.cfg.UploadBytes, p.cfg.UploadWindow
	if limit <= 0 {
		limit = DefaultUploadBytes
	}
	if win <= 0 {
		win = DefaultUploadWindow
	}
	if n > limit {
		return fmt.Errorf("pacer: %d bytes exceed the upload budget of %d bytes per %s", n, limit, win)
	}
	for {
		p.mu.Lock()
		s := p.scopeLocked(scopeName)
		now := time.Now()
		var used int64
		k := 0
		for _, u := range s.uploads {
			if now.Sub(u.at) < win {
				s.uploads[k] = u
				k++
				used += u.n
			}
		}
		s.uploads = s.uploads[:k]
		if used+n <= limit {
			s.uploads = append(s.uploads, upload{at: now, n: n})
			p.mu.Unlock()
			return nil
		}
		// Wait until enough of the oldest uploads leave the window.
		free, wait := limit-used, time.Duration(0)
		for _, u := range s.uploads {
			free += u.n
			if free >= n {
				wait = u.at.Add(win).Sub(now)
				break
			}
		}
		p.mu.Unlock()
		if err := p.sleep(ctx, max(wait, time.Millisecond)); err != nil {
			return err
		}
	}
}
