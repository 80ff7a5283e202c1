package syncer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"

	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
)

// Microsoft or the network to it being unreachable is an outage, not a
// problem of the tenant (store.FailUnavailable): the service retries on
// its back-off schedule and reports one outage for all the tenants it
// hits, instead of an authentication failure per tenant.

// untrusted reports a TLS certificate the machine does not trust, or one
// for another host: a question of configuration (the system's trust store,
// endpoints.caFile, a TLS-inspecting proxy), never an outage.
func untrusted(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv)
}

// unreachable reports an error that says the network did not carry the
// request: DNS, a refused or reset connection, a timeout, a connection
// closed before the answer. Not TLS trust (untrusted).
func unreachable(err error) bool {
	if err == nil || untrusted(err) {
		return false
	}
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &dns) || errors.As(err, &op) {
		return true
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ETIMEDOUT, io.ErrUnexpectedEOF, os.ErrDeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tokenUnavailable reports a token request that failed because Entra ID
// or the way to it is down: Entra's 5xx and 429 answers and the AADSTS
// codes Microsoft documents as transient (entra.TokenError.Retryable), or
// no answer at all.
func tokenUnavailable(err error) bool {
	var te *entra.TokenError
	if errors.As(err, &te) {
		return te.Retryable()
	}
	return unreachable(err)
}

// graphUnavailable reports a Graph request that failed, its retries spent,
// because Graph or the way to it is down: 5xx answers, gateway pages, no
// answer at all.
func graphUnavailable(err error) bool {
	if untrusted(err) {
		return false
	}
	return graph.Classify(err) == graph.Retryable
}

// netWatch is the transport of a tenant's token requests: it remembers the
// last request that got no answer at all. The token libraries (MSAL inside
// azidentity) report some of those, such as the authority's discovery, as
// text only; the watch keeps the network's own error, so that an
// unreachable Entra ID is told from a refusal without reading messages.
type netWatch struct {
	rt http.RoundTripper

	mu   sync.Mutex
	last error // nil when the last request was answered
}

func (w *netWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.rt.RoundTrip(req)
	w.mu.Lock()
	w.last = err
	w.mu.Unlock()
	return resp, err
}

// watchNetwork returns a copy of hc whose transport is watched.
func watchNetwork(hc *http.Client) (*http.Client, *netWatch) {
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	w := &netWatch{rt: rt}
	c := *hc
	c.Transport = w
	return &c, w
}

// explain adds the network's error to a failed token request's when the
// last request got no answer, or the host's TLS certificate was not
// trusted.
func (w *netWatch) explain(err error) error {
	w.mu.Lock()
	last := w.last
	w.mu.Unlock()
	if last == nil || !unreachable(last) && !untrusted(last) || unreachable(err) || untrusted(err) {
		return err
	}
	return &noAnswerError{err: err, net: last}
}

// noAnswerError is a token request's failure with the network error behind
// it.
type noAnswerError struct{ err, net error }

func (e *noAnswerError) Error() string   { return e.err.Error() }
func (e *noAnswerError) Unwrap() []error { return []error{e.err, e.net} }
