// Package config loads, validates and defaults galmirror's settings.json.
//
// The key names are a public interface (RMM playbooks generate the file), so
// they never change meaning. Load reports every problem at once, each with the
// file, the JSON path of the offending value and what is wrong; an unknown key
// is an error, because a misspelt filter must never silently widen a sync.
//
// A *Config is immutable once returned: reload builds a new one and swaps it.
package config

import (
	"time"
)

// Defaults applied by Load where settings.json leaves a value out.
const (
	DefaultMaxConcurrentTenants = 4
	DefaultFolder               = "Company Directory"
	DefaultEvery                = time.Hour
	DefaultJitter               = 5 * time.Minute
	DefaultMaxDeleteFraction    = 0.1
	DefaultMinDeleteCount       = 3
	DefaultFileAs               = "{surname}, {givenName}"
	DefaultLogLevel             = "info"
	DefaultLogFormat            = "text"
	// DefaultCertificateRenewBefore: renew a tenant's certificate 30 days
	// before it expires.
	DefaultCertificateRenewBefore = 30 * 24 * time.Hour
	DefaultLogMaxSizeMB           = 10
	DefaultLogMaxFiles            = 5
	DefaultHealthMaxAge           = 6 * time.Hour
	DefaultHealthMaxFailures      = 1
	DefaultHealthCertDays         = 14
	DefaultHealthOverdueAfter     = 30 * time.Minute
	DefaultHealthOutageAfter      = time.Hour
)

// Config is a loaded and validated settings file.
type Config struct {
	// Schema is the optional "$schema" key (for editors); it is ignored.
	Schema string `json:"$schema,omitempty"`
	// Path is the absolute path of the settings file this was loaded from.
	Path string `json:"-"`
	// DataDir is the absolute directory holding the state database and the
	// generated admin certificate. A relative value in the file is resolved
	// against the settings file's directory (services start in System32).
	DataDir string `json:"dataDir"`
	// MaxConcurrentTenants caps how many tenant runs the service runs at once.
	MaxConcurrentTenants int     `json:"maxConcurrentTenants"`
	Log                  Log     `json:"log"`
	Metrics              Metrics `json:"metrics"`
	Admin                Admin   `json:"admin"`
	// Console is the fleet console this service reports to (push mode);
	// nil when absent.
	Console *Console `json:"console,omitempty"`
	// Billing is the price list and Stripe settings; nil when absent.
	Billing *Billing `json:"billing,omitempty"`
	// Health sets when a tenant counts as unhealthy (`galmirror status`,
	// the /healthz endpoint, the outage events) and the optional
	// unauthenticated health endpoint.
	Health Health `json:"health"`
	// Tenants in file order; names are unique.
	Tenants []Tenant `json:"tenants,omitempty"`
}

// Tenant returns the tenant with the given name.
func (c *Config) Tenant(name string) (*Tenant, bool) {
	for i := range c.Tenants {
		if c.Tenants[i].Name == name {
			return &c.Tenants[i], true
		}
	}
	return nil, false
}

