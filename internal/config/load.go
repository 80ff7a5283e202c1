package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// MaxFileSize bounds the settings file Load reads; a larger file is rejected
// rather than read into memory.
const MaxFileSize = 4 << 20

// Load reads, validates and defaults the settings file at path, and the
// drop-in tenant files of the tenants.d folder beside it (TenantsDir).
//
// Every error Load returns is a configuration error (exit code 2). When the
// file could be read, the error is a *ValidationError listing every problem,
// each with the JSON path of the value and, where known, its line and column.
// Load reads no other file and no environment variable: certificate, keytab
// and CA paths are resolved against the settings file's directory (a
// drop-in's: its own) but opened by their users.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("settings file %s: is a directory", path)
	}
	if st.Size() > MaxFileSize {
		return nil, &ValidationError{File: path, Problems: []Problem{{Message: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}}
	}
	data := make([]byte, st.Size())
	if _, err := readFull(f, data); err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	c, err := Parse(path, abs, data)
	if err != nil {
		return nil, err
	}
	if err := addDropIns(c); err != nil {
		return nil, err
	}
	return c, nil
}

func readFull(f *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := f.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
