package onboard

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
)

// replicationWait bounds how long a call that names an object made a
// moment ago (a service principal for a new app, a grant to a new service
// principal) is retried while Entra's directory replicas catch up.
const replicationWait = 2 * time.Minute

// provisioned is the app as onboarding left it.
type provisioned struct {
	appID, objectID, spID string
	// consentLink is set when the administrator could not grant the
	// permissions: someone who may must open it.
	consentLink string
}

func (s *session) graphClient(token string) (*graph.Client, error) {
	return graph.New(graph.Options{BaseURL: s.ep.GraphRoot + "/v1.0", Tokens: graph.StaticToken(token), HTTP: s.hc,
		PacerConfig: graph.PacerConfig{MaxAttempts: 4, BackoffBase: time.Second, BackoffCap: 8 * time.Second}})
}

// provision creates the app, or finds and repairs it, with its service
// principal and its app role assignments.
func (s *session) provision(ctx context.Context, token string) (*provisioned, error) {
	c, err := s.graphClient(token)
	if err != nil {
		return nil, err
	}
	graphSP, err := c.ServicePrincipalByAppID(ctx, graph.MicrosoftGraphAppID)
	if err != nil {
		return nil, fmt.Errorf("read Microsoft Graph's service principal: %w", err)
	}
	roleIDs := map[string]string{}
	for _, r := range s.needs {
		id, ok := graphSP.RoleID(r)
		if !ok {
			return nil, fmt.Errorf("Microsoft Graph's service principal in this tenant offers no application permission %s", r)
		}
		roleIDs[r] = id
	}
	app, err := s.findApp(ctx, c)
	if err != nil {
		return nil, err
	}
	if app == nil {
		app, err = s.createApp(ctx, c, roleIDs)
	} else {
		err = s.repairApp(ctx, c, app, roleIDs)
	}
	if err != nil {
		return nil, err
	}
	p := &provisioned{appID: strings.ToLower(app.AppID), objectID: strings.ToLower(app.ID)}
	s.res.ClientID, s.res.ApplicationObjectID = p.appID, p.objectID
	sp, err := s.ensureServicePrincipal(ctx, c, p.appID)
	if err != nil {
		return nil, err
	}
	p.spID = sp.ID
	s.res.ServicePrincipalID = sp.ID
	if err := s.ensureGrants(ctx, c, graphSP.ID, p, roleIDs); err != nil {
		return nil, err
	}
	return p, nil
}

// findApp finds the entry's app: by the client id settings.json names, or
// by the tag onboarding puts on it.
func (s *session) findApp(ctx context.Context, c *graph.Client) (*graph.Application, error) {
	if s.existing != nil {
		a, err := c.ApplicationByAppID(ctx, s.existing.ClientID)
		if err == nil {
			fmt.Fprintf(s.out, "Found app %s (%s), named by %s.\n", a.DisplayName, a.AppID, s.file.Path)
			return a, nil
		}
		if !graph.IsNotFound(err) {
			return nil, fmt.Errorf("read the app %s: %w", s.existing.ClientID, err)
		}
		fmt.Fprintf(s.out, "The app %s that %s names no longer exists in the tenant; looking for galmirror's app by its tag.\n", s.existing.ClientID, s.file.Path)
	}
	tag := TagPrefix + s.o.Name
	apps, err := c.ApplicationsTagged(ctx, tag)
	if err != nil {
		return nil, fmt.Errorf("look for the app tagged %s: %w", tag, err)
	}
	switch len(apps) {
	case 0:
		return nil, nil
	case 1:
		a, err := c.ApplicationByAppID(ctx, apps[0].AppID)
		if err != nil {
			return nil, fmt.Errorf("read the app %s: %w", apps[0].AppID, err)
		}
		fmt.Fprintf(s.out, "Found app %s (%s) by its tag %s.\n", a.DisplayName, a.AppID, tag)
		return a, nil
	}
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.AppID)
	}
	return nil, fmt.Errorf("%d apps carry the tag %s (%s): delete the extra ones, or name the one to use in %s's clientId", len(apps), tag, strings.Join(ids, ", "), s.file.Path)
}

func (s *session) certKey() graph.KeyCredential {
	return graph.CertificateKey(s.cert.Leaf.Raw, entra.KeyIDFor(s.cert.Leaf), "CN="+s.cert.Leaf.Subject.CommonName)
}

func resourceAccess(roleIDs map[string]string, needs []string) graph.RequiredResourceAccess {
	r := graph.RequiredResourceAccess{ResourceAppID: graph.MicrosoftGraphAppID}
	for _, n := range needs {
		r.ResourceAccess = append(r.ResourceAccess, graph.ResourceAccess{ID: roleIDs[n], Type: "Role"})
	}
	return r
}

