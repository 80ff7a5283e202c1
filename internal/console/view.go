package console

import (
	"fmt"
	"sort"
	"strings"
	"time"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
)

// Health is a row's verdict.
type Health string

// Healths, worst first in "needs attention" order.
const (
	Unreachable Health = "unreachable"
	Failing     Health = "failing"
	Warning     Health = "warning"
	OK          Health = "ok"
	Pending     Health = "pending"
)

func (h Health) rank() int {
	switch h {
	case Failing:
		return 0
	case Unreachable:
		return 1
	case Warning:
		return 2
	case Pending:
		return 3
	}
	return 4
}

// Symbol is the glyph shown beside the health's word, so colour is never
// the only signal.
func (h Health) Symbol() string {
	switch h {
	case Failing:
		return "✖"
	case Unreachable:
		return "⊘"
	case Warning:
		return "▲"
	case Pending:
		return "…"
	}
	return "✔"
}

// certWarnDays is when an expiring certificate turns a row to warning.
const certWarnDays = 30

// Row is one line of the overview: a tenant of a customer, or a customer
// whose tenants are not known (never reached).
type Row struct {
	Customer string
	Tenant   string // "" when unknown
	Pushed   bool
	Health   Health
	Reason   string
	// LastSeen is when the data was fetched; Age is how old it is when
	// the customer is unreachable.
	LastSeen time.Time
	Stale    bool

	State       string
	LastRunAt   time.Time
	LastRunDur  time.Duration
	HasRun      bool
	Created     int64
	Updated     int64
	Deleted     int64
	Synced      int64
	Skipped     int64
	Failed      int64
	NextRun     time.Time
	CertDays    int
	HasCert     bool
	UsersScope  int64
	RunStatus   string
	RunningNow  bool
	ServiceHost string
}

// Key is the row's identity for links.
func (r Row) Key() string {
	if r.Tenant == "" {
		return r.Customer
	}
	return r.Customer + "/" + r.Tenant
}

