//go:build !windows

package negotiate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// AcceptorConfig configures NewAcceptor.
type AcceptorConfig struct {
	// Keytab is the path of the service keytab (required off Windows).
	Keytab string
	// SPN is the service principal ("HTTP/host.example.com") whose key in
	// the keytab decrypts tickets; empty tries the keytab's entries by the
	// ticket's service name.
	SPN string
}

// keytabRecheck is how often the keytab file's modification time is checked,
// so a rotated keytab (new kvno after a password change) is picked up
// without a restart.
const keytabRecheck = 30 * time.Second

// keytabAcceptor accepts Kerberos tokens with gokrb5 and a keytab.
type keytabAcceptor struct {
	cfg AcceptorConfig

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
	if err != nil {
		if a.kt != nil {
			return a.kt, nil
		}
		return nil, fmt.Errorf("kerberos keytab %s: %w", a.cfg.Keytab, err)
	}
	a.kt, a.modTime = kt, fi.ModTime()
	return kt, nil
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
	// The PAC is read separately below: MIT KDCs since 1.20 add a PAC
	// without the logon information gokrb5 insists on, and a ticket is no
	// less valid for it.
	opts := []func(*service.Settings){service.DecodePAC(false)}
	if a.cfg.SPN != "" {
		opts = append(opts, service.KeytabPrincipal(a.cfg.SPN))
	}
	settings := service.NewSettings(kt, opts...)
	ok, creds, err := service.VerifyAPREQ(apreq, settings)
	if err != nil || !ok || creds == nil {
		return Identity{}, nil, rejectReason(err)
	}
	id := Identity{Principal: creds.UserName() + "@" + creds.Realm()}
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
		}
	}
	return fmt.Errorf("%w: the ticket could not be verified (it is for another service principal, or the keytab is out of date)", ErrRejected)
}

// Close implements Acceptor.
func (a *keytabAcceptor) Close() error { return nil }
