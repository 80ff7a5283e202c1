package graphsim

import (
	"encoding/json"
)

// Fixture is a whole graphsim state: what `galmirror graphsim --state DIR`
// loads from and saves to DIR/fixture.json, and what /_sim/state exchanges.
type Fixture struct {
	Tenants []Tenant `json:"tenants"`
}

// Tenant is one simulated Microsoft 365 tenant: its Entra registration
// (apps) and its directory and mailboxes.
type Tenant struct {
	// ID is the tenant id (a GUID).
	ID string `json:"id"`
	// Name is the organisation's display name.
	Name string `json:"name"`
	// Domain is the verified (initial) domain, e.g. contoso.onmicrosoft.com;
	// it may stand for the tenant id in token endpoint URLs.
	Domain string `json:"domain"`
	// Cloud is the national cloud the tenant lives in: CloudGlobal (or
	// ""), CloudUSGov, CloudUSGovDoD or CloudChina. APIs Microsoft does not
	// offer in a cloud answer as an unknown path segment there
	// (permanentDelete outside global, contacts delta in China).
	Cloud string `json:"cloud,omitempty"`
	// Apps are the app registrations that may obtain tokens.
	Apps        []App        `json:"apps"`
	Users       []User       `json:"users"`
	Groups      []Group      `json:"groups,omitempty"`
	OrgContacts []OrgContact `json:"orgContacts,omitempty"`
}

// National clouds (Tenant.Cloud).
const (
	CloudGlobal   = "global"
	CloudUSGov    = "usgov"    // US Government L4
	CloudUSGovDoD = "usgovdod" // US Government L5 (DOD)
	CloudChina    = "china"    // operated by 21Vianet
)

// App is an app registration with a registered certificate and the
// application permissions (roles) admin consent granted.
type App struct {
	ClientID    string `json:"clientId"`
	DisplayName string `json:"displayName,omitempty"`
	// CertificatesPEM are the registered public certificates (PEM); a client
	// assertion must be signed by one of their keys.
	CertificatesPEM []string `json:"certificatesPem"`
	// Roles are the granted application permissions; empty means no consent.
	Roles []string `json:"roles"`
	// MailboxGrants are the mailboxes (user ids or UPNs) an Exchange
	// "Application Contacts.ReadWrite" management role assignment (RBAC for
	// Applications) scopes the app to. Grants add to the Entra roles: with
	// a Contacts.* role the app reaches every mailbox anyway; without one
	// it reaches exactly these (read and write), every other mailbox
	// answers 403 ErrorAccessDenied.
	MailboxGrants []string `json:"mailboxGrants,omitempty"`

	// Web sign-in (OpenID Connect, e.g. galmirror's console as an app of
	// the MSP's own tenant). RedirectURIs are the Web platform redirect
	// URIs the authorize endpoint accepts; ClientSecrets are secret values
	// the token endpoint accepts in the authorization code grant (besides
	// a certificate assertion); UserRoles are app roles (their values,
	// e.g. "Console.Operator") assigned to users by id or UPN, carried in
	// the signed-in user's ID token roles claim.
	RedirectURIs  []string            `json:"redirectUris,omitempty"`
	ClientSecrets []string            `json:"clientSecrets,omitempty"`
	UserRoles     map[string][]string `json:"userRoles,omitempty"`
}

// Application permissions galmirror needs. AllRoles grants them all.
const (
	RoleUserReadAll        = "User.Read.All"
	RoleGroupReadAll       = "Group.Read.All"
	RoleGroupMemberReadAll = "GroupMember.Read.All"
	RoleOrgContactReadAll  = "OrgContact.Read.All"
	RoleContactsReadWrite  = "Contacts.ReadWrite"
	// RoleMailboxSettingsRead reads mailboxSettings (userPurpose).
	RoleMailboxSettingsRead = "MailboxSettings.Read"
)

// AllRoles are every application permission galmirror uses.
var AllRoles = []string{RoleUserReadAll, RoleGroupMemberReadAll, RoleOrgContactReadAll, RoleContactsReadWrite, RoleMailboxSettingsRead}

