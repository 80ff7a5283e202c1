package kdctest

import (
	"os"
	"testing"
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
