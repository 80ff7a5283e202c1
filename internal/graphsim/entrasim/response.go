package entrasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// reqCtx carries one request's ids through the handlers.
type reqCtx struct {
	w             http.ResponseWriter
	r             *http.Request
	traceID       string // x-ms-request-id
	correlationID string // client-request-id when sent, as Entra echoes it
	at            time.Time
}

func (s *Server) newReqCtx(w http.ResponseWriter, r *http.Request) *reqCtx {
	rc := &reqCtx{w: w, r: r, traceID: newUUID(), correlationID: r.Header.Get("client-request-id"), at: s.now().UTC()}
	if !validUUID(rc.correlationID) {
		rc.correlationID = newUUID()
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("x-ms-request-id", rc.traceID)
	h.Set("x-ms-ests-server", "2.1.graphsim")
	h.Set("client-request-id", rc.correlationID)
	return rc
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func (rc *reqCtx) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(rc.w, err.Error(), http.StatusInternalServerError)
		return
	}
	rc.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	rc.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	rc.w.WriteHeader(status)
	_, _ = rc.w.Write(b)
}

// stsError is Entra's token-service error body
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
type stsError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// aadError describes one AADSTS failure.
type aadError struct {
	status int
	err    string // the OAuth "error" value
	code   int
	msg    string // text after "AADSTSnnn: "
	noURI  bool
}

// writeError writes Entra's error envelope.
func (rc *reqCtx) writeError(e aadError) {
	ts := rc.at.Format("2006-01-02 15:04:05Z")
	body := stsError{
		Error: e.err,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.msg, rc.traceID, rc.correlationID, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       rc.traceID,
		CorrelationID: rc.correlationID,
	}
	if !e.noURI {
		body.ErrorURI = "https://login.microsoftonline.com/error?code=" + strconv.Itoa(e.code)
	}
	rc.writeJSON(e.status, body)
}

// Error constructors, one per AADSTS code the emulator produces. Messages
// follow Entra's wording as seen in public reports.

func errTenantNotFound(t string) aadError {
	return aadError{http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", t), false}
}

func errTenantInvalid(t string) aadError {
	return aadError{http.StatusBadRequest, "invalid_tenant", 900023, fmt.Sprintf("Specified tenant identifier '%s' is neither a valid DNS name, nor a valid external domain.", t), false}
}

func errMissingParam(name string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", name), false}
}

func errOnlyPost(method string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 900561, fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", method), false}
}

func errCommonEndpoint() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 9001023, "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.", false}
}

func errUnsupportedGrant(g string) aadError {
	return aadError{http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", g), false}
}

func errAppNotFound(clientID, tenant string) aadError {
	return aadError{http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant), false}
}

func errAppDisabled(clientID, name string) aadError {
	return aadError{http.StatusBadRequest, "unauthorized_client", 7000112, fmt.Sprintf("Application '%s'(%s) is disabled.", clientID, name), false}
}

func errNoCredential() aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", false}
}

func errBadSecret(clientID string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID), false}
}

func errMalformedAssertion(why string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 50027, "JWT token is invalid or malformed. " + why, false}
}

func errUnsupportedAlg(alg string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 5002738, fmt.Sprintf("Invalid JWT token. '%s' is not a supported signature algorithm. Supported signing algorithms are: 'RS256,RS384,RS512,PS256,PS384,PS512'", alg), false}
}

func errKeyNotFound(clientID, thumb string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request for the current cloud.]", thumb, clientID), false}
}

func errKeyExpired(clientID, thumb string, end time.Time) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key used is expired., Thumbprint of key used by client: '%s', Found key 'End=%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", thumb, end.UTC().Format("01/02/2006 15:04:05"), clientID), false}
}

func errBadSignature(thumb string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '%s']", thumb), false}
}

func errIssuerMismatch() aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .", false}
}

func errAudienceMismatch() aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .", false}
}

func errAssertionTime(now, nbf, exp time.Time) aadError {
	f := "2006-01-02T15:04:05.0000000Z"
	return aadError{http.StatusUnauthorized, "invalid_client", 700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .", now.UTC().Format(f), nbf.UTC().Format(f), exp.UTC().Format(f)), false}
}

func errInvalidScope(scope string) aadError {
	return aadError{http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope), false}
}

func errNoDefaultSuffix(scope string) aadError {
	return aadError{http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope), false}
}

func errResourceNotFound(resource, tenant string) aadError {
	return aadError{http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenant), false}
}

func errOutage() aadError {
	return aadError{http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.", true}
}

func errThrottled() aadError {
	return aadError{http.StatusTooManyRequests, "temporarily_unavailable", 90055, "The request is throttled temporarily due to too many requests. Please try again later.", true}
}

func errNoServicePrincipal(clientID, tenant string) aadError {
	return aadError{http.StatusBadRequest, "invalid_client", 7000229, fmt.Sprintf("The client application %s is missing service principal in the tenant %s. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119", clientID, tenant), false}
}

// Device code flow errors (v2-oauth2-device-code.md "Expected errors";
// codes from reference-error-codes.md).

func errAuthorizationPending() aadError {
	return aadError{http.StatusBadRequest, "authorization_pending", 70016, "The provided request has not yet been authorized by the user. The user must input their code.", false}
}

// errSlowDown answers a poll sooner than the interval. Entra's page lists
// no slow_down; RFC 8628 section 3.5 defines it, and graphsim sends it so
// that a client must honour the interval. The code is a guess.
func errSlowDown() aadError {
	return aadError{http.StatusBadRequest, "slow_down", 70016, "The client polled the token endpoint sooner than the interval allows. Wait at least the interval, plus five seconds, before the next request.", false}
}

func errDeviceCodeExpired() aadError {
	return aadError{http.StatusBadRequest, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.", false}
}

func errBadVerificationCode() aadError {
	return aadError{http.StatusBadRequest, "bad_verification_code", 70018, "The provided value for the input parameter 'device_code' is not valid.", false}
}

func errDeviceCodeUsed() aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", 70000, "The provided value for the input parameter 'device_code' is not valid. It has already been redeemed.", false}
}

func errAuthorizationDeclined() aadError {
	return aadError{http.StatusBadRequest, "authorization_declined", 65004, "The resource owner or authorization server denied the request.", false}
}

func errBlockedByConditionalAccess() aadError {
	return aadError{http.StatusBadRequest, "invalid_grant", 53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", false}
}

func errPublicClientWithCredential() aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.", false}
}
