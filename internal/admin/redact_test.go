package admin

import (
	"testing"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
)

func TestRedactorHidesPaths(t *testing.T) {
	r := &redactor{paths: func() []NamedPath {
		return []NamedPath{
			{`C:\ProgramData\galmirror`, "data directory"},
			{`C:\ProgramData\galmirror\certs\contoso.pfx`, "certificate file"},
			{"/etc/galmirror/settings.json", "settings file"},
			{"/", "root"}, // never replaced alone
		}
	}}
	hide := r.replacer()
	for in, want := range map[string]string{
		`certificate C:\ProgramData\galmirror\certs\contoso.pfx: PFX password is wrong`: `certificate [certificate file]: PFX password is wrong`,
		`open C:\ProgramData\galmirror\galmirror.db: locked`:                            `open [data directory]\galmirror.db: locked`,
		`reload /etc/galmirror/settings.json failed`:                                    `reload [settings file] failed`,
		`CA file D:\certs\proxy ca.pem: no PEM certificate`:                             `CA file [path] ca.pem: no PEM certificate`,
		`open \\fileserver\share\contoso.pfx: access denied`:                            `open [path]: access denied`,
		`stat /var/lib/other/x.pem: no such file`:                                       `stat [path]: no such file`,
		`keytab "/etc/krb5.keytab" unreadable`:                                          `keytab "[path]" unreadable`,
		// Not paths: left alone.
		`token from https://login.microsoftonline.com/contoso/oauth2/v2.0/token: AADSTS700027`: `token from https://login.microsoftonline.com/contoso/oauth2/v2.0/token: AADSTS700027`,
		`EXAMPLE\GalmirrorAdmins needs the operator role; 3/10 mailboxes at 12:30:01`:          `EXAMPLE\GalmirrorAdmins needs the operator role; 3/10 mailboxes at 12:30:01`,
		`local:uid=0(root) / cert:abcd`: `local:uid=0(root) / cert:abcd`,
		``:                              ``,
	} {
		if got := hide(in); got != want {
			t.Errorf("hide(%q)\n got %q\nwant %q", in, got, want)
		}
	}

	// Every string of a message, nested, listed and in maps.
	m := &adminv1.ListTenantsResponse{Tenants: []*adminv1.Tenant{{
		Name: "contoso", CertificateError: "certificate /etc/galmirror/settings.json x",
		LastRun: &adminv1.RunSummary{Error: `open C:\ProgramData\galmirror\certs\contoso.pfx`},
	}}}
	redact(m.ProtoReflect(), hide)
	if got := m.Tenants[0]; got.CertificateError != "certificate [settings file] x" || got.LastRun.Error != "open [certificate file]" || got.Name != "contoso" {
		t.Errorf("redacted message: %v", m)
	}
	e := &adminv1.Event{Message: "config=/etc/galmirror/settings.json", Attributes: map[string]string{"config": "/etc/galmirror/settings.json", "tenants": "2"}}
	redact(e.ProtoReflect(), hide)
	if e.Message != "config=[settings file]" || e.Attributes["config"] != "[settings file]" || e.Attributes["tenants"] != "2" {
		t.Errorf("redacted event: %v", e)
	}
	var nilMsg *adminv1.Event
	redact(nilMsg.ProtoReflect(), hide) // a stream's header flush sends nil
}
