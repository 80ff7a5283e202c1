package localipc

import (
	"testing"

	"github.com/galmirror/galmirror/internal/fsperm"
)

func TestPipeIdentityRules(t *testing.T) {
	const alice, mallory = "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"
	svc := fsperm.ServiceSID("galmirror")
	for _, c := range []struct {
		owner, self string
		want        bool
	}{
		{fsperm.SIDSystem, alice, true},
		{fsperm.SIDAdministrators, alice, true},
		{svc, fsperm.SIDSystem, true},
		{alice, alice, true},                      // your own foreground `galmirror run`
		{mallory, alice, false},                   // a squatter
		{mallory, fsperm.SIDSystem, false},        // also for an RMM script running as SYSTEM
		{"S-1-5-32-545", fsperm.SIDSystem, false}, // BUILTIN\Users
		{"S-1-5-80-1-2-3-4-5", alice, false},      // another service's account
	} {
		if got := trustedServer(c.owner, c.self); got != c.want {
			t.Errorf("trustedServer(owner %s, client %s) = %v", c.owner, c.self, got)
		}
	}
	for _, c := range []struct {
		user  string
		admin bool
		self  string
		want  bool
	}{
		{fsperm.SIDSystem, true, svc, true},
		{alice, true, svc, true},             // elevated administrator
		{alice, false, svc, false},           // the same administrator unelevated
		{svc, false, fsperm.SIDSystem, true}, // the service's account
		{alice, false, alice, true},          // the user running the service
		{mallory, false, alice, false},
	} {
		if got := admitClient(c.user, c.admin, c.self); got != c.want {
			t.Errorf("admitClient(%s, admin %v, server %s) = %v", c.user, c.admin, c.self, got)
		}
	}
}
