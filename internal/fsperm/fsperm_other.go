//go:build !windows

package fsperm

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

const privateRule = "only root and this process's user may own it or write to it"

// MkdirPrivate creates the folder path and any missing parents with mode
// 0700 (the umask cannot widen it), then checks path with CheckPrivate: an
// existing folder is not changed, only refused if it is not private.
func MkdirPrivate(path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	return CheckPrivate(path)
}

// CheckPrivate returns a *NotPrivateError if the group or others may write
// to the folder path, or if it is owned by a user other than root and this
// process's effective user. Symbolic links are followed (systemd's
// DynamicUser state directory is one).
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("fsperm: no owner information on this system")
	}
	e := &NotPrivateError{Path: path}
	euid := os.Geteuid()
	if uid := int(st.Uid); uid != 0 && uid != euid {
		e.Access = append(e.Access, fmt.Sprintf("owner %s (not root, not this process's user %s)", userName(uid), userName(euid)))
		e.Fix = fmt.Sprintf("chown %d %s", euid, path)
		if euid == 0 {
			// root on the service's folder: taking it over would lock the
			// service out of its own files.
			e.Fix = fmt.Sprintf("run galmirror as the folder's owner (sudo -u '#%d' galmirror ...), or ask the running service (galmirror admin --local sync TENANT)", uid)
		}
	}
	mode := fi.Mode().Perm()
	if mode&0o020 != 0 {
		e.Access = append(e.Access, fmt.Sprintf("group %s: write (mode %#o)", groupName(int(st.Gid)), mode))
	}
	if mode&0o002 != 0 {
		e.Access = append(e.Access, fmt.Sprintf("every user: write (mode %#o)", mode))
	}
	if mode&0o022 != 0 {
		fix := "chmod 700 " + path
		if e.Fix != "" {
			fix = e.Fix + " && " + fix
		}
		e.Fix = fix
	}
	if len(e.Access) > 0 {
		return e
	}
	return nil
}

func userName(uid int) string {
	s := strconv.Itoa(uid)
	if u, err := user.LookupId(s); err == nil {
		return "uid " + s + "(" + u.Username + ")"
	}
	return "uid " + s
}

func groupName(gid int) string {
	s := strconv.Itoa(gid)
	if g, err := user.LookupGroupId(s); err == nil {
		return s + "(" + g.Name + ")"
	}
	return s
}
