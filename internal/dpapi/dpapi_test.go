package dpapi

import (
	"encoding/base64"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
)

// blob builds the fixed part of a DPAPI blob as CryptProtectData lays it
// out, with the given flags, followed by filler for the encrypted part.
func blob(flags uint32) []byte {
	b := append([]byte{}, blobHeader...)
	b = binary.LittleEndian.AppendUint32(b, 1)            // master key version
	b = append(b, []byte("0123456789abcdef")...)          // master key GUID
	b = binary.LittleEndian.AppendUint32(b, flags)        // dwFlags
	b = binary.LittleEndian.AppendUint32(b, 2)            // description length
	b = append(b, 0, 0)                                   // empty description
	return append(b, []byte(strings.Repeat("x", 120))...) // algorithms, salt, data, signature
}

func TestDecode(t *testing.T) {
	machine := blob(localMachine | 1)
	for _, in := range []string{Encode(machine), "  " + Encode(machine)[:40] + "\r\n" + Encode(machine)[40:] + "\n"} {
		b, err := Decode(in)
		if err != nil || string(b) != string(machine) {
			t.Fatalf("Decode(%q): %v", in, err)
		}
	}
	if !MachineScope(machine) || MachineScope(blob(0)) || MachineScope([]byte{1}) {
		t.Error("MachineScope misreads the flags")
	}

	// What people paste instead of the blob: never echoed.
	const secret = "Hunter2-Secret!"
	for _, c := range []struct{ in, want string }{
		{secret, "not base64"},
		{"hunter2 secret", "not base64"},
		{base64.StdEncoding.EncodeToString([]byte(secret)), "not a DPAPI blob"},
		{base64.StdEncoding.EncodeToString(blobHeader), "not a DPAPI blob"}, // too short
		{"", "empty"},
		{strings.Repeat("A", MaxEncoded+1), "longer than"},
	} {
		_, err := Decode(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%.20q): %v, want %q", c.in, err, c.want)
			continue
		}
		if c.in != "" && strings.Contains(err.Error(), c.in) || strings.Contains(err.Error(), "Hunter2") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error echoes its input: %v", err)
		}
	}
}

func TestUnsupportedOutsideWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has DPAPI")
	}
	if _, err := Protect([]byte("pw")); err != ErrUnsupported {
		t.Errorf("Protect: %v", err)
	}
	if _, err := Unprotect(blob(localMachine)); err != ErrUnsupported {
		t.Errorf("Unprotect: %v", err)
	}
}
