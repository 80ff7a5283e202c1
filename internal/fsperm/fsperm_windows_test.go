package fsperm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/galmirror/galmirror/internal/winetest"
)

func TestMkdirPrivateWindows(t *testing.T) {
	dir := filepath.Join(winetest.TempDir(t), "a", "data")
	if err := MkdirPrivate(dir); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(dir); err != nil {
		t.Errorf("a folder MkdirPrivate made: %v", err)
	}
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	self, admin, err := currentUser()
	if err != nil {
		t.Fatal(err)
	}
	if winetest.UnderWine() {
		// Wine keeps no file DACLs: it reads one back made from the Unix
		// mode (SYSTEM and the owner), so the protected DACL cannot be
		// compared.
		t.Logf("under Wine: the folder's DACL reads %s", sd)
	} else {
		want, _ := windows.SecurityDescriptorFromString(privateSDDL(privateSIDs(self, admin)))
		if sd.String() != want.String() {
			t.Errorf("DACL %s, want %s", sd, want)
		}
	}
	if err := MkdirPrivate(dir); err != nil {
		t.Errorf("an existing private folder: %v", err)
	}
}

// A folder Everyone may write to is refused, naming Everyone. Under Wine,
// which ignores the DACL set here, the DACL it makes up from the Unix mode
// gives Everyone read, which is refused too.
func TestCheckPrivateRefusesEveryone(t *testing.T) {
	dir := filepath.Join(winetest.TempDir(t), "open")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sd, err := windows.SecurityDescriptorFromString("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1201bf;;;WD)")
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, _ := sd.DACL()
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatal(err)
	}
	err = CheckPrivate(dir)
	var npe *NotPrivateError
	if !errors.As(err, &npe) || !strings.Contains(err.Error(), "Everyone: read") || !strings.Contains(err.Error(), "icacls \""+dir+"\" /inheritance:r") {
		t.Fatalf("CheckPrivate: %v", err)
	}
	if !winetest.UnderWine() && !strings.Contains(err.Error(), "Everyone: read, write") {
		t.Errorf("want Everyone's write access named: %v", err)
	}
	// MakePrivate (service install) closes it.
	switch err := MakePrivate(dir); {
	case err != nil && winetest.UnderWine():
		t.Logf("under Wine, which keeps no file DACLs, MakePrivate cannot close it: %v", err)
	case err != nil:
		t.Errorf("MakePrivate: %v", err)
	}
}
