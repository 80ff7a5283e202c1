// Package events is galmirror's catalog of operational events and the sinks
// that deliver them: the Windows Application log, structured slog records
// (stderr or the journal), the state database and in-process subscribers.
//
// Event IDs are a public interface: MSPs build RMM alert rules on
// (Application log, source "galmirror", event ID). An ID is never reused for
// another meaning and never renumbered. IDs stay within 1–1000 so that
// EventCreate.exe can serve as the message file on Windows.
package events

import (
	"fmt"
	"log/slog"
	"sort"
)

// ID identifies one alertable condition. IDs are grouped by hundreds:
// 1xx service lifecycle, 2xx tenant runs, 3xx authentication, consent and
// certificates, 4xx configuration, deployment (420-439), certificate
// renewal (440-459), billing (460-479), health and outages (480-499), 5xx
// safety guards, 6xx admin audit, 7xx beyond the text and the console
// (photos 700-709, other tenants' people 720-729, console sign-in
// 760-769, push mode 770-779).
type ID uint32

// The catalog. docs/events.md documents each one; a test keeps them in step.
const (
	// ServiceStarted: the service is running (version, config path, tenants).
	ServiceStarted ID = 100
	// ServiceStopped: the service stopped cleanly.
	ServiceStopped ID = 101
	// ServiceStopTimeout: shutdown gave up waiting for runs in flight.
	ServiceStopTimeout ID = 102
	// ServiceFailed: the service could not start or hit a fatal error.
	ServiceFailed ID = 103

	// RunSucceeded: a tenant run completed without errors (the heartbeat).
	RunSucceeded ID = 200
	// RunPartial: a tenant run completed but some mailboxes or items failed.
	RunPartial ID = 201
	// RunFailed: a tenant run failed as a whole.
	RunFailed ID = 202
	// RunThrottled: a tenant run was throttled heavily by Microsoft Graph.
	RunThrottled ID = 203

	// AuthFailed: Entra ID rejected the token request (carries the AADSTS code).
	AuthFailed ID = 300
	// ConsentMissing: the token lacks application permissions (names them).
	ConsentMissing ID = 301
	// CertNotFound: the certificate file or thumbprint was not found.
	CertNotFound ID = 310
	// CertKeyUnreadable: the certificate was found but its private key
	// cannot be read (wrong password, access denied, unsupported format).
	CertKeyUnreadable ID = 311
	// CertExpires30: the certificate expires within 30 days (daily).
	CertExpires30 ID = 320
	// CertExpires14: the certificate expires within 14 days (daily).
	CertExpires14 ID = 321
	// CertExpires7: the certificate expires within 7 days (daily).
	CertExpires7 ID = 322
	// CertExpired: the certificate has expired (daily).
	CertExpired ID = 323

	// Certificate renewal (440-445): the service renews a tenant's
	// certificate before it expires (certificateRenewBefore).
	//
	// CertRenewalStarted: a new key pair was made for the tenant.
	CertRenewalStarted ID = 440
	// CertKeyAdded: the new certificate was added to the app (addKey).
	CertKeyAdded ID = 441
	// CertSwitched: a token with the new certificate succeeded and the
	// tenant now uses it.
	CertSwitched ID = 442
	// CertOldKeyRemoved: the old certificate was removed from the app
	// (removeKey), or left on it to expire.
	CertOldKeyRemoved ID = 443
	// CertRenewalFailed: a renewal step failed; the old certificate keeps
	// working and the next run tries again (daily).
	CertRenewalFailed ID = 444
	// CertRenewalBlocked: the certificate cannot renew itself (expired,
	// no applicationObjectId); an administrator must act (daily).
	CertRenewalBlocked ID = 445

	// ConfigInvalid: a configuration file was rejected; the service keeps
	// running on the last good configuration.
	ConfigInvalid ID = 400
	// ConfigReloaded: a changed configuration was applied.
	ConfigReloaded ID = 401
	// Deployed: galmirror deploy (an RMM script, or the MSI) finished:
	// settings, certificate and service in place, the check passed.
	Deployed ID = 420
	// DeployFailed: a step of galmirror deploy failed (step, code).
	DeployFailed ID = 421

	// StripeCustomerLinked: a customer tenant got its Stripe customer
	// (created, or found by its metadata).
	StripeCustomerLinked ID = 460
	// StripeSubscriptionCreated: a customer's Stripe subscription was
	// created (or found) with a month's quantity.
	StripeSubscriptionCreated ID = 461
	// StripeQuantitySet: a month's quantity and price were set on a
	// customer's subscription.
	StripeQuantitySet ID = 462
	// StripePriceCreated: a Stripe price was created for a tier's unit
	// price and plan.
	StripePriceCreated ID = 463
	// StripeProductCreated: galmirror created its Stripe product.
	StripeProductCreated ID = 464
	// StripeFailed: a customer could not be brought into Stripe.
	StripeFailed ID = 465

	// RunRecovered: a tenant whose runs failed ran without failing again
	// (RMM tickets of 202 and its condition events can close).
	RunRecovered ID = 480
	// MicrosoftUnreachable: Entra ID or Microsoft Graph (or the network to
	// it) is unreachable for one or more tenants: one event for all of
	// them, at the start of the outage.
	MicrosoftUnreachable ID = 481
	// MicrosoftUnreachableLong: the outage has lasted past
	// health.outageAfter.
	MicrosoftUnreachableLong ID = 482
	// MicrosoftReachable: the outage is over.
	MicrosoftReachable ID = 483
	// TenantPurged: the service skips a tenant `galmirror purge` removed
	// (once per service start or reload, and when it is purged).
	TenantPurged ID = 484

	// MassDeleteHeld: the mass-delete guard held back deletes.
	MassDeleteHeld ID = 500

	// SourceTenantKept: the directory of a tenant in source.fromTenants
	// could not be read; its people already in the mailboxes were kept.
	SourceTenantKept ID = 720

	// AdminAction: an operator changed something through the admin API.
	AdminAction ID = 600
	// AdminDenied: an authenticated principal called a method its role
	// does not allow.
	AdminDenied ID = 601
	// AdminAuthFailed: a source failed authentication repeatedly and is
	// rate-limited (its first lock-out, then summaries; see docs/events.md).
	AdminAuthFailed ID = 602
	// AdminLocalUnavailable: the local admin socket or named pipe could
	// not be opened (another process holds the name); the service runs on
	// and retries.
	AdminLocalUnavailable ID = 603

	// PhotosFailed: photos of a tenant run failed ("photos": true); the
	// contacts' text synced, the photos are tried again next run.
	PhotosFailed ID = 700
	// ConsoleSignIn: a person signed in to the fleet console.
	ConsoleSignIn ID = 760
	// ConsoleSignInRefused: the fleet console refused a sign-in (no role,
	// another tenant, a refused code, a state or nonce mismatch).
	ConsoleSignInRefused ID = 761
	// ConsoleSignOut: a person signed out of the fleet console.
	ConsoleSignOut ID = 762
	// ConsoleConnected: the push connection to the fleet console is up
	// (at start, and again after 771 or 772).
	ConsoleConnected ID = 770
	// ConsoleUnreachable: the service has not been connected to its
	// console for ConsoleUnreachableAfter; it keeps trying.
	ConsoleUnreachable ID = 771
	// ConsoleRefused: the console refused the service's certificate, or
	// the console's certificate did not match the settings: a
	// configuration error that retrying does not fix.
	ConsoleRefused ID = 772
)

