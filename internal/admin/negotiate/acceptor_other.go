//go:build !windows

package negotiate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// AcceptorConfig configures NewAcceptor.
type AcceptorConfig struct {
	// Keytab is the path of the service keytab (required off Windows).
	Keytab string
	// SPN is the service principal ("HTTP/host.example.com", optionally
	// with "@REALM") that tickets must be issued for; its key in the keytab
	// decrypts them. A ticket for any other principal is refused, even one
	// whose key is in the keytab too, or is the same key (every SPN of an
	// Active Directory account shares the account's key).
	//
	// Empty accepts tickets for any HTTP/<host> principal whose key is in
	// the keytab, and for no other service class: cifs/, host/ and other
	// keys a keytab may also hold are never used.
	//
	// The service class ("HTTP") is compared exactly, the host name
	// ignoring case, as DNS names are; the realm, when given, exactly.
	SPN string
}

// keytabRecheck is how often the keytab file's modification time is checked,
// so a rotated keytab (new kvno after a password change) is picked up
// without a restart.
const keytabRecheck = 30 * time.Second

// keytabAcceptor accepts Kerberos tokens with gokrb5 and a keytab.
type keytabAcceptor struct {
	cfg AcceptorConfig
	// spn and spnRealm are cfg.SPN parsed; spn is nil when cfg.SPN is
	// empty, and spnRealm empty when cfg.SPN names no realm.
	spn      *types.PrincipalName
	spnRealm string

	mu        sync.Mutex
	kt        *keytab.Keytab
	modTime   time.Time
	checkedAt time.Time
}

// NewAcceptor returns the platform's acceptor: here gokrb5 with the keytab
// in cfg. The keytab is read now, so a missing or unreadable one is an error
// at start-up, not at the first request.
func NewAcceptor(cfg AcceptorConfig) (Acceptor, error) {
	if cfg.Keytab == "" {
		return nil, errors.New("kerberos: a keytab is required on this system (admin.kerberos.keytab)")
	}
	a := &keytabAcceptor{cfg: cfg}
	if cfg.SPN != "" {
		spn, realm := types.ParseSPNString(cfg.SPN)
		if len(spn.NameString) < 2 || strings.HasSuffix(cfg.SPN, "@") || slices.Contains(spn.NameString, "") {
			return nil, fmt.Errorf("kerberos: invalid SPN %q: use service/host, such as HTTP/galmirror.example.com (admin.kerberos.spn)", cfg.SPN)
		}
		a.spn, a.spnRealm = &spn, realm
	}
	if _, err := a.keytab(time.Now()); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *keytabAcceptor) keytab(now time.Time) (*keytab.Keytab, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kt != nil && now.Sub(a.checkedAt) < keytabRecheck {
		return a.kt, nil
	}
	a.checkedAt = now
	fi, err := os.Stat(a.cfg.Keytab)
	if err != nil {
		if a.kt != nil {
			return a.kt, nil // keep the last good keytab while it is being replaced
		}
		return nil, fmt.Errorf("kerberos keytab: %w", err)
	}
	if a.kt != nil && fi.ModTime().Equal(a.modTime) {
		return a.kt, nil
	}
	kt, err := keytab.Load(a.cfg.Keytab)
	if err == nil {
		err = a.checkKeytab(kt)
	}
	if err != nil {
		if a.kt != nil {
			return a.kt, nil
		}
		return nil, fmt.Errorf("kerberos keytab %s: %w", a.cfg.Keytab, err)
	}
	a.kt, a.modTime = kt, fi.ModTime()
	return kt, nil
}

// checkKeytab reports a keytab that holds no key this acceptor would use.
func (a *keytabAcceptor) checkKeytab(kt *keytab.Keytab) error {
	for _, e := range kt.Entries {
		if a.serves(e.Principal.Components, e.Principal.Realm) {
			return nil
		}
	}
	if a.spn == nil {
		return errors.New("it holds no HTTP/ service principal; add one, or set admin.kerberos.spn")
	}
	return fmt.Errorf("it holds no key for %s (admin.kerberos.spn)", a.cfg.SPN)
}

