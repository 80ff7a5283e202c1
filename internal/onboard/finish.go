package onboard

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/syncer"
)

// block is the tenant entry onboarding writes: what it knows, nothing
// else. On an existing entry only these members are set; the rest of the
// entry (filters, folder, schedule) stays as the MSP wrote it.
func (s *session) block() config.Object {
	b := config.Object{
		{Key: "name", Value: s.o.Name},
		{Key: "tenantId", Value: s.res.TenantID},
		{Key: "clientId", Value: s.res.ClientID},
	}
	if s.res.ApplicationObjectID != "" {
		b = append(b, config.Member{Key: "applicationObjectId", Value: s.res.ApplicationObjectID})
	}
	var cert config.Object
	if s.o.Thumbprint != "" {
		cert = config.Object{{Key: "thumbprint", Value: s.cert.ThumbprintSHA1()}}
	} else {
		cert = config.Object{{Key: "file", Value: s.settingsPath(s.o.CertFile)}}
		if s.o.PasswordEnv != "" && isPFX(s.o.CertFile) {
			cert = append(cert, config.Member{Key: "passwordEnv", Value: s.o.PasswordEnv})
		}
	}
	b = append(b, config.Member{Key: "certificate", Value: cert})
	if s.o.Cloud != "" && s.o.Cloud != string(config.CloudGlobal) {
		b = append(b, config.Member{Key: "cloud", Value: s.o.Cloud})
	}
	var ep config.Object
	if s.o.Cloud == string(config.CloudCustom) {
		ep = append(ep, config.Member{Key: "authority", Value: s.o.Authority}, config.Member{Key: "graph", Value: s.o.Graph})
	}
	if s.o.CAFile != "" {
		ep = append(ep, config.Member{Key: "caFile", Value: s.settingsPath(s.o.CAFile)})
	}
	if len(ep) > 0 {
		b = append(b, config.Member{Key: "endpoints", Value: ep})
	}
	if s.o.OrgContacts {
		b = append(b, config.Member{Key: "orgContacts", Value: true})
	}
	if s.o.ResourceMailboxes {
		b = append(b, config.Member{Key: "source", Value: config.Object{{Key: "includeShared", Value: true},
			{Key: "includeRooms", Value: true}, {Key: "includeEquipment", Value: true}}})
	}
	if s.o.ScopeGroup != "" {
		b = append(b, config.Member{Key: "target", Value: config.Object{{Key: "groups", Value: []string{strings.ToLower(s.o.ScopeGroup)}}}})
	}
	return b
}

// settingsPath writes a path relative to the settings file's folder when
// it lies inside it (settings.json resolves relative paths against it).
func (s *session) settingsPath(p string) string {
	dir := filepath.Dir(s.file.Path)
	if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel) {
		return filepath.ToSlash(rel)
	}
	return p
}

// finish checks the new entry as `galmirror check` does and writes it to
// settings.json, keeping every other byte of the file.
func (s *session) finish(ctx context.Context) error {
	before := string(s.file.Bytes())
	if err := s.file.SetTenant(s.block()); err != nil {
		return err
	}
	cfg, err := s.file.Config()
	if err != nil {
		return fmt.Errorf("the tenant entry would not be valid, settings.json is unchanged: %w", err)
	}
	t, _ := cfg.Tenant(s.o.Name)
	fmt.Fprintf(s.out, "Checking the tenant as `galmirror check` does...\n")
	rep := syncer.New(syncer.Options{}).Check(ctx, t)
	s.res.Check = rep
	for _, it := range rep.Items {
		mark := "ok  "
		if !it.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(s.out, "  %s  %-15s %s\n", mark, it.Name, it.Detail)
	}
	if string(s.file.Bytes()) == before {
		fmt.Fprintf(s.out, "%s already holds this entry for %s; unchanged.\n", s.file.Path, s.o.Name)
	} else {
		if err := s.file.Save(); err != nil {
			return err
		}
		s.res.SettingsChanged = true
		fmt.Fprintf(s.out, "Wrote tenant %s to %s.\n", s.o.Name, s.file.Path)
	}
	if s.o.ScopeGroup != "" {
		fmt.Fprint(s.out, exchangeScopeScript(s.o.Name, s.res.ClientID, s.res.ServicePrincipalID, s.o.ScopeGroup))
	}
	return nil
}