// Log configures the service's log output.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `json:"level"`
	// Format is text (default) or json.
	Format string `json:"format"`
	// File is the service's rotating log file, absolute (relative in the
	// file: to the settings file's directory). Empty: none, except for the
	// Windows service, which writes %ProgramData%\galmirror\logs\galmirror.log.
	File string `json:"file,omitempty"`
	// MaxSizeMB bounds each log file (default 10); MaxFiles is how many
	// older files are kept (default 5).
	MaxSizeMB int `json:"maxSizeMB"`
	MaxFiles  int `json:"maxFiles"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is a host:port for the /metrics endpoint; empty turns it off.
	Listen string `json:"listen"`
}

// Health configures the health judgement and the /healthz endpoint.
type Health struct {
	// MaxAge: a tenant whose last successful run is older is unhealthy
	// (default 6h).
	MaxAge Duration `json:"maxAge"`
	// MaxFailures: a tenant with this many whole-run failures in a row is
	// unhealthy (default 1: its last run failed).
	MaxFailures int `json:"maxFailures"`
	// CertificateDays: a tenant whose certificate expires within this many
	// days is unhealthy (default 14).
	CertificateDays int `json:"certificateDays"`
	// OverdueAfter: a tenant whose next scheduled run is this much in the
	// past without a run in progress is unhealthy: the service is not
	// running (default 30m).
	OverdueAfter Duration `json:"overdueAfter"`
	// OutageAfter: failures because Microsoft or the network is
	// unreachable (class unavailable) make a tenant unhealthy, and the
	// outage event an Error, only once they last this long (default 1h).
	OutageAfter Duration `json:"outageAfter"`
	// Listen is a host:port for the unauthenticated /healthz endpoint;
	// empty (the default) turns it off.
	Listen string `json:"listen"`
	// ShowTenants lists the tenants' names and problems in /healthz's
	// answer (default false: the overall state only).
	ShowTenants bool `json:"showTenants"`
}

// Admin configures the remote and local admin API.
type Admin struct {
	// Listen is the HTTPS host:port of the remote admin API; empty turns the
	// network listener off.
	Listen string `json:"listen"`
	// Certificate is the server certificate. Empty (IsZero) means galmirror
	// generates one on first start and keeps it in DataDir.
	Certificate Certificate `json:"certificate"`
	// Kerberos enables Negotiate authentication when non-nil (the "kerberos"
	// key is present).
	Kerberos *Kerberos `json:"kerberos,omitempty"`
	// ClientCertificates configures mTLS client authentication.
	ClientCertificates ClientCertificates `json:"clientCertificates"`
	// Roles maps principals to roles; a principal not listed is denied.
	Roles []RoleBinding `json:"roles,omitempty"`
	// LocalSocket serves the API on a named pipe (Windows) or Unix socket
	// to local administrators without network authentication. Default true.
	LocalSocket bool `json:"localSocket"`
}

// Console configures push mode: the service dials out to the MSP's fleet
// console over HTTPS with a client certificate and serves the admin API to
// it through that connection, for customers that allow no inbound
// connection.
type Console struct {
	// URL is the console's push address, https://host:port (a path is
	// kept as a prefix, for a reverse proxy).
	URL string `json:"url"`
	// ServerFingerprint pins the console's server certificate by SHA-256,
	// normalised to 64 lower-case hex digits. Empty: the certificate must
	// chain to CAFile, or to the system's roots, and name the URL's host.
	ServerFingerprint string `json:"serverFingerprint,omitempty"`
	// CAFile is the absolute path of a PEM bundle the console's server
	// certificate must chain to (instead of the system's roots).
	CAFile string `json:"caFile,omitempty"`
	// Certificate is the client certificate the service proves itself
	// with. Empty: the admin API's server certificate (admin.certificate,
	// or the one generated in DataDir), whose fingerprint
	// `galmirror status` prints for console.json.
	Certificate Certificate `json:"certificate"`
	// Role is what the console may do through the connection: viewer or
	// operator.
	Role Role `json:"role"`
}

// Kerberos configures the Negotiate acceptor.
type Kerberos struct {
	// Keytab is the absolute path of the service keytab. Required except on
	// Windows, where SSPI accepts tickets with the machine account's keys
	// and a keytab is optional.
	Keytab string `json:"keytab"`
	// SPN is the service principal name (HTTP/host.example.com, optionally
	// @REALM) tickets must be issued for; a ticket for another principal is
	// refused even when the keytab holds its key. Empty accepts any
	// HTTP/<host> principal of the keytab, and no other service class.
	// Informational on Windows (SSPI).
	SPN string `json:"spn"`
}

// ClientCertificates configures which TLS client certificates are accepted.
type ClientCertificates struct {
	// Pinned are SHA-256 certificate fingerprints, normalised to 64
	// lower-case hex digits.
	Pinned []string `json:"pinned,omitempty"`
	// CAFile is the absolute path of a PEM bundle of CAs whose leaf
	// certificates are accepted; empty accepts only pinned certificates.
	CAFile string `json:"caFile"`
}

// Role is an admin API role.
type Role string

// Roles, least privileged first.
const (
	RoleViewer   Role = "viewer"   // reads and event watching
	RoleOperator Role = "operator" // also SyncNow, Pause, Resume
)

// RoleBinding grants Role to Principal.
type RoleBinding struct {
	// Principal is a Kerberos principal (alice@EXAMPLE.COM), a Windows
	// group by name (EXAMPLE\GalmirrorAdmins) or SID (S-1-5-21-...), or a
	// client certificate as "cert:" followed by its SHA-256 fingerprint.
	// Certificate principals are normalised to "cert:" + 64 lower-case hex
	// digits, SIDs to upper case.
	Principal string `json:"principal"`
	Role      Role   `json:"role"`
}

// Certificate names a certificate with its private key: exactly one of File
// or Thumbprint.
type Certificate struct {
	// File is the absolute path of a PFX/PKCS#12 file (with PasswordEnv or
	// PasswordProtected) or a PEM file holding certificate and key.
	File string `json:"file,omitempty"`
	// PasswordEnv names the environment variable holding the PFX password.
	// Config never reads it: the caller does, at use time, and never prints
	// the value.
	PasswordEnv string `json:"passwordEnv,omitempty"`
	// PasswordProtected is the PFX password protected with DPAPI in
	// machine scope (Windows only), as base64, what `galmirror secret
	// protect` prints. Config checks its form (internal/dpapi.Decode), never
	// decrypts it, and never prints it. At most one of PasswordEnv and
	// PasswordProtected is set.
	PasswordProtected string `json:"passwordProtected,omitempty"`
	// Thumbprint selects a certificate in the Windows LocalMachine\My store
	// by its SHA-1 thumbprint, normalised to 40 upper-case hex digits.
	Thumbprint string `json:"thumbprint,omitempty"`
}

