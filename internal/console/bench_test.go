package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"
)

// fleetOf200 is 200 customers, each a real admin server on loopback, all
// polled once: the console's cache as a large MSP's.
func fleetOf200(t testing.TB) *testConsole {
	f := startTestFleet(t, 200, func(i int) bool { return i%25 == 3 })
	return startConsole(t, f, nil, true)
}

func renderOverview(t testing.TB, c *testConsole, path string) time.Duration {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	w := httptest.NewRecorder()
	start := time.Now()
	c.srv.Handler().ServeHTTP(w, req)
	took := time.Since(start)
	if w.Code != 200 {
		t.Fatalf("%s: %d", path, w.Code)
	}
	_, _ = io.Copy(io.Discard, w.Body)
	return took
}

// The overview of 200 customers renders from the cache in well under
// 200 ms (the median of 20 renders, each page and the CSV of all).
func TestOverviewOf200CustomersUnder200ms(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 200 admin servers")
	}
	c := fleetOf200(t)
	for _, path := range []string{"/", "/?page=4", "/?q=customer-1&sort=cert", "/export.csv"} {
		var ds []time.Duration
		for range 20 {
			ds = append(ds, renderOverview(t, c, path))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.Logf("%s: median %s, max %s over 20 renders of 200 customers", path, ds[10], ds[19])
		if ds[10] > 200*time.Millisecond {
			t.Errorf("%s: median render %s, want under 200ms", path, ds[10])
		}
	}
}

func BenchmarkOverview200(b *testing.B) {
	c := fleetOf200(b)
	b.ResetTimer()
	for b.Loop() {
		renderOverview(b, c, "/")
	}
}
