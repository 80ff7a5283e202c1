//go:build !windows

package negotiate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// testRealm is the realm of the keytabs and tickets made here, without a
// KDC; the end-to-end tests with a real MIT KDC are in the admin package.
const testRealm = "EXAMPLE.TEST"

// writeKeytab writes a keytab with a key for each of principals (in
// testRealm, each from its own password) and returns its path and contents.
func writeKeytab(t testing.TB, principals ...string) (string, *keytab.Keytab) {
	t.Helper()
	kt := keytab.New()
	for _, p := range principals {
		if err := kt.AddEntry(p, testRealm, p+"-pw", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
			t.Fatal(err)
		}
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "service.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, kt
}

// ticket describes a token mintToken makes, as a KDC and a client would.
type ticket struct {
	// key is the keytab principal whose key encrypts the ticket.
	key string
	// sname is the service the ticket names (in the clear; default key;
	// "-" for none), srealm its realm (default testRealm).
	sname, srealm string
	// client is the client the KDC writes into the ticket, "name@REALM".
	client string
	// claim is the client the authenticator names (default client): the
	// client encrypts the authenticator itself with the session key.
	claim string
	// clearRealm, if set, replaces the ticket's realm (in the clear) after
	// it is made.
	clearRealm string
	// until is the ticket's end time (default an hour from now).
	until time.Time
}

// splitPrincipal splits "name@REALM" at the last "@".
func splitPrincipal(p string) (name, realm string) {
	i := strings.LastIndex(p, "@")
	return p[:i], p[i+1:]
}

// mintToken makes a SPNEGO NegTokenInit carrying an AP-REQ for tk, with a
// ticket valid now for an hour, encrypted with kt's key for tk.key: what a
// KDC and a client would make, without either.
func mintToken(t testing.TB, kt *keytab.Keytab, tk ticket) []byte {
	t.Helper()
	if tk.srealm == "" {
		tk.srealm = testRealm
	}
	if tk.claim == "" {
		tk.claim = tk.client
	}
	cname, crealm := splitPrincipal(tk.client)
	now := time.Now().UTC()
	if tk.until.IsZero() {
		tk.until = now.Add(time.Hour)
	}
	tkt, key, err := messages.NewTicket(types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, cname), crealm,
		types.NewPrincipalName(nametype.KRB_NT_SRV_INST, tk.key), tk.srealm, types.NewKrbFlags(), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, 1, now, now, tk.until, tk.until)
	if err != nil {
		t.Fatal(err)
	}
	claimName, claimRealm := splitPrincipal(tk.claim)
	cl := client.NewWithPassword(claimName, claimRealm, "unused", config.New())
	k5, err := spnego.NewKRB5TokenAPREQ(cl, tkt, key, []int{gssapi.ContextFlagInteg, gssapi.ContextFlagConf}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The ticket's service name and realm are not encrypted: a KDC that
	// issues cifs/host and HTTP/host with one key (Active Directory) makes
	// a ticket that differs from one for HTTP/host only there.
	switch tk.sname {
	case "":
	case "-":
		k5.APReq.Ticket.SName.NameString = nil
	default:
		k5.APReq.Ticket.SName = types.NewPrincipalName(nametype.KRB_NT_SRV_INST, tk.sname)
	}
	if tk.clearRealm != "" {
		k5.APReq.Ticket.Realm = tk.clearRealm
	}
	mech, err := k5.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes:      []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID()},
		MechTokenBytes: mech,
	}}
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeytabAcceptorBadInput(t *testing.T) {
	if _, err := NewAcceptor(AcceptorConfig{}); err == nil {
		t.Fatal("no keytab accepted")
	}
	if _, err := NewAcceptor(AcceptorConfig{Keytab: filepath.Join(t.TempDir(), "missing.keytab")}); err == nil {
		t.Fatal("missing keytab accepted")
	}
	kt, _ := writeKeytab(t, "HTTP/localhost")
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

// TestKeytabAcceptorConfig: an SPN the keytab has no key for, or a keytab
// with no HTTP/ principal when no SPN is set, is an error at start-up that
// names what is missing.
func TestKeytabAcceptorConfig(t *testing.T) {
	httpKT, _ := writeKeytab(t, "HTTP/localhost")
	cifsKT, _ := writeKeytab(t, "cifs/localhost", "host/localhost")
	for _, c := range []struct {
		cfg  AcceptorConfig
		want string // in the error; "" for none
	}{
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP/localhost"}, ""},
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP/LocalHost"}, ""},
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP/localhost@" + testRealm}, ""},
		{AcceptorConfig{Keytab: httpKT}, ""},
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP/localhost@OTHER.TEST"}, "no key for HTTP/localhost@OTHER.TEST"},
		{AcceptorConfig{Keytab: httpKT, SPN: "http/localhost"}, "no key for http/localhost"},
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP/gm01.example.test"}, "no key for HTTP/gm01.example.test"},
		{AcceptorConfig{Keytab: cifsKT}, "no HTTP/ service principal"},
		{AcceptorConfig{Keytab: cifsKT, SPN: "cifs/localhost"}, ""},
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP"}, "invalid SPN"},
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP/"}, "invalid SPN"},
		{AcceptorConfig{Keytab: httpKT, SPN: "HTTP/localhost@"}, "invalid SPN"},
	} {
		a, err := NewAcceptor(c.cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.cfg.SPN, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("SPN %q: error %v, want one saying %q", c.cfg.SPN, err, c.want)
		}
		if a != nil {
			a.Close()
		}
	}
}

// TestKeytabAcceptorClientFromTicket: the identity is the client the
// ticket names, and an authenticator naming anyone else (another realm
// above all) is refused.
func TestKeytabAcceptorClientFromTicket(t *testing.T) {
	path, kt := writeKeytab(t, "HTTP/localhost")
	a, err := NewAcceptor(AcceptorConfig{Keytab: path, SPN: "HTTP/localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tk   ticket
		want string // the principal, or the error text
		ok   bool
	}{
		{ticket{key: "HTTP/localhost", client: "alice@" + testRealm}, "alice@" + testRealm, true},
		{ticket{key: "HTTP/localhost", client: "alice@TRUSTED.TEST"}, "alice@TRUSTED.TEST", true},
		{ticket{key: "HTTP/localhost", client: "alice@TRUSTED.TEST", claim: "alice@" + testRealm},
			"the authenticator names alice@EXAMPLE.TEST, but the ticket was issued to alice@TRUSTED.TEST", false},
		{ticket{key: "HTTP/localhost", client: "alice@" + testRealm, claim: "bob@" + testRealm},
			"the authenticator names another client than the ticket", false}, // gokrb5 compares the names
		{ticket{key: "HTTP/localhost", client: "svc/gm01@" + testRealm}, "svc/gm01@" + testRealm, true},
		// Names with "@" or "/" in a component read as MIT writes them,
		// never as another principal.
		{ticket{key: "HTTP/localhost", client: "alice@EXAMPLE.TEST@TRUSTED.TEST"}, `alice\@EXAMPLE.TEST@TRUSTED.TEST`, true},
	} {
		id, _, err := a.Accept(t.Context(), mintToken(t, kt, c.tk))
		switch {
		case c.ok && err != nil:
			t.Errorf("%+v: %v", c.tk, err)
		case c.ok && id.Principal != c.want:
			t.Errorf("%+v: accepted as %q, want %q", c.tk, id.Principal, c.want)
		case !c.ok && err == nil:
			t.Errorf("%+v: accepted as %q", c.tk, id.Principal)
		case !c.ok && (!errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c.tk, err, c.want)
		}
	}
}

// TestKeytabAcceptorServiceFromTicket: a ticket is accepted only for the
// configured SPN (or an HTTP/ principal of the keytab without one), even
// when its key is the SPN's key or is in the keytab.
func TestKeytabAcceptorServiceFromTicket(t *testing.T) {
	path, kt := writeKeytab(t, "HTTP/localhost", "cifs/localhost", "HTTP/other.example.test")
	alice := "alice@" + testRealm
	for _, spn := range []string{"HTTP/localhost", "HTTP/localhost@" + testRealm, ""} {
		a, err := NewAcceptor(AcceptorConfig{Keytab: path, SPN: spn})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			tk   ticket
			want string // "" accepted, else in the error
		}{
			{ticket{key: "HTTP/localhost", client: alice}, ""},
			{ticket{key: "HTTP/localhost", sname: "HTTP/LOCALHOST", client: alice}, ""},
			// cifs/localhost sharing HTTP/localhost's key, as on an AD
			// account, and with its own key in the keytab.
			{ticket{key: "HTTP/localhost", sname: "cifs/localhost", client: alice}, "the ticket is for cifs/localhost@EXAMPLE.TEST, not for"},
			{ticket{key: "cifs/localhost", client: alice}, "the ticket is for cifs/localhost@EXAMPLE.TEST, not for"},
			{ticket{key: "HTTP/localhost", sname: "http/localhost", client: alice}, "the ticket is for http/localhost"},
			{ticket{key: "HTTP/localhost", sname: "HTTP/localhost/extra", client: alice}, "the ticket is for HTTP/localhost/extra"},
			{ticket{key: "HTTP/localhost", sname: "HTTP", client: alice}, "the ticket is for HTTP@"},
			// gokrb5 reads the first name component to choose the
			// authenticator's key usage, and panics on none.
			{ticket{key: "HTTP/localhost", sname: "-", client: alice}, "the ticket is for @EXAMPLE.TEST"},
		} {
			_, _, err := a.Accept(t.Context(), mintToken(t, kt, c.tk))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("SPN %q, %+v: %v", spn, c.tk, err)
			case c.want != "" && (err == nil || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("SPN %q, %+v: error %v, want %q", spn, c.tk, err, c.want)
			}
		}
		// The service's name in a realm the keytab has no key in.
		want := "no key for HTTP/localhost@OTHER.TEST"
		if strings.Contains(spn, "@") {
			want = "the ticket is for HTTP/localhost@OTHER.TEST, not for HTTP/localhost@" + testRealm
		}
		_, _, err = a.Accept(t.Context(), mintToken(t, kt, ticket{key: "HTTP/localhost", clearRealm: "OTHER.TEST", client: alice}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SPN %q, ticket in another realm: error %v, want %q", spn, err, want)
		}
		// Another HTTP/ principal of the keytab: only without an SPN.
		_, _, err = a.Accept(t.Context(), mintToken(t, kt, ticket{key: "HTTP/other.example.test", client: alice}))
		if (spn == "") != (err == nil) {
			t.Errorf("SPN %q, ticket for HTTP/other.example.test: %v", spn, err)
		}
	}
}

func TestUnparse(t *testing.T) {
	for _, c := range []struct {
		name  []string
		realm string
		want  string
	}{
		{[]string{"alice"}, "EXAMPLE.COM", "alice@EXAMPLE.COM"},
		{[]string{"HTTP", "gm01.example.com"}, "EXAMPLE.COM", "HTTP/gm01.example.com@EXAMPLE.COM"},
		{[]string{"alice@EXAMPLE.COM"}, "TRUSTED.EXAMPLE", `alice\@EXAMPLE.COM@TRUSTED.EXAMPLE`},
		{[]string{"a/b"}, "R", `a\/b@R`},
		{[]string{`a\`, "b"}, `R@S`, `a\\/b@R\@S`},
		{[]string{"a\nb\x00"}, "R", `a\nb\0@R`},
	} {
		if got := unparse(types.PrincipalName{NameString: c.name}, c.realm); got != c.want {
			t.Errorf("unparse(%q, %q) = %q, want %q", c.name, c.realm, got, c.want)
		}
	}
}

// The fuzz targets below take tokens as a client sends them. Their seed
// corpora in testdata/fuzz hold, besides the tokens added here, a real
// token of MIT Kerberos' GSS-API (curl --negotiate) and tokens made by
// mintToken with tickets valid until 2100, whose authenticators are long
// stale: the fuzzer mutates structures that reach every check up to the
// clock skew. testdata/fuzz/README.md says how each was made.

// FuzzAPReqFromToken: the SPNEGO and GSS-API Kerberos framing the acceptor
// unwraps before any key is used never panics, and every refusal is a
// deliberate one.
func FuzzAPReqFromToken(f *testing.F) {
	_, kt := writeKeytab(f, "HTTP/localhost")
	tok := mintToken(f, kt, ticket{key: "HTTP/localhost", client: "alice@" + testRealm})
	f.Add(tok)
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(tok); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(st.NegTokenInit.MechTokenBytes)) // the raw Kerberos token some clients send
	f.Add([]byte{0xa1, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, tok []byte) {
		ap, err := apReqFromToken(tok)
		if err != nil {
			if !errors.Is(err, ErrRejected) && !errors.Is(err, ErrContinueNeeded) {
				t.Fatalf("error %v is neither a rejection nor a continuation", err)
			}
			return
		}
		if ap == nil || ap.MsgType != msgtype.KRB_AP_REQ {
			t.Fatalf("token %x read as %+v", tok, ap)
		}
	})
}

// FuzzKeytabAccept: whatever the token, Accept does not panic, refuses
// deliberately, and accepts only a ticket for HTTP/localhost, as the client
// the ticket names (read here with gokrb5 and the keytab) and whom the
// test's own "KDC" issued tickets to: alice@EXAMPLE.TEST. The keytab also
// holds cifs/localhost, and the seeds include a ticket for it and one for
// alice@TRUSTED.TEST whose authenticator claims alice@EXAMPLE.TEST.
func FuzzKeytabAccept(f *testing.F) {
	path, kt := writeKeytab(f, "HTTP/localhost", "cifs/localhost")
	a, err := NewAcceptor(AcceptorConfig{Keytab: path, SPN: "HTTP/localhost"})
	if err != nil {
		f.Fatal(err)
	}
	alice := "alice@" + testRealm
	// Fresh tokens: each is accepted (or refused for its flaw) once, then
	// refused as a replay; mutations of their clear parts (service name,
	// realm, key version, encryption type) reach the checks made before
	// and while keys are used.
	for _, tk := range []ticket{
		{key: "HTTP/localhost", client: alice},
		{key: "HTTP/localhost", client: "alice@TRUSTED.TEST", claim: alice},
		{key: "HTTP/localhost", sname: "cifs/localhost", client: alice},
		{key: "cifs/localhost", client: alice},
		{key: "HTTP/localhost", sname: "-", client: alice},
	} {
		f.Add(mintToken(f, kt, tk))
	}
	f.Add([]byte{0x60, 0x82, 0x01, 0x00, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02})
	f.Add([]byte{0xa1, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, tok []byte) {
		id, out, err := a.Accept(t.Context(), tok)
		if err != nil {
			if !errors.Is(err, ErrRejected) && !errors.Is(err, ErrContinueNeeded) {
				t.Fatalf("error %v is neither a rejection nor a continuation", err)
			}
			return
		}
		ap, err := apReqFromToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if sn := ap.Ticket.SName.NameString; !sameService(sn, []string{"HTTP", "localhost"}) {
			t.Fatalf("ticket for %v accepted", sn)
		}
		if err := ap.Ticket.Decrypt(mustKey(t, kt, "HTTP/localhost")); err != nil {
			t.Fatalf("accepted a ticket the service key does not decrypt: %v", err)
		}
		enc := ap.Ticket.DecryptedEncPart
		if got := strings.Join(enc.CName.NameString, "/") + "@" + enc.CRealm; id.Principal != got || got != alice || out != nil {
			t.Fatalf("ticket issued to %s accepted as %+v", got, id)
		}
	})
}

// mustKey returns kt's key for the service principal spn in testRealm.
func mustKey(t testing.TB, kt *keytab.Keytab, spn string) types.EncryptionKey {
	t.Helper()
	key, _, err := kt.GetEncryptionKey(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn), testRealm, 0, etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