func (s *session) createApp(ctx context.Context, c *graph.Client, roleIDs map[string]string) (*graph.Application, error) {
	na := graph.NewApplication{
		DisplayName:            "galmirror " + s.o.Name,
		SignInAudience:         "AzureADMyOrg",
		Tags:                   []string{TagApp, TagPrefix + s.o.Name},
		KeyCredentials:         []graph.KeyCredential{s.certKey()},
		RequiredResourceAccess: []graph.RequiredResourceAccess{resourceAccess(roleIDs, s.needs)},
		Web:                    &graph.WebApplication{RedirectURIs: []string{ConsentRedirectURI}},
	}
	a, err := c.CreateApplication(ctx, na)
	if err != nil {
		return nil, fmt.Errorf("create the app: %w", err)
	}
	s.res.Created = true
	fmt.Fprintf(s.out, "Created app %s: client id %s, object id %s, with the certificate %s and the permissions %s.\n",
		a.DisplayName, a.AppID, a.ID, s.cert.ThumbprintSHA1(), strings.Join(s.needs, ", "))
	return a, nil
}

// repairApp adds what an existing app lacks: the certificate, the
// permissions in its requiredResourceAccess, the tags, the consent
// redirect URI. Keys and permissions it has besides are kept.
func (s *session) repairApp(ctx context.Context, c *graph.Client, a *graph.Application, roleIDs map[string]string) error {
	var p graph.ApplicationPatch
	var fixed []string
	if !hasCertificate(a.KeyCredentials, s.cert.Leaf.Raw) {
		keys := make([]graph.KeyCredential, 0, len(a.KeyCredentials)+1)
		for _, k := range a.KeyCredentials {
			if end, err := time.Parse(time.RFC3339, k.EndDateTime); err == nil && end.Before(time.Now()) {
				fixed = append(fixed, "removed the expired certificate "+k.CustomKeyIdentifier)
				continue
			}
			if k.Key == nil || *k.Key == "" {
				return fmt.Errorf("the app's key %s came back without its certificate; cannot keep it while adding the new one", k.KeyID)
			}
			keys = append(keys, graph.KeyCredential{KeyID: k.KeyID, Type: k.Type, Usage: k.Usage, Key: k.Key, DisplayName: k.DisplayName})
		}
		p.KeyCredentials = append(keys, s.certKey())
		fixed = append([]string{"certificate " + s.cert.ThumbprintSHA1()}, fixed...)
	}
	if rra, changed := mergeAccess(a.RequiredResourceAccess, roleIDs, s.needs); changed {
		p.RequiredResourceAccess = rra
		fixed = append(fixed, "permissions")
	}
	if tags := []string{TagApp, TagPrefix + s.o.Name}; !containsAll(a.Tags, tags) {
		p.Tags = appendMissing(slices.Clone(a.Tags), tags)
		fixed = append(fixed, "tags")
	}
	if a.Web == nil || !slices.Contains(a.Web.RedirectURIs, ConsentRedirectURI) {
		var uris []string
		if a.Web != nil {
			uris = slices.Clone(a.Web.RedirectURIs)
		}
		p.Web = &graph.WebApplication{RedirectURIs: append(uris, ConsentRedirectURI)}
		fixed = append(fixed, "consent redirect URI")
	}
	if len(fixed) == 0 {
		return nil
	}
	if err := c.UpdateApplication(ctx, a.ID, p); err != nil {
		return fmt.Errorf("update the app %s: %w", a.AppID, err)
	}
	s.res.Repaired = append(s.res.Repaired, fixed...)
	fmt.Fprintf(s.out, "Repaired the app: added %s.\n", strings.Join(fixed, ", "))
	return nil
}

