package onboard

import (
	"context"
	"fmt"
	"io"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/graph"
)

// OffboardOptions name the tenant entry whose app `galmirror offboard`
// deletes (after purging its contacts) and whose block it removes.
type OffboardOptions struct {
	ConfigPath string
	Name       string
	// ClientID is the public client of the sign-in (empty: Microsoft Graph
	// Command Line Tools).
	ClientID string
	Out      io.Writer
}

// DeleteApp signs an administrator of the entry's tenant in and deletes
// the entry's app registration (Entra deletes its service principal and
// grants with it). An app already gone is not an error. It changes no
// file.
func DeleteApp(ctx context.Context, o OffboardOptions) error {
	s := &session{o: Options{ConfigPath: o.ConfigPath, Name: o.Name, ClientID: o.ClientID}, out: o.Out, res: &Result{}}
	if s.out == nil {
		s.out = io.Discard
	}
	if err := s.openSettings(); err != nil {
		return err
	}
	if s.existing == nil {
		return usagef("%s holds no tenant named %q", s.file.Path, o.Name)
	}
	if err := s.resolveCloud(ctx); err != nil {
		return err
	}
	tok, tid, err := s.signIn(ctx)
	if err != nil {
		return err
	}
	s.res.TenantID = tid
	c, err := s.graphClient(tok)
	if err != nil {
		return err
	}
	a, err := c.ApplicationByAppID(ctx, s.existing.ClientID)
	if graph.IsNotFound(err) {
		fmt.Fprintf(s.out, "The app %s no longer exists in tenant %s.\n", s.existing.ClientID, tid)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the app %s: %w", s.existing.ClientID, err)
	}
	if err := c.DeleteApplication(ctx, a.ID); err != nil && !graph.IsNotFound(err) {
		return fmt.Errorf("delete the app %s: %w", a.AppID, err)
	}
	fmt.Fprintf(s.out, "Deleted the app %s (%s) with its service principal and permissions.\n", a.DisplayName, a.AppID)
	return nil
}

// RemoveEntry removes a tenant's block from settings.json, keeping every
// other byte. It reports whether there was one.
func RemoveEntry(path, name string) (bool, error) {
	f, err := config.OpenForEdit(path)
	if err != nil {
		return false, err
	}
	ok, err := f.RemoveTenant(name)
	if err != nil || !ok {
		return ok, err
	}
	return true, f.Save()
}
