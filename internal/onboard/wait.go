package onboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/entra"
)

// Token errors that mean "not yet" while Entra propagates a new app, its
// service principal, its key or its roles: the app is not found (700016),
// has no service principal (7000229), or the key is unknown (700027).
var propagating = map[int]string{
	700016:  "the app is not known to the token service yet",
	7000229: "the app's service principal is not known to the token service yet",
	700027:  "the certificate is not known to the token service yet",
}

// AppTokenRoles gets a fresh token for the app with its certificate (no
// cached token: a new credential each time) and returns its roles.
func AppTokenRoles(ctx context.Context, hc *http.Client, ep entra.Endpoints, tenantID, clientID string, cert *entra.Certificate) ([]string, error) {
	cred, err := entra.NewCredential(tenantID, clientID, cert, ep, &entra.CredentialOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	tok, err := entra.NewTokenSource(cred, ep).Token(ctx)
	if err != nil {
		return nil, err
	}
	claims, err := entra.ParseAccessToken(tok)
	if err != nil {
		return nil, err
	}
	return claims.Roles, nil
}

// WaitOptions tune WaitForRoles.
type WaitOptions struct {
	// Max bounds the wait.
	Max time.Duration
	// Progress receives one line per attempt that is not yet done.
	Progress func(attempt int, elapsed time.Duration, why string)
}

// ErrPropagationTimeout is wrapped when Entra did not honour the app in
// time.
var ErrPropagationTimeout = errors.New("Entra ID did not honour the app in time")

// WaitForRoles polls until a token of the app, signed with cert, carries
// every role in need, with back-off (1 s doubling to 15 s). A token error
// that propagation explains, or a token still without the roles, is
// waited out; any other token error ends the wait.
func WaitForRoles(ctx context.Context, hc *http.Client, ep entra.Endpoints, tenantID, clientID string, cert *entra.Certificate, need []string, o WaitOptions) (time.Duration, error) {
	start := time.Now()
	wait := time.Second
	for attempt := 1; ; attempt++ {
		roles, err := AppTokenRoles(ctx, hc, ep, tenantID, clientID, cert)
		why := ""
		var te *entra.TokenError
		switch {
		case ctx.Err() != nil:
			return time.Since(start), ctx.Err()
		case err == nil:
			missing := entra.MissingRoles(roles, need)
			if len(missing) == 0 {
				return time.Since(start), nil
			}
			why = "the token does not carry " + strings.Join(missing, ", ") + " yet"
		case errors.As(err, &te) && propagating[te.Code] != "":
			why = fmt.Sprintf("AADSTS%d: %s", te.Code, propagating[te.Code])
		case errors.As(err, &te) && te.Retryable():
			why = te.Error()
		default:
			return time.Since(start), err
		}
		elapsed := time.Since(start)
		if elapsed+wait > o.Max {
			return elapsed, fmt.Errorf("%w (%s): %s", ErrPropagationTimeout, o.Max, why)
		}
		if o.Progress != nil {
			o.Progress(attempt, elapsed, why)
		}
		if err := sleep(ctx, wait); err != nil {
			return time.Since(start), err
		}
		wait = min(2*wait, 15*time.Second)
	}
}

// waitForApp waits until the new app's own token carries its roles.
func (s *session) waitForApp(ctx context.Context, p *provisioned) error {
	max := s.o.Wait
	if max <= 0 {
		max = DefaultWait
	}
	fmt.Fprintf(s.out, "Waiting for Entra ID to honour the app, its certificate and its permissions (this takes seconds to minutes)...\n")
	d, err := WaitForRoles(ctx, s.hc, s.ep, s.res.TenantID, p.appID, s.cert, s.needs, WaitOptions{Max: max,
		Progress: func(attempt int, elapsed time.Duration, why string) {
			fmt.Fprintf(s.out, "  not yet (attempt %d, %s): %s\n", attempt, elapsed.Round(time.Second), why)
		}})
	s.res.Propagation = d
	if err != nil {
		if p.consentLink != "" && errors.Is(err, ErrPropagationTimeout) {
			return fmt.Errorf("%w\nNobody accepted the admin consent link yet; once someone has, run the same galmirror onboard again: %s", err, p.consentLink)
		}
		if errors.Is(err, ErrPropagationTimeout) {
			return fmt.Errorf("%w\nRun the same galmirror onboard again later: it finds the app and continues", err)
		}
		return fmt.Errorf("the new app's token: %w", err)
	}
	fmt.Fprintf(s.out, "The app's token carries %s (after %s).\n", strings.Join(s.needs, ", "), d.Round(time.Second))
	return nil
}
