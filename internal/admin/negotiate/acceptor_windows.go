//go:build windows

package negotiate

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/alexbrainman/sspi/negotiate"
	"golang.org/x/sys/windows"
)

// AcceptorConfig configures NewAcceptor.
type AcceptorConfig struct {
	// Keytab must be empty on Windows: SSPI decrypts tickets with the
	// machine account's keys (the service runs as LocalSystem, NetworkService
	// or a virtual account, all of which authenticate as the machine).
	Keytab string
	// SPN is informational on Windows: SSPI accepts tickets for every SPN
	// registered on the machine account (setspn -S HTTP/host.fqdn HOST$).
	SPN string
}

// sspiAcceptor accepts Negotiate tokens with SSPI.
type sspiAcceptor struct {
	cred interface{ Release() error }
	new  func(token []byte) (*negotiate.ServerContext, bool, []byte, error)
}

// NewAcceptor returns the platform's acceptor: here SSPI's Negotiate package
// with the credentials of the account the service runs as.
func NewAcceptor(cfg AcceptorConfig) (Acceptor, error) {
	if cfg.Keytab != "" {
		return nil, errors.New("kerberos: admin.kerberos.keytab must be empty on Windows (SSPI uses the machine account)")
	}
	cred, err := negotiate.AcquireServerCredentials("")
	if err != nil {
		return nil, fmt.Errorf("kerberos: acquire SSPI server credentials: %w", err)
	}
	return &sspiAcceptor{
		cred: cred,
		new: func(token []byte) (*negotiate.ServerContext, bool, []byte, error) {
			return negotiate.NewServerContext(cred, token)
		},
	}, nil
}

// Accept implements Acceptor.
func (a *sspiAcceptor) Accept(ctx context.Context, token []byte) (Identity, []byte, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, nil, err
	}
	sc, done, out, err := a.new(token)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("%w: SSPI refused the token (wrong SPN, clock skew, or an untrusted realm): %v", ErrRejected, err)
	}
	defer sc.Release()
	if !done {
		// Kerberos completes in one leg; NTLM (which SSPI falls back to
		// when the client has no ticket) never does.
		return Identity{}, nil, ErrContinueNeeded
	}
	name, err := sc.GetUsername()
	if err != nil {
		return Identity{}, nil, fmt.Errorf("%w: read the client name: %v", ErrRejected, err)
	}
	id := Identity{Principal: name}
	id.Aliases, err = contextGroups(sc)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("%w: read the client's groups: %v", ErrRejected, err)
	}
	return id, out, nil
}

// contextGroups returns the enabled group SIDs and their DOMAIN\name of the
// client's token. SSPI has no direct call for it in the sspi package, so the
// thread impersonates the client just long enough to open its token.
func contextGroups(sc *negotiate.ServerContext) ([]string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := sc.ImpersonateUser(); err != nil {
		return nil, err
	}
	var tok windows.Token
	err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok)
	if rerr := sc.RevertToSelf(); rerr != nil {
		// Never let a thread go back to the scheduler impersonating someone.
		panic("negotiate: RevertToSelf failed: " + rerr.Error())
	}
	if err != nil {
		return nil, err
	}
	defer tok.Close()
	groups, err := tok.GetTokenGroups()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range groups.AllGroups() {
		if g.Attributes&windows.SE_GROUP_ENABLED == 0 || g.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY != 0 {
			continue
		}
		names = append(names, g.Sid.String())
		if acct, dom, _, err := g.Sid.LookupAccount(""); err == nil {
			if dom != "" {
				acct = dom + `\` + acct
			}
			names = append(names, acct)
		}
	}
	return names, nil
}

// Close implements Acceptor.
func (a *sspiAcceptor) Close() error { return a.cred.Release() }
