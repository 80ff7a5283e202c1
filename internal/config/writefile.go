package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic writes data to a temporary file beside path, flushes it
// to disk and puts it in place of path in one step (replaceFile): a reader
// sees the old content or the new, never a part. mode is the new file's
// permission bits (the old file's when it existed).
func writeFileAtomic(path string, data []byte, mode fs.FileMode, exists bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil && !isUnsupported(err) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := replaceFile(name, path, exists); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	syncDir(dir)
	return nil
}
