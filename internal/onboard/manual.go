package onboard

import (
	"context"
	"fmt"
	"strings"

	"github.com/galmirror/galmirror/internal/entra"
)

// The fallback when no administrator can use the device code flow (a
// Conditional Access policy blocks it): the app is registered by hand in
// the Entra admin center, and `galmirror onboard --tenant-id T --app-id C`
// prints what to put on it, the admin consent link, and waits until the
// app's own token carries the roles. No delegated call is made.

// RunManual onboards an app registered by hand.
func RunManual(ctx context.Context, o Options, tenantID, appID, objectID string) (*Result, error) {
	s := &session{o: o, out: o.Out, res: &Result{TenantID: strings.ToLower(tenantID), ClientID: strings.ToLower(appID), ApplicationObjectID: strings.ToLower(objectID)}}
	if s.out == nil {
		s.out = nopWriter{}
	}
	if !isGUID(tenantID) || !isGUID(appID) {
		return nil, usagef("--tenant-id and --app-id: the tenant id and the app's client id (GUIDs)")
	}
	if objectID != "" && !isGUID(objectID) {
		return nil, usagef("--app-object-id %q: the app registration's object id (a GUID)", objectID)
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	defer s.cert.Close()
	if s.existing != nil && !strings.EqualFold(s.existing.TenantID, tenantID) {
		return nil, usagef("%s's entry in %s is tenant %s, not %s", o.Name, s.file.Path, s.existing.TenantID, tenantID)
	}
	p := &provisioned{appID: s.res.ClientID, objectID: s.res.ApplicationObjectID}
	p.consentLink = s.consentLink(appID)
	s.printManualSteps(p)
	if err := s.waitForApp(ctx, p); err != nil {
		return s.res, err
	}
	return s.res, s.finish(ctx)
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func (s *session) printManualSteps(p *provisioned) {
	der := entra.CerPath(s.o.CertFile)
	if s.o.Thumbprint != "" {
		der = "the certificate " + s.cert.ThumbprintSHA1() + " (export it without its key as a .cer file)"
	}
	fmt.Fprintf(s.out, "\nIn the Entra admin center, on the app registration %s of tenant %s:\n", p.appID, s.res.TenantID)
	fmt.Fprintf(s.out, "  1. Certificates & secrets > Certificates > Upload certificate: %s\n", der)
	fmt.Fprintf(s.out, "  2. API permissions > Add a permission > Microsoft Graph > Application permissions: %s\n", strings.Join(s.needs, ", "))
	fmt.Fprintf(s.out, "  3. Authentication > Add a platform > Web, redirect URI %s\n", ConsentRedirectURI)
	fmt.Fprintf(s.out, "  4. A Global Administrator or Privileged Role Administrator opens this admin consent link and accepts\n     (or uses \"Grant admin consent\" on the API permissions page):\n     %s\n", p.consentLink)
	if p.objectID == "" {
		fmt.Fprintf(s.out, "  (pass --app-object-id with the app's Object ID from its Overview page so that the certificate can renew itself)\n")
	}
	fmt.Fprintf(s.out, "\n")
}
