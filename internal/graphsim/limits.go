package graphsim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// limiter implements the throttling contract of docs/architecture.md:
// per (app, mailbox) concurrency and request quota, per (app, tenant)
// directory resource units, and Retry-After deadlines per scope with
// violation counting.
type limiter struct {
	s         *Server
	mu        sync.Mutex
	deadlines map[scope]deadline  // Retry-After deadline of a scope
	retries   map[string]deadline // request fingerprint -> its own Retry-After deadline
	retryEnd  time.Time           // the latest until of retries
	inflight  map[scope]int       // mailbox scope -> requests in flight
	perMbox   map[string]int      // mailbox id -> in flight across apps
	windows   map[scope]*window   // quota (mailbox) or resource units (directory)
}

// scope is a throttling scope: (app, mailbox), (app, tenant) or the app.
type scope struct {
	kind scopeKind
	app  string
	id   string // mailbox (user) id or tenant id; empty for the app
}

type scopeKind uint8

const (
	kindMailbox scopeKind = iota
	kindDirectory
	kindApp
	kindUpload // the (app, mailbox) upload budget's window
)

// counterName names the scope in Counters.ViolationsByScope.
func (sc scope) counterName() string {
	switch sc.kind {
	case kindDirectory:
		return "directory:" + sc.id
	case kindApp:
		return "app:" + sc.app
	}
	return "mailbox:" + sc.id
}

// deadline is what a Retry-After named: requests arriving after issued
// and before until are violations (requests that arrived with the
// throttled one, such as items of the same batch, are not).
type deadline struct {
	issued, until time.Time
}

type window struct {
	start time.Time
	used  int
}

func newLimiter(s *Server) *limiter {
	return &limiter{
		s:         s,
		deadlines: map[scope]deadline{},
		retries:   map[string]deadline{},
		inflight:  map[scope]int{},
		perMbox:   map[string]int{},
		windows:   map[scope]*window{},
	}
}

func scopeMailbox(app, mailbox string) scope { return scope{app: app, id: mailbox} }
func scopeDirectory(app, tenant string) scope {
	return scope{kind: kindDirectory, app: app, id: tenant}
}
func scopeApp(app string) scope { return scope{kind: kindApp, app: app} }

func (l *limiter) resetWindows() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.windows = map[scope]*window{}
	l.deadlines = map[scope]deadline{}
	l.retries = map[string]deadline{}
	l.retryEnd = time.Time{}
}

// scaled divides a duration by the time scale.
func (l *limiter) scaled(d time.Duration) time.Duration {
	ts := l.s.Throttle().TimeScale
	if ts > 0 && ts != 1 {
		d = time.Duration(float64(d) / ts)
	}
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}

// arrive counts a Retry-After violation: a resend of a throttled request
// before its deadline, or another request of the scope arriving before the
// scope's deadline once the client has had ReactionTime to read the
// response that named it. The request's fingerprint is taken only while
// some throttled request may be resent.
func (l *limiter) arrive(g *greq, sc scope) bool {
	now := g.now
	l.mu.Lock()
	dl, ok := l.deadlines[sc]
	anyRetry := len(l.retries) > 0 && now.Before(l.retryEnd)
	l.mu.Unlock()
	var retry deadline
	isRetry := false
	if anyRetry {
		fp := fingerprint(g)
		l.mu.Lock()
		retry, isRetry = l.retries[fp]
		l.mu.Unlock()
	}
	if !ok && !isRetry {
		return false
	}
	react := l.reactionTime()
	switch {
	case isRetry && now.After(retry.issued) && now.Before(retry.until):
		l.s.ctr.violation(sc.counterName())
	case ok && now.After(dl.issued.Add(react)) && now.Before(dl.until):
		l.s.ctr.violation(sc.counterName())
	default:
		return false
	}
	return true
}

// arriveApp counts a request of an app arriving while the app is held
// back by a global-limit Retry-After (a resend of the throttled request
// itself is counted by arrive).
func (l *limiter) arriveApp(g *greq) {
	sc := scopeApp(g.app)
	l.mu.Lock()
	dl, ok := l.deadlines[sc]
	l.mu.Unlock()
	if ok && g.now.After(dl.issued.Add(l.reactionTime())) && g.now.Before(dl.until) {
		l.s.ctr.violation(sc.counterName())
	}
}

func (l *limiter) reactionTime() time.Duration {
	react := l.s.Throttle().ReactionTime
	if react == 0 {
		return DefaultReactionTime
	}
	return max(react, 0)
}

