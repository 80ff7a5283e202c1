package entra

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialOptions are the optional parts of NewCredential.
type CredentialOptions struct {
	// ExtraCAPEM adds trusted CAs (a custom cloud's private CA). Ignored
	// when HTTPClient is set.
	ExtraCAPEM []byte
	// HTTPClient carries every token-service request (tests, proxies).
	HTTPClient *http.Client
	// Now is the assertion clock for store-backed keys; nil means time.Now.
	Now func() time.Time
}

var tenantRE = regexp.MustCompile(`^[0-9a-zA-Z.-]+$`)

// NewCredential returns the token credential for one tenant's app. A key
// in memory (PFX, PEM) goes through azidentity's certificate credential; a
// key reachable only as a crypto.Signer (the Windows store) through
// azidentity's assertion credential with galmirror's own PS256 assertion.
// Instance discovery is disabled only for the custom cloud, whose authority
// Microsoft's discovery service does not know.
func NewCredential(tenantID, clientID string, cert *Certificate, ep Endpoints, opts *CredentialOptions) (azcore.TokenCredential, error) {
	if !tenantRE.MatchString(tenantID) {
		return nil, fmt.Errorf("tenant id %q: only letters, digits, '-' and '.' are allowed", tenantID)
	}
	if clientID == "" {
		return nil, errors.New("client id: required")
	}
	if cert == nil || cert.Leaf == nil || cert.signer == nil {
		return nil, errors.New("certificate: not loaded")
	}
	if ep.AuthorityHost == "" || ep.GraphRoot == "" {
		return nil, errors.New("endpoints: not resolved (use ResolveCloud)")
	}
	if opts == nil {
		opts = &CredentialOptions{}
	}
	client := opts.HTTPClient
	if client == nil && len(opts.ExtraCAPEM) > 0 {
		c, err := NewHTTPClient(opts.ExtraCAPEM)
		if err != nil {
			return nil, err
		}
		client = c
	}
	co := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ep.AuthorityHost + "/"}}
	if client != nil {
		co.Transport = client
	}
	disable := ep.Cloud == CloudCustom

	if key, ok := cert.signer.(*rsa.PrivateKey); ok {
		cred, err := azidentity.NewClientCertificateCredential(tenantID, clientID, cert.Chain, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: disable})
		if err != nil {
			return nil, fmt.Errorf("certificate credential: %w", err)
		}
		return cred, nil
	}
	a := &Assertion{ClientID: clientID, TokenEndpoint: ep.TokenEndpoint(tenantID), Cert: cert.Leaf, Signer: cert.signer, Now: opts.Now}
	cred, err := azidentity.NewClientAssertionCredential(tenantID, clientID,
		func(ctx context.Context) (string, error) {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			return a.Sign()
		},
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: disable})
	if err != nil {
		return nil, fmt.Errorf("assertion credential: %w", err)
	}
	return cred, nil
}

// TokenSource hands the Graph client bearer tokens for the Graph root's
// .default scope. The credential caches and refreshes them.
type TokenSource struct {
	cred  azcore.TokenCredential
	scope string
}

// NewTokenSource adapts a credential to the Graph client for ep's Graph root.
func NewTokenSource(cred azcore.TokenCredential, ep Endpoints) *TokenSource {
	return &TokenSource{cred: cred, scope: ep.GraphScope()}
}

// Token returns a valid access token. Entra's refusals come back as
// *TokenError (errors.As); context errors are returned as they are.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	t, err := s.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.scope}})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", AsTokenError(err)
	}
	return t.Token, nil
}
