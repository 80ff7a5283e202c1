package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCatalogIsWellFormed(t *testing.T) {
	names := map[string]ID{}
	groups := map[ID]string{1: "service", 2: "run", 3: "auth/cert", 4: "config", 5: "safety", 6: "admin", 7: "photos, sources, console, push"}
	for _, d := range Catalog() {
		if d.ID < 1 || d.ID > 1000 {
			t.Errorf("%d: outside 1-1000 (EventCreate.exe has no message for it)", d.ID)
		}
		if _, ok := groups[d.ID/100]; !ok {
			t.Errorf("%d: not in a documented group", d.ID)
		}
		if prev, dup := names[d.Name]; dup {
			t.Errorf("%d: name %q already used by %d", d.ID, d.Name, prev)
		}
		names[d.Name] = d.ID
		if d.Summary == "" || !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(d.Name) {
			t.Errorf("%d: bad name %q or empty summary", d.ID, d.Name)
		}
	}
	if len(names) < 20 {
		t.Errorf("catalog has %d entries, expected the full list", len(names))
	}
}

// TestDocsListEveryEvent keeps docs/events.md in step with the catalog: each
// ID appears in a table row with its level and name.
func TestDocsListEveryEvent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Catalog() {
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^\| %d \| %s \| `+"`%s`"+` \|`, d.ID, d.Level, d.Name))
		if !row.Match(doc) {
			t.Errorf("docs/events.md has no row \"| %d | %s | `%s` | ...\"", d.ID, d.Level, d.Name)
		}
	}
}

func TestTextIsOneSafeLine(t *testing.T) {
	e := Event{ID: AuthFailed, Tenant: "contoso ltd", RunID: "r1",
		Detail: "AADSTS700027: bad\nsignature\x00", Fields: []Field{F("aadsts", "700027"), FInt("n", 3), F("empty", "")}}
	got := e.Text()
	want := `authentication failed: AADSTS700027: bad signature tenant="contoso ltd" run=r1 aadsts=700027 n=3 empty=""`
	if got != want {
		t.Errorf("Text()\n got %s\nwant %s", got, want)
	}
	long := Event{ID: RunFailed, Detail: strings.Repeat("é", maxText)}
	if n := len(long.Text()); n > maxText+len("…") {
		t.Errorf("long text not bounded: %d bytes", n)
	}
	if !strings.HasSuffix(long.Text(), "…") || !utf8Valid(long.Text()) {
		t.Errorf("truncation broke UTF-8 or lost its marker")
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

type fakeReporter struct{ got []string }

func (f *fakeReporter) Info(id uint32, m string) error {
	f.got = append(f.got, fmt.Sprint("I", id))
	return nil
}
func (f *fakeReporter) Warning(id uint32, m string) error {
	f.got = append(f.got, fmt.Sprint("W", id))
	return nil
}
func (f *fakeReporter) Error(id uint32, m string) error {
	f.got = append(f.got, fmt.Sprint("E", id))
	return nil
}

func TestReportUsesCatalogLevel(t *testing.T) {
	r := &fakeReporter{}
	for _, id := range []ID{ServiceStarted, RunPartial, RunFailed, CertExpires7} {
		if err := report(r, Event{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(r.got, ","); got != "I100,W201,E202,E322" {
		t.Errorf("got %s", got)
	}
	if err := report(r, Event{ID: 1001}); err == nil {
		t.Error("id 1001 accepted; EventCreate.exe cannot render it")
	}
}

func TestSlogSinkCarriesEventID(t *testing.T) {
	var buf bytes.Buffer
	s := SlogSink{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	_ = s.Write(context.Background(), Event{ID: ConsentMissing, Tenant: "fabrikam", Fields: []Field{F("missing", "User.Read.All")}})
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["event_id"] != float64(301) || rec["level"] != "ERROR" || rec["tenant"] != "fabrikam" ||
		rec["missing"] != "User.Read.All" || rec["msg"] != "application permission missing" {
		t.Errorf("record %v", rec)
	}
}

type recSink struct {
	mu  sync.Mutex
	got []Event
	err error
}

func (r *recSink) Write(ctx context.Context, e Event) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, e)
	return r.err
}

func TestBusFanOutAndSlowSubscriber(t *testing.T) {
	var logBuf bytes.Buffer
	sink := &recSink{}
	failing := &recSink{err: errors.New("disk full")}
	b := NewBus(slog.New(slog.NewTextHandler(&logBuf, nil)), sink, failing)
	fast := b.Subscribe(100)
	slow := b.Subscribe(2) // never read while emitting
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shutdown: final events still reach the sinks
	for i := 0; i < 10; i++ {
		b.Emit(ctx, Event{ID: RunSucceeded, Tenant: fmt.Sprint("t", i)})
	}
	if len(sink.got) != 10 || sink.got[0].Time.IsZero() {
		t.Fatalf("sink got %d events (time %v)", len(sink.got), sink.got[0].Time)
	}
	if !strings.Contains(logBuf.String(), "disk full") {
		t.Errorf("sink failure not logged: %q", logBuf.String())
	}
	if len(fast.C()) != 10 {
		t.Errorf("fast subscriber has %d events", len(fast.C()))
	}
	if len(slow.C()) != 2 || slow.Dropped() != 8 {
		t.Errorf("slow subscriber: %d buffered, %d dropped", len(slow.C()), slow.Dropped())
	}
	slow.Close()
	slow.Close()
	if _, open := <-drain(slow.C()); open {
		t.Error("closed subscription channel still open")
	}
	b.Emit(context.Background(), Event{ID: RunSucceeded}) // no send on a closed channel
	fast.Close()
}

func drain(c <-chan Event) <-chan Event {
	for range c {
	}
	return c
}

func TestScopeEmitsOncePerConditionAndTenant(t *testing.T) {
	sink := &recSink{}
	b := NewBus(nil, sink)
	s := b.Scope()
	ctx := context.Background()
	emitted := 0
	for i := 0; i < 5; i++ {
		for _, e := range []Event{{ID: RunThrottled, Tenant: "a"}, {ID: RunThrottled, Tenant: "b"}, {ID: AuthFailed, Tenant: "a"}} {
			if s.Emit(ctx, e) {
				emitted++
			}
		}
	}
	if emitted != 3 || len(sink.got) != 3 {
		t.Errorf("emitted %d, sink got %d; want 3", emitted, len(sink.got))
	}
	if !b.Scope().Emit(ctx, Event{ID: RunThrottled, Tenant: "a"}) {
		t.Error("a new scope (next run) must emit again")
	}
}

func TestConcurrentEmitAndSubscribe(t *testing.T) {
	b := NewBus(nil)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				b.Emit(context.Background(), Event{ID: RunSucceeded, Time: time.Unix(1, 0)})
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				s := b.Subscribe(1)
				s.Close()
			}
		}()
	}
	wg.Wait()
}

type seqRecorder struct{ n int64 }

func (r *seqRecorder) Record(context.Context, Event) (int64, error) { r.n++; return r.n, nil }

func TestRecorderNumbersEventsForSubscribersAndSinks(t *testing.T) {
	sink := &recSink{}
	b := NewBus(nil, sink)
	b.SetRecorder(&seqRecorder{})
	sub := b.Subscribe(10)
	for i := 0; i < 3; i++ {
		b.Emit(context.Background(), Event{ID: RunSucceeded})
	}
	for want := int64(1); want <= 3; want++ {
		if e := <-sub.C(); e.Seq != want {
			t.Errorf("subscriber got seq %d, want %d", e.Seq, want)
		}
		if sink.got[want-1].Seq != want {
			t.Errorf("sink got seq %d, want %d", sink.got[want-1].Seq, want)
		}
	}
	sub.Close()
}