// Level is the severity of an event, as shown in Event Viewer.
type Level int

// Levels, in increasing severity.
const (
	Info Level = iota
	Warning
	Error
)

// String returns the Event Viewer name of the level.
func (l Level) String() string {
	switch l {
	case Info:
		return "Information"
	case Warning:
		return "Warning"
	case Error:
		return "Error"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Slog maps the level to a slog level.
func (l Level) Slog() slog.Level {
	switch l {
	case Warning:
		return slog.LevelWarn
	case Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Def describes one catalog entry.
type Def struct {
	ID    ID
	Level Level
	// Name is a stable machine name (used in slog records and JSON).
	Name string
	// Summary is the stable message prefix RMM rules may match.
	Summary string
}

var catalog = map[ID]Def{}

func def(id ID, l Level, name, summary string) {
	catalog[id] = Def{ID: id, Level: l, Name: name, Summary: summary}
}

func init() {
	def(ServiceStarted, Info, "service_started", "galmirror service started")
	def(ServiceStopped, Info, "service_stopped", "galmirror service stopped")
	def(ServiceStopTimeout, Warning, "service_stop_timeout", "galmirror service stopped before runs in flight finished")
	def(ServiceFailed, Error, "service_failed", "galmirror service failed")
	def(RunSucceeded, Info, "run_succeeded", "tenant sync succeeded")
	def(RunPartial, Warning, "run_partial", "tenant sync completed with mailbox errors")
	def(RunFailed, Error, "run_failed", "tenant sync failed")
	def(RunThrottled, Warning, "run_throttled", "tenant sync throttled heavily by Microsoft Graph")
	def(AuthFailed, Error, "auth_failed", "authentication failed")
	def(ConsentMissing, Error, "consent_missing", "application permission missing")
	def(CertNotFound, Error, "cert_not_found", "certificate not found")
	def(CertKeyUnreadable, Error, "cert_key_unreadable", "certificate private key not readable")
	def(CertExpires30, Warning, "cert_expires_30d", "certificate expires within 30 days")
	def(CertExpires14, Warning, "cert_expires_14d", "certificate expires within 14 days")
	def(CertExpires7, Error, "cert_expires_7d", "certificate expires within 7 days")
	def(CertExpired, Error, "cert_expired", "certificate has expired")
	def(CertRenewalStarted, Info, "cert_renewal_started", "certificate renewal started")
	def(CertKeyAdded, Info, "cert_key_added", "new certificate added to the app")
	def(CertSwitched, Info, "cert_switched", "tenant switched to the new certificate")
	def(CertOldKeyRemoved, Info, "cert_old_key_removed", "old certificate removed from the app")
	def(CertRenewalFailed, Warning, "cert_renewal_failed", "certificate renewal failed; the old certificate keeps working")
	def(CertRenewalBlocked, Error, "cert_renewal_blocked", "certificate cannot renew itself")
	def(ConfigInvalid, Error, "config_invalid", "configuration invalid")
	def(ConfigReloaded, Info, "config_reloaded", "configuration reloaded")
	def(Deployed, Info, "deployed", "galmirror deployed")
	def(DeployFailed, Error, "deploy_failed", "galmirror deployment failed")
	def(StripeCustomerLinked, Info, "stripe_customer_linked", "Stripe customer linked")
	def(StripeSubscriptionCreated, Info, "stripe_subscription_created", "Stripe subscription created")
	def(StripeQuantitySet, Info, "stripe_quantity_set", "Stripe subscription quantity set")
	def(StripePriceCreated, Info, "stripe_price_created", "Stripe price created")
	def(StripeProductCreated, Info, "stripe_product_created", "Stripe product created")
	def(StripeFailed, Error, "stripe_failed", "Stripe update failed")
	def(RunRecovered, Info, "run_recovered", "tenant sync recovered")
	def(MicrosoftUnreachable, Warning, "microsoft_unreachable", "Microsoft service unreachable")
	def(MicrosoftUnreachableLong, Error, "microsoft_unreachable_long", "Microsoft service unreachable for long")
	def(MicrosoftReachable, Info, "microsoft_reachable", "Microsoft service reachable again")
	def(TenantPurged, Warning, "tenant_purged", "tenant skipped: purged")
	def(MassDeleteHeld, Warning, "mass_delete_held", "mass-delete guard held deletes back")
	def(SourceTenantKept, Warning, "source_tenant_kept", "source tenant unreadable: its people kept as they are")
	def(AdminAction, Info, "admin_action", "admin action")
	def(AdminDenied, Warning, "admin_denied", "admin access denied")
	def(AdminAuthFailed, Warning, "admin_auth_failed", "admin authentication failed repeatedly")
	def(AdminLocalUnavailable, Error, "admin_local_unavailable", "local admin socket or pipe unavailable")
	def(PhotosFailed, Warning, "photos_failed", "photos not synced")
	def(ConsoleSignIn, Info, "console_sign_in", "console sign-in")
	def(ConsoleSignInRefused, Warning, "console_sign_in_refused", "console sign-in refused")
	def(ConsoleSignOut, Info, "console_sign_out", "console sign-out")
	def(ConsoleConnected, Info, "console_connected", "connected to the fleet console")
	def(ConsoleUnreachable, Warning, "console_unreachable", "fleet console unreachable")
	def(ConsoleRefused, Error, "console_refused", "fleet console connection refused")
}

// Lookup returns the catalog entry for id.
func Lookup(id ID) (Def, bool) {
	d, ok := catalog[id]
	return d, ok
}

// Catalog returns every catalog entry, ordered by ID.
func Catalog() []Def {
	out := make([]Def, 0, len(catalog))
	for _, d := range catalog {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Level returns the catalog level of id (Error for an ID not in the catalog,
// so a programming mistake is loud rather than silent).
func (id ID) Level() Level {
	if d, ok := catalog[id]; ok {
		return d.Level
	}
	return Error
}

// Name returns the catalog name of id.
func (id ID) Name() string {
	if d, ok := catalog[id]; ok {
		return d.Name
	}
	return fmt.Sprintf("event_%d", uint32(id))
}

// String returns the ID and name, e.g. "202 run_failed".
func (id ID) String() string { return fmt.Sprintf("%d %s", uint32(id), id.Name()) }
