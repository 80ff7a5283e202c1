package fsperm

import (
	"slices"
	"strings"
	"testing"
)

func TestServiceSID(t *testing.T) {
	// The documented SID of NT SERVICE\TrustedInstaller.
	if got, want := ServiceSID("TrustedInstaller"), "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"; got != want {
		t.Errorf("ServiceSID(TrustedInstaller) = %s, want %s", got, want)
	}
	if ServiceSID("galmirror") != ServiceSID("GALMIRROR") || ServiceSID("galmirror") == ServiceSID("galmirror2") {
		t.Error("service SIDs are case-insensitive and differ between names")
	}
}

func TestPrivateSDDL(t *testing.T) {
	svc := ServiceSID(ServiceName)
	const alice = "S-1-5-21-1-2-3-1001"
	for _, c := range []struct {
		self  string
		admin bool
		want  string
	}{
		{SIDSystem, true, "D:P(A;OICI;FA;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)(A;OICI;FA;;;" + svc + ")"},
		{svc, false, "D:P(A;OICI;FA;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)(A;OICI;FA;;;" + svc + ")"},
		{alice, true, "D:P(A;OICI;FA;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)(A;OICI;FA;;;" + svc + ")"},
		{alice, false, "D:P(A;OICI;FA;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)(A;OICI;FA;;;" + svc + ")(A;OICI;FA;;;" + alice + ")"},
	} {
		if got := privateSDDL(privateSIDs(c.self, c.admin)); got != c.want {
			t.Errorf("self %s admin %v:\n got %s\nwant %s", c.self, c.admin, got, c.want)
		}
	}
}

func TestExposure(t *testing.T) {
	const (
		self          = "S-1-5-21-1-2-3-1001"
		bob           = "S-1-5-21-1-2-3-1002"
		users         = "S-1-5-32-545"
		authenticated = "S-1-5-11"
		everyone      = "S-1-1-0"
		fullControl   = 0x1f01ff
		readExecute   = 0x1200a9
	)
	names := map[string]string{users: `BUILTIN\Users`, everyone: "Everyone", authenticated: `NT AUTHORITY\Authenticated Users`}
	name := func(sid string) string {
		if n, ok := names[sid]; ok {
			return n
		}
		return sid
	}
	trusted := trustedSIDs(self)
	private := []aclEntry{{SIDSystem, fullControl}, {SIDAdministrators, fullControl}, {ServiceSID(ServiceName), fullControl}, {self, fullControl}}
	for _, c := range []struct {
		name      string
		owner     string
		entries   []aclEntry
		null      bool
		want      []string
		offenders []string
	}{
		{name: "private", owner: SIDAdministrators, entries: private},
		{name: "owned by the service account", owner: ServiceSID(ServiceName), entries: private},
		{name: "creator owner, owner rights, traverse only",
			owner: SIDSystem, entries: append(slices.Clone(private), aclEntry{sidCreatorOwner, fullControl}, aclEntry{sidOwnerRights, fullControl},
				aclEntry{everyone, 0x100020 /* traverse, synchronize */}, aclEntry{users, 0x20080 /* read attributes, read control */})},
		// %ProgramData%'s default entries, inherited by a folder made with
		// os.MkdirAll: Users may read, and create files and folders.
		{name: "ProgramData's inherited entries", owner: SIDAdministrators,
			entries: append(slices.Clone(private), aclEntry{users, readExecute}, aclEntry{users, fileWriteData | fileAppendData | fileWriteEA | fileWriteAttributes}),
			want:    []string{`BUILTIN\Users: read, write`}, offenders: []string{users}},
		{name: "Everyone read", owner: SIDAdministrators, entries: append(slices.Clone(private), aclEntry{everyone, readExecute}),
			want: []string{"Everyone: read"}, offenders: []string{everyone}},
		{name: "Authenticated Users generic write", owner: SIDAdministrators, entries: append(slices.Clone(private), aclEntry{authenticated, genericWrite}),
			want: []string{`NT AUTHORITY\Authenticated Users: write`}, offenders: []string{authenticated}},
		{name: "another user owns it", owner: bob, entries: private,
			want: []string{"owner " + bob + " (an owner can change the permissions)"}, offenders: []string{bob}},
		{name: "null DACL", owner: SIDAdministrators, null: true, want: []string{"everyone: full control (the folder has no DACL)"}},
		{name: "an object entry", owner: SIDAdministrators, entries: append(slices.Clone(private), aclEntry{"", genericAll}),
			want: []string{"an access entry of a kind galmirror does not read: read, write"}},
	} {
		got, offenders := exposure(c.owner, c.entries, c.null, trusted, name)
		if !slices.Equal(got, c.want) || !slices.Equal(offenders, c.offenders) {
			t.Errorf("%s: exposure %q offenders %q, want %q %q", c.name, got, offenders, c.want, c.offenders)
		}
	}
}

func TestIcaclsFix(t *testing.T) {
	got := icaclsFix(`C:\ProgramData\galmirror`, privateSIDs(SIDSystem, true), []string{"S-1-5-32-545", "S-1-1-0", "S-1-5-32-545"}, true)
	want := `icacls "C:\ProgramData\galmirror" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *` + ServiceSID(ServiceName) + `:(OI)(CI)F` +
		` && icacls "C:\ProgramData\galmirror" /remove:g *S-1-5-32-545 *S-1-1-0` +
		` && icacls "C:\ProgramData\galmirror" /setowner *S-1-5-32-544`
	if got != want {
		t.Errorf("fix\n got %s\nwant %s", got, want)
	}
	e := &NotPrivateError{Path: `C:\x`, Access: []string{`BUILTIN\Users: read, write`, "Everyone: read"}, Fix: "icacls ..."}
	if msg := e.Error(); !strings.Contains(msg, `C:\x`) || !strings.Contains(msg, `BUILTIN\Users: read, write; Everyone: read`) || !strings.Contains(msg, "icacls ...") {
		t.Errorf("message %q", msg)
	}
}
