package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The device authorization grant
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code):
// galmirror asks /devicecode for a user code, an administrator signs in
// with it in any browser, and galmirror polls the token endpoint for the
// delegated token.

// GraphCommandLineToolsID is the client id of Microsoft Graph Command Line
// Tools (Connect-MgGraph), a public client every tenant knows, which may
// ask for Microsoft Graph's delegated permissions through the device code
// flow. `onboard --client-id` names an MSP's own public client instead.
const GraphCommandLineToolsID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

const deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

// DeviceCodeFlow signs a user in with the device code flow.
type DeviceCodeFlow struct {
	// HTTP carries the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Authority is the login host (https://login.microsoftonline.com).
	Authority string
	// Tenant is a tenant id, a verified domain, or "organizations".
	Tenant string
	// ClientID is the public client; empty means GraphCommandLineToolsID.
	ClientID string
	// Scopes are the delegated permissions asked for.
	Scopes []string
	// Sleep waits between polls; nil waits on a timer and honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DeviceCode is what the user needs to sign in.
type DeviceCode struct {
	UserCode        string
	VerificationURI string
	// Message is Entra's instruction for the user.
	Message  string
	Expires  time.Time
	Interval time.Duration

	deviceCode string
}

// DeviceCodeError is a final refusal of the sign-in: declined by the user
// (authorization_declined), the code expired (expired_token), refused by
// a Conditional Access policy (AADSTS53003), or any other token error.
type DeviceCodeError struct {
	*TokenError
}

// Declined reports whether the user refused the sign-in.
func (e *DeviceCodeError) Declined() bool { return e.OAuthError == "authorization_declined" }

// Expired reports whether the code expired before the user signed in.
func (e *DeviceCodeError) Expired() bool {
	return e.OAuthError == "expired_token" || e.OAuthError == "code_expired" || e.Code == 70020
}

// BlockedByPolicy reports whether a Conditional Access policy refused the
// sign-in (AADSTS53003), for instance one that blocks the device code flow.
func (e *DeviceCodeError) BlockedByPolicy() bool { return e.Code == 53003 }

func (e *DeviceCodeError) Unwrap() error { return e.TokenError }

func (f *DeviceCodeFlow) client() *http.Client {
	if f.HTTP != nil {
		return f.HTTP
	}
	return http.DefaultClient
}

func (f *DeviceCodeFlow) clientID() string {
	if f.ClientID != "" {
		return f.ClientID
	}
	return GraphCommandLineToolsID
}

func (f *DeviceCodeFlow) endpoint(name string) string {
	return strings.TrimRight(f.Authority, "/") + "/" + url.PathEscape(f.Tenant) + "/oauth2/v2.0/" + name
}

// Start asks for a device code.
func (f *DeviceCodeFlow) Start(ctx context.Context) (*DeviceCode, error) {
	if !tenantRE.MatchString(f.Tenant) {
		return nil, fmt.Errorf("device code: tenant %q: only letters, digits, '-' and '.' are allowed", f.Tenant)
	}
	form := url.Values{"client_id": {f.clientID()}, "scope": {strings.Join(f.Scopes, " ")}}
	var out struct {
		UserCode        string `json:"user_code"`
		DeviceCode      string `json:"device_code"`
		VerificationURI string `json:"verification_uri"`
		ExpiresIn       int    `json:"expires_in"`
		Interval        int    `json:"interval"`
		Message         string `json:"message"`
	}
	if err := f.post(ctx, "devicecode", form, &out); err != nil {
		return nil, err
	}
	if out.DeviceCode == "" || out.UserCode == "" {
		return nil, errors.New("device code: the answer holds no device_code or user_code")
	}
	interval := time.Duration(out.Interval) * time.Second
	if interval < time.Second {
		interval = 5 * time.Second
	}
	expiresIn := time.Duration(out.ExpiresIn) * time.Second
	if expiresIn <= 0 {
		expiresIn = 15 * time.Minute
	}
	return &DeviceCode{UserCode: out.UserCode, VerificationURI: out.VerificationURI, Message: out.Message,
		Expires: time.Now().Add(expiresIn), Interval: interval, deviceCode: out.DeviceCode}, nil
}

// Wait polls the token endpoint until the user has signed in and returns
// the access token. It waits at least the interval between polls, five
// seconds longer after each slow_down (RFC 8628 section 3.5), and stops at
// expiry, when the user declines, or when ctx is done.
func (f *DeviceCodeFlow) Wait(ctx context.Context, dc *DeviceCode) (string, error) {
	sleep := f.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	interval := dc.Interval
	form := url.Values{"grant_type": {deviceCodeGrant}, "client_id": {f.clientID()}, "device_code": {dc.deviceCode}}
	for {
		if err := sleep(ctx, interval); err != nil {
			return "", err
		}
		var out struct {
			AccessToken string `json:"access_token"`
		}
		err := f.post(ctx, "token", form, &out)
		var te *TokenError
		switch {
		case err == nil && out.AccessToken != "":
			return out.AccessToken, nil
		case err == nil:
			return "", errors.New("device code: the token answer holds no access_token")
		case !errors.As(err, &te):
			return "", err
		case te.OAuthError == "authorization_pending":
			continue
		case te.OAuthError == "slow_down":
			interval += 5 * time.Second
			continue
		case te.Retryable():
			interval = min(2*interval, time.Minute)
			continue
		}
		return "", &DeviceCodeError{te}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxTokenAnswer bounds the body of a device code or token answer.
const maxTokenAnswer = 1 << 20

// post sends a form to the tenant's endpoint and decodes a 200 answer into
// out; an OAuth error answer becomes a *TokenError.
func (f *DeviceCodeFlow) post(ctx context.Context, name string, form url.Values, out any) error {
	u := f.endpoint(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := f.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("device code: %s: %w", name, scrubURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	if err != nil {
		return fmt.Errorf("device code: read the %s answer: %w", name, err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("device code: the %s answer is not JSON: %w", name, err)
		}
		return nil
	}
	return parseOAuthError(resp, body, u)
}

// parseOAuthError reads Entra's error answer
// {"error","error_description","error_codes","trace_id","correlation_id"}.
func parseOAuthError(resp *http.Response, body []byte, endpoint string) *TokenError {
	te := &TokenError{Status: resp.StatusCode, URL: endpoint}
	var wire struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorCodes       []int  `json:"error_codes"`
		TraceID          string `json:"trace_id"`
		CorrelationID    string `json:"correlation_id"`
	}
	if json.Unmarshal(body, &wire) == nil {
		te.OAuthError = wire.Error
		if len(wire.ErrorCodes) > 0 {
			te.Code = wire.ErrorCodes[0]
		}
		te.Description, _, _ = strings.Cut(wire.ErrorDescription, "\r\n")
		te.Description, _, _ = strings.Cut(te.Description, "\n")
		te.TraceID, te.CorrelationID = wire.TraceID, wire.CorrelationID
	} else {
		te.Description = "the answer is not an OAuth error (HTTP " + resp.Status + ")"
	}
	if te.TraceID == "" {
		te.TraceID = resp.Header.Get("x-ms-request-id")
	}
	return te
}

// scrubURL drops the query of a *url.Error's URL (none is sent here, but a
// redirect could add one).
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}
