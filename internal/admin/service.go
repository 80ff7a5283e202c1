package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
)

// Page sizes of ListRuns.
const (
	defaultPageSize = 20
	maxPageSize     = 200
)

// maxNameLen bounds tenant names (config allows 64) and free-text fields.
const (
	maxNameLen   = 64
	maxReasonLen = 500
)

// handler implements the generated AdminServiceHandler over a Backend.
type handler struct {
	backend     Backend
	log         *slog.Logger
	fingerprint string
	roleOf      func(Principal) Role
	stopping    <-chan struct{}
}

var _ adminv1connect.AdminServiceHandler = (*handler)(nil)

func (h *handler) GetServiceInfo(ctx context.Context, req *connect.Request[adminv1.GetServiceInfoRequest]) (*connect.Response[adminv1.GetServiceInfoResponse], error) {
	info, err := h.backend.ServiceInfo(ctx)
	if err != nil {
		return nil, h.toConnect(ctx, "GetServiceInfo", err)
	}
	p, _ := PrincipalFrom(ctx)
	configPath := info.ConfigPath
	if isRemote(ctx) {
		configPath = "" // file paths stay on the machine (redact.go)
	}
	res := &adminv1.GetServiceInfoResponse{
		Version:                 info.Version,
		Host:                    info.Host,
		ConfigPath:              configPath,
		ServerCertificateSha256: h.fingerprint,
		CallerPrincipal:         p.recorded(),
		CallerRole:              h.roleOf(p).proto(),
		TenantCount:             int32(info.Tenants),
	}
	if !info.StartedAt.IsZero() {
		res.StartedAt = timestamppb.New(info.StartedAt)
		res.Uptime = durationpb.New(time.Since(info.StartedAt).Truncate(time.Second))
	}
	if c := info.Console; c != nil {
		res.Console = &adminv1.ConsoleConnection{Url: c.URL, Connected: c.Connected, LastError: c.LastError}
		if !c.Since.IsZero() {
			res.Console.Since = timestamppb.New(c.Since)
		}
		if !c.LastErrorAt.IsZero() {
			res.Console.LastErrorAt = timestamppb.New(c.LastErrorAt)
		}
	}
	return connect.NewResponse(res), nil
}

func (h *handler) ListTenants(ctx context.Context, req *connect.Request[adminv1.ListTenantsRequest]) (*connect.Response[adminv1.ListTenantsResponse], error) {
	ts, err := h.backend.Tenants(ctx)
	if err != nil {
		return nil, h.toConnect(ctx, "ListTenants", err)
	}
	res := &adminv1.ListTenantsResponse{Tenants: make([]*adminv1.Tenant, 0, len(ts))}
	for _, t := range ts {
		res.Tenants = append(res.Tenants, tenantProto(t))
	}
	return connect.NewResponse(res), nil
}

func (h *handler) GetTenant(ctx context.Context, req *connect.Request[adminv1.GetTenantRequest]) (*connect.Response[adminv1.GetTenantResponse], error) {
	if err := checkTenantName("name", req.Msg.GetName()); err != nil {
		return nil, err
	}
	t, err := h.backend.Tenant(ctx, req.Msg.GetName())
	if err != nil {
		return nil, h.toConnect(ctx, "GetTenant", err)
	}
	return connect.NewResponse(&adminv1.GetTenantResponse{Tenant: tenantProto(t)}), nil
}

func (h *handler) ListRuns(ctx context.Context, req *connect.Request[adminv1.ListRunsRequest]) (*connect.Response[adminv1.ListRunsResponse], error) {
	if err := checkTenantName("tenant", req.Msg.GetTenant()); err != nil {
		return nil, err
	}
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("page_size: must not be negative (got %d)", size))
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	if len(req.Msg.GetPageToken()) > 1024 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("page_token: not a token this server issued"))
	}
	runs, next, err := h.backend.Runs(ctx, req.Msg.GetTenant(), size, req.Msg.GetPageToken())
	if err != nil {
		return nil, h.toConnect(ctx, "ListRuns", err)
	}
	res := &adminv1.ListRunsResponse{NextPageToken: next, Runs: make([]*adminv1.RunSummary, 0, len(runs))}
	for i := range runs {
		res.Runs = append(res.Runs, runProto(&runs[i]))
	}
	return connect.NewResponse(res), nil
}

