package graph

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/pacer"
)

// A burst of requests far beyond one connection's HTTP/2 stream limit
// shares a few connections: net/http alone dials one per waiting request
// (over 3,000 TLS handshakes for three bursts of 1,600 in a trial).
func TestBurstSharesFewConnections(t *testing.T) {
	e := newSim(t, func(o *graphsim.Options) { o.Faults.Latency = 50 * time.Millisecond }, pacer.Config{})
	e.srv.ResetCounters()
	var wg sync.WaitGroup
	errs := make(chan error, 1600)
	for range 1600 {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.GraphURL()+"/users", nil)
			if err != nil {
				errs <- err
				return
			}
			resp, err := e.c.hc.Do(req)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				errs <- &http.ProtocolError{ErrorString: resp.Proto}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// MaxConnsPerHost bounds the open connections; net/http still closes
	// some it dialled when another became free first (36-54 handshakes in
	// trials, against 1,036 without the bound).
	if c := e.srv.Counters(); c.Connections > 10*MaxConnsPerHost {
		t.Errorf("%d connections for 1,600 concurrent requests, want at most %d", c.Connections, 10*MaxConnsPerHost)
	} else {
		t.Logf("%d connections", c.Connections)
	}
}
