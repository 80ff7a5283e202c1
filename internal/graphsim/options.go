package graphsim

import (
	"time"
)

// Options configures a Server started with Start.
type Options struct {
	// Addr is the TCP address to listen on; empty means 127.0.0.1:0.
	Addr string
	// Hostnames are extra DNS names (besides localhost, 127.0.0.1 and ::1)
	// the server certificate is valid for.
	Hostnames []string
	// CACertPEM and CAKeyPEM reuse an existing CA (PEM certificate and PKCS#8
	// key) instead of generating one, so a restarted graphsim keeps the CA
	// its clients already trust. Both or neither.
	CACertPEM, CAKeyPEM []byte

	// Tenants are loaded before the server starts serving.
	Tenants []Tenant

	// Now is the clock (token lifetimes, throttling windows, Retry-After
	// deadlines, timestamps); nil means time.Now. Tests of windows and
	// deadlines inject a fake clock.
	Now func() time.Time
	// Seed seeds the random source used for fault injection and batch
	// response shuffling; results are reproducible for a seed.
	Seed int64

	// Throttle is the throttling model; nil means GraphThrottle().
	Throttle *Throttle
	// Faults are injected failures; the zero value injects none.
	Faults Faults

	// UsersDeltaPageSize is the number of objects per page of the
	// directory delta rounds, users/delta and /contacts/delta (Graph's is
	// about 100-200 and not client-controlled); zero means 100. Tests set
	// it low to force paging.
	UsersDeltaPageSize int
	// TokenLifetime of access tokens issued by the token service; zero means 1h.
	TokenLifetime time.Duration
	// Propagation is how long after a change through Graph (a new app or
	// service principal, a key, an app role assignment) the token service
	// honours it (SetPropagation). Zero means at once.
	Propagation time.Duration
	// ReplicationLag is how long after an application or service principal
	// is created Graph's other requests do not find it yet (Entra's
	// directory replicas catching up). Zero means at once.
	ReplicationLag time.Duration
	// DeviceCodeInterval is the polling interval the device code flow
	// sends; zero means Entra's 5 s (whole seconds, at least 1 s).
	DeviceCodeInterval time.Duration
	// PublicClients are multi-tenant public client apps (an MSP's own
	// registration) that may use the device code flow in every tenant,
	// besides Microsoft Graph Command Line Tools.
	PublicClients []PublicClient

	// ControlKey, if set, is required as "Authorization: Bearer <key>" on
	// the /_sim control API.
	ControlKey string

	// Logf, if set, receives one line per served request and any recovered
	// panic. It never receives tokens or bodies.
	Logf func(format string, args ...any)
}

// Throttle is graphsim's throttling model. A zero limit disables that limit.
// GraphThrottle returns Graph's published numbers.
type Throttle struct {
	// MailboxConcurrency is the number of requests (counting $batch items)
	// one app may have in flight against one mailbox. Graph: 4.
	MailboxConcurrency int `json:"mailboxConcurrency,omitempty"`
	// MailboxRequests per MailboxWindow per (app, mailbox). Graph: 10,000 / 10 min.
	MailboxRequests int           `json:"mailboxRequests,omitempty"`
	MailboxWindow   time.Duration `json:"mailboxWindow,omitempty"`
	// DirectoryRU is the resource-unit budget per (app, tenant) per
	// DirectoryWindow; zero with DirectoryBySize set means Graph's
	// size-dependent budget: 3,500 (< 50 users), 5,000 (50-500), 8,000
	// (> 500) per 10 s.
	DirectoryRU     int           `json:"directoryRU,omitempty"`
	DirectoryBySize bool          `json:"directoryBySize,omitempty"`
	DirectoryWindow time.Duration `json:"directoryWindow,omitempty"`
	// AppRequests per AppWindow per app, every request and $batch item
	// counted, across tenants and mailboxes. Graph: 130,000 / 10 s (the
	// global limit; https://learn.microsoft.com/graph/throttling-limits).
	AppRequests int           `json:"appRequests,omitempty"`
	AppWindow   time.Duration `json:"appWindow,omitempty"`
	// ConcurrencyRetryAfter is the Retry-After sent with a
	// MailboxConcurrency 429. Graph sends small values; default 1s.
	ConcurrencyRetryAfter time.Duration `json:"concurrencyRetryAfter,omitempty"`
	// TimeScale divides every window and Retry-After: 60 runs a 10-minute
	// window in 10 s. Zero or 1 means real time.
	TimeScale float64 `json:"timeScale,omitempty"`
	// ReactionTime is how long after a 429/503 response was sent another
	// request in the same scope may still arrive without counting as a
	// Retry-After violation: it was in flight, or being sent, before the
	// client could have read the response. A resend of the throttled
	// request itself gets no such allowance: it can only be sent after the
	// response was read. Zero means DefaultReactionTime; negative means none.
	ReactionTime time.Duration `json:"reactionTime,omitempty"`
	// UploadBytes of POST, PATCH and PUT bodies per UploadWindow per
	// (app, mailbox). Graph: 150 MB / 5 min.
	UploadBytes  int           `json:"uploadBytes,omitempty"`
	UploadWindow time.Duration `json:"uploadWindow,omitempty"`
}

