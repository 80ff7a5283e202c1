package negotiate

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	krb := []byte{0x60, 0x82, 0x01, 0x00, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	ntlmRaw := append([]byte("NTLMSSP\x00"), 1, 0, 0, 0)
	// A SPNEGO NegTokenInit offering NTLM first, with the NTLM message.
	spnegoNTLM := append(append([]byte{0x60, 0x40, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x30, 0x30, 0x2e, 0xa0, 0x0e, 0x30, 0x0c}, ntlmOID...), ntlmRaw...)
	cases := []struct {
		header string
		ok     bool
		err    error
		token  []byte
	}{
		{"", false, nil, nil},
		{"Basic dXNlcjpwdw==", false, nil, nil},
		{"Negotiate " + base64.StdEncoding.EncodeToString(krb), true, nil, krb},
		{"negotiate  " + base64.StdEncoding.EncodeToString(krb), true, nil, krb},
		{"Negotiate", true, ErrMalformed, nil},
		{"Negotiate !!!", true, ErrMalformed, nil},
		{"Negotiate " + strings.Repeat("A", 4*MaxTokenBytes/3+8), true, ErrMalformed, nil},
		{"NTLM " + base64.StdEncoding.EncodeToString(ntlmRaw), true, ErrNTLM, nil},
		{"Negotiate " + base64.StdEncoding.EncodeToString(ntlmRaw), true, ErrNTLM, nil},
		{"Negotiate " + base64.StdEncoding.EncodeToString(spnegoNTLM), true, ErrNTLM, nil},
	}
	for _, c := range cases {
		tok, ok, err := ParseAuthorization(c.header)
		if ok != c.ok || !errors.Is(err, c.err) || string(tok) != string(c.token) {
			t.Errorf("ParseAuthorization(%.40q) = %x, %v, %v; want %x, %v, %v", c.header, tok, ok, err, c.token, c.ok, c.err)
		}
	}
}

func TestSPNForHost(t *testing.T) {
	if got := SPNForHost("GM01.Contoso.Example."); got != "HTTP/gm01.contoso.example" {
		t.Fatal(got)
	}
}

// FuzzParseAuthorization: any header value is read without a panic, into
// a token no longer than MaxTokenBytes, and a token read is the one
// FormatAuthorization writes. Its corpus in testdata/fuzz holds a real
// header of curl --negotiate with MIT Kerberos.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("Negotiate YIIBAAYGKwYBBQUC")
	f.Add("NTLM TlRMTVNTUAABAAAA")
	f.Add("Negotiate ")
	f.Add("negotiate \t oYIBAAYGKwYBBQUC= ")
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok, err := ParseAuthorization(h)
		if err == nil && ok && len(tok) == 0 {
			t.Fatalf("%q: empty token accepted", h)
		}
		if len(tok) > MaxTokenBytes {
			t.Fatalf("%q: token of %d bytes", h, len(tok))
		}
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNTLM) {
			t.Fatalf("%q: error %v is neither ErrMalformed nor ErrNTLM", h, err)
		}
		if err == nil && ok {
			again, ok2, err2 := ParseAuthorization(FormatAuthorization(tok))
			if !ok2 || err2 != nil || string(again) != string(tok) {
				t.Fatalf("%q: token %x reads back as %x, %v, %v", h, tok, again, ok2, err2)
			}
		}
	})
}
