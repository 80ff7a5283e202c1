package console

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/webauth"
)

// AuditEntry is one line of the console's audit log (console-audit.jsonl
// in the data directory): who did what to which customer, and the result.
type AuditEntry struct {
	Time     time.Time `json:"time"`
	User     string    `json:"user"`
	Subject  string    `json:"subject"`
	Method   string    `json:"method"`
	Role     string    `json:"role"`
	Action   string    `json:"action"`
	Customer string    `json:"customer"`
	Tenant   string    `json:"tenant,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	// Result is "ok", "refused" (the user may not act) or the error.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// auditLog appends entries to a file and keeps the newest in memory for
// the audit page.
type auditLog struct {
	mu     sync.Mutex
	f      *os.File
	recent []AuditEntry
}

const auditKept = 200

func openAudit(dir string) (*auditLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("console data directory: %w", err)
	}
	path := filepath.Join(dir, "console-audit.jsonl")
	a := &auditLog{}
	if old, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(old)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e AuditEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				a.keep(e)
			}
		}
		old.Close()
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("console audit log: %w", err)
	}
	a.f = f
	return a, nil
}

func (a *auditLog) keep(e AuditEntry) {
	a.recent = append(a.recent, e)
	if len(a.recent) > auditKept {
		a.recent = a.recent[len(a.recent)-auditKept:]
	}
}

func (a *auditLog) record(u webauth.User, e AuditEntry) error {
	e.User, e.Subject, e.Method, e.Role = u.Name, u.Subject, u.Method, string(u.Role)
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keep(e)
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("console audit log: %w", err)
	}
	return nil
}

// Recent returns the newest entries, newest first.
func (a *auditLog) Recent() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AuditEntry, len(a.recent))
	for i, e := range a.recent {
		out[len(a.recent)-1-i] = e
	}
	return out
}

func (a *auditLog) Close() error { return a.f.Close() }
