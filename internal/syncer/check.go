package syncer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
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
	// MailboxAccess is the model the token shows: "tenant-wide" or
	// "rbac-scoped" (entra.MailboxAccessOf).
	MailboxAccess string `json:"mailboxAccess,omitempty"`
	// Reachable counts the target mailboxes the app reaches; OutOfScope
	// and NoMailbox list the ones it does not.
	Reachable  int      `json:"reachable"`
	OutOfScope []string `json:"outOfScope,omitempty"`
	NoMailbox  []string `json:"noMailbox,omitempty"`
	// Failure classifies what stopped the check where a sync would fail
	// the same way (certificate, token, consent), as a sync's failure.
	Failure *Failure `json:"failure,omitempty"`
	// CertificateThumbprint is the certificate's SHA-1 thumbprint.
	CertificateThumbprint string `json:"-"`
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
// granted roles and the mailbox access model they show, the directory read
// and target selection a sync makes, and a read of every target mailbox.
// It writes nothing, to Graph or to the state database.
func (e *Engine) Check(ctx context.Context, t *config.Tenant) *CheckReport {
	rep := &CheckReport{Tenant: t.Name, OK: true}
	rep.add("configuration", true, "tenant %s, app %s, cloud %s", t.TenantID, t.ClientID, t.Cloud)
	rep.addFolder(t)
	hc, err := HTTPClient(ctx, t)
	if err != nil {
		rep.add("cloud", false, "%v", err)
		return rep
	}
	now := time.Now()
	ts, ep, cert, err := Credentials(ctx, t, hc, now)
	if cert != nil {
		rep.CertificateExpires = cert.NotAfter().UTC()
		rep.CertificateThumbprint = cert.ThumbprintSHA1()
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
		if ctx.Err() != nil {
			rep.add(name, false, "stopped while reading the certificate: %v", ctx.Err())
			return rep
		}
		if ae != nil {
			rep.Failure = &Failure{Class: ae.class, Code: ae.code, Message: ae.msg}
		}
		rep.add(name, false, "%v", err)
		return rep
	}
	rep.add("endpoints", true, "login %s, Graph %s", ep.AuthorityHost, ep.GraphRoot)
	tok, err := ts.Token(ctx)
	if err != nil {
		f := TokenFailure(err)
		rep.Failure = f
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
	if t.Source.MailboxPurposes() {
		need = append(need, entra.RoleMailboxSettingsRead)
	}
	missing := entra.MissingRoles(claims.Roles, entra.RequiredRoles(t.OrgContacts))
	if missing = append(missing, missingPurposeRole(t, claims.Roles)...); len(missing) > 0 {
		rep.MissingRoles = missing
		rep.Failure = &Failure{Class: FailConsent, Code: "MissingConsent", MissingRoles: missing,
			Message: fmt.Sprintf("the app %s lacks admin consent for %v in tenant %s", t.ClientID, missing, t.TenantID)}
		rep.add("roles", false, "granted [%s]; missing [%s]: grant admin consent for them in Entra ID", strings.Join(claims.Roles, ", "), strings.Join(missing, ", "))
		return rep
	}
	rep.add("roles", true, "granted [%s]; needed [%s]", strings.Join(claims.Roles, ", "), strings.Join(need, ", "))
	rep.MailboxAccess = entra.MailboxAccessOf(claims.Roles)
	if rep.MailboxAccess == entra.MailboxAccessTenantWide {
		rep.add("mailbox access", true, "tenant-wide: Contacts.ReadWrite is granted in Entra ID (an Exchange application access policy may still exclude mailboxes)")
	} else {
		rep.add("mailbox access", true, "RBAC-scoped: the token has no Contacts role; Exchange RBAC for Applications decides mailbox by mailbox")
	}

	client, err := graph.New(graph.Options{BaseURL: ep.GraphRoot + "/v1.0", Tokens: ts, HTTP: hc,
		PacerConfig: graph.PacerConfig{MaxAttempts: 3, BackoffBase: 500 * time.Millisecond, BackoffCap: 2 * time.Second}})
	if err != nil {
		rep.add("graph", false, "%v", err)
		return rep
	}
	// The directory and the targets exactly as a sync selects them,
	// without the state database and without writing anything.
	r := newRun(e, t, RunOptions{DryRun: true})
	r.st, r.client = nil, client
	defer r.startMailboxes(ctx)()
	if err := r.readSource(ctx); err != nil {
		rep.add("directory read", false, "%s", r.failureOf(err).Message)
		return rep
	}
	sc, ok := r.resolveGroups(ctx, rep)
	if !ok {
		return rep
	}
	r.resolveUsers(rep)
	r.checkFromTenants(ctx, rep)
	r.selectPeople(sc)
	rep.add("directory read", true, "%d directory entries: %d sources (%s), %d target mailboxes", len(r.persons), len(r.desired), kindsText(r.res.SourcesByKind), len(r.targets))
	if t.Source.MailboxPurposes() && rep.MailboxAccess != entra.MailboxAccessTenantWide {
		rep.add("mailbox purposes", true, "read with MailboxSettings.Read from the app's Exchange RBAC scope (a mailbox outside it fails the run)")
	}
	r.probePhotos(ctx, rep)
	r.probeTargets(ctx, rep)
	return rep
}

// addFolder says where the tenant's contacts go.
func (rep *CheckReport) addFolder(t *config.Tenant) {
	if t.InDefaultFolder() {
		rep.add("folder", true, "contacts go into each mailbox's default Contacts folder with the category %q, beside the owner's own (never touched: galmirror knows its contacts by their marks)", t.FolderCategory)
		return
	}
	rep.add("folder", true, "contacts go into a folder named %q under each mailbox's Contacts folder", t.Folder)
}

// resolveGroups reads the members of every group the settings name, as a
// sync does, one group at a time, so that each group id that does not
// exist in the tenant is named with its setting (a sync fails on the
// first). It returns the scope the groups make.
func (r *run) resolveGroups(ctx context.Context, rep *CheckReport) (directory.Scope, bool) {
	var sc directory.Scope
	lists := []struct {
		path   string
		groups []string
		into   *map[string]bool
	}{
		{"source.includeGroups", r.t.Source.IncludeGroups, &sc.SourceInclude},
		{"source.excludeGroups", r.t.Source.ExcludeGroups, &sc.SourceExclude},
		{"target.groups", r.t.Target.Groups, &sc.Targets},
	}
	var missing []string
	n := 0
	for _, l := range lists {
		for i, g := range l.groups {
			members, err := r.groupMembers(ctx, []string{g})
			switch {
			case graph.Classify(err) == graph.NotFound:
				missing = append(missing, fmt.Sprintf("%s[%d]: no group %s in the tenant", l.path, i, g))
				continue
			case err != nil:
				rep.add("directory read", false, "%s", r.failureOf(r.sourceError("read "+l.path, err)).Message)
				return sc, false
			}
			if *l.into == nil {
				*l.into = map[string]bool{}
			}
			maps.Copy(*l.into, members)
			n++
		}
	}
	switch {
	case len(missing) > 0:
		rep.add("groups", false, "%s: correct the group ids in the settings (a sync fails on them)", strings.Join(missing, "; "))
		return sc, false
	case n > 0:
		rep.add("groups", true, "every one of the %d groups the settings name exists", n)
	}
	return sc, true
}

// resolveUsers names each user exclusion (object id or UPN) that matches
// no user of the directory: a misspelt exclusion excludes nobody.
func (r *run) resolveUsers(rep *CheckReport) {
	ids, upns := map[string]bool{}, map[string]bool{}
	for id, p := range r.persons {
		ids[strings.ToLower(id)] = true
		if p.UserPrincipalName != "" {
			upns[strings.ToLower(p.UserPrincipalName)] = true
		}
	}
	var missing []string
	n := 0
	for _, l := range []struct {
		path  string
		users []string
	}{{"source.excludeUsers", r.t.Source.ExcludeUsers}, {"target.excludeUsers", r.t.Target.ExcludeUsers}} {
		for i, u := range l.users {
			n++
			if !ids[strings.ToLower(u)] && !upns[strings.ToLower(u)] {
				missing = append(missing, fmt.Sprintf("%s[%d]: no user %s in the tenant", l.path, i, u))
			}
		}
	}
	switch {
	case len(missing) > 0:
		rep.add("user exclusions", false, "%s: the exclusion excludes nobody (a renamed user? use the object id, which never changes)", strings.Join(missing, "; "))
	case n > 0:
		rep.add("user exclusions", true, "every one of the %d excluded users exists", n)
	}
}

// probeTargets reads one page of every target mailbox's contact folders
// and reports which mailboxes the app reaches.
func (r *run) probeTargets(ctx context.Context, rep *CheckReport) {
	var mu sync.Mutex
	var reached int
	var none, denied, failed []string
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, tg := range r.targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := r.mail.Mailbox(tg.ID).Probe(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch graph.Classify(err) {
			case graph.OK:
				reached++
			case graph.MailboxUnavailable:
				none = append(none, tg.UPN)
			case graph.OutOfScope:
				denied = append(denied, tg.UPN)
			default:
				failed = append(failed, tg.UPN+": "+describe(err))
			}
		})
	}
	wg.Wait()
	rep.Reachable = reached
	rep.OutOfScope = slices.Sorted(slices.Values(denied))
	rep.NoMailbox = slices.Sorted(slices.Values(none))
	list := func(xs []string) string {
		slices.Sort(xs)
		if len(xs) > 10 {
			return strings.Join(xs[:10], ", ") + fmt.Sprintf(" and %d more", len(xs)-10)
		}
		return strings.Join(xs, ", ")
	}
	detail := fmt.Sprintf("%d of %d reachable", reached, len(r.targets))
	if len(denied) > 0 {
		detail += fmt.Sprintf("; %d outside the app's mailbox access (skipped by a sync): %s", len(denied), list(denied))
	}
	if len(none) > 0 {
		detail += fmt.Sprintf("; %d without an Exchange Online mailbox (skipped): %s", len(none), list(none))
	}
	if len(failed) > 0 {
		detail += fmt.Sprintf("; %d failed: %s", len(failed), list(failed))
	}
	ok := len(failed) == 0 && (reached > 0 || len(r.targets) == 0)
	if !ok && reached == 0 && len(denied) > 0 {
		detail += ": the app reaches no target mailbox; grant Contacts.ReadWrite in Entra ID, or scope it to the targets with Exchange RBAC for Applications"
	}
	rep.add("target mailboxes", ok, "%s", detail)
}

// describe renders a Graph error with its code and request id.
func describe(err error) string {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return fmt.Sprintf("%s: %s (HTTP %d, request-id %s)", ge.Code, ge.Message, ge.Status, ge.RequestID)
	}
	return err.Error()
}
