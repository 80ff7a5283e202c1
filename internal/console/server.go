// Package console is galmirror's fleet console: one web page where an MSP
// engineer sees every customer's sync and acts on it. The console polls
// each customer's admin API (or reaches it through a pushed connection,
// PushSource), keeps the last answers, and renders its pages from that
// cache only, so a dead customer never slows a page. Pages are
// html/template, embedded; the only JavaScript is a few lines for live
// events (Server-Sent Events) and the search shortcut.
//
// Users come from the authenticator middleware the command hands in
// (package webauth); on loopback without one every request is the
// "loopback" operator. Operators act (sync now, pause, resume, check) after
// a confirmation, with CSRF-protected POSTs; viewers see no buttons and are
// refused by the server all the same. Every action, refused ones included,
// goes to the console's audit log and, through the on-behalf-of header, to
// the service's own admin audit.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/webauth"
)

//go:embed templates/*.html static/*
var assets embed.FS

// LoopbackUser is who every request is on loopback without sign-in.
var LoopbackUser = webauth.User{Subject: "loopback", Name: "local user", Method: "loopback", Role: webauth.Operator}

// Options configure a Server.
type Options struct {
	Config *Config
	Fleet  *Fleet
	// Authenticate puts the signed-in user in the request's context
	// (webauth.WithUser), or answers the request itself (a redirect to
	// sign in, a 401). nil: every request is LoopbackUser, which the
	// command allows only on loopback.
	Authenticate func(http.Handler) http.Handler
	// AuthRoutes serves /auth/ (sign-in callbacks); nil for none.
	AuthRoutes http.Handler
	Log        *slog.Logger
	// ActionTimeout bounds one action's admin call (default 60s; a check
	// takes a while).
	ActionTimeout time.Duration
}

// Server is the console's web application.
type Server struct {
	opts    Options
	fleet   *Fleet
	log     *slog.Logger
	tmpl    *template.Template
	audit   *auditLog
	csrfKey []byte
	handler http.Handler
	now     func() time.Time

	sse chan struct{} // bounds live event streams

	mu      sync.Mutex
	results map[string]actionResult
	order   []string
}

type actionResult struct {
	Subject string
	OK      bool
	Title   string
	Lines   []string
	Tenant  string
}

const maxSSE = 64

// New builds the console's server and opens its audit log.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Fleet == nil {
		return nil, errors.New("console: no configuration or fleet")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ActionTimeout <= 0 {
		o.ActionTimeout = 60 * time.Second
	}
	a, err := openAudit(o.Config.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, fleet: o.Fleet, log: o.Log, audit: a, now: time.Now,
		sse: make(chan struct{}, maxSSE), results: map[string]actionResult{}}
	s.csrfKey = make([]byte, 32)
	if _, err := rand.Read(s.csrfKey); err != nil {
		return nil, err
	}
	s.tmpl, err = template.New("").Funcs(s.funcs()).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /export.csv", s.exportCSV)
	mux.HandleFunc("GET /c/{customer}", s.customer)
	mux.HandleFunc("GET /c/{customer}/events", s.events)
	mux.HandleFunc("GET /c/{customer}/confirm", s.confirm)
	mux.HandleFunc("POST /c/{customer}/action", s.action)
	mux.HandleFunc("GET /audit", s.auditPage)
	authn := o.Authenticate
	if authn == nil {
		authn = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(webauth.WithUser(r.Context(), LoopbackUser)))
			})
		}
	}
	root := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	root.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))
	if o.AuthRoutes != nil {
		root.Handle("/auth/", o.AuthRoutes)
	}
	root.Handle("/", authn(requireUser(mux)))
	// Cross-origin POSTs are refused by the browser's own Sec-Fetch-Site
	// and Origin headers, and every form also carries a token bound to
	// the user (checkCSRF).
	s.handler = securityHeaders(http.NewCrossOriginProtection().Handler(root))
	return s, nil
}

// Handler returns the console's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the audit log.
func (s *Server) Close() error { return s.audit.Close() }

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func requireUser(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := webauth.UserFrom(r.Context()); !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) user(r *http.Request) webauth.User {
	u, _ := webauth.UserFrom(r.Context())
	return u
}

// csrfToken binds a form to the user who loaded it.
func (s *Server) csrfToken(u webauth.User) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(u.Method + "\x00" + u.Subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) checkCSRF(r *http.Request, u webauth.User) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrfToken(u))) == 1
}

