package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/store"
)

// authError is a failure to authenticate the tenant's app.
type authError struct {
	class store.FailureClass
	code  string
	msg   string
	roles []string
}

func (e *authError) Error() string { return e.msg }

func (e *authError) failure() error {
	return &failure{&Failure{Class: e.class, Code: e.code, Message: e.msg, MissingRoles: e.roles}}
}

// tokens adapts entra's token source to the Graph client. The credential
// caches tokens and renews them at least five minutes before they expire,
// but each of its lookups costs about 100 µs (several per contact written
// at a large first sync), so tokens keeps the last one for tokenReuse.
// Refresh (after a 401) drops it and asks the credential again.
type tokens struct {
	src *entra.TokenSource
	// net watches the token requests' transport (explains failures).
	net *netWatch

	mu    sync.Mutex
	tok   string
	until time.Time
}

// tokenReuse is well inside the credential's renewal margin: a token
// reused this long is still valid for minutes.
const tokenReuse = 30 * time.Second

func (t *tokens) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	if t.tok != "" && time.Now().Before(t.until) {
		tok := t.tok
		t.mu.Unlock()
		return tok, nil
	}
	t.mu.Unlock()
	tok, err := t.src.Token(ctx)
	if err != nil {
		if t.net != nil && ctx.Err() == nil {
			err = t.net.explain(err)
		}
		return "", err
	}
	t.mu.Lock()
	t.tok, t.until = tok, time.Now().Add(tokenReuse)
	t.mu.Unlock()
	return tok, nil
}

func (t *tokens) Refresh(ctx context.Context, stale string) (string, error) {
	t.mu.Lock()
	if t.tok == stale {
		t.tok = ""
	}
	t.mu.Unlock()
	return t.Token(ctx)
}

// HTTPClient returns the client of a tenant's token and Graph requests:
// the system's trusted roots (the normal case), plus endpoints.caFile when
// the settings name one (a custom cloud's private CA, or a TLS-inspecting
// proxy's).
func HTTPClient(ctx context.Context, t *config.Tenant) (*http.Client, error) {
	pem, err := entra.LoadCAFile(ctx, t.Endpoints.CAFile)
	if err != nil {
		return nil, err
	}
	tc, err := entra.TLSConfig(pem)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", t.Endpoints.CAFile, err)
	}
	return graph.NewHTTPClient(tc), nil
}

// Credentials resolves a tenant's cloud, loads its certificate and returns
// a token source and the Graph root; it is what `sync` and `check` share.
// hc (from HTTPClient) carries the token requests. The certificate's
// password comes from the environment variable the settings name or their
// DPAPI-protected blob (CertificatePassword); it never appears in an
// error. Reading the certificate file stops when ctx is done.
func Credentials(ctx context.Context, t *config.Tenant, hc *http.Client, now time.Time) (graph.TokenSource, entra.Endpoints, *entra.Certificate, error) {
	ep, err := entra.ResolveCloud(string(t.Cloud), t.Endpoints.Authority, t.Endpoints.Graph, t.Endpoints.CAFile)
	if err != nil {
		return nil, ep, nil, &authError{class: FailConfig, msg: err.Error()}
	}
	src := entra.CertificateSource{File: t.Certificate.File, Thumbprint: t.Certificate.Thumbprint}
	src.Password, err = CertificatePassword(t.Certificate)
	if err != nil {
		return nil, ep, nil, &authError{class: FailCertificate, code: "PasswordUnavailable",
			msg: fmt.Sprintf("certificate %s: %v", t.Certificate.File, err)}
	}
	cert, err := entra.LoadCertificate(ctx, src, now)
	if err != nil && ctx.Err() != nil {
		return nil, ep, nil, ctx.Err()
	}
	if err != nil {
		var expired *entra.CertificateExpiredError
		switch {
		case errors.As(err, &expired):
			return nil, ep, nil, &authError{class: FailCertificate, code: "CertificateExpired", msg: err.Error()}
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, entra.ErrCertificateNotFound):
			return nil, ep, nil, &authError{class: FailCertMissing, code: "CertificateNotFound", msg: err.Error()}
		}
		return nil, ep, nil, &authError{class: FailCertificate, msg: err.Error()}
	}
	hc, watch := watchNetwork(hc)
	cred, err := entra.NewCredential(t.TenantID, t.ClientID, cert, ep, &entra.CredentialOptions{HTTPClient: hc})
	if err != nil {
		return nil, ep, cert, &authError{class: FailConfig, msg: err.Error()}
	}
	return &tokens{src: entra.NewTokenSource(cred, ep), net: watch}, ep, cert, nil
}

