// Package fsperm makes and checks galmirror's private folders. The data
// directory holds the customers' directory (the state database), the admin
// API's TLS key and generated certificates; whoever can write to it can
// plant a database, a SQLite -wal file or a key, and on Windows whoever can
// read it can read them all. So galmirror creates it private and refuses
// to use one that is not:
//
//   - Linux and other Unix systems (fsperm_other.go): created with mode
//     0700. Refused when the group or others may write to it (mode bits
//     0o022; with a POSIX ACL the group bits are the ACL's mask, so a named
//     user or group with write access counts too), or when its owner is
//     neither root nor this process's user. Reading is not checked: every
//     file galmirror writes there is created with mode 0600 (0644 for the
//     admin API's public certificate).
//   - Windows (fsperm_windows.go): created with a protected DACL (no
//     inheritance from the parent) granting full control to SYSTEM,
//     Administrators, the service's account NT SERVICE\galmirror and, when
//     it is none of these and not an administrator, this process's user;
//     inherited by everything created inside. Refused when anyone else may
//     read or write it (files inherit the folder's DACL, so read access to
//     the folder is read access to the database and the key) or owns it
//     (an owner can rewrite the DACL). Deny entries are not weighed: a
//     folder whose allow entries open it is refused even if a deny entry
//     would close it again.
//
// Only the folder itself is checked, not its parents: a private folder
// inside a folder others may rename entries of is out of scope.
package fsperm

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// ServiceName is the Windows service whose account (the virtual account NT
// SERVICE\galmirror) is granted the private folders. It equals
// service.ServiceName (a test there keeps them in step; this package sits
// below it).
const ServiceName = "galmirror"

// Well-known Windows SIDs, as strings.
const (
	SIDSystem         = "S-1-5-18"     // NT AUTHORITY\SYSTEM
	SIDAdministrators = "S-1-5-32-544" // BUILTIN\Administrators
)

// NotPrivateError is CheckPrivate's refusal: the folder and who else has
// access to it.
type NotPrivateError struct {
	Path string
	// Access says who else may use the folder and how, one entry per
	// principal: "BUILTIN\Users: read, write", "owner CONTOSO\bob",
	// "others: write (mode 0777)".
	Access []string
	// Fix is a command that makes the folder private.
	Fix string
}

func (e *NotPrivateError) Error() string {
	return fmt.Sprintf("folder %s is not private to galmirror (it holds the state database and keys, so %s): %s; fix it with: %s",
		e.Path, privateRule, strings.Join(e.Access, "; "), e.Fix)
}

// ServiceSID returns the SID of the Windows service account NT
// SERVICE\<name> as a string: S-1-5-80 followed by the SHA-1 of the
// upper-cased name in UTF-16LE as five little-endian 32-bit numbers. It is
// the same whether or not the service is installed.
func ServiceSID(name string) string {
	u := utf16.Encode([]rune(strings.ToUpper(name)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	h := sha1.Sum(b)
	var sb strings.Builder
	sb.WriteString("S-1-5-80")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(h[4*i:]))
	}
	return sb.String()
}
