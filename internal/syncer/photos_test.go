package syncer

import (
	"fmt"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim"
)

// The photo metadata of a run is read as $batch items: with photos on, a
// run that changes nothing costs about one request per 20 source users
// more than the same run with photos off, not one per user, and still
// reads every user's metadata, downloads and uploads nothing.
func TestPhotoMetadataShareBatches(t *testing.T) {
	const n = 60
	var users []graphsim.User
	for i := range n {
		u := user(fmt.Sprintf("Given%02d", i), "Photo")
		if i%2 == 0 {
			u.Photo = &graphsim.UserPhoto{ContentType: "image/jpeg", Data: graphsim.GenPhoto(u.ID, 0)}
		}
		users = append(users, u)
	}
	e := newEnv(t, users)
	e.opts.Linger = 20 * time.Millisecond // the service's is 50 ms
	mustOK(t, e.sync(RunOptions{}))
	e.srv.ResetCounters()
	mustOK(t, e.sync(RunOptions{}))
	without := e.counters()

	e.settings = map[string]any{"photos": true}
	e.cfg = nil
	res := e.sync(RunOptions{})
	mustOK(t, res)
	if p := res.Photos; p == nil || p.Checked != n || p.Downloaded != n/2 || p.Failed != 0 {
		t.Fatalf("first run with photos: %+v, errors %v", p, res.Errors)
	}
	e.srv.ResetCounters()
	res = e.sync(RunOptions{})
	mustOK(t, res)
	with := e.counters()
	metaReads := with.ByRoute["GET /users/{id}/photo"]
	extra := with.Requests - without.Requests
	t.Logf("no-change run of %d users: %d requests without photos, %d with (%d photo metadata reads, %d batches)",
		n, without.Requests, with.Requests, metaReads, with.Batches)
	if p := res.Photos; p == nil || p.Checked != n || p.Downloaded != 0 || p.Uploaded != 0 || p.Failed != 0 {
		t.Fatalf("no-change run: %+v, errors %v", p, res.Errors)
	}
	if metaReads != n || with.ByRoute["GET /users/{id}/photo/$value"] != 0 {
		t.Fatalf("no-change run: %d metadata reads, %d downloads", metaReads, with.ByRoute["GET /users/{id}/photo/$value"])
	}
	if want := int64((n + 19) / 20); extra > want+1 {
		t.Fatalf("photos cost %d requests in a no-change run of %d users, want about %d ($batch items)", extra, n, want)
	}

	// Under 503s of whole batches (Retry-After on every item's scope) and
	// shuffled answers, each item is resent after its wait: the photos are
	// all known again, none is taken for changed or removed.
	e.srv.SetFaults(graphsim.Faults{Rate503: 0.3, RetryAfter503: 20 * time.Millisecond, ShuffleBatch: true})
	e.srv.ResetCounters()
	res = e.sync(RunOptions{})
	e.srv.SetFaults(graphsim.Faults{})
	mustOK(t, res)
	c := e.counters()
	t.Logf("with 503s: %d requests, %d unavailable, %d photo metadata reads", c.Requests, c.Unavailable, c.ByRoute["GET /users/{id}/photo"])
	if p := res.Photos; p == nil || p.Checked != n || p.Downloaded != 0 || p.Uploaded != 0 || p.Removed != 0 || p.Failed != 0 {
		t.Fatalf("no-change run under 503s: %+v, errors %v", p, res.Errors)
	}
	if c.RetryAfterViolations != 0 {
		t.Fatalf("%d Retry-After violations", c.RetryAfterViolations)
	}
}
