package main

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/report"
	"github.com/galmirror/galmirror/internal/store"
)

// `galmirror admin --json` prints what the API answers in the one
// vocabulary of galmirror's outputs (docs/vocabulary.md), the names and
// values `sync --json` and `status --json` use: numbers as numbers, the
// run's status as "ok", "partial", ..., certificateExpires. The API's own
// wire form (protobuf, its JSON mapping) is for programs that call the API.

// adminRun is a run of the history.
type adminRun struct {
	report.Run
	// RequestedBy is the principal that asked for a manual run.
	RequestedBy string `json:"requestedBy,omitempty"`
}

type adminTenant struct {
	Name     string `json:"name"`
	TenantID string `json:"tenantId"`
	// State is what the scheduler is doing: idle, running, paused,
	// backing-off, disabled, unknown.
	State               string    `json:"state"`
	Paused              bool      `json:"paused"`
	LastRun             *adminRun `json:"lastRun,omitempty"`
	LastSuccess         time.Time `json:"lastSuccess,omitzero"`
	NextRun             time.Time `json:"nextRun,omitzero"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	CertificateExpires  time.Time `json:"certificateExpires,omitzero"`
	CertificateError    string    `json:"certificateError,omitempty"`
	TargetMailboxes     int64     `json:"targetMailboxes"`
	CurrentRunID        int64     `json:"currentRunId,omitempty"`
}

type adminMailbox struct {
	Mailbox string `json:"mailbox"`
	// Status: ok, skipped, failed, removed, removal-held.
	Status   string          `json:"status"`
	Contacts report.Contacts `json:"contacts"`
	Error    string          `json:"error,omitempty"`
}

type adminEvent struct {
	Cursor string    `json:"cursor"`
	Time   time.Time `json:"time"`
	ID     int32     `json:"id"`
	// Name is the catalog name (run_failed); Level information, warning
	// or error.
	Name    string            `json:"name"`
	Level   string            `json:"level"`
	Tenant  string            `json:"tenant,omitempty"`
	RunID   int64             `json:"runId,omitempty"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

type adminService struct {
	Version                 string    `json:"version"`
	Host                    string    `json:"host"`
	ConfigPath              string    `json:"configPath,omitempty"`
	Started                 time.Time `json:"started,omitzero"`
	UptimeSeconds           float64   `json:"uptimeSeconds"`
	Tenants                 int32     `json:"tenants"`
	ServerCertificateSHA256 string    `json:"serverCertificateSha256"`
	CallerPrincipal         string    `json:"callerPrincipal"`
	CallerRole              string    `json:"callerRole"`
	// Console is the push connection (settings' console section).
	Console *adminConsole `json:"console,omitempty"`
}

// adminConsole is the service's connection to its fleet console.
type adminConsole struct {
	URL         string    `json:"url"`
	Connected   bool      `json:"connected"`
	Since       time.Time `json:"since,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

type adminCheck struct {
	Tenant    string           `json:"tenant"`
	OK        bool             `json:"ok"`
	CheckedAt time.Time        `json:"checkedAt,omitzero"`
	Items     []adminCheckItem `json:"items"`
}

type adminCheckItem struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Status: ok, warning, failed, skipped.
	Status string `json:"status"`
	Detail string `json:"detail"`
}

func at(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

func id(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// statusOf is a run's status in the vocabulary; a service older than the
// status field is answered from the outcome.
func statusOf(r *adminv1.RunSummary) string {
	if r.Status != "" {
		return r.Status
	}
	switch r.Outcome {
	case adminv1.RunOutcome_RUN_OUTCOME_SUCCEEDED:
		return report.StatusOK
	case adminv1.RunOutcome_RUN_OUTCOME_PARTIAL:
		return report.StatusPartial
	case adminv1.RunOutcome_RUN_OUTCOME_FAILED:
		return report.StatusFailed
	case adminv1.RunOutcome_RUN_OUTCOME_CANCELLED:
		return report.StatusInterrupted
	case adminv1.RunOutcome_RUN_OUTCOME_RUNNING:
		return report.StatusRunning
	}
	return "unknown"
}

func runJSON(r *adminv1.RunSummary) *adminRun {
	if r == nil {
		return nil
	}
	c := r.GetCounts()
	out := &adminRun{RequestedBy: r.RequestedBy, Run: report.Run{
		Tenant: r.Tenant, RunID: id(r.Id), Trigger: r.Trigger, Status: statusOf(r),
		Started: at(r.StartedAt), Finished: at(r.FinishedAt),
		Mailboxes: report.Mailboxes{Synced: int(c.GetMailboxesSynced()), Skipped: int(c.GetMailboxesSkipped()), Failed: int(c.GetMailboxesFailed())},
		Contacts: report.Contacts{Created: int(c.GetCreated()), Updated: int(c.GetUpdated()), Deleted: int(c.GetDeleted()),
			Unchanged: int(c.GetUnchanged()), HeldDeletes: int(c.GetDeletesHeld()), Failed: int(c.GetFailed())},
		Graph: report.Graph{Requests: c.GetGraphRequests(), BatchItems: c.GetBatchItems(), Throttled: c.GetThrottled(), Unavailable: c.GetUnavailable()},
	}}
	if !out.Finished.IsZero() {
		out.Seconds = out.Finished.Sub(out.Started).Seconds()
	}
	switch {
	case r.FailureClass != "":
		out.Failure = &store.Failure{Class: store.FailureClass(r.FailureClass), Message: r.FailureMessage}
	case r.Error != "":
		out.Failure = &store.Failure{Message: r.Error}
	}
	return out
}

func tenantJSON(t *adminv1.Tenant) adminTenant {
	return adminTenant{
		Name: t.Name, TenantID: t.TenantId, State: strings.ReplaceAll(stateName(t.State), "_", "-"), Paused: t.Paused,
		LastRun: runJSON(t.LastRun), LastSuccess: at(t.LastSuccessAt), NextRun: at(t.NextRunAt),
		ConsecutiveFailures: int(t.ConsecutiveFailures), CertificateExpires: at(t.CertificateNotAfter),
		CertificateError: t.CertificateError, TargetMailboxes: t.TargetMailboxes, CurrentRunID: id(t.CurrentRunId),
	}
}

func mailboxJSON(m *adminv1.MailboxOutcome) adminMailbox {
	c := m.GetCounts()
	status := m.Status
	if status == "succeeded" {
		status = "ok"
	}
	return adminMailbox{Mailbox: m.Mailbox, Status: status, Error: m.Error,
		Contacts: report.Contacts{Created: int(c.GetCreated()), Updated: int(c.GetUpdated()), Deleted: int(c.GetDeleted()),
			Unchanged: int(c.GetUnchanged()), HeldDeletes: int(c.GetDeletesHeld()), Failed: int(c.GetFailed())}}
}

func eventJSON(e *adminv1.Event) adminEvent {
	fields := map[string]string{}
	for k, v := range e.Attributes {
		if k != "event" && k != "run_id" {
			fields[k] = v
		}
	}
	return adminEvent{Cursor: e.Cursor, Time: at(e.Time), ID: e.EventId, Name: e.Attributes["event"],
		Level: strings.ToLower(strings.TrimPrefix(e.Level.String(), "EVENT_LEVEL_")), Tenant: e.Tenant,
		RunID: id(e.RunId), Message: e.Message, Fields: fields}
}

func checkJSON(tenant string, m *adminv1.CheckTenantResponse) adminCheck {
	out := adminCheck{Tenant: tenant, OK: m.Status != adminv1.CheckStatus_CHECK_STATUS_FAILED, CheckedAt: at(m.CheckedAt), Items: []adminCheckItem{}}
	for _, c := range m.Checks {
		out.Items = append(out.Items, adminCheckItem{Name: c.Name, OK: c.Status != adminv1.CheckStatus_CHECK_STATUS_FAILED,
			Status: strings.ToLower(checkName(c.Status)), Detail: c.Detail})
	}
	return out
}