func hasCertificate(keys []graph.KeyCredential, der []byte) bool {
	for _, k := range keys {
		if k.Key == nil {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(*k.Key); err == nil && bytes.Equal(b, der) {
			return true
		}
	}
	return false
}

// mergeAccess adds the needed Graph app roles to a requiredResourceAccess.
func mergeAccess(cur []graph.RequiredResourceAccess, roleIDs map[string]string, needs []string) ([]graph.RequiredResourceAccess, bool) {
	out := slices.Clone(cur)
	i := slices.IndexFunc(out, func(r graph.RequiredResourceAccess) bool {
		return strings.EqualFold(r.ResourceAppID, graph.MicrosoftGraphAppID)
	})
	if i < 0 {
		return append(out, resourceAccess(roleIDs, needs)), true
	}
	g := out[i]
	g.ResourceAccess = slices.Clone(g.ResourceAccess)
	changed := false
	for _, n := range needs {
		id := roleIDs[n]
		if !slices.ContainsFunc(g.ResourceAccess, func(x graph.ResourceAccess) bool { return strings.EqualFold(x.ID, id) && x.Type == "Role" }) {
			g.ResourceAccess = append(g.ResourceAccess, graph.ResourceAccess{ID: id, Type: "Role"})
			changed = true
		}
	}
	out[i] = g
	return out, changed
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func appendMissing(have, want []string) []string {
	for _, w := range want {
		if !slices.Contains(have, w) {
			have = append(have, w)
		}
	}
	return have
}

// replicating reports whether a call about an object made a moment ago
// failed as Entra does while its replicas catch up: the object is not
// found (404), or named as not referencing a valid object (400).
func replicating(err error) bool {
	var ge *graph.Error
	return errors.As(err, &ge) && (ge.Status == http.StatusNotFound || ge.Status == http.StatusBadRequest)
}

// retryReplication runs f until it succeeds, fails otherwise than
// replicating, or replicationWait has passed.
func (s *session) retryReplication(ctx context.Context, what string, f func() error) error {
	start := time.Now()
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !replicating(err) || time.Since(start) > replicationWait {
			return err
		}
		fmt.Fprintf(s.out, "  %s: Entra ID has not replicated the new app yet (attempt %d, %s): retrying in %s\n", what, attempt, time.Since(start).Round(time.Second), wait)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 15*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *session) ensureServicePrincipal(ctx context.Context, c *graph.Client, appID string) (*graph.ServicePrincipal, error) {
	sp, err := c.ServicePrincipalByAppID(ctx, appID)
	if err == nil {
		return sp, nil
	}
	if !graph.IsNotFound(err) {
		return nil, fmt.Errorf("read the app's service principal: %w", err)
	}
	err = s.retryReplication(ctx, "create the service principal", func() error {
		var e error
		sp, e = c.CreateServicePrincipal(ctx, appID)
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("create the app's service principal: %w", err)
	}
	fmt.Fprintf(s.out, "Created the app's service principal %s.\n", sp.ID)
	return sp, nil
}

// ensureGrants grants the needed Graph app roles the app does not hold.
// An administrator who may not grant them (an Application Administrator:
// Microsoft Graph's app roles need a Privileged Role Administrator or a
// Global Administrator) gets the admin consent link to pass on.
func (s *session) ensureGrants(ctx context.Context, c *graph.Client, graphSP string, p *provisioned, roleIDs map[string]string) error {
	var have []graph.AppRoleAssignment
	err := s.retryReplication(ctx, "read the app's permissions", func() error {
		var e error
		have, e = c.AppRoleAssignments(ctx, p.spID)
		return e
	})
	if err != nil {
		return fmt.Errorf("read the app's granted permissions: %w", err)
	}
	var granted []string
	for _, n := range s.needs {
		id := roleIDs[n]
		if slices.ContainsFunc(have, func(a graph.AppRoleAssignment) bool {
			return strings.EqualFold(a.AppRoleID, id) && strings.EqualFold(a.ResourceID, graphSP)
		}) {
			continue
		}
		err := s.retryReplication(ctx, "grant "+n, func() error {
			_, e := c.GrantAppRole(ctx, graphSP, p.spID, id)
			return e
		})
		if graph.IsForbidden(err) {
			p.consentLink = s.consentLink(p.appID)
			fmt.Fprintf(s.out, "\nThe signed-in administrator may not grant Microsoft Graph's application permissions (that needs a Global Administrator\nor a Privileged Role Administrator). Have one open this admin consent link and accept; galmirror waits for it:\n  %s\n\n", p.consentLink)
			return nil
		}
		if err != nil {
			return fmt.Errorf("grant %s: %w", n, err)
		}
		granted = append(granted, n)
	}
	if len(granted) > 0 {
		fmt.Fprintf(s.out, "Granted %s (admin consent).\n", strings.Join(granted, ", "))
	}
	return nil
}

// consentLink is the admin consent link of the app: the permissions of
// its requiredResourceAccess (/.default), returning to the registered
// ConsentRedirectURI (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent).
func (s *session) consentLink(appID string) string {
	q := url.Values{"client_id": {appID}, "scope": {s.ep.GraphRoot + "/.default"}, "redirect_uri": {ConsentRedirectURI}}
	return s.ep.AuthorityHost + "/" + s.res.TenantID + "/v2.0/adminconsent?" + q.Encode()
}