// page is what every template gets.
type page struct {
	Title  string
	User   webauth.User
	CanAct bool
	CSRF   string
	Now    time.Time
	Data   any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	u := s.user(r)
	p := page{Title: title, User: u, CanAct: u.Role.CanAct(), CSRF: s.csrfToken(u), Now: s.now(), Data: data}
	var b strings.Builder
	if err := s.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		s.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, what string) {
	s.render(w, r, http.StatusNotFound, "error", "Not found", what)
}

// overviewData is the overview page.
type overviewData struct {
	Summary Summary
	Rows    []Row
	Total   int
	Q       Query
	Page    int
	Pages   int
	Prev    string
	Next    string
	Sorts   []sortLink
	CSV     string
}

type sortLink struct {
	Key, Label, Href, Aria string
}

func parseQuery(v url.Values) Query {
	q := Query{Search: v.Get("q"), Health: v.Get("health"), Sort: v.Get("sort"), Desc: v.Get("desc") == "1"}
	switch q.Health {
	case "", "attention", string(OK), string(Warning), string(Failing), string(Unreachable), string(Pending):
	default:
		q.Health = ""
	}
	if len(q.Search) > 200 {
		q.Search = q.Search[:200]
	}
	q.Page, _ = strconv.Atoi(v.Get("page"))
	if q.Page < 1 {
		q.Page = 1
	}
	return q
}