// serves reports whether a ticket for the service principal name@realm is
// one this acceptor accepts.
func (a *keytabAcceptor) serves(name []string, realm string) bool {
	if a.spn == nil {
		return len(name) == 2 && name[0] == "HTTP" && name[1] != ""
	}
	return sameService(name, a.spn.NameString) && (a.spnRealm == "" || realm == a.spnRealm)
}

// sameService compares service principal names: the service class exactly,
// the host (and any further component) ignoring case, as DNS names are and
// as Active Directory compares SPNs.
func sameService(a, b []string) bool {
	if len(a) != len(b) || len(a) == 0 || a[0] != b[0] {
		return false
	}
	for i := 1; i < len(a); i++ {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// keyPrincipal returns the keytab principal whose key must decrypt tkt,
// after checking that tkt names this service. That refuses a ticket the KDC
// issued for another service principal (cifs/host, host/host), whether the
// keytab holds that principal's key too or the key is the same (Active
// Directory gives every SPN of an account the account's key).
//
// The ticket's service name and realm travel in the clear, though, and
// what the key proves is only that the KDC issued the ticket for a
// principal with this key. A ticket for cifs/host whose service name was
// rewritten to HTTP/host decrypts here when the two share a key; the
// authenticator, encrypted with the session key, still limits it to its
// own client and to the clock-skew window, and the replay cache covers
// only this process. A service account of its own for the HTTP/ SPN (a
// key no other service has) closes that; see docs/admin-api.md.
func (a *keytabAcceptor) keyPrincipal(kt *keytab.Keytab, tkt *messages.Ticket) (types.PrincipalName, error) {
	sname := tkt.SName.NameString
	if !a.serves(sname, tkt.Realm) {
		want := a.cfg.SPN
		if a.spn == nil {
			want = "an HTTP/ service principal"
		}
		return types.PrincipalName{}, fmt.Errorf("%w: the ticket is for %s, not for %s (the client asked for a ticket for another service)",
			ErrRejected, unparse(tkt.SName, tkt.Realm), want)
	}
	// The keytab's spelling of the name, preferring an exact match: the
	// key lookup compares exactly.
	var found *types.PrincipalName
	for _, e := range kt.Entries {
		if e.Principal.Realm != tkt.Realm || !sameService(e.Principal.Components, sname) {
			continue
		}
		pn := types.PrincipalName{NameType: e.Principal.NameType, NameString: e.Principal.Components}
		if slices.Equal(e.Principal.Components, sname) {
			return pn, nil
		}
		if found == nil {
			found = &pn
		}
	}
	if found == nil {
		return types.PrincipalName{}, fmt.Errorf("%w: this server has no key for %s (the keytab is out of date, or the service principal is registered in another realm)",
			ErrRejected, unparse(tkt.SName, tkt.Realm))
	}
	return *found, nil
}

// Accept implements Acceptor.
func (a *keytabAcceptor) Accept(ctx context.Context, token []byte) (Identity, []byte, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, nil, err
	}
	kt, err := a.keytab(time.Now())
	if err != nil {
		return Identity{}, nil, err
	}
	apreq, err := apReqFromToken(token)
	if err != nil {
		return Identity{}, nil, err
	}
	svc, err := a.keyPrincipal(kt, &apreq.Ticket)
	if err != nil {
		return Identity{}, nil, err
	}
	// The PAC is read separately below: MIT KDCs since 1.20 add a PAC
	// without the logon information gokrb5 insists on, and a ticket is no
	// less valid for it.
	settings := service.NewSettings(kt, service.DecodePAC(false), service.KeytabPrincipal(svc.PrincipalNameString()))
	ok, creds, err := service.VerifyAPREQ(apreq, settings)
	if err != nil || !ok || creds == nil {
		return Identity{}, nil, rejectReason(err)
	}
	// The client is who the ticket says, which the KDC encrypted for this
	// service. gokrb5 takes the realm from the authenticator, which the
	// client encrypts itself with the session key: a user of a trusted
	// realm could write this realm there and pass as the user of the same
	// name here. gokrb5 compares the names; the realms are compared here.
	enc := &apreq.Ticket.DecryptedEncPart
	if len(enc.CName.NameString) == 0 || enc.CRealm == "" {
		return Identity{}, nil, fmt.Errorf("%w: the ticket names no client", ErrRejected)
	}
	client := unparse(enc.CName, enc.CRealm)
	if au := &apreq.Authenticator; !au.CName.Equal(enc.CName) || au.CRealm != enc.CRealm {
		return Identity{}, nil, fmt.Errorf("%w: the authenticator names %s, but the ticket was issued to %s",
			ErrRejected, unparse(au.CName, au.CRealm), client)
	}
	id := Identity{Principal: client}
	// Group memberships from an Active Directory PAC, whose signature
	// GetPACType checks with the service key. Without a readable PAC the
	// client simply has no group names: fewer rights, never more.
	if isPAC, pac, err := apreq.Ticket.GetPACType(kt, settings.KeytabPrincipal(), nil); isPAC && err == nil && pac.KerbValidationInfo != nil {
		info := pac.KerbValidationInfo
		if dom, user := info.LogonDomainName.Value, info.EffectiveName.Value; dom != "" && user != "" {
			// DOMAIN\user: the form Windows admins write bindings in.
			id.Aliases = append(id.Aliases, dom+`\`+user)
		}
		id.Aliases = append(id.Aliases, info.GetGroupMembershipSIDs()...)
	}
	return id, nil, nil
}

// unparse writes a principal name as MIT's krb5_unparse_name does:
// components joined by "/", then "@" and the realm, with "/", "@" and "\"
// inside a component (and "@" and "\" in the realm) escaped by a backslash,
// so that no two principals read alike: alice@GALMIRROR.TEST can only be the
// one-component name alice in the realm GALMIRROR.TEST.
func unparse(name types.PrincipalName, realm string) string {
	var b strings.Builder
	for i, c := range name.NameString {
		if i > 0 {
			b.WriteByte('/')
		}
		escape(&b, c, "/@\\")
	}
	b.WriteByte('@')
	escape(&b, realm, "@\\")
	return b.String()
}

func escape(b *strings.Builder, s, special string) {
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == 0:
			b.WriteString(`\0`)
		case strings.ContainsRune(special, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
}

// apReqFromToken extracts the Kerberos AP-REQ from a SPNEGO NegTokenInit or a
// raw GSS-API Kerberos token (some clients send that, gokrb5 issue #347).
func apReqFromToken(token []byte) (*messages.APReq, error) {
	var st spnego.SPNEGOToken
	mech := token
	if err := st.Unmarshal(token); err == nil {
		if !st.Init {
			// A NegTokenResp opens no context: it continues one.
			return nil, ErrContinueNeeded
		}
		if len(st.NegTokenInit.MechTokenBytes) == 0 {
			return nil, fmt.Errorf("%w: the SPNEGO token carries no Kerberos ticket (the client found no ticket for this service; is the SPN registered?)", ErrRejected)
		}
		mech = st.NegTokenInit.MechTokenBytes
	}
	var k5 spnego.KRB5Token
	if err := k5.Unmarshal(mech); err != nil {
		return nil, fmt.Errorf("%w: not a Kerberos token", ErrRejected)
	}
	if !k5.IsAPReq() {
		return nil, fmt.Errorf("%w: the Kerberos token is not an AP-REQ", ErrRejected)
	}
	return &k5.APReq, nil
}

// rejectReason turns a gokrb5 verification error into a message that helps
// the caller without describing the keytab.
func rejectReason(err error) error {
	var ke messages.KRBError
	if errors.As(err, &ke) {
		switch ke.ErrorCode {
		case errorcode.KRB_AP_ERR_SKEW:
			return fmt.Errorf("%w: clock skew between client and server exceeds 5 minutes", ErrRejected)
		case errorcode.KRB_AP_ERR_REPEAT:
			return fmt.Errorf("%w: replayed authenticator", ErrRejected)
		case errorcode.KRB_AP_ERR_TKT_EXPIRED:
			return fmt.Errorf("%w: the ticket has expired (renew it with kinit)", ErrRejected)
		case errorcode.KRB_AP_ERR_TKT_NYV:
			return fmt.Errorf("%w: the ticket is not yet valid", ErrRejected)
		case errorcode.KRB_AP_ERR_BADMATCH:
			return fmt.Errorf("%w: the authenticator names another client than the ticket", ErrRejected)
		}
	}
	return fmt.Errorf("%w: the ticket could not be verified (it is for another service principal, or the keytab is out of date)", ErrRejected)
}

// Close implements Acceptor.
func (a *keytabAcceptor) Close() error { return nil }
