package graphsim

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBatchContactCPU measures graphsim's CPU time per contact stored
// through $batch over HTTPS (HTTP/2) with Graph's throttling on. The client
// runs in a child process (this test binary again, TestBatchClientProcess),
// so the process CPU time (getrusage) of the benchmark is graphsim's alone:
// TLS, HTTP/2 framing, the batch, routing, throttling and the store.
//
//   - chain: galmirror's shape, 20 creates to one mailbox chained by
//     dependsOn (executed one at a time), with galmirror's bodies;
//   - spread: 4 unordered creates to each of 5 mailboxes;
//   - chain-latency: chain with `galmirror bench`'s model, 80 ms + U[0,
//     40 ms) latency per item and 256 chains in flight: timers, parked
//     goroutines and an often idle process, where every allocation costs
//     more (fresh pages, cold caches) than in a saturated loop.
func BenchmarkBatchContactCPU(b *testing.B) {
	b.Run("chain", func(b *testing.B) { benchBatchCPU(b, true, 0, 0, 8) })
	b.Run("spread", func(b *testing.B) { benchBatchCPU(b, false, 0, 0, 8) })
	b.Run("chain-latency", func(b *testing.B) { benchBatchCPU(b, true, 80*time.Millisecond, 40*time.Millisecond, 256) })
}

// galmirrorContact is a contact body as galmirror writes it (captured from
// `galmirror bench`), varied by i.
func galmirrorContact(i int) []byte {
	return fmt.Appendf(nil, `{"displayName":"Noël%[1]d Faÿ-Wilson","givenName":"Noël%[1]d","surname":"Faÿ-Wilson","fileAs":"Faÿ-Wilson, Noël%[1]d",`+
		`"jobTitle":"Support Technician","department":"Human Resources","companyName":"Fabrikam","officeLocation":"Montréal 8/829",`+
		`"businessPhones":["+33 1 4407 %04[2]d"],"emailAddresses":[{"name":"Noël%[1]d Faÿ-Wilson","address":"noel.fay%[1]d@bench.onmicrosoft.com"}],`+
		`"businessAddress":{"street":"201 avenue des Champs-Élysées","city":"Montréal","state":"","countryOrRegion":"France","postalCode":"75558"},`+
		`"singleValueExtendedProperties":[{"id":"String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.sourceId","value":"%[3]s"},`+
		`{"id":"String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.hash","value":"1:LlvMGEa6BwZFLAH7j-%07[1]d"}]}`,
		i, i%10000, formatGUID([16]byte{byte(i), byte(i >> 8), byte(i >> 16), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}))
}

// cpuBenchSpec is what the client process is told to do.
type cpuBenchSpec struct {
	URL     string     `json:"url"`
	Token   string     `json:"token"`
	CAPEM   []byte     `json:"caPEM"`
	Workers int        `json:"workers"`
	Batches int        `json:"batches"`
	Bodies  [][][]byte `json:"bodies"` // per worker, variants
}

func benchBatchCPU(b *testing.B, chain bool, latency, jitter time.Duration, workers int) {
	const mailboxes = 320
	ten := benchTenant(b, mailboxes)
	th := GraphThrottle()
	srv, err := Start(Options{Tenants: []Tenant{ten}, Throttle: &th, Faults: Faults{Latency: latency, Jitter: jitter}})
	must(b, err)
	defer srv.Close()
	tok, err := srv.AccessToken(ten.ID, testCred.ClientID)
	must(b, err)
	folders := make([]string, mailboxes)
	for i := range folders {
		folders[i], err = srv.OwnerCreateFolder(ten.ID, ten.Users[i].ID, "Company")
		must(b, err)
	}
	item := func(id, mbx, seq int, dep string) string {
		s := `{"id":"` + strconv.Itoa(id) + `","method":"POST","url":"/users/` + ten.Users[mbx].ID + `/contactFolders/` + folders[mbx] +
			`/contacts","headers":{"Content-Type":"application/json"},"body":` + string(galmirrorContact(seq))
		if dep != "" {
			s += `,"dependsOn":["` + dep + `"]`
		}
		return s + "}"
	}
	// Bodies are built here so that the client does no JSON encoding.
	// Worker w owns mailboxes w*per .. w*per+per-1 and never shares them
	// (per-mailbox concurrency); each variant writes to other mailboxes
	// of the worker (the request quota per mailbox and window).
	per := mailboxes / workers
	// With latency an op is a round of one batch per worker (a batch takes
	// seconds); without, one batch.
	perOp := 1
	if latency > 0 {
		perOp = workers
	}
	spec := cpuBenchSpec{URL: srv.GraphURL() + "/$batch", Token: tok, CAPEM: srv.CACertPEM(), Workers: workers, Batches: b.N * perOp}
	for w := 0; w < workers; w++ {
		var vs [][]byte
		variants := per
		if !chain {
			variants = per / 5
		}
		for v := 0; v < variants; v++ {
			var buf bytes.Buffer
			buf.WriteString(`{"requests":[`)
			for k := 0; k < 20; k++ {
				if k > 0 {
					buf.WriteByte(',')
				}
				seq := (w*per+v)*20 + k
				switch {
				case chain:
					dep := ""
					if k > 0 {
						dep = strconv.Itoa(k)
					}
					buf.WriteString(item(k+1, w*per+v, seq, dep))
				default:
					buf.WriteString(item(k+1, w*per+v*5+k/4, seq, ""))
				}
			}
			buf.WriteString(`]}`)
			vs = append(vs, buf.Bytes())
		}
		spec.Bodies = append(spec.Bodies, vs)
	}
	raw, err := json.Marshal(spec)
	must(b, err)
	path := filepath.Join(b.TempDir(), "spec.json")
	must(b, os.WriteFile(path, raw, 0o600))
	cmd := exec.Command(os.Args[0], "-test.run=^TestBatchClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GRAPHSIM_CPU_BENCH_SPEC="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runtime.GC()
	before := processCPU()
	start := time.Now()
	b.ResetTimer()
	err = cmd.Run()
	b.StopTimer()
	el := time.Since(start)
	cpu := processCPU() - before
	if err != nil {
		b.Fatalf("client process: %v\n%s", err, out.Bytes())
	}
	writes := float64(20 * spec.Batches)
	b.ReportMetric(float64(cpu.Microseconds())/writes, "cpu-µs/contact")
	b.ReportMetric(writes/el.Seconds(), "writes/s")
}

// TestBatchClientProcess is BenchmarkBatchContactCPU's client; it runs
// only in the child process the benchmark starts.
func TestBatchClientProcess(t *testing.T) {
	path := os.Getenv("GRAPHSIM_CPU_BENCH_SPEC")
	if path == "" {
		t.Skip("the client process of BenchmarkBatchContactCPU")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec cpuBenchSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(spec.CAPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	client := &http.Client{Transport: tr}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < spec.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for v := 0; next.Add(1) <= int64(spec.Batches); v++ {
				body := spec.Bodies[w][v%len(spec.Bodies[w])]
				req, _ := http.NewRequest("POST", spec.URL, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+spec.Token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || bytes.Count(raw, []byte(`"status":201`)) != 20 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %.600s", resp.StatusCode, raw))
				}
			}
		}(w)
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d batches failed or had non-201 items; first: %v", n, firstErr.Load())
	}
}