// IsZero reports whether no certificate was configured.
func (c Certificate) IsZero() bool {
	return c.File == "" && c.Thumbprint == "" && c.PasswordEnv == "" && c.PasswordProtected == ""
}

// Cloud is a Microsoft national cloud or a custom endpoint pair.
type Cloud string

// Clouds. The entra package maps each to its login and Graph hosts.
const (
	CloudGlobal   Cloud = "global"
	CloudUSGov    Cloud = "usgov"    // GCC High
	CloudUSGovDoD Cloud = "usgovdod" // DoD
	CloudChina    Cloud = "china"    // 21Vianet
	CloudCustom   Cloud = "custom"   // Endpoints.Authority and Endpoints.Graph
)

// Endpoints overrides the hosts of a cloud. Authority and Graph are required
// with CloudCustom and rejected with the named clouds; CAFile is allowed
// with any cloud (for example behind a TLS-inspecting proxy).
type Endpoints struct {
	// Authority is the login host as an https URL (https://login.example/).
	Authority string `json:"authority"`
	// Graph is the Graph root as an https URL (https://graph.example/).
	Graph string `json:"graph"`
	// CAFile is the absolute path of a PEM bundle added to the trusted CAs
	// for both hosts.
	CAFile string `json:"caFile"`
}

// Tenant is one customer tenant: its app registration and sync policy.
type Tenant struct {
	// Name is the stable key in the state database, events and commands:
	// 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a
	// letter or digit.
	Name string `json:"name"`
	// TenantID and ClientID are GUIDs, normalised to lower case.
	TenantID    string      `json:"tenantId"`
	ClientID    string      `json:"clientId"`
	Certificate Certificate `json:"certificate"`
	// ApplicationObjectID is the object id of the app registration (not its
	// client id), a lower-case GUID; `galmirror onboard` writes it. The app
	// signs its certificate renewals with it (addKey's proof of possession
	// names the application object); empty disables renewal.
	ApplicationObjectID string `json:"applicationObjectId,omitempty"`
	// CertificateRenewBefore is how long before the certificate expires the
	// service renews it (a new key pair, added to the app with addKey);
	// default DefaultCertificateRenewBefore, 0 turns renewal off.
	CertificateRenewBefore Duration `json:"certificateRenewBefore"`
	// Cloud defaults to CloudGlobal.
	Cloud     Cloud     `json:"cloud"`
	Endpoints Endpoints `json:"endpoints"`
	Source    Source    `json:"source"`
	Target    Target    `json:"target"`
	// Folder is the managed folder's display name under each mailbox's
	// default Contacts folder. Default DefaultFolder. settings.json's
	// "folder" is this name, or an object that also sets FolderMode and
	// FolderCategory (folder.go).
	Folder string `json:"folder"`
	// FolderMode is where the contacts go: FolderModeFolder (default) or
	// FolderModeDefault, the mailbox's default Contacts folder.
	FolderMode FolderMode `json:"-"`
	// FolderCategory is the category on every managed contact in the
	// default folder mode (default DefaultFolder).
	FolderCategory string   `json:"-"`
	Deletes        Deletes  `json:"deletes"`
	Schedule       Schedule `json:"schedule"`
	// Fields are the contact fields galmirror writes (see AllFields); the
	// default is all of them. Always contains FieldDisplayName. Fields not
	// listed are neither written nor cleared.
	Fields []Field `json:"fields"`
	// FieldPolicy says, per field, how galmirror treats a value the
	// contact holds (docs/configuration.md#fieldpolicy). Fields not named
	// are FieldOverwrite.
	FieldPolicy FieldPolicy `json:"fieldPolicy"`
	// FileAs is the template for the contact's fileAs; default
	// DefaultFileAs.
	FileAs FileAsFormat `json:"fileAs"`
	// Categories are put on every managed contact. Default none.
	Categories []string `json:"categories,omitempty"`
	// OrgContacts includes the tenant's organizational contacts (mail
	// contacts) as sources; needs OrgContact.Read.All. Default false.
	OrgContacts bool `json:"orgContacts"`
	// Photos copies each source user's photo to their managed contacts
	// (docs/configuration.md#photos); needs User.Read.All, which galmirror
	// has anyway. Default false.
	Photos bool `json:"photos"`
	// Billing is how this entry's customer is billed (docs/billing.md).
	Billing TenantBilling `json:"billing"`
	// File is the drop-in file (tenants.d/NAME.json) the tenant comes
	// from; empty for an entry of the settings file's "tenants".
	File string `json:"-"`
}