// rows turns the fleet's states into overview rows.
func rows(states []CustomerState, now time.Time) []Row {
	var out []Row
	for _, st := range states {
		base := Row{Customer: st.Customer.Name, Pushed: st.Customer.Pushed(), LastSeen: st.LastSeen}
		if st.Snap == nil {
			r := base
			switch {
			case st.Pending:
				r.Health, r.Reason = Pending, "not polled yet"
			default:
				r.Health = Unreachable
				r.Reason = errText(st.Err) + "; never reached"
			}
			out = append(out, r)
			continue
		}
		base.ServiceHost = st.Snap.Info.GetHost()
		if len(st.Snap.Tenants) == 0 {
			r := base
			r.Health, r.Reason = Warning, "the service has no tenants"
			if st.Err != nil {
				r.Health, r.Reason, r.Stale = Unreachable, errText(st.Err)+"; last seen "+Age(now.Sub(st.LastSeen))+" ago", true
			}
			out = append(out, r)
			continue
		}
		for _, ts := range st.Snap.Tenants {
			r := base
			tenantRow(&r, ts, now)
			if st.Err != nil {
				r.Stale = true
				r.Health = Unreachable
				r.Reason = errText(st.Err) + "; last seen " + Age(now.Sub(st.LastSeen)) + " ago"
			}
			out = append(out, r)
		}
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func tenantRow(r *Row, ts TenantSnapshot, now time.Time) {
	t := ts.Tenant
	r.Tenant = t.GetName()
	r.State = stateName(t.GetState())
	r.RunningNow = t.GetState() == adminv1.TenantState_TENANT_STATE_RUNNING
	r.UsersScope = t.GetTargetMailboxes()
	if t.GetNextRunAt() != nil {
		r.NextRun = t.GetNextRunAt().AsTime()
	}
	if t.GetCertificateNotAfter() != nil {
		r.HasCert = true
		r.CertDays = int(t.GetCertificateNotAfter().AsTime().Sub(now).Hours() / 24)
		if t.GetCertificateNotAfter().AsTime().Before(now) {
			r.CertDays = -1 + int(t.GetCertificateNotAfter().AsTime().Sub(now).Hours()/24)
		}
	}
	// The last finished run: the tenant's, or while a run is in progress
	// the newest finished one of the list.
	lr := t.GetLastRun()
	if lr == nil || lr.GetFinishedAt() == nil {
		lr = nil
		for _, x := range ts.Runs {
			if x.GetFinishedAt() != nil {
				lr = x
				break
			}
		}
	}
	if lr != nil {
		r.HasRun = true
		r.RunStatus = lr.GetStatus()
		r.LastRunAt = lr.GetStartedAt().AsTime()
		if lr.GetFinishedAt() != nil {
			r.LastRunDur = lr.GetFinishedAt().AsTime().Sub(lr.GetStartedAt().AsTime())
		}
		c := lr.GetCounts()
		r.Created, r.Updated, r.Deleted = c.GetCreated(), c.GetUpdated(), c.GetDeleted()
		r.Synced, r.Skipped, r.Failed = c.GetMailboxesSynced(), c.GetMailboxesSkipped(), c.GetMailboxesFailed()
	}
	var bad, warn []string
	switch {
	case t.GetState() == adminv1.TenantState_TENANT_STATE_DISABLED:
		bad = append(bad, "configuration invalid: the tenant does not run")
	case lr != nil && lr.GetOutcome() == adminv1.RunOutcome_RUN_OUTCOME_FAILED:
		msg := lr.GetError()
		if msg == "" {
			msg = lr.GetFailureMessage()
		}
		if t.GetConsecutiveFailures() > 1 {
			bad = append(bad, fmt.Sprintf("last %d runs failed: %s", t.GetConsecutiveFailures(), msg))
		} else {
			bad = append(bad, "last run failed: "+msg)
		}
	}
	if r.HasCert && r.CertDays < 0 {
		bad = append(bad, "certificate expired")
	} else if r.HasCert && r.CertDays < certWarnDays {
		warn = append(warn, fmt.Sprintf("certificate expires in %d days", r.CertDays))
	}
	if t.GetCertificateError() != "" {
		warn = append(warn, "certificate unreadable: "+t.GetCertificateError())
	}
	if lr != nil && lr.GetOutcome() == adminv1.RunOutcome_RUN_OUTCOME_PARTIAL {
		switch {
		case lr.GetCounts().GetMailboxesFailed() > 0:
			warn = append(warn, fmt.Sprintf("%d mailboxes failed in the last run", lr.GetCounts().GetMailboxesFailed()))
		case lr.GetCounts().GetDeletesHeld() > 0:
			warn = append(warn, fmt.Sprintf("%d deletes held back by the mass-delete guard", lr.GetCounts().GetDeletesHeld()))
		default:
			warn = append(warn, "last run partial")
		}
	}
	if t.GetPaused() {
		warn = append(warn, "paused")
	}
	if lr == nil && !r.RunningNow {
		warn = append(warn, "no run yet")
	}
	switch {
	case len(bad) > 0:
		r.Health, r.Reason = Failing, strings.Join(append(bad, warn...), "; ")
	case len(warn) > 0:
		r.Health, r.Reason = Warning, strings.Join(warn, "; ")
	default:
		r.Health = OK
	}
	if r.RunningNow {
		if r.Reason != "" {
			r.Reason += "; "
		}
		r.Reason += "running now"
	}
}

func stateName(s adminv1.TenantState) string {
	switch s {
	case adminv1.TenantState_TENANT_STATE_IDLE:
		return "idle"
	case adminv1.TenantState_TENANT_STATE_RUNNING:
		return "running"
	case adminv1.TenantState_TENANT_STATE_PAUSED:
		return "paused"
	case adminv1.TenantState_TENANT_STATE_BACKING_OFF:
		return "backing off"
	case adminv1.TenantState_TENANT_STATE_DISABLED:
		return "disabled"
	}
	return "unknown"
}

// Age says a duration the way the pages do: "45s", "12m", "3h", "2d".
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// Query is the overview's filter, sort and page.
type Query struct {
	Search string // matches customer, tenant, reason
	Health string // "" all, "attention" (not ok), or one Health
	Sort   string // "attention" (default), "customer", "lastrun", "cert", "failed", "users", "next"
	Desc   bool
	Page   int // 1-based
}

const pageSize = 50

func (q Query) apply(rs []Row) []Row {
	var out []Row
	s := strings.ToLower(strings.TrimSpace(q.Search))
	for _, r := range rs {
		if s != "" && !strings.Contains(strings.ToLower(r.Customer+" "+r.Tenant+" "+r.Reason+" "+r.ServiceHost), s) {
			continue
		}
		switch q.Health {
		case "":
		case "attention":
			if r.Health == OK {
				continue
			}
		default:
			if string(r.Health) != q.Health {
				continue
			}
		}
		out = append(out, r)
	}
	byName := func(a, b Row) int {
		if c := strings.Compare(strings.ToLower(a.Customer), strings.ToLower(b.Customer)); c != 0 {
			return c
		}
		return strings.Compare(a.Tenant, b.Tenant)
	}
	cmpTime := func(a, b time.Time) int { return a.Compare(b) }
	var less func(a, b Row) int
	switch q.Sort {
	case "customer":
		less = byName
	case "lastrun":
		less = func(a, b Row) int { return cmpTime(a.LastRunAt, b.LastRunAt) }
	case "next":
		less = func(a, b Row) int { return cmpTime(a.NextRun, b.NextRun) }
	case "cert":
		less = func(a, b Row) int {
			ad, bd := a.CertDays, b.CertDays
			if !a.HasCert {
				ad = 1 << 30
			}
			if !b.HasCert {
				bd = 1 << 30
			}
			return ad - bd
		}
	case "failed":
		less = func(a, b Row) int { return int(a.Failed - b.Failed) }
	case "users":
		less = func(a, b Row) int { return int(a.UsersScope - b.UsersScope) }
	default:
		less = func(a, b Row) int { return a.Health.rank() - b.Health.rank() }
	}
	sort.SliceStable(out, func(i, j int) bool {
		c := less(out[i], out[j])
		if q.Desc {
			c = -c
		}
		if c == 0 {
			return byName(out[i], out[j]) < 0
		}
		return c < 0
	})
	return out
}

// Summary is the bar above the table.
type Summary struct {
	Customers, Tenants                int
	OK, Warning, Failing, Unreachable int
	Pending                           int
	Mailboxes, Contacts               int64
}

func summarize(states []CustomerState, rs []Row) Summary {
	s := Summary{Customers: len(states)}
	for _, r := range rs {
		if r.Tenant != "" {
			s.Tenants++
		}
		switch r.Health {
		case OK:
			s.OK++
		case Warning:
			s.Warning++
		case Failing:
			s.Failing++
		case Unreachable:
			s.Unreachable++
		case Pending:
			s.Pending++
		}
		s.Mailboxes += r.UsersScope
	}
	for _, st := range states {
		if st.Snap == nil {
			continue
		}
		for _, t := range st.Snap.Tenants {
			// Contacts in the managed folders: what the last complete run
			// left there, summed over mailboxes.
			if lr := t.Tenant.GetLastRun(); lr != nil {
				c := lr.GetCounts()
				s.Contacts += c.GetCreated() + c.GetUpdated() + c.GetUnchanged()
			}
		}
	}
	return s
}