func (h *handler) GetRun(ctx context.Context, req *connect.Request[adminv1.GetRunRequest]) (*connect.Response[adminv1.GetRunResponse], error) {
	id, err := parseRunID(req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	run, mbs, err := h.backend.Run(ctx, id)
	if err != nil {
		return nil, h.toConnect(ctx, "GetRun", err)
	}
	res := &adminv1.GetRunResponse{Run: runProto(&run), Mailboxes: make([]*adminv1.MailboxOutcome, 0, len(mbs))}
	for _, m := range mbs {
		res.Mailboxes = append(res.Mailboxes, &adminv1.MailboxOutcome{
			Mailbox: m.Mailbox, Status: m.Status, Counts: countsProto(m.Counts), Error: m.Error,
		})
	}
	return connect.NewResponse(res), nil
}

func (h *handler) WatchEvents(ctx context.Context, req *connect.Request[adminv1.WatchEventsRequest], stream *connect.ServerStream[adminv1.WatchEventsResponse]) error {
	after := int64(-1)
	if c := req.Msg.GetCursor(); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("cursor: %q is not a cursor this server issued", truncate(c, 40)))
		}
		after = n
	}
	tenant := req.Msg.GetTenant()
	if tenant != "" {
		if err := checkTenantName("tenant", tenant); err != nil {
			return err
		}
	}
	// A stream ends when the client goes or the server stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with the stream: cancel is deferred above
		select {
		case <-h.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := stream.Send(nil); err != nil { // flush headers: the client sees the stream open at once
		return err
	}
	for ev, err := range h.backend.Events(ctx, after) {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return h.toConnect(ctx, "WatchEvents", err)
		}
		if tenant != "" && ev.Tenant != tenant {
			continue
		}
		if err := stream.Send(&adminv1.WatchEventsResponse{Event: eventProto(ev)}); err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) SyncNow(ctx context.Context, req *connect.Request[adminv1.SyncNowRequest]) (*connect.Response[adminv1.SyncNowResponse], error) {
	tenant := req.Msg.GetTenant()
	if err := checkTenantName("tenant", tenant); err != nil {
		return nil, err
	}
	p, _ := PrincipalFrom(ctx)
	id, err := h.backend.SyncNow(ctx, tenant, p.recorded())
	h.audit(ctx, req.Header(), "SyncNow", tenant, err, func() string {
		if err == nil {
			return "run " + strconv.FormatInt(id, 10)
		}
		return ""
	}())
	if err != nil {
		return nil, h.toConnect(ctx, "SyncNow", err)
	}
	return connect.NewResponse(&adminv1.SyncNowResponse{RunId: strconv.FormatInt(id, 10)}), nil
}

func (h *handler) PauseTenant(ctx context.Context, req *connect.Request[adminv1.PauseTenantRequest]) (*connect.Response[adminv1.PauseTenantResponse], error) {
	t, err := h.setPaused(ctx, req.Header(), "PauseTenant", req.Msg.GetTenant(), req.Msg.GetReason(), true)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&adminv1.PauseTenantResponse{Tenant: t}), nil
}

func (h *handler) ResumeTenant(ctx context.Context, req *connect.Request[adminv1.ResumeTenantRequest]) (*connect.Response[adminv1.ResumeTenantResponse], error) {
	t, err := h.setPaused(ctx, req.Header(), "ResumeTenant", req.Msg.GetTenant(), req.Msg.GetReason(), false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&adminv1.ResumeTenantResponse{Tenant: t}), nil
}

func (h *handler) setPaused(ctx context.Context, hdr http.Header, method, tenant, reason string, paused bool) (*adminv1.Tenant, error) {
	if err := checkTenantName("tenant", tenant); err != nil {
		return nil, err
	}
	if len(reason) > maxReasonLen {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("reason: longer than %d bytes", maxReasonLen))
	}
	p, _ := PrincipalFrom(ctx)
	err := h.backend.SetPaused(ctx, tenant, paused, p.recorded())
	h.audit(ctx, hdr, method, tenant, err, reason)
	if err != nil {
		return nil, h.toConnect(ctx, method, err)
	}
	t, err := h.backend.Tenant(ctx, tenant)
	if err != nil {
		return nil, h.toConnect(ctx, method, err)
	}
	return tenantProto(t), nil
}

func (h *handler) CheckTenant(ctx context.Context, req *connect.Request[adminv1.CheckTenantRequest]) (*connect.Response[adminv1.CheckTenantResponse], error) {
	if err := checkTenantName("tenant", req.Msg.GetTenant()); err != nil {
		return nil, err
	}
	r, err := h.backend.Check(ctx, req.Msg.GetTenant())
	if err != nil {
		return nil, h.toConnect(ctx, "CheckTenant", err)
	}
	res := &adminv1.CheckTenantResponse{Status: adminv1.CheckStatus(r.Status), Checks: make([]*adminv1.Check, 0, len(r.Checks)),
		CheckedAt: ts(r.CheckedAt)}
	for _, c := range r.Checks {
		res.Checks = append(res.Checks, &adminv1.Check{Name: c.Name, Status: adminv1.CheckStatus(c.Status), Detail: c.Detail})
	}
	return connect.NewResponse(res), nil
}