// HasField reports whether f is among the fields galmirror writes.
func (t *Tenant) HasField(f Field) bool {
	for _, g := range t.Fields {
		if g == f {
			return true
		}
	}
	return false
}

// Source selects which directory entries become contacts.
type Source struct {
	// IncludeGroups limits sources to transitive members of these groups
	// (object ids); empty means every enabled member user.
	IncludeGroups []string `json:"includeGroups,omitempty"`
	// ExcludeGroups removes transitive members of these groups.
	ExcludeGroups []string `json:"excludeGroups,omitempty"`
	// ExcludeUsers are object ids (lower-case GUIDs) or userPrincipalNames
	// (lower-cased; match case-insensitively).
	ExcludeUsers []string `json:"excludeUsers,omitempty"`
	// IncludeGuests includes B2B guest users. Default false.
	IncludeGuests bool `json:"includeGuests"`
	// RequireEmail skips sources without a mail address. Default true.
	RequireEmail bool `json:"requireEmail"`
	// RequirePhone skips sources with neither a business nor a mobile
	// phone. Default false.
	RequirePhone bool `json:"requirePhone"`

	// Resource and group sources (docs/configuration.md#source). The
	// accounts of shared, room and equipment mailboxes are disabled users:
	// these include them, recognised by their mailbox's userPurpose (read
	// for disabled accounts with a mail address only; needs
	// MailboxSettings.Read). Default false.
	IncludeShared    bool `json:"includeShared"`
	IncludeRooms     bool `json:"includeRooms"`
	IncludeEquipment bool `json:"includeEquipment"`
	// MailGroups adds the mail-enabled groups (distribution lists,
	// mail-enabled security groups, Microsoft 365 groups) with an address
	// as contacts carrying their name and address. IncludeGroups and
	// ExcludeGroups do not apply to them; ExcludeUsers may name a group's
	// object id. Default false.
	MailGroups bool `json:"mailGroups"`
	// FromTenants names other entries of the same settings (the settings
	// file or its drop-ins) whose people are added to this entry's sources:
	// each as its own entry's source rules select them, its own people
	// only (not the entries it lists in turn). Default none.
	FromTenants []string `json:"fromTenants,omitempty"`
	// From holds the entries FromTenants names, in its order, resolved by
	// Load once every file is read: copies, whose own From is empty.
	From []Tenant `json:"-"`
}

