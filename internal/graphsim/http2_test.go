package graphsim

import (
	"crypto/tls"
	"net/http"
	"testing"
)

// Graph speaks HTTP/2; so does graphsim (and HTTP/1.1 to clients that ask).
func TestServesHTTP2(t *testing.T) {
	srv, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}, ForceAttemptHTTP2: h2}
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL() + "/v1.0/users")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
			t.Errorf("ForceAttemptHTTP2=%v: served HTTP/%d, want HTTP/%d", h2, resp.ProtoMajor, want)
		}
		tr.CloseIdleConnections()
	}
}
