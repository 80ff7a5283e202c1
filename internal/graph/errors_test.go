package graph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/pacer"
)

// TestParseErrorExamples decodes the real Graph error payloads in the
// shared reference.
func TestParseErrorExamples(t *testing.T) {
	dir := filepath.Join("testdata", "examples") // copied from the shared reference
	tests := []struct {
		file, path string
		status     int
		code       string
		class      Class
	}{
		{"error-401-token-expired.json", "/users", 401, "InvalidAuthenticationToken", Auth},
		{"error-403-access-denied-outlook.json", "/users/u/contactFolders", 403, "ErrorAccessDenied", OutOfScope},
		{"error-403-application-access-policy.json", "/users/u/contacts", 403, "ErrorAccessDenied", OutOfScope},
		{"error-412-irresolvable-conflict.json", "/users/u/contactFolders/f/contacts/c", 412, "ErrorIrresolvableConflict", PreconditionFailed},
		{"error-429-mailbox-concurrency.json", "/users/u/contactFolders", 429, "ApplicationThrottled", Throttled},
		{"error-invalid-user-404.json", "/users/u/contactFolders", 404, "ErrorInvalidUser", MailboxUnavailable},
		{"error-mailbox-not-enabled-404.json", "/users/u/contactFolders", 404, "MailboxNotEnabledForRESTAPI", MailboxUnavailable},
		{"error-mailbox-inactive-softdeleted.json", "/users/u/contactFolders", 404, "MailboxNotEnabledForRESTAPI", MailboxUnavailable},
	}
	for _, tt := range tests {
		body, err := os.ReadFile(filepath.Join(dir, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		e := ParseError(tt.status, nil, body, time.Now())
		e.Path, e.Mailbox = tt.path, IsMailboxScope(ScopeOf(tt.path))
		if e.Code != tt.code || e.NotGraph || e.Class() != tt.class {
			t.Errorf("%s: code %q notGraph %v class %v; want %q %v", tt.file, e.Code, e.NotGraph, e.Class(), tt.code, tt.class)
		}
	}
}

func TestParseErrorShapes(t *testing.T) {
	h := http.Header{}
	h.Set("request-id", "hdr-rid")
	h.Set("Retry-After", "2.128")
	h.Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/app/tenant")
	body := `{"error":{"code":"TooManyRequests","message":"Please retry again later.","innerError":{"code":"429","date":"2020-08-18T12:51:51","request-id":"inner-rid","client-request-id":"crid"}}}`
	e := ParseError(429, h, []byte(body), time.Now())
	if e.Code != "TooManyRequests" || e.InnerCode != "429" || e.RequestID != "hdr-rid" || e.ClientRequestID != "crid" ||
		e.Date != "2020-08-18T12:51:51" || e.RetryAfter != 2128*time.Millisecond || e.ThrottleScope == "" {
		t.Fatalf("%+v", e)
	}
	// Without the outer wrapper.
	if e := ParseError(400, nil, []byte(`{"code":"Request_BadRequest","message":"bad"}`), time.Now()); e.Code != "Request_BadRequest" || e.NotGraph {
		t.Fatalf("bare: %+v", e)
	}
	for _, b := range []string{"", "<html>502 Bad Gateway</html>", `{"error":{}}`, `{"error":"x"}`, "null", `{"value":[]}`} {
		e := ParseError(403, nil, []byte(b), time.Now())
		if !e.NotGraph || e.Class() != Retryable {
			t.Errorf("%q: %+v class %v", b, e, e.Class())
		}
	}
	// A non-Graph 404 is still a NotFound.
	if e := ParseError(404, nil, nil, time.Now()); e.Class() != NotFound {
		t.Errorf("empty 404: %v", e.Class())
	}
	e = &Error{Status: 404, Code: "ErrorItemNotFound", Message: "gone", Method: "GET", Path: "/users/u/contacts/c", RequestID: "r", ClientRequestID: "c"}
	if got := e.Error(); got != "graph: GET /users/u/contacts/c: 404 ErrorItemNotFound: gone (request-id r, client-request-id c)" {
		t.Errorf("Error() = %q", got)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	ge429 := &Error{Status: 429, Code: "ApplicationThrottled"}
	tests := []struct {
		err  error
		want Class
	}{
		{nil, OK},
		{context.Canceled, Canceled},
		{fmt.Errorf("list: %w", context.DeadlineExceeded), Canceled},
		{&TransportError{Method: "GET", Path: "/users", Err: context.DeadlineExceeded}, Retryable},
		{&TransportError{Method: "GET", Path: "/users", Err: errors.New("connection reset")}, Retryable},
		{&TokenError{Err: errors.New("AADSTS7000215")}, Auth},
		{fmt.Errorf("%w: %w", &pacer.GiveUpError{Reason: pacer.ErrBudgetExhausted}, ge429), Throttled},
		{&pacer.GiveUpError{Reason: pacer.ErrTooManyAttempts}, Throttled},
		{fmt.Errorf("%w: x", ErrResyncRequired), ResyncRequired},
		{&net.OpError{Op: "dial", Err: timeoutErr{}}, Retryable},
		{errors.New("something else"), Permanent},
		{&Error{Status: 400, Code: "syncStateNotFound"}, ResyncRequired},
		{&Error{Status: 509}, Throttled},
		{&Error{Status: 424}, Retryable},
		{&Error{Status: 504, Code: "UnknownError"}, Retryable},
		{&Error{Status: 403, Code: "ErrorAccessDenied", Path: "/users"}, Permanent},
		{&Error{Status: 404, Code: "ResourceNotFound", Path: "/users/u/mailboxSettings", Mailbox: true}, MailboxUnavailable},
		{&Error{Status: 404, Code: "Request_ResourceNotFound", Path: "/users/u"}, NotFound},
		{&Error{Status: 404, Code: "ErrorNonExistentMailbox", Path: "/users/u/contacts", Mailbox: true}, MailboxUnavailable},
		{&Error{Status: 404, Code: "MailboxNotSupportedForRESTAPI", Path: "/users/u/contactFolders", Mailbox: true}, MailboxUnavailable},
		// A saved delta link in Exchange's key-segment form: classified by
		// the scope of the call, not by parsing the link.
		{&Error{Status: 403, Code: "ErrorAccessDenied", Path: "/users('u')/contactFolders('f')/contacts/delta", Mailbox: true}, OutOfScope},
		{&Error{Status: 404, Code: "MailboxNotEnabledForRESTAPI", Path: "/users('u')/contactFolders('f')/contacts/delta", Mailbox: true}, MailboxUnavailable},
		{&Error{Status: 404, Code: "ErrorItemNotFound", Path: "/users('u')/contactFolders('f')/contacts/delta", Mailbox: true}, NotFound},
		// Exchange refusing a contacts delta link.
		{&Error{Status: 400, Code: "ErrorInvalidSyncStateData", Mailbox: true}, ResyncRequired},
		{&Error{Status: 400, Code: "ErrorSyncFolderNotFound", Mailbox: true}, ResyncRequired},
		{&Error{Status: 410, Code: "resyncRequired"}, ResyncRequired},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
	for c := OK; c <= Permanent; c++ {
		if s := c.String(); s == "" || strings.HasPrefix(s, "class(") {
			t.Errorf("class %d has no name", c)
		}
	}
}

// FuzzParseError checks that any response body parses without panicking,
// that a parsed code round-trips, and that the error text never carries
// the Authorization header's token.
func FuzzParseError(f *testing.F) {
	seeds := []string{
		`{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}`,
		`{"error":{"code":"TooManyRequests","innerError":{"code":"429","date":"2020-08-18T12:51:51","request-id":"94fb3b52"}}}`,
		`{"code":"x","message":"bare"}`, `<html><body>502</body></html>`, ``, `null`, `{"error":null}`, `{"error":{"code":1}}`,
	}
	for _, s := range seeds {
		f.Add(503, "0.249", []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("Authorization", "Bearer SECRET-TOKEN")
		e := ParseError(status, h, body, time.Now())
		if e.Status != status || e.RetryAfter < 0 || e.RetryAfter > pacer.MaxRetryAfter {
			t.Fatalf("%+v", e)
		}
		if !e.NotGraph && e.Code == "" {
			t.Fatal("Graph error without a code")
		}
		_ = e.Class()
		if strings.Contains(e.Error(), "SECRET-TOKEN") {
			t.Fatal("token in error text")
		}
	})
}