// fingerprint identifies a request for recognising its resend: method,
// path, query and body.
func fingerprint(g *greq) string {
	sum := sha256.Sum256(g.body)
	return g.method + " " + g.rawPath + "?" + g.rawQuery + " " + hex.EncodeToString(sum[:8])
}

// setDeadline records the deadline a Retry-After names for a scope. The
// client learns of it only when the response carrying it arrives, so a
// response's deadlines count from the moment it has been sent: for a
// $batch item, when the whole batch response is written. Requests already
// on their way (other batches in flight to the same mailbox) are not
// violations; only those arriving after the client could know are.
func (l *limiter) setDeadline(g *greq, sc scope, until time.Time) {
	fp := fingerprint(g)
	if g.held != nil {
		g.held.add(sc, fp, until)
		return
	}
	l.publish(sc, fp, g.now, until)
}

// publish makes a deadline count from issued on, for the scope and for
// resends of the request with fingerprint fp.
func (l *limiter) publish(sc scope, fp string, issued, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d, ok := l.deadlines[sc]; !ok || until.After(d.until) {
		l.deadlines[sc] = deadline{issued: issued, until: until}
	}
	if len(l.retries) > 10000 {
		for k, d := range l.retries {
			if issued.After(d.until) {
				delete(l.retries, k)
			}
		}
	}
	l.retries[fp] = deadline{issued: issued, until: until}
	if until.After(l.retryEnd) {
		l.retryEnd = until
	}
}

// heldDeadlines are the deadlines a response (with its batch items) names,
// held until the response has been written.
type heldDeadlines struct {
	mu   sync.Mutex
	list []heldDeadline
}

type heldDeadline struct {
	scope scope
	fp    string
	until time.Time
}

func (h *heldDeadlines) add(sc scope, fp string, until time.Time) {
	h.mu.Lock()
	h.list = append(h.list, heldDeadline{sc, fp, until})
	h.mu.Unlock()
}

// release publishes the held deadlines as issued at the given instant.
func (h *heldDeadlines) release(l *limiter, issued time.Time) {
	h.mu.Lock()
	list := h.list
	h.list = nil
	h.mu.Unlock()
	for _, d := range list {
		l.publish(d.scope, d.fp, issued, d.until)
	}
}

// throttled builds a 429 with Retry-After and records its deadline.
func (l *limiter) throttled(g *greq, sc scope, code, msg string, ra time.Duration) gresp {
	h := formatRetryAfter(ra)
	l.setDeadline(g, sc, g.now.Add(parseRetryAfterDur(h)))
	resp := g.graphErr(http.StatusTooManyRequests, code, msg)
	resp.hdr.Set("Retry-After", h)
	return resp
}

func (l *limiter) concurrencyRetryAfter() time.Duration {
	ra := l.s.Throttle().ConcurrencyRetryAfter
	if ra <= 0 {
		ra = time.Second
	}
	return l.scaled(ra)
}

func (g *greq) concurrency429(l *limiter, mailboxID string) gresp {
	return l.throttled(g, scopeMailbox(g.app, mailboxID), "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", l.concurrencyRetryAfter())
}

// acquire takes one concurrency slot of (app, mailbox).
func (l *limiter) acquire(g *greq, mailboxID string) (gresp, bool) {
	if l.reserve(g.app, mailboxID, 1) == 1 {
		return gresp{}, true
	}
	return g.concurrency429(l, mailboxID), false
}

// reserve takes up to n slots and returns how many it took.
func (l *limiter) reserve(app, mailboxID string, n int) int {
	limit := l.s.Throttle().MailboxConcurrency
	sc := scopeMailbox(app, mailboxID)
	l.mu.Lock()
	cur := l.inflight[sc]
	take := n
	if limit > 0 {
		take = max(0, min(n, limit-cur))
	}
	if take > 0 {
		l.inflight[sc] = cur + take
		l.perMbox[mailboxID] += take
		peak := l.perMbox[mailboxID]
		l.mu.Unlock()
		l.s.ctr.peak(mailboxID, peak)
		return take
	}
	l.mu.Unlock()
	return 0
}

func (l *limiter) release(app, mailboxID string) {
	sc := scopeMailbox(app, mailboxID)
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.inflight[sc]; n > 1 {
		l.inflight[sc] = n - 1
	} else {
		delete(l.inflight, sc)
	}
	if l.perMbox[mailboxID] > 0 {
		l.perMbox[mailboxID]--
	}
	if l.perMbox[mailboxID] == 0 {
		delete(l.perMbox, mailboxID)
	}
}

