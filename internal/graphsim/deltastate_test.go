package graphsim

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Delta links Graph refuses: too old (users/delta 400 syncStateNotFound,
// contacts 400 ErrorInvalidSyncStateData), expired (users/delta 410), and
// of a folder that is gone (400 ErrorSyncFolderNotFound).
func TestStaleDeltaTokens(t *testing.T) {
	e := newEnv(t)
	e.srv.SetUsersDeltaPageSize(2)
	r := e.do("GET", "/users/delta", nil)
	e.want(r, 200, "")
	userNext := r.body["@odata.nextLink"].(string)
	_, userDelta, _ := deltaRound(t, e, "/users/delta?$select=displayName")
	latest := e.do("GET", "/users/delta?$deltatoken=latest", nil).body["@odata.deltaLink"].(string)

	fid := e.mkFolder(alice, "Company")
	for i := 0; i < 3; i++ {
		e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i)})
	}
	d0 := "/users/" + alice + "/contactFolders/" + fid + "/contacts/delta"
	r = e.do("GET", d0, nil, "Prefer: odata.maxpagesize=1")
	contactNext := r.body["@odata.nextLink"].(string)
	_, contactDelta, _ := deltaRound(t, e, d0)

	if st, b := e.ctl("POST", "stale-delta-tokens?tenant="+e.tenant.ID, "", nil); st != 204 {
		t.Fatalf("control %d %s", st, b)
	}
	for _, l := range []string{userNext, userDelta, latest} {
		r := e.do("GET", l, nil)
		e.want(r, 400, "syncStateNotFound")
		if !strings.Contains(string(r.raw), "The sync state generation is not found. The delta token is expired and data must be synchronized again.") {
			t.Errorf("message %s", r.raw)
		}
	}
	for _, l := range []string{contactNext, contactDelta} {
		e.want(e.do("GET", l, nil), 400, "ErrorInvalidSyncStateData")
	}
	// New rounds work, and their links are not stale.
	_, userDelta, _ = deltaRound(t, e, "/users/delta")
	e.want(e.do("GET", userDelta, nil), 200, "")
	_, contactDelta, _ = deltaRound(t, e, d0)
	e.want(e.do("GET", contactDelta, nil), 200, "")
	// In $batch too.
	must(t, e.srv.StaleDeltaTokens(""))
	r = e.do("POST", "/$batch", map[string]any{"requests": []any{
		item("1", "GET", strings.TrimPrefix(userDelta, e.srv.GraphURL()), nil),
		item("2", "GET", strings.TrimPrefix(contactDelta, e.srv.GraphURL()), nil),
	}})
	rs := responses(t, r)
	if status(rs["1"]) != 400 || status(rs["2"]) != 400 {
		t.Errorf("batch %s", r.raw)
	}

	// ExpireDeltaTokens: users/delta keeps its 410 with Location; contacts 400.
	_, userDelta, _ = deltaRound(t, e, "/users/delta")
	_, contactDelta, _ = deltaRound(t, e, d0)
	must(t, e.srv.ExpireDeltaTokens(e.tenant.ID))
	r = e.do("GET", userDelta, nil)
	e.want(r, 410, "resyncRequired")
	if r.hdr.Get("Location") == "" {
		t.Error("410 without Location")
	}
	e.want(e.do("GET", contactDelta, nil), 400, "ErrorInvalidSyncStateData")
	if err := e.srv.StaleDeltaTokens("7d3c1a52-0000-0000-0000-000000000000"); err == nil {
		t.Error("unknown tenant accepted")
	}
}

func TestDeltaOfDeletedFolder(t *testing.T) {
	e := newEnv(t)
	base := "/users/" + alice + "/contactFolders/"
	fid := e.mkFolder(alice, "Company")
	for i := 0; i < 3; i++ {
		e.mkContact(alice, fid, map[string]any{"givenName": fmt.Sprint("P", i)})
	}
	d0 := base + fid + "/contacts/delta"
	next := e.do("GET", d0, nil, "Prefer: odata.maxpagesize=1").body["@odata.nextLink"].(string)
	_, dl, _ := deltaRound(t, e, d0)
	// In Deleted Items the links still work; gone for good they do not.
	e.want(e.do("DELETE", base+fid, nil), 204, "")
	e.want(e.do("GET", dl, nil), 200, "")
	e.want(e.do("GET", next, nil), 200, "")
	e.want(e.do("DELETE", base+fid, nil), 204, "")
	for _, l := range []string{dl, next} {
		r := e.do("GET", l, nil)
		e.want(r, 400, "ErrorSyncFolderNotFound")
		if !strings.Contains(string(r.raw), "The folder to be synchronized could not be found.") {
			t.Errorf("message %s", r.raw)
		}
	}
	// A fresh delta on an unknown folder stays 404.
	e.want(e.do("GET", d0, nil), 404, "ErrorItemNotFound")
	// Same after permanentDelete and after the owner empties Deleted Items.
	f2 := e.mkFolder(alice, "Two")
	_, dl2, _ := deltaRound(t, e, base+f2+"/contacts/delta")
	e.want(e.do("POST", base+f2+"/permanentDelete", nil), 204, "")
	e.want(e.do("GET", dl2, nil), 400, "ErrorSyncFolderNotFound")
	f3 := e.mkFolder(alice, "Three")
	_, dl3, _ := deltaRound(t, e, base+f3+"/contacts/delta")
	must(t, e.srv.OwnerDeleteFolder(e.tenant.ID, alice, f3))
	e.want(e.do("GET", dl3, nil), 200, "")
	must(t, e.srv.OwnerEmptyDeletedItems(e.tenant.ID, alice))
	e.want(e.do("GET", dl3, nil), 400, "ErrorSyncFolderNotFound")
}

// users/delta state lives 7 days: a link older than that answers 400
// syncStateNotFound by itself, with no control call.
func TestUsersDeltaLinksExpireAfterSevenDays(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	e := newEnv(t, func(o *Options) {
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	_, link, _ := deltaRound(t, e, "/users/delta")
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
		tok, err := e.srv.AccessToken(e.tenant.ID, e.cred.ClientID) // the old one expired too
		must(t, err)
		e.token = tok
	}
	advance(6 * 24 * time.Hour)
	r := e.do("GET", link, nil)
	e.want(r, 200, "")
	fresh := r.body["@odata.deltaLink"].(string)
	advance(2 * 24 * time.Hour) // the first link is 8 days old, the second 2
	e.want(e.do("GET", link, nil), 400, "syncStateNotFound")
	e.want(e.do("GET", fresh, nil), 200, "")
}
