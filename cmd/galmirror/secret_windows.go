//go:build windows

package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/windows"
)

// secretSupported: DPAPI is there.
const secretSupported = true

// readSecret reads the password from r (see readPassword). When r is a
// console, it prompts on w and turns echo off while the password is typed.
func readSecret(r io.Reader, w io.Writer) ([]byte, error) {
	f, ok := r.(*os.File)
	if !ok {
		return readPassword(r)
	}
	h := windows.Handle(f.Fd())
	var mode uint32
	if windows.GetConsoleMode(h, &mode) != nil {
		return readPassword(r) // a pipe or a file
	}
	fmt.Fprint(w, "PFX password: ")
	if err := windows.SetConsoleMode(h, mode&^windows.ENABLE_ECHO_INPUT|windows.ENABLE_LINE_INPUT|windows.ENABLE_PROCESSED_INPUT); err != nil {
		return nil, fmt.Errorf("turn console echo off: %w", err)
	}
	defer func() {
		_ = windows.SetConsoleMode(h, mode)
		fmt.Fprintln(w)
	}()
	return readPassword(r)
}
