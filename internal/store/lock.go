package store

import (
	"fmt"
	"os"
	"path/filepath"
)

// tenantLock is an exclusive OS file lock on dataDir/locks/<tenant>.lock,
// held for the length of a run. The OS releases it when the process dies,
// so a crashed run never blocks the next one, and two processes (the
// service and a `galmirror sync`) can never run one tenant at once.
type tenantLock struct {
	f *os.File
}

func lockTenant(dir, tenant string) (*tenantLock, bool, error) {
	ldir := filepath.Join(dir, "locks")
	if err := os.MkdirAll(ldir, 0o700); err != nil {
		return nil, false, fmt.Errorf("store: lock directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(ldir, lockName(tenant)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("store: lock file: %w", err)
	}
	ok, err := tryLock(f)
	if err != nil || !ok {
		f.Close()
		return nil, false, err
	}
	return &tenantLock{f: f}, true, nil
}

func (l *tenantLock) unlock() {
	unlockFile(l.f)
	l.f.Close()
}

// lockName maps a tenant name to a safe file name. Config restricts names to
// a-z0-9._- already; anything else is hex-escaped so that no name can
// escape the lock directory.
func lockName(tenant string) string {
	b := make([]byte, 0, len(tenant)+5)
	for i := 0; i < len(tenant); i++ {
		c := tenant[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0 {
			b = append(b, c)
		} else {
			b = append(b, fmt.Sprintf("%%%02x", c)...)
		}
	}
	return string(b) + ".lock"
}
