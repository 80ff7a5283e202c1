package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TokenError is Entra's refusal of a token request, reduced to what an
// operator and the retry logic need. It never holds the assertion or a
// token.
type TokenError struct {
	// Code is the AADSTS number from error_codes (0 when absent).
	Code int
	// OAuthError is the "error" value (invalid_client, invalid_tenant, ...).
	OAuthError string
	// Status is the HTTP status of the answer.
	Status int
	// Description is the first line of error_description ("AADSTSnnn: ...").
	Description   string
	TraceID       string
	CorrelationID string
	// URL is the endpoint that answered (scheme, host, path).
	URL string

	cause error
}

// hints are short operator-facing explanations of the codes galmirror users
// meet (graph-protocol.md §1.5).
var hints = map[int]string{
	700027:  "the certificate used to sign the client assertion is not registered on the app (upload its public certificate to the app registration, or check the thumbprint and that it has not expired there)",
	7000215: "invalid client secret (galmirror authenticates with a certificate)",
	700016:  "the application was not found in the tenant (wrong client id or tenant id, or the app is not consented in this tenant)",
	90002:   "the tenant was not found (wrong tenant id or domain, or the wrong cloud)",
	900023:  "the tenant id is neither a GUID nor a domain name",
	7000112: "the application is disabled in the tenant",
	70001:   "the application is disabled or not authorised in the tenant",
	700024:  "the client assertion is outside its valid time range (check this machine's clock)",
	700021:  "the client assertion's issuer does not match the client id",
	700023:  "the client assertion's audience does not match the token endpoint (wrong cloud or authority?)",
	50027:   "the client assertion is malformed",
	50013:   "the client assertion is invalid",
	500133:  "the client assertion is outside its valid time range (check this machine's clock)",
	7000218: "the request carried no client credential",
	70011:   "the requested scope is not valid",
	1002012: "the requested scope lacks /.default",
	500011:  "the Graph service principal was not found in the tenant (wrong cloud for the Graph root?)",
	7000229: "the app has no service principal in the tenant (admin consent was never granted)",
	9001023: "the tenant must be named by id or domain, not common/consumers",
	90033:   "Entra ID is temporarily unavailable",
	90055:   "Entra ID is throttling token requests",
	50049:   "the authority host is not a known Entra instance",
	53003:   "a Conditional Access policy blocked the sign-in (one that blocks the device code flow, or requires a compliant device): use the admin consent link instead (docs/onboarding.md)",
	65004:   "the user declined the sign-in",
	70020:   "the code expired before anyone signed in with it",
	700025:  "a public client must not send a client credential",
}

// Error reads "AADSTS700027: <hint> (invalid_client, HTTP 401, trace id ...,
// correlation id ...)".
func (e *TokenError) Error() string {
	var b strings.Builder
	msg := hints[e.Code]
	if msg == "" {
		msg = strings.TrimSpace(e.Description)
		if _, after, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "AADSTS") {
			msg = after
		}
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "AADSTS%d: ", e.Code)
	} else {
		b.WriteString("token request failed: ")
	}
	b.WriteString(msg)
	b.WriteString(" (")
	if e.OAuthError != "" {
		b.WriteString(e.OAuthError + ", ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.TraceID != "" {
		b.WriteString(", trace id " + e.TraceID)
	}
	if e.CorrelationID != "" {
		b.WriteString(", correlation id " + e.CorrelationID)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the azidentity error.
func (e *TokenError) Unwrap() error { return e.cause }

// Retryable reports whether trying again later may succeed: throttling and
// Entra outages, not configuration errors.
func (e *TokenError) Retryable() bool {
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return true
	case e.Code == 90033, e.Code == 90055, e.OAuthError == "temporarily_unavailable":
		return true
	}
	return false
}

// AsTokenError converts an azidentity failure carrying Entra's answer into
// a *TokenError; any other error is returned unchanged.
func AsTokenError(err error) error {
	if err == nil {
		return nil
	}
	var te *TokenError
	if errors.As(err, &te) {
		return err
	}
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		return err
	}
	resp := afe.RawResponse
	te = &TokenError{Status: resp.StatusCode, cause: err}
	if resp.Request != nil && resp.Request.URL != nil {
		u := resp.Request.URL
		te.URL = u.Scheme + "://" + u.Host + u.Path
	}
	// runtime.Payload caches the body, so azidentity's own Error() still
	// sees it.
	body, _ := runtime.Payload(resp)
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
	}
	if te.TraceID == "" {
		te.TraceID = resp.Header.Get("x-ms-request-id")
	}
	return te
}
