package tunnel

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzUpgradeResponse: whatever a console (or a proxy or captive portal in
// its place) answers, the service gets a tunnel only for a 101 to
// Protocol, and an error naming the answer otherwise, never a panic.
func FuzzUpgradeResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: galmirror-tunnel/1\r\n\r\nPRI * HTTP/2.0"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 20\r\n\r\nnot listed for any c"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 302 Found\r\nLocation: http://portal.example/\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &http.Request{Method: http.MethodGet, Header: http.Header{}}
		err := readUpgrade(bufio.NewReader(bytes.NewReader(b)), req)
		if err == nil {
			head, _, _ := bytes.Cut(b, []byte("\n"))
			if !bytes.Contains(head, []byte("101")) {
				t.Fatalf("a tunnel from %q", head)
			}
			return
		}
		if re := (*refusedError)(nil); errors.As(err, &re) && !strings.Contains(err.Error(), "40") {
			t.Fatalf("refused without the status: %v", err)
		}
		if len(err.Error()) > 1024 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	})
}

// FuzzUpgradeRequest: whatever a client with a listed certificate sends,
// the console answers with a status, never a panic, and upgrades only a
// request for Path asking for Protocol.
func FuzzUpgradeRequest(f *testing.F) {
	f.Add([]byte("GET /.galmirror/tunnel/v1 HTTP/1.1\r\nHost: c\r\nConnection: Upgrade\r\nUpgrade: galmirror-tunnel/1\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: c\r\n\r\n"))
	f.Add([]byte("POST /x/.galmirror/tunnel/v1 HTTP/1.1\r\nHost: c\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c, galmirror-tunnel/1\r\n\r\n"))
	leaf := &x509.Certificate{Raw: []byte("service"), NotAfter: time.Now().Add(time.Hour)}
	s, err := NewServer(ServerOptions{Customers: map[string]string{"contoso": Fingerprint(leaf.Raw)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r) // a recorder cannot be hijacked: 500 at most
		if w.Code == http.StatusSwitchingProtocols {
			t.Fatal("101 without a hijacked connection")
		}
		if w.Code == http.StatusInternalServerError && !(strings.HasSuffix(r.URL.Path, Path) && headerHas(r.Header, "Upgrade", Protocol)) {
			t.Fatalf("upgrade attempted for %s %v", r.URL.Path, r.Header)
		}
	})
}
