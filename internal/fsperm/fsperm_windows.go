package fsperm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

const privateRule = `only SYSTEM, Administrators, NT SERVICE\galmirror and this process's user may own it, read it or write to it`

// ACE types (winnt.h) that grant access.
const (
	aceAllowed               = 0x0 // ACCESS_ALLOWED_ACE_TYPE
	aceAllowedCompound       = 0x4
	aceAllowedObject         = 0x5
	aceAllowedCallback       = 0x9 // same layout as ACCESS_ALLOWED_ACE, data after the SID
	aceAllowedCallbackObject = 0xB
)

// MkdirPrivate creates the folder path and any missing parents with a
// protected DACL granting full control to SYSTEM, Administrators, NT
// SERVICE\galmirror and (if it is none of these and not an administrator)
// this process's user, inherited by everything created inside. The folders
// are created with it (CreateDirectory with a security descriptor), so they
// are never open, not even for a moment. An existing folder is not changed,
// only checked: MkdirPrivate ends with CheckPrivate(path).
func MkdirPrivate(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	self, admin, err := currentUser()
	if err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(privateSDDL(privateSIDs(self, admin)))
	if err != nil {
		return fmt.Errorf("fsperm: security descriptor: %w", err)
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	if err := mkdirAll(abs, sa); err != nil {
		return err
	}
	return CheckPrivate(abs)
}

// mkdirAll is os.MkdirAll creating each missing folder with sa.
func mkdirAll(path string, sa *windows.SecurityAttributes) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &os.PathError{Op: "mkdir", Path: path, Err: windows.ERROR_ALREADY_EXISTS}
	}
	if parent := filepath.Dir(path); parent != path {
		if err := mkdirAll(parent, sa); err != nil {
			return err
		}
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	if err := windows.CreateDirectory(p, sa); err != nil {
		// Created meanwhile by someone else: CheckPrivate judges it.
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return nil
		}
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return nil
}

// MakePrivate gives the folder path (created if missing) the DACL of
// MkdirPrivate, replacing the one it has and re-applying inheritance to
// what is inside, and makes Administrators its owner unless SYSTEM,
// Administrators or NT SERVICE\galmirror owns it. It is for `galmirror
// service install`, run elevated, on galmirror's own folder
// (%ProgramData%\galmirror).
func MakePrivate(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := MkdirPrivate(abs); err == nil {
		return nil
	} else if !errors.As(err, new(*NotPrivateError)) {
		return err
	}
	self, admin, err := currentUser()
	if err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(privateSDDL(privateSIDs(self, admin)))
	if err != nil {
		return fmt.Errorf("fsperm: security descriptor: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("fsperm: security descriptor: %w", err)
	}
	if err := windows.SetNamedSecurityInfo(abs, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("set the permissions of %s: %w", abs, err)
	}
	if owner, err := ownerOf(abs); err != nil {
		return err
	} else if owner != SIDSystem && owner != SIDAdministrators && owner != ServiceSID(ServiceName) {
		ba, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
		if err != nil {
			return err
		}
		if err := windows.SetNamedSecurityInfo(abs, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION, ba, nil, nil, nil); err != nil {
			return fmt.Errorf("make Administrators the owner of %s: %w", abs, err)
		}
	}
	return CheckPrivate(abs)
}

func ownerOf(path string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("read the owner of %s: %w", path, err)
	}
	o, _, err := sd.Owner()
	if err != nil || o == nil {
		return "", fmt.Errorf("read the owner of %s: %v", path, err)
	}
	return o.String(), nil
}

// CheckPrivate returns a *NotPrivateError if anyone but SYSTEM,
// Administrators, NT SERVICE\galmirror and this process's user may read or
// write the folder path (an access-allowed entry of its DACL with a read or
// write right, whether it applies to the folder or only to what is
// created inside), or owns it.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", path)
	}
	self, admin, err := currentUser()
	if err != nil {
		return err
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("read the permissions of %s: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("read the owner of %s: %v", path, err)
	}
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) {
		dacl, err = nil, nil // no DACL at all: as open as a null one
	}
	if err != nil {
		return fmt.Errorf("read the permissions of %s: %w", path, err)
	}
	var entries []aclEntry
	if dacl != nil {
		for i := range uint32(dacl.AceCount) {
			var ace *windows.ACCESS_ALLOWED_ACE
			if err := windows.GetAce(dacl, i, &ace); err != nil {
				return fmt.Errorf("read the permissions of %s: %w", path, err)
			}
			switch ace.Header.AceType {
			case aceAllowed, aceAllowedCallback:
				sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
				entries = append(entries, aclEntry{SID: sid.String(), Mask: uint32(ace.Mask)})
			case aceAllowedCompound, aceAllowedObject, aceAllowedCallbackObject:
				entries = append(entries, aclEntry{Mask: genericAll})
			}
		}
	}
	access, offenders := exposure(owner.String(), entries, dacl == nil, trustedSIDs(self), AccountName)
	if len(access) == 0 {
		return nil
	}
	return &NotPrivateError{Path: path, Access: access,
		Fix: "(elevated cmd.exe) " + icaclsFix(path, privateSIDs(self, admin), offenders, !trustedSIDs(self)[owner.String()])}
}

// currentUser returns this process's user SID and whether its token holds
// the Administrators group enabled (elevated, or SYSTEM).
func currentUser() (sid string, admin bool, err error) {
	sid, admin, err = TokenIdentity(windows.GetCurrentProcessToken())
	if err != nil {
		return "", false, fmt.Errorf("fsperm: current user: %w", err)
	}
	return sid, admin, nil
}

// TokenIdentity returns a token's user SID and whether it holds the
// Administrators group enabled (not for deny only, as in a UAC-filtered
// token).
func TokenIdentity(tok windows.Token) (sid string, admin bool, err error) {
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", false, err
	}
	groups, err := tok.GetTokenGroups()
	if err != nil {
		return "", false, err
	}
	for _, g := range groups.AllGroups() {
		if g.Sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) &&
			g.Attributes&windows.SE_GROUP_ENABLED != 0 && g.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY == 0 {
			admin = true
		}
	}
	return tu.User.Sid.String(), admin, nil
}

// AccountName is DOMAIN\name for a SID string, or the SID itself.
func AccountName(sid string) string {
	s, err := windows.StringToSid(sid)
	if err != nil {
		return sid
	}
	if acct, dom, _, err := s.LookupAccount(""); err == nil {
		if dom == "" {
			return acct
		}
		return dom + `\` + acct
	}
	return sid
}
