//go:build !windows

package config

import (
	"errors"
	"os"
	"syscall"
)

// replaceFile renames tmp over path. On Unix the new file carries the
// permission bits writeFileAtomic gave it; ownership is the writer's, so a
// settings file owned by another user (root editing the service's file)
// keeps its owner when the writer may chown.
func replaceFile(tmp, path string, exists bool) error {
	if exists {
		if st, err := os.Stat(path); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				_ = os.Lchown(tmp, int(sys.Uid), int(sys.Gid))
			}
		}
	}
	return os.Rename(tmp, path)
}

// syncDir flushes the directory entry of the rename.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func isUnsupported(err error) bool { return errors.Is(err, errors.ErrUnsupported) }
