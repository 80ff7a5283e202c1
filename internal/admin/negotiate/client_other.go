//go:build !windows

package negotiate

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// ccacheSource makes tokens from the user's Kerberos credential cache.
type ccacheSource struct {
	cl *client.Client
}

// NewClientTokenSource returns a TokenSource for the current user: here the
// ticket-granting ticket in the Kerberos credential cache that kinit filled
// ($KRB5CCNAME, a FILE: cache; default /tmp/krb5cc_<uid>), with the realm
// configuration from $KRB5_CONFIG (default /etc/krb5.conf).
func NewClientTokenSource() (TokenSource, error) {
	confPath := os.Getenv("KRB5_CONFIG")
	if confPath == "" {
		confPath = "/etc/krb5.conf"
	}
	// KRB5_CONFIG may list several files; the first is the main one.
	confPath, _, _ = strings.Cut(confPath, ":")
	conf, err := config.Load(confPath)
	if err != nil {
		return nil, fmt.Errorf("kerberos: read %s: %w", confPath, err)
	}
	cachePath := os.Getenv("KRB5CCNAME")
	if cachePath == "" {
		cachePath = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	if kind, rest, ok := strings.Cut(cachePath, ":"); ok {
		if kind != "FILE" {
			return nil, fmt.Errorf("kerberos: credential cache %q is not a FILE: cache; run kinit with KRB5CCNAME=FILE:/tmp/krb5cc_$(id -u)", cachePath)
		}
		cachePath = rest
	}
	cc, err := credentials.LoadCCache(cachePath)
	if err != nil {
		return nil, fmt.Errorf("kerberos: no ticket in %s (run kinit first): %w", cachePath, err)
	}
	cl, err := client.NewFromCCache(cc, conf, client.DisablePAFXFAST(true))
	if err != nil {
		return nil, fmt.Errorf("kerberos: use the ticket in %s: %w", cachePath, err)
	}
	return &ccacheSource{cl: cl}, nil
}

// Token implements TokenSource. gokrb5 caches service tickets, so each call
// costs one new authenticator, and a KDC round trip only for the first call
// per SPN.
func (s *ccacheSource) Token(ctx context.Context, spn string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ct, err := spnego.SPNEGOClient(s.cl, spn).InitSecContext()
	if err != nil {
		return nil, fmt.Errorf("kerberos: get a ticket for %s: %w", spn, err)
	}
	b, err := ct.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos: encode token for %s: %w", spn, err)
	}
	return b, nil
}