func (q Query) values() url.Values {
	v := url.Values{}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Health != "" {
		v.Set("health", q.Health)
	}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	if q.Desc {
		v.Set("desc", "1")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

func (q Query) href(path string) string {
	if e := q.values().Encode(); e != "" {
		return path + "?" + e
	}
	return path
}

// OverviewRows is the overview's filtered and sorted rows, all pages
// (what the CSV export writes).
func (s *Server) overviewRows(q Query) ([]Row, Summary) {
	states := s.fleet.States()
	all := rows(states, s.now())
	return q.apply(all), summarize(states, all)
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r.URL.Query())
	rs, sum := s.overviewRows(q)
	d := overviewData{Summary: sum, Total: len(rs), Q: q}
	d.Pages = max(1, (len(rs)+pageSize-1)/pageSize)
	d.Page = min(q.Page, d.Pages)
	lo := (d.Page - 1) * pageSize
	d.Rows = rs[lo:min(lo+pageSize, len(rs))]
	if d.Page > 1 {
		p := q
		p.Page = d.Page - 1
		d.Prev = p.href("/")
	}
	if d.Page < d.Pages {
		p := q
		p.Page = d.Page + 1
		d.Next = p.href("/")
	}
	for _, k := range [][2]string{{"attention", "Health"}, {"customer", "Customer"}, {"lastrun", "Last run"}, {"failed", "Mailboxes"}, {"next", "Next run"}, {"cert", "Certificate"}, {"users", "In scope"}} {
		p := q
		p.Page = 1
		cur := q.Sort == k[0] || (q.Sort == "" && k[0] == "attention")
		p.Sort, p.Desc = k[0], cur && !q.Desc
		aria := "none"
		if cur {
			aria = "ascending"
			if q.Desc {
				aria = "descending"
			}
		}
		d.Sorts = append(d.Sorts, sortLink{Key: k[0], Label: k[1], Href: p.href("/"), Aria: aria})
	}
	c := q
	c.Page = 0
	d.CSV = c.href("/export.csv")
	s.render(w, r, http.StatusOK, "overview", "Fleet overview", d)
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r.URL.Query())
	rs, _ := s.overviewRows(q)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="galmirror-fleet-`+s.now().UTC().Format("20060102-1504")+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"customer", "tenant", "mode", "health", "reason", "last_seen", "state", "last_run_started", "last_run_seconds", "last_run_status",
		"created", "updated", "deleted", "mailboxes_synced", "mailboxes_skipped", "mailboxes_failed", "next_run", "certificate_days", "users_in_scope"})
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, x := range rs {
		mode := "polled"
		if x.Pushed {
			mode = "pushed"
		}
		cert := ""
		if x.HasCert {
			cert = strconv.Itoa(x.CertDays)
		}
		dur := ""
		if x.HasRun {
			dur = strconv.FormatFloat(x.LastRunDur.Seconds(), 'f', 1, 64)
		}
		_ = cw.Write([]string{csvSafe(x.Customer), csvSafe(x.Tenant), mode, string(x.Health), csvSafe(x.Reason), tm(x.LastSeen), x.State, tm(x.LastRunAt), dur, x.RunStatus,
			itoa(x.Created), itoa(x.Updated), itoa(x.Deleted), itoa(x.Synced), itoa(x.Skipped), itoa(x.Failed), tm(x.NextRun), cert, itoa(x.UsersScope)})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// customerData is the customer page.
type customerData struct {
	State   CustomerState
	Rows    []Row
	Tenants []tenantView
	Result  *actionResult
	Stale   string
}

type tenantView struct {
	Row       Row
	Snap      TenantSnapshot
	Chart     template.HTML
	Errors    []*adminv1.MailboxOutcome
	Skipped   []*adminv1.MailboxOutcome
	Runs      []*adminv1.RunSummary
	Paused    bool
	TenantID  string
	CertError string
}

func (s *Server) customer(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("customer")
	st, ok := s.fleet.State(name)
	if !ok {
		s.notFound(w, r, fmt.Sprintf("No customer %q in console.json.", name))
		return
	}
	now := s.now()
	d := customerData{State: st, Rows: rows([]CustomerState{st}, now)}
	if st.Err != nil && !st.LastSeen.IsZero() {
		d.Stale = Age(now.Sub(st.LastSeen))
	}
	if id := r.URL.Query().Get("done"); id != "" {
		s.mu.Lock()
		res, ok := s.results[id]
		s.mu.Unlock()
		if ok && res.Subject == s.user(r).Subject {
			d.Result = &res
		}
	}
	if st.Snap != nil {
		byTenant := map[string]Row{}
		for _, x := range d.Rows {
			byTenant[x.Tenant] = x
		}
		for _, ts := range st.Snap.Tenants {
			tv := tenantView{Row: byTenant[ts.Tenant.GetName()], Snap: ts, Chart: chartSVG(ts.Runs), Paused: ts.Tenant.GetPaused(),
				TenantID: ts.Tenant.GetTenantId(), CertError: ts.Tenant.GetCertificateError()}
			if ts.LastRun != nil {
				for _, m := range ts.LastRun.GetMailboxes() {
					switch m.GetStatus() {
					case "failed":
						tv.Errors = append(tv.Errors, m)
					case "skipped", "removal-held":
						tv.Skipped = append(tv.Skipped, m)
					}
				}
			}
			tv.Runs = ts.Runs[:min(len(ts.Runs), 10)]
			d.Tenants = append(d.Tenants, tv)
		}
	}
	s.render(w, r, http.StatusOK, "customer", name, d)
}

var actionNames = map[string]string{"sync": "Sync now", "pause": "Pause", "resume": "Resume", "check": "Check"}

type confirmData struct {
	Customer, Tenant, Action, Label string
	NeedsReason                     bool
}

func (s *Server) tenantKnown(name, tenant string) bool {
	st, ok := s.fleet.State(name)
	if !ok || st.Snap == nil {
		return false
	}
	for _, t := range st.Snap.Tenants {
		if t.Tenant.GetName() == tenant {
			return true
		}
	}
	return false
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	name, tenant, act := r.PathValue("customer"), r.URL.Query().Get("tenant"), r.URL.Query().Get("action")
	label, ok := actionNames[act]
	if !ok || !s.tenantKnown(name, tenant) {
		s.notFound(w, r, "No such action, customer or tenant.")
		return
	}
	u := s.user(r)
	if !u.Role.CanAct() {
		s.render(w, r, http.StatusForbidden, "error", "Not allowed", "Your role ("+string(u.Role)+") may look but not act.")
		return
	}
	s.render(w, r, http.StatusOK, "confirm", label+" "+tenant, confirmData{Customer: name, Tenant: tenant, Action: act, Label: label,
		NeedsReason: act == "pause" || act == "resume"})
}

const maxReason = 400

func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	name := r.PathValue("customer")
	u := s.user(r)
	act, tenant, reason := r.PostFormValue("action"), r.PostFormValue("tenant"), strings.TrimSpace(r.PostFormValue("reason"))
	entry := AuditEntry{Action: act, Customer: name, Tenant: tenant, Reason: reason}
	label, known := actionNames[act]
	switch {
	case !s.checkCSRF(r, u):
		entry.Result, entry.Detail = "refused", "missing or wrong form token"
		s.recordAudit(u, entry)
		s.render(w, r, http.StatusForbidden, "error", "Refused", "The form's token is missing or was issued to someone else. Reload the page and try again.")
		return
	case !u.Role.CanAct():
		entry.Result, entry.Detail = "refused", "role "+string(u.Role)+" may not act"
		s.recordAudit(u, entry)
		s.render(w, r, http.StatusForbidden, "error", "Not allowed", "Your role ("+string(u.Role)+") may look but not act.")
		return
	case !known || !s.tenantKnown(name, tenant):
		s.notFound(w, r, "No such action, customer or tenant.")
		return
	case len(reason) > maxReason:
		s.render(w, r, http.StatusBadRequest, "error", "Reason too long", fmt.Sprintf("Keep the reason under %d characters.", maxReason))
		return
	}
	res := actionResult{Subject: u.Subject, Tenant: tenant}
	api, err := s.fleet.Client(name)
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.ActionTimeout)
		res, err = s.perform(ctx, api, u, act, tenant, reason)
		cancel()
		res.Subject, res.Tenant = u.Subject, tenant
	}
	if err != nil {
		err = describe(err)
		res.OK, res.Title = false, fmt.Sprintf("%s of %s failed: %v", label, tenant, err)
		entry.Result = "failed"
		entry.Detail = err.Error()
	} else {
		entry.Result = "ok"
		entry.Detail = strings.Join(res.Lines, "; ")
		if len(entry.Detail) > 300 {
			entry.Detail = entry.Detail[:300]
		}
	}
	s.recordAudit(u, entry)
	s.fleet.Refresh(name)
	id := s.keepResult(res)
	http.Redirect(w, r, "/c/"+url.PathEscape(name)+"?done="+id+"#t-"+url.QueryEscape(tenant), http.StatusSeeOther)
}

