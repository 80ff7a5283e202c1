package pacer

import (
	"context"
	"testing"
	"time"
)

// The upload budget: bytes within the window pass at once, more waits
// until the oldest upload leaves the window, a body over the whole budget
// is refused, and a cancelled wait charges nothing.
func TestUploadBudget(t *testing.T) {
	p := New(Config{UploadBytes: 1000, UploadWindow: 200 * time.Millisecond})
	ctx := context.Background()
	start := time.Now()
	for range 2 {
		if err := p.Upload(ctx, "mailbox:a", 500); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("uploads within the budget waited %v", d)
	}
	// Another mailbox has its own budget.
	if err := p.Upload(ctx, "mailbox:b", 1000); err != nil {
		t.Fatal(err)
	}
	if err := p.Upload(ctx, "mailbox:a", 1); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("an upload over the budget went after %v, want it to wait for the window", d)
	}
	if err := p.Upload(ctx, "mailbox:a", 1001); err == nil {
		t.Fatal("a body over the whole budget was accepted")
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	p2 := New(Config{UploadBytes: 10, UploadWindow: time.Hour})
	p2.Upload(ctx, "s", 10)
	if err := p2.Upload(cctx, "s", 5); err == nil {
		t.Fatal("a cancelled wait succeeded")
	}
}
