package store

import (
	"context"
	"time"
)

// TenantState is the persisted state of one configured tenant.
type TenantState struct {
	// Name is the tenant's name in settings.json (the stable key).
	Name string
	// TenantID is the Entra tenant id the state belongs to.
	TenantID             string
	UsersDeltaLink       string
	OrgContactsDeltaLink string
	// Paused tenants are not run by the schedule; PausedAt and PausedBy
	// (a principal) say who paused it.
	Paused   bool
	PausedAt time.Time
	PausedBy string
	// CertExpiry is the NotAfter of the certificate last used.
	CertExpiry time.Time
	// ConsecutiveFailures counts whole-run failures since the last
	// successful run (drives back-off and alerts).
	ConsecutiveFailures int
	// NextRun is the service's next scheduled run.
	NextRun time.Time
	// LastSuccess is when the last run that did not fail as a whole
	// finished (status ok or partial).
	LastSuccess time.Time
}

// EnsureTenant creates the tenant's row if missing. When the stored tenant id
// differs from tenantID (settings now point the name at another tenant), the
// tenant's directory, mailbox and contact state and its delta links are
// discarded, since they describe another tenant; reset reports that. Run
// history, events and the paused flag are kept.
func (s *Store) EnsureTenant(ctx context.Context, name, tenantID string) (reset bool, err error) {
	return false, errNotYet
}

// Tenant returns a tenant's state, or ErrNotFound.
func (s *Store) Tenant(ctx context.Context, name string) (TenantState, error) {
	return TenantState{}, errNotYet
}

// Tenants returns every tenant's state, ordered by name.
func (s *Store) Tenants(ctx context.Context) ([]TenantState, error) {
	return nil, errNotYet
}

// SetUsersDeltaLink stores the tenant's users/delta link; "" forces a full
// read next time.
func (s *Store) SetUsersDeltaLink(ctx context.Context, tenant, link string) error { return errNotYet }

// SetOrgContactsDeltaLink stores the tenant's contacts/delta link.
func (s *Store) SetOrgContactsDeltaLink(ctx context.Context, tenant, link string) error {
	return errNotYet
}

// SetPaused pauses or resumes the tenant, recording who and when. The tenant
// row is created if missing, so a tenant can be paused before its first run.
func (s *Store) SetPaused(ctx context.Context, tenant string, paused bool, by string, at time.Time) error {
	return errNotYet
}

// SetCertExpiry records the NotAfter of the certificate last loaded.
func (s *Store) SetCertExpiry(ctx context.Context, tenant string, notAfter time.Time) error {
	return errNotYet
}

// SetNextRun records the service's next scheduled run time.
func (s *Store) SetNextRun(ctx context.Context, tenant string, next time.Time) error {
	return errNotYet
}

// DeleteTenantState removes the tenant's directory, mailbox and contact state
// (after `galmirror purge`, or when a tenant leaves the settings for good).
// Run history and events are kept.
func (s *Store) DeleteTenantState(ctx context.Context, tenant string) error { return errNotYet }
