//go:build !windows

package negotiate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// writeKeytab writes a keytab with a key for HTTP/localhost@EXAMPLE.TEST.
func writeKeytab(t testing.TB) string {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/localhost", "EXAMPLE.TEST", "service-pw", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "http.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeytabAcceptorBadInput(t *testing.T) {
	if _, err := NewAcceptor(AcceptorConfig{}); err == nil {
		t.Fatal("no keytab accepted")
	}
	if _, err := NewAcceptor(AcceptorConfig{Keytab: filepath.Join(t.TempDir(), "missing.keytab")}); err == nil {
		t.Fatal("missing keytab accepted")
	}
	kt := writeKeytab(t)
	a, err := NewAcceptor(AcceptorConfig{Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range [][]byte{{}, {0x60}, {0xa1, 0x03, 0x30, 0x01, 0x00}, []byte("garbage garbage garbage")} {
		_, _, err := a.Accept(t.Context(), tok)
		if err == nil || !(errors.Is(err, ErrRejected) || errors.Is(err, ErrContinueNeeded)) {
			t.Errorf("token %x: %v", tok, err)
		}
	}
}

func FuzzKeytabAccept(f *testing.F) {
	kt := writeKeytab(f)
	a, err := NewAcceptor(AcceptorConfig{Keytab: kt, SPN: "HTTP/localhost"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{0x60, 0x82, 0x01, 0x00, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02})
	f.Add([]byte{0xa1, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, tok []byte) {
		if _, _, err := a.Accept(t.Context(), tok); err == nil {
			t.Fatalf("token %x accepted", tok)
		}
	})
}