// audit records an operator action with its outcome, and the person the
// caller says it acts for (OnBehalfOfHeader, set by the fleet console).
func (h *handler) audit(ctx context.Context, hdr http.Header, method, tenant string, err error, detail string) {
	p, _ := PrincipalFrom(ctx)
	result := "ok"
	if err != nil {
		result = codeOf(err).String()
	}
	h.backend.Audit(ctx, AuditRecord{
		Kind: AuditAction, Time: time.Now(), Principal: p.recorded(), Role: h.roleOf(p).String(),
		Method: method, Tenant: tenant, Source: p.Source, Result: result, Detail: detail,
		OnBehalfOf: hdr.Get(OnBehalfOfHeader),
	})
}

// codeOf classifies a backend error; toConnect uses it.
func codeOf(err error) connect.Code {
	switch {
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded
	case errors.Is(err, ErrNotFound):
		return connect.CodeNotFound
	case errors.Is(err, ErrInvalidArgument):
		return connect.CodeInvalidArgument
	case errors.Is(err, ErrBusy):
		return connect.CodeAborted
	case errors.Is(err, ErrPaused):
		return connect.CodeFailedPrecondition
	case errors.Is(err, ErrUnavailable):
		return connect.CodeUnavailable
	}
	return connect.CodeInternal
}

// toConnect maps a backend error to the API's error. Classified errors keep
// their text (backends promise it names only what the caller asked about);
// anything else is logged and replaced, since it may carry paths, hosts or
// SQL the caller has no business seeing.
func (h *handler) toConnect(ctx context.Context, method string, err error) error {
	code := codeOf(err)
	switch code {
	case connect.CodeInternal:
		h.log.Error("admin: "+method+" failed", "err", err)
		return connect.NewError(code, fmt.Errorf("%s failed inside the service; the service log has the details", method))
	case connect.CodeAborted:
		var be *BusyError
		if errors.As(err, &be) && be.RunID != 0 {
			return connect.NewError(code, fmt.Errorf("%w; try again when run %d finishes", err, be.RunID))
		}
	}
	return connect.NewError(code, err)
}

// checkTenantName validates a tenant name as settings.json defines it, so
// junk never reaches the backend or its SQL.
func checkTenantName(field, name string) error {
	if name == "" {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: a tenant name is required", field))
	}
	if len(name) > maxNameLen {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: tenant names are at most %d characters", field, maxNameLen))
	}
	for i, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %q is not a tenant name (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit)", field, truncate(name, maxNameLen)))
		}
	}
	return nil
}

func parseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("id: %q is not a run id (a positive number, as ListRuns returns)", truncate(s, 40)))
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func countsProto(c Counts) *adminv1.Counts {
	return &adminv1.Counts{
		Mailboxes: int64(c.Mailboxes), MailboxesFailed: int64(c.MailboxesFailed),
		Created: int64(c.Created), Updated: int64(c.Updated), Deleted: int64(c.Deleted),
		Unchanged: int64(c.Unchanged), Failed: int64(c.Failed), DeletesHeld: int64(c.DeletesHeld),
		MailboxesSynced: int64(c.MailboxesSynced), MailboxesSkipped: int64(c.MailboxesSkipped),
		GraphRequests: int64(c.GraphRequests), BatchItems: int64(c.BatchItems),
		Throttled: int64(c.Throttled), Unavailable: int64(c.Unavailable),
	}
}

func runProto(r *Run) *adminv1.RunSummary {
	return &adminv1.RunSummary{
		Id: itoa(r.ID), Tenant: r.Tenant, Trigger: r.Trigger, RequestedBy: r.RequestedBy,
		StartedAt: ts(r.Started), FinishedAt: ts(r.Finished), Outcome: adminv1.RunOutcome(r.Outcome),
		Counts: countsProto(r.Counts), Error: r.Error,
		Status: r.Status, FailureClass: r.FailureClass, FailureMessage: r.FailureMessage,
	}
}

func tenantProto(t Tenant) *adminv1.Tenant {
	p := &adminv1.Tenant{
		Name: t.Name, TenantId: t.TenantID, State: adminv1.TenantState(t.State), Paused: t.Paused,
		LastSuccessAt: ts(t.LastSuccess), NextRunAt: ts(t.NextRun),
		ConsecutiveFailures: int32(t.ConsecutiveFailures), CertificateNotAfter: ts(t.CertNotAfter),
		CertificateError: t.CertError, TargetMailboxes: int64(t.TargetMailboxes),
	}
	if t.LastRun != nil {
		p.LastRun = runProto(t.LastRun)
	}
	if t.CurrentRunID != 0 {
		p.CurrentRunId = itoa(t.CurrentRunID)
	}
	return p
}

func eventProto(e Event) *adminv1.Event {
	p := &adminv1.Event{
		Cursor: itoa(e.Seq), Time: ts(e.Time), EventId: int32(e.ID), Level: adminv1.EventLevel(e.Level),
		Tenant: e.Tenant, Message: e.Message, Attributes: e.Attrs,
	}
	if e.RunID != 0 {
		p.RunId = itoa(e.RunID)
	}
	return p
}