func (s *Server) recordAudit(u webauth.User, e AuditEntry) {
	if err := s.audit.record(u, e); err != nil {
		s.log.Error("console: audit", "err", err)
	}
}

func (s *Server) keepResult(res actionResult) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[id] = res
	s.order = append(s.order, id)
	if len(s.order) > 200 {
		delete(s.results, s.order[0])
		s.order = s.order[1:]
	}
	return id
}

// onBehalfOf names the console user for the service's audit trail.
// Header values cannot carry control characters; the service bounds the
// length.
func onBehalfOf(u webauth.User) string {
	v := fmt.Sprintf("%s (%s via console %s)", u.Name, u.Subject, u.Method)
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, v)
	if len(v) > 240 {
		v = strings.ToValidUTF8(v[:240], "")
	}
	return v
}

func (s *Server) perform(ctx context.Context, api interface {
	SyncNow(context.Context, *connect.Request[adminv1.SyncNowRequest]) (*connect.Response[adminv1.SyncNowResponse], error)
	PauseTenant(context.Context, *connect.Request[adminv1.PauseTenantRequest]) (*connect.Response[adminv1.PauseTenantResponse], error)
	ResumeTenant(context.Context, *connect.Request[adminv1.ResumeTenantRequest]) (*connect.Response[adminv1.ResumeTenantResponse], error)
	CheckTenant(context.Context, *connect.Request[adminv1.CheckTenantRequest]) (*connect.Response[adminv1.CheckTenantResponse], error)
}, u webauth.User, act, tenant, reason string) (actionResult, error) {
	obo := onBehalfOf(u)
	switch act {
	case "sync":
		req := connect.NewRequest(&adminv1.SyncNowRequest{Tenant: tenant})
		req.Header().Set(OnBehalfOfHeader, obo)
		res, err := api.SyncNow(ctx, req)
		if err != nil {
			return actionResult{}, err
		}
		return actionResult{OK: true, Title: fmt.Sprintf("Sync of %s started: run %s", tenant, res.Msg.GetRunId()),
			Lines: []string{"run " + res.Msg.GetRunId()}}, nil
	case "pause", "resume":
		var err error
		if act == "pause" {
			req := connect.NewRequest(&adminv1.PauseTenantRequest{Tenant: tenant, Reason: reason})
			req.Header().Set(OnBehalfOfHeader, obo)
			_, err = api.PauseTenant(ctx, req)
		} else {
			req := connect.NewRequest(&adminv1.ResumeTenantRequest{Tenant: tenant, Reason: reason})
			req.Header().Set(OnBehalfOfHeader, obo)
			_, err = api.ResumeTenant(ctx, req)
		}
		if err != nil {
			return actionResult{}, err
		}
		verb := map[string]string{"pause": "paused", "resume": "resumed"}[act]
		t := fmt.Sprintf("%s %s", tenant, verb)
		if reason != "" {
			t += ": " + reason
		}
		return actionResult{OK: true, Title: t}, nil
	case "check":
		req := connect.NewRequest(&adminv1.CheckTenantRequest{Tenant: tenant})
		req.Header().Set(OnBehalfOfHeader, obo)
		res, err := api.CheckTenant(ctx, req)
		if err != nil {
			return actionResult{}, err
		}
		out := actionResult{OK: res.Msg.GetStatus() <= adminv1.CheckStatus_CHECK_STATUS_WARNING,
			Title: fmt.Sprintf("Check of %s: %s", tenant, checkWord(res.Msg.GetStatus()))}
		for _, c := range res.Msg.GetChecks() {
			out.Lines = append(out.Lines, fmt.Sprintf("%s %s: %s", strings.ToUpper(checkWord(c.GetStatus())), c.GetName(), c.GetDetail()))
		}
		return out, nil
	}
	return actionResult{}, fmt.Errorf("unknown action %q", act)
}