// DefaultReactionTime is Throttle.ReactionTime's default: measured on a
// loaded two-core machine, a client's other goroutines sent requests up to
// ~20 ms after a 503 left the server, before the response was parsed.
const DefaultReactionTime = 50 * time.Millisecond

// GraphThrottle returns Graph's published limits (throttling-limits page,
// 2026): 4 concurrent requests and 10,000 requests per 10 minutes per (app,
// mailbox), the identity resource-unit buckets by tenant size, and the
// global 130,000 requests (and $batch items) per 10 s per app.
func GraphThrottle() Throttle {
	return Throttle{
		AppRequests:           130000,
		AppWindow:             10 * time.Second,
		MailboxConcurrency:    4,
		MailboxRequests:       10000,
		MailboxWindow:         10 * time.Minute,
		DirectoryBySize:       true,
		DirectoryWindow:       10 * time.Second,
		ConcurrencyRetryAfter: time.Second,
		TimeScale:             1,
		UploadBytes:           UploadBudget,
		UploadWindow:          UploadWindow,
	}
}

// NoThrottle returns a model without any limit (fault injection still applies).
func NoThrottle() Throttle { return Throttle{TimeScale: 1} }

// Faults are injected failures. Rates are probabilities in [0, 1] drawn from
// the server's seeded random source, applied to every Graph request and to
// every $batch item.
type Faults struct {
	// Rate503 is the probability of 503 ServiceUnavailable with Retry-After.
	Rate503 float64 `json:"rate503,omitempty"`
	// Rate504 is the probability of 504 GatewayTimeout (no Retry-After).
	Rate504 float64 `json:"rate504,omitempty"`
	// RetryAfter503 is the Retry-After of injected 503s; zero means 2s.
	RetryAfter503 time.Duration `json:"retryAfter503,omitempty"`
	// Latency is added to every request and every $batch item, plus a
	// uniform random extra in [0, Jitter).
	Latency time.Duration `json:"latency,omitempty"`
	Jitter  time.Duration `json:"jitter,omitempty"`
	// TokenOutage makes the token endpoint answer 503.
	TokenOutage bool `json:"tokenOutage,omitempty"`
	// TokenThrottle makes the token endpoint answer 429 AADSTS90055.
	TokenThrottle bool `json:"tokenThrottle,omitempty"`
	// ShuffleBatch returns $batch responses in random order (Graph may
	// reorder them), to catch clients that correlate by position.
	ShuffleBatch bool `json:"shuffleBatch,omitempty"`
	// AfterCommitRate is the probability that a mailbox write (POST,
	// PATCH, DELETE, permanentDelete; top-level or a $batch item) is carried
	// out and its success then replaced by a 5xx: 500, 502, 503 with
	// Retry-After or 504, drawn evenly. The write has happened.
	AfterCommitRate float64 `json:"afterCommitRate,omitempty"`
	// BatchDropRate is the probability that a $batch request is carried
	// out in full and its connection then aborted without a response.
	BatchDropRate float64 `json:"batchDropRate,omitempty"`
	// RepeatNextLink makes every list and delta response that has a
	// nextLink return the request's own URL as its nextLink (the same page
	// forever), for clients' loop guards.
	RepeatNextLink bool `json:"repeatNextLink,omitempty"`
	// IgnoreListExpand makes contact and contact folder lists ignore
	// $expand=singleValueExtendedProperties(...): Microsoft documents that
	// $expand for single items only, so a client must not take a list
	// without the expanded array for items without marks.
	IgnoreListExpand bool `json:"ignoreListExpand,omitempty"`
	// AddKeyStatus, when non-zero, makes every addKey answer with this
	// HTTP status (503 serviceNotAvailable, 500 generalException, or 403
	// Authorization_RequestDenied) without adding the key.
	AddKeyStatus int `json:"addKeyStatus,omitempty"`
}

// PublicClient is a multi-tenant public client application
// (Options.PublicClients).
type PublicClient struct {
	ClientID    string `json:"clientId"`
	DisplayName string `json:"displayName"`
}
