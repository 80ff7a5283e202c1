//go:build windows

package config

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procReplaceFileW = windows.NewLazySystemDLL("kernel32.dll").NewProc("ReplaceFileW")

// replaceFileIgnoreMergeErrors is REPLACEFILE_IGNORE_MERGE_ERRORS.
const replaceFileIgnoreMergeErrors = 0x2

// replaceFile puts tmp in place of path. An existing file is replaced with
// ReplaceFileW, which keeps the replaced file's security descriptor (the
// ACL an administrator set with icacls), attributes and creation time; a
// new file is renamed into place and inherits the folder's ACL.
func replaceFile(tmp, path string, exists bool) error {
	if !exists {
		return os.Rename(tmp, path)
	}
	to, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	from, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	if err := procReplaceFileW.Find(); err != nil {
		return os.Rename(tmp, path)
	}
	r, _, e := procReplaceFileW.Call(uintptr(unsafe.Pointer(to)), uintptr(unsafe.Pointer(from)), 0, replaceFileIgnoreMergeErrors, 0, 0)
	if r == 0 {
		if errors.Is(e, windows.ERROR_FILE_NOT_FOUND) {
			return os.Rename(tmp, path)
		}
		return &os.LinkError{Op: "ReplaceFile", Old: tmp, New: path, Err: e}
	}
	return nil
}

func syncDir(string) {}

func isUnsupported(err error) bool { return errors.Is(err, errors.ErrUnsupported) }
