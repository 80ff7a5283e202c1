package store

// FailureClass names why a run failed as a whole. The classes are one
// vocabulary for every place that reports a run: the sync engine's result
// (`galmirror sync --json`, "failure.class"), the service's events (event 202's
// `class`, and the condition events chosen from it; see docs/events.md) and
// the run history (Run.FailureClass). The values are a public interface: never
// rename one.
type FailureClass string

// Failure classes.
const (
	// FailAuth: Entra ID refused the token request (Failure.Code is the
	// AADSTS code, "AADSTS700027").
	FailAuth FailureClass = "auth"
	// FailConsent: the token lacks application permissions
	// (Failure.MissingRoles), or every target mailbox refused the app.
	FailConsent FailureClass = "consent"
	// FailCertificate: the certificate was found but cannot be used: wrong
	// PFX password or password unavailable, no access to the private key,
	// bad format, expired.
	FailCertificate FailureClass = "certificate"
	// FailCertMissing: the certificate file or thumbprint was not found.
	FailCertMissing FailureClass = "certificate-missing"
	// FailSource: the directory could not be read completely.
	FailSource FailureClass = "source"
	// FailUnavailable: Microsoft (Entra ID's token service or Graph) or
	// the network to it was unreachable: Entra 5xx and the AADSTS codes
	// Microsoft documents as transient, DNS failures, refused connections,
	// timeouts. Not a problem of the tenant: the service retries on its
	// back-off schedule and reports one outage for every tenant it hits
	// (Failure.Service says which service).
	FailUnavailable FailureClass = "unavailable"
	// FailThrottled: Microsoft Graph kept throttling the run until its
	// retry budget ran out.
	FailThrottled FailureClass = "throttled"
	// FailConfig: the settings cannot work (an unknown cloud, a bad CA
	// file).
	FailConfig FailureClass = "config"
	// FailInternal: the state database or another local failure, and any
	// failure nobody classified.
	FailInternal FailureClass = "internal"
	// FailCanceled: the run was stopped before it finished (service
	// shutdown, the tenant removed from the settings, Ctrl-C). A run that
	// ends so is recorded as RunInterrupted, neither a failure nor a
	// success.
	FailCanceled FailureClass = "canceled"
	// FailTimeout: the run outlasted its time limit.
	FailTimeout FailureClass = "timeout"
)

// Failure explains why a run failed as a whole. Message must be safe to log
// and show (no secret, no token). Its JSON is part of `galmirror sync
// --json`'s output: keep the names.
type Failure struct {
	Class FailureClass `json:"class"`
	// Code is the error code behind the failure, if any: the AADSTS code
	// for FailAuth ("AADSTS700027"), Graph's error code, or galmirror's
	// own ("CertificateNotFound", "busy").
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	// RequestID is Graph's request id of the failed call, if any.
	RequestID string `json:"requestId,omitempty"`
	// MissingRoles are the application permissions the token lacks
	// ("User.Read.All") for FailConsent.
	MissingRoles []string `json:"missingRoles,omitempty"`
	// Service names what was unreachable for FailUnavailable: ServiceEntra
	// (the token service) or ServiceGraph.
	Service string `json:"service,omitempty"`
}

// The services a FailUnavailable failure names.
const (
	ServiceEntra = "entra"
	ServiceGraph = "graph"
)