func checkWord(s adminv1.CheckStatus) string {
	switch s {
	case adminv1.CheckStatus_CHECK_STATUS_OK:
		return "ok"
	case adminv1.CheckStatus_CHECK_STATUS_WARNING:
		return "warning"
	case adminv1.CheckStatus_CHECK_STATUS_FAILED:
		return "failed"
	case adminv1.CheckStatus_CHECK_STATUS_SKIPPED:
		return "skipped"
	}
	return "unknown"
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "audit", "Console audit log", s.audit.Recent())
}

// events streams a customer's live events as Server-Sent Events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("customer")
	if _, ok := s.fleet.State(name); !ok {
		http.NotFound(w, r)
		return
	}
	select {
	case s.sse <- struct{}{}:
		defer func() { <-s.sse }()
	default:
		http.Error(w, "too many live event streams; reload later", http.StatusServiceUnavailable)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	api, err := s.fleet.Client(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := api.WatchEvents(ctx, connect.NewRequest(&adminv1.WatchEventsRequest{Tenant: r.URL.Query().Get("tenant")}))
	if err != nil {
		http.Error(w, describe(err).Error(), http.StatusBadGateway)
		return
	}
	defer stream.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 5000\n: connected\n\n")
	fl.Flush()
	type item struct {
		Time    string `json:"time"`
		ID      int32  `json:"id"`
		Level   string `json:"level"`
		Tenant  string `json:"tenant"`
		Message string `json:"message"`
	}
	msgs := make(chan item)
	go func() { // ends when the stream does: ctx is cancelled on return
		defer close(msgs)
		for stream.Receive() {
			e := stream.Msg().GetEvent()
			lvl := strings.ToLower(strings.TrimPrefix(e.GetLevel().String(), "EVENT_LEVEL_"))
			select {
			case msgs <- item{Time: e.GetTime().AsTime().UTC().Format("15:04:05"), ID: e.GetEventId(), Level: lvl, Tenant: e.GetTenant(), Message: e.GetMessage()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	beat := time.NewTicker(20 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		case m, ok := <-msgs:
			if !ok {
				fmt.Fprint(w, "event: end\ndata: {}\n\n")
				fl.Flush()
				return
			}
			b, _ := json.Marshal(m)
			fmt.Fprintf(w, "data: %s\n\n", b)
			fl.Flush()
		}
	}
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return Age(s.now().Sub(t)) + " ago"
		},
		"in": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			d := t.Sub(s.now())
			if d < 0 {
				return "due"
			}
			return "in " + Age(d)
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"ts": func(t interface{ AsTime() time.Time }) time.Time {
			if t == nil {
				return time.Time{}
			}
			return t.AsTime()
		},
		"dur": func(d time.Duration) string {
			switch {
			case d <= 0:
				return "—"
			case d < time.Second:
				return fmt.Sprintf("%dms", d.Milliseconds())
			case d < time.Minute:
				return fmt.Sprintf("%.1fs", d.Seconds())
			}
			return d.Round(time.Second).String()
		},
		"runDur": func(r *adminv1.RunSummary) string {
			if r.GetFinishedAt() == nil {
				return "running"
			}
			d := r.GetFinishedAt().AsTime().Sub(r.GetStartedAt().AsTime())
			if d < time.Second {
				return fmt.Sprintf("%dms", d.Milliseconds())
			}
			return fmt.Sprintf("%.1fs", d.Seconds())
		},
		"runWhy": func(r *adminv1.RunSummary) string {
			if r.GetError() != "" {
				return r.GetError()
			}
			return r.GetFailureMessage()
		},
		"fp": func(s string) string {
			if len(s) > 16 {
				return s[:16] + "…"
			}
			return s
		},
		"query": func(q Query) string { return q.values().Encode() },
		"short": func(s string) string {
			if r := []rune(s); len(r) > 150 {
				return string(r[:149]) + "…"
			}
			return s
		},
		"role": func(r adminv1.Role) string {
			return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
		},
		"sel": func(a, b string) bool { return a == b },
		"pct": func(n, d int) int {
			if d == 0 {
				return 0
			}
			return n * 100 / d
		},
	}
}
