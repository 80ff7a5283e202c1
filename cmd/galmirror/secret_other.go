//go:build !windows

package main

import "io"

// secretSupported: DPAPI is Windows only.
const secretSupported = false

// readSecret reads the password from r (see readPassword).
func readSecret(r io.Reader, _ io.Writer) ([]byte, error) { return readPassword(r) }
