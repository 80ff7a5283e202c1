package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/pacer"
)

// CheckItem is one line of `galmirror check`.
type CheckItem struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// CheckReport is the result of checking one tenant's setup end to end.
type CheckReport struct {
	Tenant             string      `json:"tenant"`
	OK                 bool        `json:"ok"`
	Items              []CheckItem `json:"items"`
	CertificateExpires time.Time   `json:"certificateExpires,omitzero"`
	MissingRoles       []string    `json:"missingRoles,omitempty"`
}

func (c *CheckReport) add(name string, ok bool, format string, args ...any) bool {
	c.Items = append(c.Items, CheckItem{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	if !ok {
		c.OK = false
	}
	return ok
}

// Check verifies what a tenant's sync needs, in order, stopping at the
// first step the next ones depend on: the certificate, a token, the
// granted roles, a directory read and a mailbox read. It writes nothing.
func (e *Engine) Check(ctx context.Context, t *config.Tenant) *CheckReport {
	rep := &CheckReport{Tenant: t.Name, OK: true}
	rep.add("configuration", true, "tenant %s, app %s, cloud %s", t.TenantID, t.ClientID, t.Cloud)
	hc, err := HTTPClient(t)
	if err != nil {
		rep.add("cloud", false, "%v", err)
		return rep
	}
	now := time.Now()
	ts, ep, cert, err := Credentials(t, hc, now)
	if cert != nil {
		rep.CertificateExpires = cert.NotAfter().UTC()
		days := int(time.Until(cert.NotAfter()).Hours() / 24)
		ok := days > 14
		rep.add("certificate", ok, "%s, thumbprint %s, expires %s (%d days)%s", cert.Subject(), cert.ThumbprintSHA1(),
			cert.NotAfter().UTC().Format("2006-01-02"), days, map[bool]string{true: "", false: ": renew it and upload the new one to the app registration"}[ok])
	}
	if err != nil {
		var ae *authError
		name := "certificate"
		if errors.As(err, &ae) && ae.class == FailConfig {
			name = "cloud"
		}
		rep.add(name, false, "%v", err)
		return rep
	}
	rep.add("endpoints", true, "login %s, Graph %s", ep.AuthorityHost, ep.GraphRoot)
	tok, err := ts.Token(ctx)
	if err != nil {
		f := TokenFailure(err)
		rep.add("token", false, "%s", f.Message)
		return rep
	}
	rep.add("token", true, "issued by %s", ep.AuthorityHost)
	claims, err := entra.ParseAccessToken(tok)
	if err != nil {
		rep.add("roles", false, "read the access token: %v", err)
		return rep
	}
	need := entra.RequiredRoles(t.OrgContacts)
	if missing := entra.MissingRoles(claims.Roles, need); len(missing) > 0 {
		rep.MissingRoles = missing
		rep.add("roles", false, "granted [%s]; missing [%s]: grant admin consent for them in Entra ID", strings.Join(claims.Roles, ", "), strings.Join(missing, ", "))
	} else {
		rep.add("roles", true, "granted [%s]; needed [%s]", strings.Join(claims.Roles, ", "), strings.Join(need, ", "))
	}

	client, err := graph.New(graph.Options{BaseURL: ep.GraphRoot + "/v1.0", Tokens: ts, HTTP: hc,
		Pacer: pacer.New(pacer.Config{MaxAttempts: 3, BackoffBase: 500 * time.Millisecond, BackoffCap: 2 * time.Second})})
	if err != nil {
		rep.add("graph", false, "%v", err)
		return rep
	}
	var page graph.Page[graph.User]
	err = client.DoJSON(ctx, &graph.Request{URL: "/users" + graph.Query{{"$select", strings.Join(graph.UserFields, ",")}, {"$top", "5"}}.Encode()}, &page)
	if err != nil {
		rep.add("directory read", false, "%s", describe(err))
		return rep
	}
	rep.add("directory read", true, "read %d users", len(page.Value))

	// A mailbox read: the first enabled member with mail in the sample (or
	// the first configured target group's member when groups are set).
	var probe *graph.User
	for i := range page.Value {
		p := directory.FromUser(page.Value[i])
		if p.Enabled && !p.Guest && p.Mail != "" {
			probe = &page.Value[i]
			break
		}
	}
	if probe == nil {
		rep.add("mailbox read", true, "no mailbox user among the first users read: skipped")
		return rep
	}
	var folders graph.Page[graph.ContactFolder]
	err = client.DoJSON(ctx, &graph.Request{URL: graph.ContactFoldersURL(probe.ID, "", PropFolder), Scope: graph.MailboxScope(probe.ID)}, &folders)
	switch graph.Classify(err) {
	case graph.OK:
		rep.add("mailbox read", true, "%s: %d contact folders", probe.UserPrincipalName, len(folders.Value))
	case graph.MailboxUnavailable:
		rep.add("mailbox read", true, "%s has no Exchange Online mailbox (it will be skipped): %s", probe.UserPrincipalName, describe(err))
	case graph.OutOfScope:
		rep.add("mailbox read", false, "%s is outside the app's Exchange RBAC scope or access policy: %s", probe.UserPrincipalName, describe(err))
	default:
		rep.add("mailbox read", false, "%s: %s", probe.UserPrincipalName, describe(err))
	}
	return rep
}

// describe renders a Graph error with its code and request id.
func describe(err error) string {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return fmt.Sprintf("%s: %s (HTTP %d, request-id %s)", ge.Code, ge.Message, ge.Status, ge.RequestID)
	}
	return err.Error()
}
