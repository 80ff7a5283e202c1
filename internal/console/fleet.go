package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/galmirror/galmirror/internal/admin"
	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
)

// PushSource hands the console the admin connections of pushed customers
// (package tunnel implements it): ok is false while the customer's service
// is not connected.
type PushSource interface {
	Client(customer string) (c *http.Client, baseURL string, ok bool)
}

// OnBehalfOfHeader carries the console user an admin call is made for; the
// service's admin audit records it beside the console's own principal.
const OnBehalfOfHeader = admin.OnBehalfOfHeader

// runsKept is how many runs per tenant the cache keeps (the chart's).
const runsKept = 30

// Snapshot is the last answer of one customer's service.
type Snapshot struct {
	Info    *adminv1.GetServiceInfoResponse
	Tenants []TenantSnapshot
}

// TenantSnapshot is one tenant of a customer's service.
type TenantSnapshot struct {
	Tenant *adminv1.Tenant
	// Runs are the newest runs, newest first.
	Runs []*adminv1.RunSummary
	// LastRun is the newest finished run with its mailbox outcomes.
	LastRun *adminv1.GetRunResponse
}

// CustomerState is what the console knows of a customer.
type CustomerState struct {
	Customer Customer
	// Snap is the last successful poll's answer (nil if none yet).
	Snap *Snapshot
	// LastSeen is when Snap was taken; zero if never.
	LastSeen time.Time
	// LastPoll is when the last poll ended; Err is its error (nil: it
	// succeeded).
	LastPoll time.Time
	Err      error
	// Polling is true until the first poll ended.
	Pending bool
}

// Reachable reports whether the last poll succeeded.
func (s *CustomerState) Reachable() bool { return !s.Pending && s.Err == nil }

// Fleet polls every customer and keeps their last answers. Pages read the
// cache only; a slow or dead customer never slows them.
type Fleet struct {
	cfg   *Config
	push  PushSource
	log   *slog.Logger
	now   func() time.Time
	mu    sync.RWMutex
	state map[string]*CustomerState
	order []string

	clients map[string]adminv1connect.AdminServiceClient // polled customers
	kick    chan string
	sem     chan struct{}
}

// NewFleet builds the fleet of cfg; push may be nil when no customer is
// pushed. Client certificates are loaded now, so a bad one stops the start.
func NewFleet(cfg *Config, push PushSource, log *slog.Logger) (*Fleet, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{cfg: cfg, push: push, log: log, now: time.Now, state: map[string]*CustomerState{},
		clients: map[string]adminv1connect.AdminServiceClient{}, kick: make(chan string, 64),
		sem: make(chan struct{}, cfg.Poll.Concurrency)}
	var shared *CertFiles = cfg.ClientCertificate
	certs := map[string]*admin.ClientOptions{}
	_ = certs
	for i, cu := range cfg.Customers {
		f.state[cu.Name] = &CustomerState{Customer: cu, Pending: true}
		f.order = append(f.order, cu.Name)
		if cu.Pushed() {
			continue
		}
		o := admin.ClientOptions{Endpoint: cu.Address, Fingerprint: cu.Fingerprint}
		switch {
		case cu.Kerberos != nil:
			o.Kerberos, o.SPN = true, cu.Kerberos.SPN
		default:
			cf := cu.Certificate
			if cf == nil {
				cf = shared
			}
			c, err := admin.LoadClientCertificate(cf.File, cf.Key)
			if err != nil {
				return nil, fmt.Errorf("%s: customers[%d] (%s): %w", cfg.file, i, cu.Name, err)
			}
			o.Certificate = &c
		}
		cl, err := admin.NewClient(o)
		if err != nil {
			return nil, fmt.Errorf("%s: customers[%d] (%s): %w", cfg.file, i, cu.Name, err)
		}
		f.clients[cu.Name] = cl
	}
	return f, nil
}

// Client returns the admin client of a customer now (a pushed customer's
// only while it is connected).
func (f *Fleet) Client(name string) (adminv1connect.AdminServiceClient, error) {
	f.mu.RLock()
	st, ok := f.state[name]
	f.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("no customer %q", name)
	}
	if !st.Customer.Pushed() {
		return f.clients[name], nil
	}
	if f.push == nil {
		return nil, errors.New("push mode is not available in this console")
	}
	hc, base, ok := f.push.Client(name)
	if !ok {
		return nil, errors.New("the service is not connected to the console")
	}
	return adminv1connect.NewAdminServiceClient(hc, base), nil
}

// Names returns the customers in console.json's order.
func (f *Fleet) Names() []string { return f.order }

// State returns a copy of one customer's state.
func (f *Fleet) State(name string) (CustomerState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	st, ok := f.state[name]
	if !ok {
		return CustomerState{}, false
	}
	return *st, true
}

// States returns copies of every customer's state.
func (f *Fleet) States() []CustomerState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]CustomerState, 0, len(f.order))
	for _, n := range f.order {
		out = append(out, *f.state[n])
	}
	return out
}

