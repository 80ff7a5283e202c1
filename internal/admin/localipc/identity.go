package localipc

import "github.com/galmirror/galmirror/internal/fsperm"

// Who may serve and who may use the named pipe (pipe_windows.go). The
// decisions are here, free of Windows calls, so that they are tested on
// every system.

// trustedServer reports whether a pipe owned by owner may be the service's,
// for a client whose user SID is self: the service creates it owned by
// Administrators when its token holds that group (LocalSystem, an elevated
// `galmirror run`), else by its own account (NT SERVICE\galmirror under the
// virtual account, or the user running it). A user can make only itself
// the owner of what it creates, so a squatting user's pipe is refused
// unless the squatter is the client itself (no privilege boundary then).
func trustedServer(owner, self string) bool {
	switch owner {
	case fsperm.SIDSystem, fsperm.SIDAdministrators, fsperm.ServiceSID(fsperm.ServiceName), self:
		return true
	}
	return false
}

// admitClient reports whether the server (running as self) admits a
// client: SYSTEM, the service's account NT SERVICE\galmirror, the server's
// own user, or anyone whose token holds Administrators enabled (elevated;
// UAC's filtered token holds it for deny only).
func admitClient(user string, admin bool, self string) bool {
	return admin || user == fsperm.SIDSystem || user == self || user == fsperm.ServiceSID(fsperm.ServiceName)
}
