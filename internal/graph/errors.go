package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/pacer"
)

// Error is a failed Graph response (a whole request or one $batch item),
// decoded from Graph's error envelope
// {"error": {"code", "message", "innerError": {"request-id", "date", "client-request-id"}}}.
// Its text carries the code and request ids, never the access token.
type Error struct {
	Status          int           // HTTP status (or the $batch item's status)
	Code            string        // error.code: the contract; Message is not
	Message         string        // error.message
	InnerCode       string        // error.innerError.code, when present
	RequestID       string        // request-id (header, else innerError)
	ClientRequestID string        // client-request-id (header, else innerError)
	Date            string        // innerError.date, as sent (its format varies)
	RetryAfter      time.Duration // parsed Retry-After; 0 when absent
	ThrottleScope   string        // x-ms-throttle-scope, on directory 429s
	Location        string        // Location header (a 410 on delta names the restart URL)

	// Method and Path locate the failed request: Path is the URL path
	// relative to the Graph root, without the query (which may hold
	// skip tokens). It is for people: links Graph returns have forms of
	// their own (Exchange's key segments, users('id')/...), so nothing
	// is decided by parsing it.
	Method string
	Path   string
	// Mailbox says the failed call addressed mailbox content: it comes
	// from the scope of the call (MailboxScope), never from the URL, and
	// tells a mailbox's 403/404 (out of scope, no mailbox) from the
	// directory's.
	Mailbox bool

	// NotGraph is set when the body was not a Graph error envelope (empty,
	// HTML from a gateway, truncated JSON): such a response did not come
	// from the Graph service proper and is treated as transient.
	NotGraph bool
}

var _ error = (*Error)(nil)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Code != "" {
		b.WriteByte(' ')
		b.WriteString(e.Code)
	} else if e.NotGraph {
		b.WriteString(" (no Graph error body)")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" || e.ClientRequestID != "" {
		fmt.Fprintf(&b, " (request-id %s, client-request-id %s)", e.RequestID, e.ClientRequestID)
	}
	return b.String()
}

// ErrResyncRequired is returned (wrapped) by Delta when Graph says the delta
// token is no longer valid (410 Gone, syncStateNotFound, resyncRequired):
// the caller drops its saved link and runs a full round again.
var ErrResyncRequired = errors.New("graph: delta token no longer valid, full resync required")

// TokenError wraps a failure of the TokenSource. Its class is Auth.
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "graph: get access token: " + e.Err.Error() }

// Unwrap returns the token source's error.
func (e *TokenError) Unwrap() error { return e.Err }

