package onboard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/galmirror/galmirror/internal/entra"
)

// Delegated permissions the administrator consents to at sign-in: create
// and update applications, and grant app role assignments (admin consent
// without a browser). Both need admin consent; galmirror asks for nothing
// else (no offline_access: no refresh token is kept).
var delegatedScopes = []string{"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"}

// SignInError is a sign-in that did not give a token: declined, expired, or
// refused by a Conditional Access policy. Fallback says what to do.
type SignInError struct {
	Err      error
	Fallback string
}

func (e *SignInError) Error() string {
	if e.Fallback == "" {
		return "administrator sign-in: " + e.Err.Error()
	}
	return "administrator sign-in: " + e.Err.Error() + "\n" + e.Fallback
}

func (e *SignInError) Unwrap() error { return e.Err }

// signIn runs the device code flow and returns the delegated token and the
// tenant it was issued in.
func (s *session) signIn(ctx context.Context) (string, string, error) {
	tenant := s.o.Domain
	if tenant == "" && s.existing != nil {
		tenant = s.existing.TenantID
	}
	if tenant == "" {
		tenant = "organizations"
	}
	scopes := make([]string, len(delegatedScopes))
	for i, sc := range delegatedScopes {
		scopes[i] = s.ep.GraphRoot + "/" + sc
	}
	flow := &entra.DeviceCodeFlow{HTTP: s.hc, Authority: s.ep.AuthorityHost, Tenant: tenant, ClientID: s.o.ClientID, Scopes: scopes}
	dc, err := flow.Start(ctx)
	if err != nil {
		return "", "", fmt.Errorf("administrator sign-in: %w", err)
	}
	fmt.Fprintf(s.out, "\nA Global Administrator (or Privileged Role Administrator) of the customer's tenant signs in once:\n  %s\n", dc.Message)
	fmt.Fprintf(s.out, "  (open %s in any browser, enter the code %s, sign in and accept the permissions: %s)\n",
		dc.VerificationURI, dc.UserCode, strings.Join(delegatedScopes, ", "))
	fmt.Fprintf(s.out, "Waiting for the sign-in (the code expires at %s)...\n", dc.Expires.Format("15:04:05"))
	tok, err := flow.Wait(ctx, dc)
	if err != nil {
		var de *entra.DeviceCodeError
		if errors.As(err, &de) {
			fb := ""
			if de.BlockedByPolicy() {
				fb = "The tenant's Conditional Access blocks the device code flow. Register the app in the Entra admin center instead and run galmirror onboard with --tenant-id and --app-id: it prints the certificate to upload and the admin consent link, and waits for the grant (docs/onboarding.md, \"When the device code flow is blocked\")."
			}
			return "", "", &SignInError{Err: err, Fallback: fb}
		}
		return "", "", fmt.Errorf("administrator sign-in: %w", err)
	}
	claims, err := entra.ParseAccessToken(tok)
	if err != nil || claims.TenantID == "" {
		return "", "", fmt.Errorf("administrator sign-in: the token names no tenant: %v", err)
	}
	tid := strings.ToLower(claims.TenantID)
	if s.existing != nil && !strings.EqualFold(s.existing.TenantID, tid) {
		return "", "", fmt.Errorf("administrator sign-in: the administrator signed in to tenant %s, but %s's entry in %s is tenant %s: sign in with an account of that tenant",
			tid, s.o.Name, s.file.Path, s.existing.TenantID)
	}
	fmt.Fprintf(s.out, "Signed in to tenant %s.\n", tid)
	return tok, tid, nil
}
