package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
)

// Purge deletes galmirror's folder dir (settings, state, copied
// certificates) and the certificates deploy imported into LocalMachine\My
// (listed in the folder), for `service uninstall --purge` and the MSI's
// PURGE=1. A dataDir the settings put outside dir is not deleted: a note
// says so. It returns what it deleted.
func Purge(dir string) (removed, notes []string, err error) {
	var errs []error
	if b, rerr := os.ReadFile(filepath.Join(dir, importedList)); rerr == nil {
		for _, tp := range strings.Fields(string(b)) {
			if err := entra.RemoveStoreCertificate(tp); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, `certificate `+tp+` (LocalMachine\My)`)
		}
	}
	if cfg, lerr := config.Load(filepath.Join(dir, "settings.json")); lerr == nil {
		if rel, rerr := filepath.Rel(dir, cfg.DataDir); rerr != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			notes = append(notes, fmt.Sprintf("dataDir %s is outside %s and was not deleted: delete it yourself", cfg.DataDir, dir))
		}
	}
	if _, serr := os.Stat(dir); serr == nil {
		if err := removeTree(dir); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, dir)
		}
	}
	return removed, notes, errors.Join(errs...)
}

// removeTree deletes a folder entry by entry (os.RemoveAll's unlinkat
// path is not available everywhere Windows programs run, e.g. Wine).
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if err := removeTree(p); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return os.Remove(dir)
}
