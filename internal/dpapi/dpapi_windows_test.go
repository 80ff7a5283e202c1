//go:build windows

package dpapi

import (
	"strings"
	"testing"
)

// A round trip through CryptProtectData and CryptUnprotectData in machine
// scope. It runs on Windows only.
func TestProtectUnprotect(t *testing.T) {
	const secret = "Correct-Horse-9"
	b, err := Protect([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if !MachineScope(b) {
		t.Errorf("the blob is not in machine scope")
	}
	d, err := Decode(Encode(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unprotect(d)
	if err != nil || string(got) != secret {
		t.Fatalf("Unprotect: %q, %v", got, err)
	}
	d[len(d)-1] ^= 0xff
	if _, err := Unprotect(d); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("a damaged blob: %v", err)
	}
}
