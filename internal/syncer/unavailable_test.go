package syncer

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/store"
)

// Which token failures are an outage (unavailable), a refusal (auth) or
// configuration (an untrusted certificate).
func TestTokenFailureClasses(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	cases := []struct {
		name string
		err  error
		want store.FailureClass
	}{
		{"AADSTS90033", &entra.TokenError{Code: 90033, OAuthError: "temporarily_unavailable", Status: 503}, FailUnavailable},
		{"Entra 500", &entra.TokenError{Status: 500}, FailUnavailable},
		{"Entra throttling", &entra.TokenError{Code: 90055, Status: 429}, FailUnavailable},
		{"bad signature", &entra.TokenError{Code: 700027, OAuthError: "invalid_client", Status: 401}, FailAuth},
		{"app not found", &entra.TokenError{Code: 700016, OAuthError: "unauthorized_client", Status: 400}, FailAuth},
		{"DNS", fmt.Errorf("get token: %w", &net.DNSError{Err: "no such host", Name: "login.example", IsNotFound: true}), FailUnavailable},
		{"refused", fmt.Errorf("post: %w", refused), FailUnavailable},
		{"untrusted", fmt.Errorf("post: %w", x509.UnknownAuthorityError{}), FailConfig},
		{"other", errors.New("something else"), FailAuth},
	}
	for _, tc := range cases {
		if got := TokenFailure(tc.err); got.Class != tc.want {
			t.Errorf("%s: class %s, want %s (%s)", tc.name, got.Class, tc.want, got.Message)
		} else if got.Class == FailUnavailable && got.Service != store.ServiceEntra {
			t.Errorf("%s: service %q", tc.name, got.Service)
		}
	}
}

// A library that reports a refused connection as text only: the watched
// transport supplies the network's error.
func TestNetWatchExplainsTextOnlyFailures(t *testing.T) {
	hc, w := watchNetwork(&http.Client{})
	req, _ := http.NewRequest("GET", "https://127.0.0.1:1/", nil)
	if _, err := hc.Do(req); err == nil {
		t.Fatal("port 1 answered")
	}
	flat := errors.New("unable to resolve an endpoint: connection refused")
	if got := TokenFailure(w.explain(flat)); got.Class != FailUnavailable || got.Message != "Entra ID unreachable: "+flat.Error() {
		t.Errorf("explained: %+v", got)
	}
	w.last = nil // an answered request: nothing to add
	if got := TokenFailure(w.explain(flat)); got.Class != FailAuth {
		t.Errorf("not explained: %+v", got)
	}
}
