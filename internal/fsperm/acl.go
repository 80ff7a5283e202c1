package fsperm

import (
	"slices"
	"strings"
)

// The Windows side's decisions, kept free of Windows calls so that they are
// tested on every system; fsperm_windows.go feeds them the folder's owner
// and DACL.

// Well-known SIDs a DACL may grant without opening the folder.
const (
	sidCreatorOwner = "S-1-3-0" // placeholders resolved at inheritance:
	sidCreatorGroup = "S-1-3-1" // they grant nothing on the folder itself
	sidOwnerRights  = "S-1-3-4" // the owner, who is checked separately
)

// Access-mask bits (winnt.h) that let a principal read or change the
// folder's contents, or the folder's DACL and owner. Traversal, reading
// attributes and READ_CONTROL are harmless.
const (
	fileReadData        = 0x1 // FILE_LIST_DIRECTORY on a folder
	fileWriteData       = 0x2 // FILE_ADD_FILE
	fileAppendData      = 0x4 // FILE_ADD_SUBDIRECTORY
	fileWriteEA         = 0x10
	fileDeleteChild     = 0x40
	fileWriteAttributes = 0x100
	accessDelete        = 0x10000
	writeDAC            = 0x40000
	writeOwner          = 0x80000
	maximumAllowed      = 0x2000000
	genericAll          = 0x10000000
	genericWrite        = 0x40000000
	genericRead         = 0x80000000

	readMask  = fileReadData | genericRead | genericAll | maximumAllowed
	writeMask = fileWriteData | fileAppendData | fileWriteEA | fileDeleteChild | fileWriteAttributes |
		accessDelete | writeDAC | writeOwner | genericWrite | genericAll | maximumAllowed
)

// aclEntry is one access-allowed entry of a DACL. SID is "" for an allow
// entry of a kind galmirror does not read (object or compound entries,
// which file systems do not use): it is treated as granting everything to
// someone unknown.
type aclEntry struct {
	SID  string
	Mask uint32
}

// privateSIDs are the principals a private folder grants full control:
// SYSTEM, Administrators, the service's account, and self (this process's
// user) unless it is one of those or an administrator (admin is true when
// self's token holds the Administrators group enabled, so an elevated
// administrator does not get a grant that also works unelevated).
func privateSIDs(self string, admin bool) []string {
	sids := []string{SIDSystem, SIDAdministrators, ServiceSID(ServiceName)}
	if !admin && !slices.Contains(sids, self) {
		sids = append(sids, self)
	}
	return sids
}

// privateSDDL is the security descriptor of a private folder: a protected
// DACL (P: nothing inherited from the parent) granting the SIDs full
// control (FA), inherited by files and folders created inside (OICI).
func privateSDDL(sids []string) string {
	var b strings.Builder
	b.WriteString("D:P")
	for _, s := range sids {
		b.WriteString("(A;OICI;FA;;;" + s + ")")
	}
	return b.String()
}

// trustedSIDs are the principals a private folder may grant: SYSTEM,
// Administrators, the service's account and this process's user.
func trustedSIDs(self string) map[string]bool {
	return map[string]bool{SIDSystem: true, SIDAdministrators: true, ServiceSID(ServiceName): true, self: true}
}

// exposure lists who, besides trusted, may read or write a folder with this
// owner and DACL (nullDACL: the folder has no DACL, so everyone has full
// access), one entry per principal in the order of the DACL; name turns a
// SID into a display name. Empty means the folder is private.
func exposure(owner string, entries []aclEntry, nullDACL bool, trusted map[string]bool, name func(sid string) string) (access, offenders []string) {
	if !trusted[owner] {
		access = append(access, "owner "+name(owner)+" (an owner can change the permissions)")
		offenders = append(offenders, owner)
	}
	if nullDACL {
		return append(access, "everyone: full control (the folder has no DACL)"), offenders
	}
	masks := map[string]uint32{}
	var order []string
	for _, e := range entries {
		switch {
		case trusted[e.SID], e.SID == sidCreatorOwner, e.SID == sidCreatorGroup, e.SID == sidOwnerRights:
			continue
		case e.Mask&(readMask|writeMask) == 0:
			continue
		}
		if _, seen := masks[e.SID]; !seen {
			order = append(order, e.SID)
		}
		masks[e.SID] |= e.Mask
	}
	for _, sid := range order {
		m := masks[sid]
		var how []string
		if m&readMask != 0 {
			how = append(how, "read")
		}
		if m&writeMask != 0 {
			how = append(how, "write")
		}
		who := "an access entry of a kind galmirror does not read"
		if sid != "" {
			who = name(sid)
			offenders = append(offenders, sid)
		}
		access = append(access, who+": "+strings.Join(how, ", "))
	}
	return access, offenders
}

// icaclsFix is the command that makes dir private: replace the DACL with
// the private grants (not inherited), take away the offenders' explicit
// grants, and give an untrusted owner's place to Administrators.
func icaclsFix(dir string, grants []string, offenders []string, ownerBad bool) string {
	q := `"` + dir + `"`
	cmd := "icacls " + q + " /inheritance:r /grant:r"
	for _, s := range grants {
		cmd += " *" + s + ":(OI)(CI)F"
	}
	var rm []string
	for _, s := range offenders {
		if !slices.Contains(rm, "*"+s) {
			rm = append(rm, "*"+s)
		}
	}
	if len(rm) > 0 {
		cmd += " && icacls " + q + " /remove:g " + strings.Join(rm, " ")
	}
	if ownerBad {
		cmd += " && icacls " + q + " /setowner *" + SIDAdministrators
	}
	return cmd
}
