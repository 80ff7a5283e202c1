package graph

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestListEmptyPagesAndConsistencyLevel(t *testing.T) {
	var srvURL string
	var missingCL atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("ConsistencyLevel") != "eventual" {
			missingCL.Add(1)
		}
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			if r.URL.Path != "/v1.0/groups/g1/transitiveMembers/microsoft.graph.user" || r.URL.Query().Get("$count") != "true" {
				t.Errorf("first page URL %s", r.URL)
			}
			writeJSON(w, 200, map[string]any{"@odata.count": 3,
				"value":           []map[string]any{{"id": "a", "displayName": "Ä"}, {"id": "b"}},
				"@odata.nextLink": srvURL + "/v1.0/groups/g1/transitiveMembers/microsoft.graph.user?$skiptoken=p2"})
		case "p2":
			writeJSON(w, 200, map[string]any{"value": []any{},
				"@odata.nextLink": srvURL + "/v1.0/groups/g1/transitiveMembers/microsoft.graph.user?$skiptoken=p3"})
		case "p3":
			writeJSON(w, 200, map[string]any{"value": []map[string]any{{"id": "c", "accountEnabled": false}}})
		}
	}))
	srvURL = srv.URL
	c := newClient(t, srv, nil, nil)
	var ids []string
	pages := 0
	err := c.GroupTransitiveUsers(t.Context(), "g1", nil, func(us []User) error {
		pages++
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 || strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("pages %d ids %v", pages, ids)
	}
	if missingCL.Load() != 0 {
		t.Fatalf("%d pages without ConsistencyLevel", missingCL.Load())
	}
	if c.Stats().GET != 3 {
		t.Fatalf("stats %+v", c.Stats())
	}
}

func TestDeltaRoundAndResync(t *testing.T) {
	var srvURL string
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("$deltatoken") == "expired":
			w.Header().Set("Location", srvURL+"/v1.0/users/delta?$deltatoken=")
			writeErr(w, 410, "resyncRequired", "Resync required.")
		case q.Get("$deltatoken") == "old":
			writeErr(w, 400, "syncStateNotFound", "The sync state is not found.")
		case q.Get("$skiptoken") == "s2":
			writeJSON(w, 200, map[string]any{
				"value":            []map[string]any{{"id": "u2", "@removed": map[string]string{"reason": "deleted"}}},
				"@odata.deltaLink": srvURL + "/v1.0/users/delta?$deltatoken=d1"})
		case r.URL.Path == "/v1.0/users/delta":
			if q.Get("$select") == "" {
				t.Errorf("first round without $select: %s", r.URL)
			}
			writeJSON(w, 200, map[string]any{
				"value":           []map[string]any{{"id": "u1", "displayName": "Zoë", "businessPhones": []string{"+1 1", "+1 2"}}},
				"@odata.nextLink": srvURL + "/v1.0/users/delta?$skiptoken=s2"})
		}
	}))
	srvURL = srv.URL
	c := newClient(t, srv, nil, nil)
	var got []User
	link, err := c.UsersDelta(t.Context(), "", nil, func(p *Page[User]) error {
		got = append(got, p.Value...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if link != srv.URL+"/v1.0/users/delta?$deltatoken=d1" {
		t.Fatalf("deltaLink %q", link)
	}
	if len(got) != 2 || got[0].DisplayName != "Zoë" || len(got[0].BusinessPhones) != 2 || got[1].Removed == nil || got[1].Removed.Reason != "deleted" {
		t.Fatalf("items %+v", got)
	}

	_, err = c.UsersDelta(t.Context(), srv.URL+"/v1.0/users/delta?$deltatoken=expired", nil, func(*Page[User]) error { return nil })
	var ge *Error
	if !errors.Is(err, ErrResyncRequired) || Classify(err) != ResyncRequired || !errors.As(err, &ge) || !strings.HasSuffix(ge.Location, "$deltatoken=") {
		t.Fatalf("410: err %v", err)
	}
	_, err = c.UsersDelta(t.Context(), srv.URL+"/v1.0/users/delta?$deltatoken=old", nil, func(*Page[User]) error { return nil })
	if !errors.Is(err, ErrResyncRequired) {
		t.Fatalf("syncStateNotFound: err %v", err)
	}
	// A saved link from another Graph root cannot be followed: resync.
	_, err = c.UsersDelta(t.Context(), "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x", nil, func(*Page[User]) error { return nil })
	if !errors.Is(err, ErrResyncRequired) {
		t.Fatalf("foreign link: err %v", err)
	}
	// An error from the callback stops the round.
	stop := errors.New("stop")
	if _, err := c.UsersDelta(t.Context(), "", nil, func(*Page[User]) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("callback error: %v", err)
	}
}

// A server that pages in a circle (p1 → p2 → p1) or without end never
// holds a listing or delta round forever.
func TestPagingStopsOnACircleAndAtTheCap(t *testing.T) {
	var srvURL string
	var served atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		next := "p2"
		if r.URL.Query().Get("$skiptoken") == "p2" {
			next = "p1"
		}
		writeJSON(w, 200, map[string]any{"value": []any{}, "@odata.nextLink": srvURL + "/v1.0/users/delta?$skiptoken=" + next})
	}))
	srvURL = srv.URL
	c := newClient(t, srv, nil, nil)
	err := List(t.Context(), c, Request{URL: "/users?$top=1"}, func(*Page[User]) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats") || served.Load() != 3 {
		t.Fatalf("list: %v after %d pages", err, served.Load())
	}
	served.Store(0)
	_, err = c.UsersDelta(t.Context(), "", nil, func(*Page[User]) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats") || served.Load() != 3 {
		t.Fatalf("delta: %v after %d pages", err, served.Load())
	}

	var g PageGuard
	for i := range MaxPages {
		if err := g.Next("https://graph/v1.0/users?$skiptoken=" + strconv.Itoa(i)); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
	}
	if err := g.Next("https://graph/v1.0/users?$skiptoken=last"); err == nil || !strings.Contains(err.Error(), "pages") {
		t.Fatalf("page cap: %v", err)
	}
}