// MailboxPurposes reports whether any mailbox kind beyond user mailboxes
// is a source, so that userPurpose must be read.
func (s Source) MailboxPurposes() bool {
	return s.IncludeShared || s.IncludeRooms || s.IncludeEquipment
}

// Target selects the mailboxes that receive the folder.
type Target struct {
	// Groups limits targets to transitive members of these groups (object
	// ids); empty means every enabled member user with a mailbox.
	Groups []string `json:"groups,omitempty"`
	// ExcludeUsers are object ids or userPrincipalNames, as in Source.
	ExcludeUsers []string `json:"excludeUsers,omitempty"`
}

// Deletes configures the mass-delete guard.
type Deletes struct {
	// MaxFraction (0..1) of a mailbox's managed contacts a run may delete;
	// beyond it the run's deletes for that mailbox are held back. 1 turns
	// the guard off. Default 0.1.
	MaxFraction float64 `json:"maxFraction"`
	// MinCount deletes per mailbox are always allowed, whatever the
	// fraction, so a leaver in a ten-person tenant is not held back.
	// Default 3.
	MinCount int `json:"minCount"`
}

// HoldsBack reports whether deleting n of a mailbox's managed contacts trips
// the guard: n exceeds both MinCount and MaxFraction of managed.
func (d Deletes) HoldsBack(n, managed int) bool {
	if n <= d.MinCount {
		return false
	}
	return float64(n) > d.MaxFraction*float64(managed)
}

// Schedule is a tenant's run schedule for the service.
type Schedule struct {
	// Every is the interval between runs (default 1h) when Cron is empty.
	// Setting both Every and Cron is an error.
	Every Duration `json:"every,omitempty"`
	// Jitter is the upper bound of a random delay added to each run (default
	// 5m); it must not exceed Every.
	Jitter Duration `json:"jitter"`
	// Cron is an optional five-field cron expression (minute hour
	// day-of-month month day-of-week) evaluated in TimeZone.
	Cron string `json:"cron,omitempty"`
	// TimeZone is an IANA zone name for Cron; empty means the machine's local
	// zone. It has no effect without Cron.
	TimeZone string `json:"timeZone,omitempty"`

	cron *CronSpec
	loc  *time.Location
}

// CronSpec returns the parsed Cron expression, or nil when Cron is empty.
func (s Schedule) CronSpec() *CronSpec { return s.cron }

// Location returns the zone Cron is evaluated in (time.Local by default).
func (s Schedule) Location() *time.Location {
	if s.loc == nil {
		return time.Local
	}
	return s.loc
}

// Next returns the start of the next scheduled run strictly after t, before
// jitter. With Cron it is the next matching minute in Location; otherwise
// t + Every.
func (s Schedule) Next(t time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(t.In(s.Location()))
	}
	return t.Add(time.Duration(s.Every))
}