// MailboxState is the Exchange Online state of a user's mailbox as the app
// sees it.
type MailboxState string

// Mailbox states.
const (
	// MailboxNormal (or "") is a usable mailbox.
	MailboxNormal MailboxState = "normal"
	// MailboxNone has no Exchange Online mailbox (unlicensed, on-premises,
	// soft-deleted): mailbox calls get 404 MailboxNotEnabledForRESTAPI.
	MailboxNone MailboxState = "none"
	// MailboxOutOfScope is outside the app's Exchange RBAC scope or
	// application access policy: mailbox calls get 403 ErrorAccessDenied.
	MailboxOutOfScope MailboxState = "outOfScope"
)

// User is a directory user. JSON names are Graph's user property names,
// plus graphsim's own: mailbox (its state) and contactFolders (its mailbox
// content, used when saving and loading state).
type User struct {
	ID                string   `json:"id"`
	UserPrincipalName string   `json:"userPrincipalName"`
	DisplayName       string   `json:"displayName,omitempty"`
	GivenName         string   `json:"givenName,omitempty"`
	Surname           string   `json:"surname,omitempty"`
	Mail              string   `json:"mail,omitempty"`
	MailNickname      string   `json:"mailNickname,omitempty"`
	OtherMails        []string `json:"otherMails,omitempty"`
	ProxyAddresses    []string `json:"proxyAddresses,omitempty"`
	JobTitle          string   `json:"jobTitle,omitempty"`
	Department        string   `json:"department,omitempty"`
	CompanyName       string   `json:"companyName,omitempty"`
	OfficeLocation    string   `json:"officeLocation,omitempty"`
	EmployeeID        string   `json:"employeeId,omitempty"`
	BusinessPhones    []string `json:"businessPhones,omitempty"`
	MobilePhone       string   `json:"mobilePhone,omitempty"`
	FaxNumber         string   `json:"faxNumber,omitempty"`
	StreetAddress     string   `json:"streetAddress,omitempty"`
	City              string   `json:"city,omitempty"`
	State             string   `json:"state,omitempty"`
	PostalCode        string   `json:"postalCode,omitempty"`
	Country           string   `json:"country,omitempty"`
	UsageLocation     string   `json:"usageLocation,omitempty"`
	PreferredLanguage string   `json:"preferredLanguage,omitempty"`
	// AccountEnabled nil means true (so Go literals need not set it).
	AccountEnabled *bool `json:"accountEnabled,omitempty"`
	// UserType is "Member" (default when empty) or "Guest".
	UserType        string `json:"userType,omitempty"`
	CreatedDateTime string `json:"createdDateTime,omitempty"`

	Mailbox MailboxState `json:"mailbox,omitempty"`
	// MailboxPurpose is the mailbox's mailboxSettings.userPurpose: user
	// (when empty), linked, shared, room, equipment or others. Changing it
	// alone does not show in users/delta (an Exchange conversion is not
	// known to change the directory object: graphsim is the stricter).
	MailboxPurpose string   `json:"mailboxPurpose,omitempty"`
	ContactFolders []Folder `json:"contactFolders,omitempty"`
	// DirectoryRoles are the user's Entra directory roles by display name
	// (DirectoryRoleNames): what a delegated token's wids claim carries
	// and what graphsim's application routes authorise by.
	DirectoryRoles []string `json:"directoryRoles,omitempty"`
	// Photo is the user's photo (photo.go); nil: none.
	Photo *UserPhoto `json:"photo,omitempty"`
}

// Directory roles graphsim models, by display name (User.DirectoryRoles).
const (
	RoleGlobalAdministrator           = "Global Administrator"
	RolePrivilegedRoleAdministrator   = "Privileged Role Administrator"
	RoleApplicationAdministrator      = "Application Administrator"
	RoleCloudApplicationAdministrator = "Cloud Application Administrator"
)