// take counts cost against a fixed window; it returns the time until the
// window restarts when the budget is exhausted.
func (l *limiter) take(key scope, limit, cost int, win time.Duration, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[key]
	if w == nil || !now.Before(w.start.Add(win)) {
		w = &window{start: now}
		l.windows[key] = w
	}
	if w.used+cost > limit {
		return w.start.Add(win).Sub(now), false
	}
	w.used += cost
	return 0, true
}

// mailboxQuota counts one request against the (app, mailbox) window.
func (l *limiter) mailboxQuota(g *greq, mailboxID string) (gresp, bool) {
	th := l.s.Throttle()
	if th.MailboxRequests <= 0 || th.MailboxWindow <= 0 {
		return gresp{}, true
	}
	sc := scopeMailbox(g.app, mailboxID)
	wait, ok := l.take(sc, th.MailboxRequests, 1, l.scaled(th.MailboxWindow), g.now)
	if ok {
		return gresp{}, true
	}
	return l.throttled(g, sc, "ApplicationThrottled", "Application is over its MailboxRequestRate limit.", roundUpMs(wait)), false
}

// appQuota counts one request (or $batch item) against the app's global
// window. Its 429 names the Application scope as Graph's does
// (x-ms-throttle-scope Application/ReadWrite/{app}): the client is to hold
// back every request of the app, not only this mailbox's.
func (l *limiter) appQuota(g *greq) (gresp, bool) {
	th := l.s.Throttle()
	if th.AppRequests <= 0 || th.AppWindow <= 0 {
		return gresp{}, true
	}
	sc := scopeApp(g.app)
	wait, ok := l.take(sc, th.AppRequests, 1, l.scaled(th.AppWindow), g.now)
	if ok {
		return gresp{}, true
	}
	resp := l.throttled(g, sc, "TooManyRequests", "Application is over its global request limit.", roundUpMs(wait))
	resp.hdr.Set("x-ms-throttle-scope", "Application/ReadWrite/"+g.app)
	return resp, false
}

func roundUpMs(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Millisecond
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// directoryBudget is the (app, tenant) resource-unit budget per window.
func (l *limiter) directoryBudget(t *tenantState, th Throttle) int {
	if th.DirectoryRU > 0 {
		return th.DirectoryRU
	}
	if !th.DirectoryBySize {
		return 0
	}
	t.mu.RLock()
	n := len(t.users)
	t.mu.RUnlock()
	switch {
	case n < 50:
		return 3500
	case n <= 500:
		return 5000
	}
	return 8000
}

// directory charges a directory request's resource units.
func (l *limiter) directory(g *greq, ru int) (gresp, bool) {
	th := l.s.Throttle()
	budget := l.directoryBudget(g.t, th)
	if budget <= 0 || th.DirectoryWindow <= 0 || ru <= 0 {
		return gresp{}, true
	}
	cost := ruCost(g, ru)
	sc := scopeDirectory(g.app, g.t.id)
	wait, ok := l.take(sc, budget, cost, l.scaled(th.DirectoryWindow), g.now)
	if ok {
		return gresp{}, true
	}
	ra := formatRetryAfter(roundUpMs(wait))
	l.setDeadline(g, sc, g.now.Add(parseRetryAfterDur(ra)))
	body := obj{{"error", obj{
		{"code", "TooManyRequests"},
		{"message", "Too many requests."},
		{"innerError", obj{
			{"code", "429"},
			{"date", g.now.UTC().Format("2006-01-02T15:04:05")},
			{"message", "Please retry after"},
			{"request-id", g.requestID()},
			{"client-request-id", g.clientReqID},
			{"status", "429"},
		}},
	}}}
	h := respHeader{{"Content-Type", "application/json"}, {"Retry-After", ra},
		{"x-ms-throttle-scope", "Tenant_Application/ReadWrite/" + g.app + "/" + g.t.id},
		{"x-ms-throttle-information", "ResourceUnitLimitExceeded"}}
	return gresp{status: http.StatusTooManyRequests, hdr: h, body: mustJSON(body)}, false
}

// ruCost applies Graph's adjustments: $select -1, $expand +1, $top < 20
// -1, minimum 1.
func ruCost(g *greq, base int) int {
	c := base
	if g.method != http.MethodGet {
		return 1
	}
	if _, ok := g.q["$select"]; ok {
		c--
	}
	if _, ok := g.q["$expand"]; ok {
		c++
	}
	if v, ok := g.q["$top"]; ok {
		if n := atoiOr(v[0], 100); n < 20 {
			c--
		}
	}
	return max(c, 1)
}

func atoiOr(s string, def int) int {
	n := 0
	if s == "" {
		return def
	}
	for _, r := range s {
		if r < '0' || r > '9' || n > 1e6 {
			return def
		}
		n = n*10 + int(r-'0')
	}
	return n
}
