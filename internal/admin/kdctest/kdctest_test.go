package kdctest

import (
	"bytes"
	"os"
	"testing"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestStart(t *testing.T) {
	k := Start(t)
	k.AddUser("alice", "alice-pw")
	kt := k.AddService("HTTP/localhost")
	if fi, err := os.Stat(kt); err != nil || fi.Size() == 0 {
		t.Fatalf("keytab %s: %v", kt, err)
	}
	cc := k.Kinit("alice", "alice-pw")
	if fi, err := os.Stat(cc); err != nil || fi.Size() == 0 {
		t.Fatalf("ccache %s: %v", cc, err)
	}
}

// TestTrust: a user of the trusted realm gets a ticket for a service of
// Realm across the trust, and the ticket names her in her own realm.
func TestTrust(t *testing.T) {
	k := StartWithTrust(t)
	k.AddUser("alice@"+TrustedRealm, "t-alice-pw")
	kt := k.AddService("HTTP/localhost")
	cc := k.Kinit("alice@"+TrustedRealm, "t-alice-pw")
	k.ServiceTicket(cc, "HTTP/localhost@"+Realm)

	c, err := credentials.LoadCCache(cc)
	if err != nil {
		t.Fatal(err)
	}
	cred, ok := c.GetEntry(types.NewPrincipalName(0, "HTTP/localhost"))
	if !ok {
		t.Fatalf("no ticket for HTTP/localhost in %s", cc)
	}
	var tkt messages.Ticket
	if err := tkt.Unmarshal(cred.Ticket); err != nil {
		t.Fatal(err)
	}
	ktab, err := keytab.Load(kt)
	if err != nil {
		t.Fatal(err)
	}
	if err := tkt.DecryptEncPart(ktab, nil); err != nil {
		t.Fatalf("the service key does not decrypt the cross-realm ticket: %v", err)
	}
	enc := tkt.DecryptedEncPart
	if got := enc.CName.PrincipalNameString() + "@" + enc.CRealm; got != "alice@"+TrustedRealm || tkt.Realm != Realm {
		t.Fatalf("ticket for %s in realm %s", got, tkt.Realm)
	}
}

// TestServicesSharingKey: principals made by AddServicesSharingKey have one
// key and one key version, and Keytab exports them without changing it.
func TestServicesSharingKey(t *testing.T) {
	k := Start(t)
	k.AddServicesSharingKey("HTTP/localhost", "cifs/localhost")
	kt, err := keytab.Load(k.Keytab("HTTP/localhost", "cifs/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Entries) != 2 {
		t.Fatalf("%d keytab entries, want 2", len(kt.Entries))
	}
	a, b := kt.Entries[0], kt.Entries[1]
	if !bytes.Equal(a.Key.KeyValue, b.Key.KeyValue) || a.KVNO != b.KVNO {
		t.Fatalf("%v (kvno %d) and %v (kvno %d) have different keys", a.Principal.Components, a.KVNO, b.Principal.Components, b.KVNO)
	}
	// Exported again: the same key (no -randkey on export).
	again, err := keytab.Load(k.Keytab("HTTP/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Entries[0].Key.KeyValue, a.Key.KeyValue) {
		t.Fatal("Keytab changed the key")
	}
}
