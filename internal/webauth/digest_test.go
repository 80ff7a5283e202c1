package webauth

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type eventSink struct {
	mu  sync.Mutex
	evs []AuthEvent
}

func (s *eventSink) emit(ev AuthEvent) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
}

func (s *eventSink) list() []AuthEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuthEvent(nil), s.evs...)
}

func refused(src string) AuthEvent {
	return AuthEvent{Kind: "sign_in_refused", Reason: "Sign-in refused: state mismatch", Source: src}
}

func TestRefusalDigest(t *testing.T) {
	var sink eventSink
	d := newRefusalDigest(50*time.Millisecond, sink.emit, time.Now)
	for range 5 {
		d.record(refused("192.0.2.7:5000"))
	}
	d.record(refused("[2001:db8:1:2::a]:443"))
	d.record(refused("[2001:db8:1:2::b]:444")) // same /64
	d.record(refused("198.51.100.1:1"))
	if got := len(sink.list()); got != 3 {
		t.Fatalf("first refusal of each source at once: %d events", got)
	}
	// The window's timer sums up the rest, one event per source.
	deadline := time.Now().Add(5 * time.Second)
	for len(sink.list()) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	evs := sink.list()
	if len(evs) != 5 || evs[3].Count != 4 || evs[4].Count != 1 ||
		!strings.HasPrefix(evs[3].Reason, "4 more refused sign-ins from 192.0.2.7 in the last 50ms; the last: Sign-in refused") ||
		!strings.Contains(evs[4].Reason, "from 2001:db8:1:2::/64") {
		t.Fatalf("summaries: %+v", evs[3:])
	}
	// Quiet for a window: the next refusal passes at once again.
	time.Sleep(60 * time.Millisecond)
	d.record(refused("192.0.2.7:5001"))
	if evs := sink.list(); len(evs) != 6 || evs[5].Count != 0 {
		t.Fatalf("after a quiet window: %+v", evs)
	}
	// Close records what is held back.
	d.record(refused("192.0.2.7:5002"))
	d.close()
	if evs := sink.list(); len(evs) != 7 || evs[6].Count != 1 {
		t.Fatalf("close: %+v", evs)
	}
}

func TestRefusalDigestBoundsSources(t *testing.T) {
	var sink eventSink
	d := newRefusalDigest(time.Hour, sink.emit, time.Now)
	defer d.close()
	for i := range refusalSources + 50 {
		d.record(refused(fmt.Sprintf("10.0.%d.%d:1", i/256, i%256)))
	}
	if got := len(sink.list()); got != refusalSources {
		t.Fatalf("%d events at once, want one per tracked source (%d)", got, refusalSources)
	}
	d.flush()
	evs := sink.list()
	if last := evs[len(evs)-1]; last.Count != 50 || last.Source != "" || !strings.Contains(last.Reason, "from other sources") {
		t.Fatalf("untracked sources summed up together: %+v", last)
	}
}
