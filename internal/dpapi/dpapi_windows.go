//go:build windows

package dpapi

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Protect encrypts secret for this machine (CryptProtectData with
// CRYPTPROTECT_LOCAL_MACHINE, never showing a prompt) and returns the
// DPAPI blob.
func Protect(secret []byte) ([]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("nothing to protect: the secret is empty")
	case len(secret) > MaxSecret:
		return nil, fmt.Errorf("the secret is longer than %d bytes", MaxSecret)
	}
	in := blobOf(secret)
	ent := blobOf([]byte(entropy))
	var out windows.DataBlob
	err := windows.CryptProtectData(&in, nil, &ent, 0, nil,
		windows.CRYPTPROTECT_LOCAL_MACHINE|windows.CRYPTPROTECT_UI_FORBIDDEN, &out)
	if err != nil {
		return nil, fmt.Errorf("CryptProtectData: %w", err)
	}
	return takeBlob(&out), nil
}

// Unprotect decrypts a blob Protect made on this machine.
func Unprotect(blob []byte) ([]byte, error) {
	if len(blob) == 0 {
		return nil, errors.New("empty blob")
	}
	in := blobOf(blob)
	ent := blobOf([]byte(entropy))
	var out windows.DataBlob
	err := windows.CryptUnprotectData(&in, nil, &ent, 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out)
	if err != nil {
		hint := "was it made on this machine by galmirror secret protect?"
		if !MachineScope(blob) {
			hint = "it was protected for a user account, not for this machine: make it with galmirror secret protect"
		}
		return nil, fmt.Errorf("CryptUnprotectData: %w (%s)", err, hint)
	}
	secret := takeBlob(&out)
	return secret, nil
}

func blobOf(b []byte) windows.DataBlob {
	return windows.DataBlob{Size: uint32(len(b)), Data: unsafe.SliceData(b)}
}

// takeBlob copies a blob Windows allocated, wipes and frees it.
func takeBlob(out *windows.DataBlob) []byte {
	if out.Data == nil {
		return nil
	}
	src := unsafe.Slice(out.Data, out.Size)
	b := append([]byte(nil), src...)
	clear(src)
	_, _ = windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	return b
}