// Duration is a time.Duration written as a Go duration string ("90s",
// "1h30m") in settings.json.
type Duration time.Duration

// MarshalText writes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Field is a contact field galmirror can write.
type Field string

// The contact fields galmirror maps from a directory user (Graph contact
// property names).
const (
	FieldDisplayName     Field = "displayName"
	FieldGivenName       Field = "givenName"
	FieldSurname         Field = "surname"
	FieldJobTitle        Field = "jobTitle"
	FieldDepartment      Field = "department"
	FieldCompanyName     Field = "companyName"
	FieldOfficeLocation  Field = "officeLocation"
	FieldBusinessPhones  Field = "businessPhones"
	FieldMobilePhone     Field = "mobilePhone"
	FieldEmailAddresses  Field = "emailAddresses"
	FieldBusinessAddress Field = "businessAddress"
	FieldFileAs          Field = "fileAs"
)

// FieldMode is one field's policy.
type FieldMode string

// The field policies.
const (
	// FieldOverwrite keeps the contact's field equal to the directory,
	// restoring it after an owner's edit (the default).
	FieldOverwrite FieldMode = "overwrite"
	// FieldFillBlank writes the field only when the contact's field is
	// empty: an owner's value stays.
	FieldFillBlank FieldMode = "fillBlank"
	// FieldNever: galmirror never writes the field.
	FieldNever FieldMode = "never"
)

// FieldPolicy holds a FieldMode per field; the empty mode is
// FieldOverwrite. Its keys are the names of Field.
type FieldPolicy struct {
	DisplayName     FieldMode `json:"displayName,omitempty"`
	GivenName       FieldMode `json:"givenName,omitempty"`
	Surname         FieldMode `json:"surname,omitempty"`
	JobTitle        FieldMode `json:"jobTitle,omitempty"`
	Department      FieldMode `json:"department,omitempty"`
	CompanyName     FieldMode `json:"companyName,omitempty"`
	OfficeLocation  FieldMode `json:"officeLocation,omitempty"`
	BusinessPhones  FieldMode `json:"businessPhones,omitempty"`
	MobilePhone     FieldMode `json:"mobilePhone,omitempty"`
	EmailAddresses  FieldMode `json:"emailAddresses,omitempty"`
	BusinessAddress FieldMode `json:"businessAddress,omitempty"`
	FileAs          FieldMode `json:"fileAs,omitempty"`
}

// Mode returns f's policy (FieldOverwrite when not set).
func (p FieldPolicy) Mode(f Field) FieldMode {
	if m := p.raw(f); m != "" {
		return m
	}
	return FieldOverwrite
}

// raw returns f's policy as written ("" when not set).
func (p FieldPolicy) raw(f Field) FieldMode {
	switch f {
	case FieldDisplayName:
		return p.DisplayName
	case FieldGivenName:
		return p.GivenName
	case FieldSurname:
		return p.Surname
	case FieldJobTitle:
		return p.JobTitle
	case FieldDepartment:
		return p.Department
	case FieldCompanyName:
		return p.CompanyName
	case FieldOfficeLocation:
		return p.OfficeLocation
	case FieldBusinessPhones:
		return p.BusinessPhones
	case FieldMobilePhone:
		return p.MobilePhone
	case FieldEmailAddresses:
		return p.EmailAddresses
	case FieldBusinessAddress:
		return p.BusinessAddress
	case FieldFileAs:
		return p.FileAs
	}
	return ""
}

// AllFields returns every field galmirror maps, in a stable order. It is the
// default of Tenant.Fields.
func AllFields() []Field {
	return []Field{FieldDisplayName, FieldGivenName, FieldSurname, FieldJobTitle, FieldDepartment,
		FieldCompanyName, FieldOfficeLocation, FieldBusinessPhones, FieldMobilePhone, FieldEmailAddresses,
		FieldBusinessAddress, FieldFileAs}
}