// Refresh asks for a poll of the customer soon (after an action).
func (f *Fleet) Refresh(name string) {
	select {
	case f.kick <- name:
	default:
	}
}

// Run polls every customer until ctx is done: all at once at the start
// (at most Concurrency at a time), then each every Poll.Every.
func (f *Fleet) Run(ctx context.Context) {
	every := time.Duration(f.cfg.Poll.Every)
	var wg sync.WaitGroup
	defer wg.Wait()
	due := make(map[string]time.Time, len(f.order))
	busy := map[string]bool{}
	done := make(chan string, len(f.order))
	t := time.NewTicker(min(every/4, time.Second))
	defer t.Stop()
	start := func(name string) {
		if busy[name] {
			return
		}
		busy[name] = true
		due[name] = f.now().Add(every)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case f.sem <- struct{}{}:
			case <-ctx.Done():
				done <- name
				return
			}
			f.PollOnce(ctx, name)
			<-f.sem
			done <- name
		}()
	}
	for _, n := range f.order {
		start(n)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-done:
			busy[n] = false
		case n := <-f.kick:
			if _, ok := f.state[n]; ok {
				start(n)
			}
		case <-t.C:
			now := f.now()
			for _, n := range f.order {
				if !busy[n] && !now.Before(due[n]) {
					start(n)
				}
			}
		}
	}
}

// PollOnce asks one customer's service for everything the pages show and
// caches the answer; an error keeps the previous answer.
func (f *Fleet) PollOnce(ctx context.Context, name string) {
	f.mu.RLock()
	st := f.state[name]
	var prev *Snapshot
	if st != nil {
		prev = st.Snap
	}
	f.mu.RUnlock()
	if st == nil {
		return
	}
	snap, err := f.poll(ctx, name, prev)
	if ctx.Err() != nil && err != nil {
		return // shutting down: not the customer's fault
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	st.Pending = false
	st.LastPoll = now
	st.Err = err
	if err == nil {
		st.Snap = snap
		st.LastSeen = now
	} else {
		f.log.Debug("console: poll failed", "customer", name, "err", err)
	}
}

func (f *Fleet) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Duration(f.cfg.Poll.Timeout))
}

func (f *Fleet) poll(ctx context.Context, name string, prev *Snapshot) (*Snapshot, error) {
	api, err := f.Client(name)
	if err != nil {
		return nil, err
	}
	// One deadline for the whole poll: a customer that answers slowly
	// costs one slot for at most Timeout.
	ctx, cancel := f.call(ctx)
	defer cancel()
	info, err := api.GetServiceInfo(ctx, connect.NewRequest(&adminv1.GetServiceInfoRequest{}))
	if err != nil {
		return nil, describe(err)
	}
	ts, err := api.ListTenants(ctx, connect.NewRequest(&adminv1.ListTenantsRequest{}))
	if err != nil {
		return nil, describe(err)
	}
	old := map[string]*TenantSnapshot{}
	if prev != nil {
		for i := range prev.Tenants {
			old[prev.Tenants[i].Tenant.GetName()] = &prev.Tenants[i]
		}
	}
	snap := &Snapshot{Info: info.Msg}
	for _, t := range ts.Msg.GetTenants() {
		tsnap := TenantSnapshot{Tenant: t}
		runs, err := api.ListRuns(ctx, connect.NewRequest(&adminv1.ListRunsRequest{Tenant: t.GetName(), PageSize: runsKept}))
		if err != nil {
			return nil, describe(err)
		}
		tsnap.Runs = runs.Msg.GetRuns()
		if lr := t.GetLastRun(); lr != nil {
			if o := old[t.GetName()]; o != nil && o.LastRun != nil && o.LastRun.GetRun().GetId() == lr.GetId() {
				tsnap.LastRun = o.LastRun // finished runs do not change
			} else {
				r, err := api.GetRun(ctx, connect.NewRequest(&adminv1.GetRunRequest{Id: lr.GetId()}))
				if err != nil {
					return nil, describe(err)
				}
				tsnap.LastRun = r.Msg
			}
		}
		snap.Tenants = append(snap.Tenants, tsnap)
	}
	sort.Slice(snap.Tenants, func(i, j int) bool { return snap.Tenants[i].Tenant.GetName() < snap.Tenants[j].Tenant.GetName() })
	return snap, nil
}

// describe turns an admin call's error into one line for the page.
func describe(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeDeadlineExceeded:
			return errors.New("no answer in time")
		case connect.CodeUnauthenticated:
			return fmt.Errorf("the service refused the console's credentials: %s", ce.Message())
		case connect.CodePermissionDenied:
			return fmt.Errorf("the console's principal has no role on the service: %s", ce.Message())
		case connect.CodeUnavailable:
			if ce.Message() != "" {
				return errors.New(ce.Message())
			}
			return errors.New("the service is unavailable")
		}
		return fmt.Errorf("%s: %s", ce.Code(), ce.Message())
	}
	return err
}

// itoa formats an int64.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