// TokenFailure explains a failed token request: an outage of Entra ID or
// of the way to it (FailUnavailable), a certificate this machine does not
// trust (FailConfig), or Entra's refusal (FailAuth, with the AADSTS code).
func TokenFailure(err error) *Failure {
	var te *entra.TokenError
	code := ""
	if errors.As(err, &te) && te.Code != 0 {
		code = "AADSTS" + strconv.Itoa(te.Code)
	}
	switch {
	case tokenUnavailable(err):
		msg := "Entra ID unreachable: " + err.Error()
		if te != nil {
			msg = "Entra ID unavailable: " + te.Error()
		}
		return &Failure{Class: FailUnavailable, Code: code, Message: msg, Service: store.ServiceEntra}
	case te != nil:
		return &Failure{Class: FailAuth, Code: code, Message: te.Error()}
	case untrusted(err):
		return &Failure{Class: FailConfig, Code: "UntrustedCertificate", Message: "get an access token: " + err.Error() +
			" (the login host's TLS certificate is not trusted by this machine: add its CA to the system's store or to endpoints.caFile)"}
	}
	return &Failure{Class: FailAuth, Message: "get an access token: " + err.Error()}
}

// connect authenticates the tenant's app, checks its consent and builds the
// run's Graph client.
func (r *run) connect(ctx context.Context) error {
	hc, err := HTTPClient(ctx, r.t)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fail(FailConfig, "", err.Error())
	}
	ts, ep, cert, err := Credentials(ctx, r.t, hc, time.Now())
	if cert != nil {
		// The run's Finish records the expiry with the run.
		r.res.CertificateExpires = cert.NotAfter().UTC()
		r.res.CertificateThumbprint = cert.ThumbprintSHA1()
	}
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			return ae.failure()
		}
		return err
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &failure{TokenFailure(err)}
	}
	claims, err := entra.ParseAccessToken(tok)
	if err != nil {
		return fail(FailAuth, "", fmt.Sprintf("read the access token: %v", err))
	}
	missing := entra.MissingRoles(claims.Roles, entra.RequiredRoles(r.t.OrgContacts))
	if missing = append(missing, missingPurposeRole(r.t, claims.Roles)...); len(missing) > 0 {
		return &failure{&Failure{Class: FailConsent, Code: "MissingConsent", MissingRoles: missing,
			Message: fmt.Sprintf("the app %s lacks admin consent for %v in tenant %s", r.t.ClientID, missing, r.t.TenantID)}}
	}
	// Without a Contacts role, Exchange RBAC for Applications decides per
	// mailbox: a mailbox outside the app's scope is skipped, and the run
	// fails only when every one is (allDenied).
	r.res.MailboxAccess = entra.MailboxAccessOf(claims.Roles)
	if r.st != nil { // another tenant's directory read for check writes nothing
		id, err := r.st.Installation(ctx)
		if err != nil {
			return fail(FailInternal, "", fmt.Sprintf("state database: %v", err))
		}
		r.stamp = localStamp(id)
	}
	r.client, err = graph.New(graph.Options{
		BaseURL: ep.GraphRoot + "/v1.0", Tokens: ts, HTTP: hc, PacerConfig: r.e.opts.Pacer, Logger: r.log,
	})
	if err != nil {
		return fail(FailConfig, "", err.Error())
	}
	return nil
}