// TransportError wraps a failure to send a request or read its response
// (connection reset, timeout, TLS). Its class is Retryable.
type TransportError struct {
	Method, Path string
	Err          error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("graph: %s %s: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// Class is what a caller should do about an error.
type Class int

// The classes. Classify maps every error to exactly one.
const (
	// OK is the class of a nil error.
	OK Class = iota
	// Canceled: the caller's context ended; never retried, not a failure of
	// the tenant or mailbox.
	Canceled
	// Retryable: a transient failure (5xx, gateway HTML, network, a 424 item
	// "not attempted"); try again later.
	Retryable
	// Throttled: 429 or 509, or retries given up while throttled; the
	// scope's gate holds the deadline.
	Throttled
	// NotFound: the addressed item or folder does not exist.
	NotFound
	// MailboxUnavailable: the user has no usable Exchange Online mailbox
	// (404 MailboxNotEnabledForRESTAPI and friends on a mailbox path): skip
	// the mailbox, re-check on a later run.
	MailboxUnavailable
	// OutOfScope: 403 ErrorAccessDenied on a mailbox path: the app's
	// Exchange RBAC scope or access policy excludes the mailbox; skip it.
	OutOfScope
	// DirectoryDenied: 403 Authorization_RequestDenied: the app lacks an
	// Entra permission; a tenant-level configuration error.
	DirectoryDenied
	// Auth: the token source failed, or Graph rejected a fresh token (401).
	Auth
	// Conflict: 409 (for example ErrorFolderExists): look the item up.
	Conflict
	// PreconditionFailed: 412: re-read and re-apply.
	PreconditionFailed
	// ResyncRequired: the delta token expired (410, syncStateNotFound,
	// resyncRequired): drop the saved link and run a full round.
	ResyncRequired
	// Permanent: anything else; retrying will not help.
	Permanent
)

var classNames = [...]string{
	OK: "ok", Canceled: "canceled", Retryable: "retryable", Throttled: "throttled",
	NotFound: "not-found", MailboxUnavailable: "mailbox-unavailable", OutOfScope: "out-of-scope",
	DirectoryDenied: "directory-denied", Auth: "auth", Conflict: "conflict",
	PreconditionFailed: "precondition-failed", ResyncRequired: "resync-required", Permanent: "permanent",
}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Classify is the one place that decides what an error from this package
// means. It looks through wrapping: a cancelled context wins, then the
// typed errors of this package, then pacer give-ups (classified by the
// Graph error they wrap, else Throttled).
func Classify(err error) Class {
	if err == nil {
		return OK
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A per-attempt timeout is wrapped in a TransportError and is
		// retryable; only the caller's own context lands here.
		var te *TransportError
		if !errors.As(err, &te) {
			return Canceled
		}
	}
	if errors.Is(err, ErrResyncRequired) {
		return ResyncRequired
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Class()
	}
	var tok *TokenError
	if errors.As(err, &tok) {
		return Auth
	}
	var te *TransportError
	if errors.As(err, &te) {
		return Retryable
	}
	var gu *pacer.GiveUpError
	if errors.As(err, &gu) {
		return Throttled
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return Retryable
	}
	return Permanent
}

// Class classifies one Graph error; see Classify.
func (e *Error) Class() Class {
	code := strings.ToLower(e.Code)
	switch code {
	case "syncstatenotfound", "resyncrequired", "syncstateinvalid",
		// Exchange's answers to a contacts delta link it no longer
		// honours: the sync state is corrupt or expired, or the folder it
		// tracked is gone. Either way the link is dead; the state must be
		// rebuilt from the mailbox itself.
		"errorinvalidsyncstatedata", "errorsyncfoldernotfound":
		return ResyncRequired
	}
	mailbox := e.Mailbox
	switch e.Status {
	case http.StatusTooManyRequests, 509:
		return Throttled
	case http.StatusGone:
		return ResyncRequired
	case http.StatusUnauthorized:
		return Auth
	case http.StatusNotFound:
		if mailbox {
			switch code {
			case "mailboxnotenabledforrestapi", "mailboxnotsupportedforrestapi", "resourcenotfound",
				"errorinvaliduser", "errornonexistentmailbox":
				return MailboxUnavailable
			}
		}
		return NotFound
	case http.StatusForbidden:
		if code == "authorization_requestdenied" {
			return DirectoryDenied
		}
		if mailbox && code == "erroraccessdenied" {
			return OutOfScope
		}
	case http.StatusConflict:
		return Conflict
	case http.StatusPreconditionFailed:
		return PreconditionFailed
	case http.StatusFailedDependency:
		return Retryable // a dependsOn item that was not attempted
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		return Retryable
	}
	if e.NotGraph || e.Status == 0 {
		return Retryable
	}
	return Permanent
}

// Unsupported reports whether err is Graph refusing a function or action
// it does not offer where the call went (a national cloud without
// contacts delta or permanentDelete answers as for an unknown segment:
// 400 BadRequest "Resource not found for the segment ...", or 501). The
// caller falls back to what every cloud offers.
func Unsupported(err error) bool {
	var ge *Error
	if !errors.As(err, &ge) {
		return false
	}
	switch ge.Status {
	case http.StatusBadRequest, http.StatusNotImplemented:
	default:
		return false
	}
	switch strings.ToLower(ge.Code) {
	case "badrequest", "request_badrequest", "notimplemented", "notsupported":
		return true
	}
	return false
}

// isMailboxPath reports whether a path galmirror built (relative to the
// Graph root, slash form) addresses mailbox content: /users/{id}/contactFolders..., /contacts,
// /mailboxSettings, /mailFolders, /messages, /events, /calendar...
// Directory paths (/users, /users/{id}, /users/{id}/memberOf, /groups...)
// are not.
func isMailboxPath(path string) bool {
	p := strings.TrimPrefix(path, "/")
	seg, rest, _ := strings.Cut(p, "/")
	if !strings.EqualFold(seg, "users") && !strings.EqualFold(seg, "me") {
		return false
	}
	if strings.EqualFold(seg, "users") {
		_, rest, _ = strings.Cut(rest, "/") // skip the user id
	}
	next, _, _ := strings.Cut(rest, "/")
	switch strings.ToLower(next) {
	case "contactfolders", "contacts", "mailboxsettings", "mailfolders", "messages", "events",
		"calendar", "calendars", "outlook", "inferenceclassification":
		return true
	}
	return false
}

// envelope is Graph's error body. Some bodies seen in the wild lack the
// outer "error" wrapper; parseError accepts both.
type envelope struct {
	Error *envelopeError `json:"error"`
}

type envelopeError struct {
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	InnerError *envelopeInner `json:"innerError"`
}

type envelopeInner struct {
	Code            string `json:"code"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
	Date            string `json:"date"`
}

// ParseError builds an *Error from a failed response's status, headers
// (nil allowed) and body. It never fails: a body that is not a Graph
// envelope yields an Error with NotGraph set. now anchors an HTTP-date
// Retry-After.
func ParseError(status int, header http.Header, body []byte, now time.Time) *Error {
	e := &Error{Status: status}
	if header != nil {
		e.RequestID = header.Get("request-id")
		e.ClientRequestID = header.Get("client-request-id")
		e.ThrottleScope = header.Get("x-ms-throttle-scope")
		e.Location = header.Get("Location")
		if d, ok := pacer.ParseRetryAfter(header.Get("Retry-After"), now); ok {
			e.RetryAfter = d
		}
	}
	var ee *envelopeError
	var env envelope
	if err := json.Unmarshal(body, &env); err == nil && env.Error != nil && env.Error.Code != "" {
		ee = env.Error
	} else {
		var bare envelopeError
		if err := json.Unmarshal(body, &bare); err == nil && bare.Code != "" {
			ee = &bare
		}
	}
	if ee == nil {
		e.NotGraph = true
		return e
	}
	e.Code = ee.Code
	e.Message = ee.Message
	if in := ee.InnerError; in != nil {
		e.InnerCode = in.Code
		e.Date = in.Date
		if e.RequestID == "" {
			e.RequestID = in.RequestID
		}
		if e.ClientRequestID == "" {
			e.ClientRequestID = in.ClientRequestID
		}
	}
	return e
}

// GaveUp reports whether err ends a request the pacer would not retry
// again (its attempts or the run's retry budget used up).
func GaveUp(err error) bool {
	var gu *pacer.GiveUpError
	return errors.As(err, &gu)
}
