//go:build windows

package negotiate

import (
	"context"
	"fmt"

	"github.com/alexbrainman/sspi"
	"github.com/alexbrainman/sspi/negotiate"
)

// sspiSource makes tokens with the logged-on user's credentials.
type sspiSource struct {
	cred *sspi.Credentials
}

// NewClientTokenSource returns a TokenSource for the current user: here SSPI
// with the logged-on user's (or the process's) Windows credentials.
func NewClientTokenSource() (TokenSource, error) {
	cred, err := negotiate.AcquireCurrentUserCredentials()
	if err != nil {
		return nil, fmt.Errorf("kerberos: acquire the current user's SSPI credentials: %w", err)
	}
	return &sspiSource{cred: cred}, nil
}

// Token implements TokenSource.
func (s *sspiSource) Token(ctx context.Context, spn string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cc, out, err := negotiate.NewClientContext(s.cred, spn)
	if err != nil {
		return nil, fmt.Errorf("kerberos: start a context for %s: %w", spn, err)
	}
	// The first token is all the server needs: Kerberos is single-leg.
	cc.Release()
	if IsNTLM(out) {
		return nil, fmt.Errorf("kerberos: Windows offered NTLM for %s: no Kerberos ticket could be had (is %s registered with setspn, and is the host name the one in the SPN?)", spn, spn)
	}
	return out, nil
}