// directoryRoleTemplates maps the modelled roles to their template ids
// (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
var directoryRoleTemplates = map[string]string{
	RoleGlobalAdministrator:           "62e90394-69f5-4237-9190-012177145e10",
	RolePrivilegedRoleAdministrator:   "e8611ab8-c189-46e8-94e1-60213ab1f814",
	RoleApplicationAdministrator:      "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
	RoleCloudApplicationAdministrator: "158c047a-c907-4556-b7ef-446551a6b5f7",
}

// Group is a directory group. Members are ids of users, groups and org
// contacts of the same tenant (nested groups are expanded by
// transitiveMembers).
type Group struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName"`
	Description     string   `json:"description,omitempty"`
	Mail            string   `json:"mail,omitempty"`
	MailNickname    string   `json:"mailNickname,omitempty"`
	MailEnabled     bool     `json:"mailEnabled,omitempty"`
	SecurityEnabled bool     `json:"securityEnabled,omitempty"`
	GroupTypes      []string `json:"groupTypes,omitempty"`
	// HideFromAddressLists: a Microsoft 365 group hidden from the GAL.
	// Returned only by GET /groups/{id} with $select, and only for a
	// Unified group (null for others: Graph documents it for Microsoft
	// 365 groups).
	HideFromAddressLists bool     `json:"hideFromAddressLists,omitempty"`
	Members              []string `json:"members,omitempty"`
}

// OrgContact is an organisational (mail) contact in the directory.
type OrgContact struct {
	ID           string          `json:"id"`
	DisplayName  string          `json:"displayName"`
	GivenName    string          `json:"givenName,omitempty"`
	Surname      string          `json:"surname,omitempty"`
	Mail         string          `json:"mail,omitempty"`
	MailNickname string          `json:"mailNickname,omitempty"`
	CompanyName  string          `json:"companyName,omitempty"`
	Department   string          `json:"department,omitempty"`
	JobTitle     string          `json:"jobTitle,omitempty"`
	Phones       []Phone         `json:"phones,omitempty"`
	Addresses    []OfficeAddress `json:"addresses,omitempty"`
	// ProxyAddresses are the contact's addresses ("SMTP:a@b.c", "smtp:...").
	ProxyAddresses []string `json:"proxyAddresses,omitempty"`
}

// Phone is an orgContact phone (type mobile, business or businessFax).
type Phone struct {
	Number string `json:"number"`
	Type   string `json:"type"`
}

// OfficeAddress is an orgContact's physicalOfficeAddress.
type OfficeAddress struct {
	City            string `json:"city,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
	OfficeLocation  string `json:"officeLocation,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
	State           string `json:"state,omitempty"`
	Street          string `json:"street,omitempty"`
}

// Folder is a folder of a mailbox with its contents, as the control API
// lists it and as state files store it: the default Contacts folder
// (WellKnownName "contacts", WellKnown true), the Deleted Items folder
// (WellKnownName "deleteditems"; a mail folder Graph's contactFolders
// never list) and the contact folders, each with ParentFolderID (the
// Deleted Items folder's id for a folder deleted into it).
type Folder struct {
	ID             string `json:"id"`
	ParentFolderID string `json:"parentFolderId,omitempty"`
	DisplayName    string `json:"displayName"`
	// WellKnown is true for the default Contacts folder only (as before
	// Deleted Items existed); WellKnownName names either well-known folder.
	WellKnown          bool               `json:"wellKnown,omitempty"`
	WellKnownName      string             `json:"wellKnownName,omitempty"`
	ExtendedProperties []ExtendedProperty `json:"singleValueExtendedProperties,omitempty"`
	Contacts           []Contact          `json:"contacts,omitempty"`
}

// Contact is a stored contact: its id, change key, extended properties and
// its Graph properties as JSON (exactly what a GET without $select returns,
// minus the computed ones).
type Contact struct {
	ID                 string             `json:"id"`
	ChangeKey          string             `json:"changeKey,omitempty"`
	ExtendedProperties []ExtendedProperty `json:"singleValueExtendedProperties,omitempty"`
	// Properties are the contact's Graph properties (givenName,
	// emailAddresses, ...), as a JSON object.
	Properties json.RawMessage `json:"properties"`
}

// ExtendedProperty is a single-value extended property.
type ExtendedProperty struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}
