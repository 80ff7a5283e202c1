// Package dpapi keeps a secret (a PFX password) in settings.json protected
// by the Windows Data Protection API in machine scope: CryptProtectData
// with CRYPTPROTECT_LOCAL_MACHINE makes a blob that only this Windows
// installation can turn back into the secret (CryptUnprotectData), so a
// copy of the settings file, a backup or an RMM log of it reveals nothing.
// On the machine itself, any process may decrypt a machine-scope blob:
// the settings file's ACL is what keeps local users out.
//
// settings.json holds the blob as standard base64 (Encode). Decode checks
// that form on every system, so a settings file is validated the same on
// Linux; Protect and Unprotect work on Windows only (ErrUnsupported
// elsewhere).
//
// No error of this package contains the secret or the blob.
package dpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is returned by Protect and Unprotect outside Windows.
var ErrUnsupported = errors.New("DPAPI-protected secrets are only available on Windows")

// Bounds. A PFX password is short; its blob is a few hundred bytes.
const (
	// MaxSecret is the longest secret Protect takes, in bytes.
	MaxSecret = 1024
	// MaxEncoded is the longest base64 text Decode takes.
	MaxEncoded = 8192
)

// entropy is passed to CryptProtectData and CryptUnprotectData: a blob
// protected by another program for another purpose does not decrypt as a
// galmirror password. It is not a secret.
const entropy = "galmirror/certificate-password/v1"

// The start of every DPAPI blob: dwVersion 1, then the provider GUID
// df9d8cd0-1501-11d1-8c7a-00c04fc297eb in its little-endian layout.
var blobHeader = []byte{
	0x01, 0x00, 0x00, 0x00,
	0xd0, 0x8c, 0x9d, 0xdf, 0x01, 0x15, 0xd1, 0x11, 0x8c, 0x7a, 0x00, 0xc0, 0x4f, 0xc2, 0x97, 0xeb,
}

// minBlob is the fixed part of a blob: version, provider, master key
// version, master key GUID, flags, description length.
const minBlob = 4 + 16 + 4 + 16 + 4 + 4

// flagsOffset is where dwFlags sits in a blob.
const flagsOffset = 4 + 16 + 4 + 16

// localMachine is CRYPTPROTECT_LOCAL_MACHINE.
const localMachine = 0x4

// Encode renders a DPAPI blob as settings.json holds it.
func Encode(blob []byte) string { return base64.StdEncoding.EncodeToString(blob) }

// Decode parses the settings form of a protected secret: the standard
// base64 of a DPAPI blob, as `galmirror secret protect` prints it (spaces
// and line breaks are ignored). It checks the blob's header, so that a
// password pasted in the blob's place is caught on any system; whether the
// blob decrypts is known only on the machine that made it.
func Decode(s string) ([]byte, error) {
	if len(s) > MaxEncoded {
		return nil, fmt.Errorf("longer than %d characters: not what galmirror secret protect prints", MaxEncoded)
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty: paste what galmirror secret protect prints")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64: paste what galmirror secret protect prints, not the password itself")
	}
	if len(b) < minBlob || !bytes.HasPrefix(b, blobHeader) {
		return nil, errors.New("not a DPAPI blob: paste what galmirror secret protect prints, not the password itself")
	}
	return b, nil
}

// MachineScope reports whether a blob says it was protected in machine
// scope (CRYPTPROTECT_LOCAL_MACHINE in its flags). It is a hint for error
// messages only: the service can decrypt machine-scope blobs made on its
// machine, and user-scope blobs only of its own account.
func MachineScope(blob []byte) bool {
	if len(blob) < minBlob {
		return false
	}
	return binary.LittleEndian.Uint32(blob[flagsOffset:])&localMachine != 0
}
