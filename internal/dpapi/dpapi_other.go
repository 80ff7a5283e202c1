//go:build !windows

package dpapi

// Protect is Windows only.
func Protect(secret []byte) ([]byte, error) { return nil, ErrUnsupported }

// Unprotect is Windows only.
func Unprotect(blob []byte) ([]byte, error) { return nil, ErrUnsupported }
