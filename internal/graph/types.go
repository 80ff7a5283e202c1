package graph

import "encoding/json"

// Wire types: the JSON Graph sends and accepts, for the resources galmirror
// uses. Domain types live in directory and plan; convert once, at the edge.
// Read types use plain strings (null and absent both decode to ""); write
// types use Field so a PATCH can tell "leave alone" from "clear".

// Page is one page of a collection or delta round.
type Page[T any] struct {
	Context   string `json:"@odata.context,omitempty"`
	Count     *int64 `json:"@odata.count,omitempty"` // first page only, with $count=true + ConsistencyLevel
	NextLink  string `json:"@odata.nextLink,omitempty"`
	DeltaLink string `json:"@odata.deltaLink,omitempty"`
	Value     []T    `json:"value"`
}

// Removed is the @removed annotation of a delta item. Reason is "changed"
// (soft-deleted, restorable) or "deleted" (gone for good).
type Removed struct {
	Reason string `json:"reason"`
}

// User is a directory user with every property galmirror maps.
type User struct {
	ODataType         string   `json:"@odata.type,omitempty"`
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName,omitempty"`
	GivenName         string   `json:"givenName,omitempty"`
	Surname           string   `json:"surname,omitempty"`
	Mail              string   `json:"mail,omitempty"`
	UserPrincipalName string   `json:"userPrincipalName,omitempty"`
	JobTitle          string   `json:"jobTitle,omitempty"`
	Department        string   `json:"department,omitempty"`
	CompanyName       string   `json:"companyName,omitempty"`
	OfficeLocation    string   `json:"officeLocation,omitempty"`
	BusinessPhones    []string `json:"businessPhones,omitempty"`
	MobilePhone       string   `json:"mobilePhone,omitempty"`
	StreetAddress     string   `json:"streetAddress,omitempty"`
	City              string   `json:"city,omitempty"`
	State             string   `json:"state,omitempty"`
	PostalCode        string   `json:"postalCode,omitempty"`
	Country           string   `json:"country,omitempty"`
	// AccountEnabled is nil when not selected or not returned.
	AccountEnabled *bool    `json:"accountEnabled,omitempty"`
	UserType       string   `json:"userType,omitempty"` // "Member" or "Guest"
	Removed        *Removed `json:"@removed,omitempty"`
}

// UserFields is the $select list for everything User holds.
var UserFields = []string{
	"id", "displayName", "givenName", "surname", "mail", "userPrincipalName", "jobTitle",
	"department", "companyName", "officeLocation", "businessPhones", "mobilePhone",
	"streetAddress", "city", "state", "postalCode", "country", "accountEnabled", "userType",
}

// OData types of directory objects.
const (
	TypeUser       = "#microsoft.graph.user"
	TypeGroup      = "#microsoft.graph.group"
	TypeOrgContact = "#microsoft.graph.orgContact"
	TypeDevice     = "#microsoft.graph.device"
	TypeContact    = "#microsoft.graph.contact"
)

// DirectoryObject is an item of a group's members or transitiveMembers. For
// users it carries the selected user properties.
type DirectoryObject struct {
	User
}

// IsUser reports whether the object is a user.
func (o *DirectoryObject) IsUser() bool { return o.ODataType == TypeUser }

// OrgContact is an organisational (mail) contact in the directory.
type OrgContact struct {
	ID             string                  `json:"id"`
	DisplayName    string                  `json:"displayName,omitempty"`
	GivenName      string                  `json:"givenName,omitempty"`
	Surname        string                  `json:"surname,omitempty"`
	Mail           string                  `json:"mail,omitempty"`
	MailNickname   string                  `json:"mailNickname,omitempty"`
	JobTitle       string                  `json:"jobTitle,omitempty"`
	Department     string                  `json:"department,omitempty"`
	CompanyName    string                  `json:"companyName,omitempty"`
	Addresses      []PhysicalOfficeAddress `json:"addresses,omitempty"`
	Phones         []Phone                 `json:"phones,omitempty"` // map by Type, not position
	ProxyAddresses []string                `json:"proxyAddresses,omitempty"`
	Removed        *Removed                `json:"@removed,omitempty"`
}

// OrgContactFields is the $select list for OrgContact.
var OrgContactFields = []string{
	"id", "displayName", "givenName", "surname", "mail", "mailNickname", "jobTitle",
	"department", "companyName", "addresses", "phones",
}

// OrgContactDeltaFields is the $select list of a /contacts/delta round:
// the properties it returns and tracks, orgcontact-delta's default set.
// Addresses, phones and proxyAddresses are not among them: contacts/delta
// does not return them, and a change to them alone shows in no round
// (docs/graph-fidelity.md D6); read them with OrgContacts or OrgContact.
var OrgContactDeltaFields = []string{
	"id", "displayName", "givenName", "surname", "mail", "mailNickname", "jobTitle",
	"department", "companyName",
}

// PhysicalOfficeAddress is an orgContact address.
type PhysicalOfficeAddress struct {
	City            string `json:"city,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
	OfficeLocation  string `json:"officeLocation,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
	State           string `json:"state,omitempty"`
	Street          string `json:"street,omitempty"`
}

// Phone is an orgContact phone; Type is mobile, business or businessFax.
type Phone struct {
	Number string `json:"number,omitempty"`
	Type   string `json:"type,omitempty"`
}

// SingleValueExtendedProperty is a MAPI named property on an Outlook item.
// ID has the form "String {guid} Name name".
type SingleValueExtendedProperty struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// ExtendedProperties is a list of single-value extended properties.
type ExtendedProperties []SingleValueExtendedProperty

// Get returns the value of the property with the given id (ids compare
// case-insensitively: Graph returns its own spelling) and whether it is
// present.
func (p ExtendedProperties) Get(id string) (string, bool) {
	for _, x := range p {
		if equalFoldASCII(x.ID, id) {
			return x.Value, true
		}
	}
	return "", false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ContactFolder is an Outlook contact folder.
type ContactFolder struct {
	ID                            string             `json:"id"`
	DisplayName                   string             `json:"displayName"`
	ParentFolderID                string             `json:"parentFolderId,omitempty"`
	SingleValueExtendedProperties ExtendedProperties `json:"singleValueExtendedProperties,omitempty"`
}

// NewContactFolder is the body of a contact folder create.
type NewContactFolder struct {
	DisplayName                   string             `json:"displayName"`
	ParentFolderID                string             `json:"parentFolderId,omitempty"`
	SingleValueExtendedProperties ExtendedProperties `json:"singleValueExtendedProperties,omitempty"`
}

// EmailAddress is a contact e-mail address.
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
	Type    string `json:"type,omitempty"` // read-only in practice ("unknown", "personal")
}

// PhysicalAddress is a contact address; empty is {}.
type PhysicalAddress struct {
	Street          string `json:"street,omitempty"`
	City            string `json:"city,omitempty"`
	State           string `json:"state,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
}

// IsZero reports whether every part of the address is empty.
func (a PhysicalAddress) IsZero() bool { return a == PhysicalAddress{} }

// Contact is an Outlook contact as Graph returns it (v1.0, every property).
type Contact struct {
	ODataType                     string             `json:"@odata.type,omitempty"`
	ETag                          string             `json:"@odata.etag,omitempty"`
	ID                            string             `json:"id"`
	ChangeKey                     string             `json:"changeKey,omitempty"`
	ParentFolderID                string             `json:"parentFolderId,omitempty"`
	CreatedDateTime               string             `json:"createdDateTime,omitempty"`
	LastModifiedDateTime          string             `json:"lastModifiedDateTime,omitempty"`
	Categories                    []string           `json:"categories,omitempty"`
	AssistantName                 string             `json:"assistantName,omitempty"`
	Birthday                      string             `json:"birthday,omitempty"`
	BusinessAddress               *PhysicalAddress   `json:"businessAddress,omitempty"`
	BusinessHomePage              string             `json:"businessHomePage,omitempty"`
	BusinessPhones                []string           `json:"businessPhones,omitempty"`
	Children                      []string           `json:"children,omitempty"`
	CompanyName                   string             `json:"companyName,omitempty"`
	Department                    string             `json:"department,omitempty"`
	DisplayName                   string             `json:"displayName,omitempty"`
	EmailAddresses                []EmailAddress     `json:"emailAddresses,omitempty"`
	FileAs                        string             `json:"fileAs,omitempty"`
	Generation                    string             `json:"generation,omitempty"`
	GivenName                     string             `json:"givenName,omitempty"`
	HomeAddress                   *PhysicalAddress   `json:"homeAddress,omitempty"`
	HomePhones                    []string           `json:"homePhones,omitempty"`
	IMAddresses                   []string           `json:"imAddresses,omitempty"`
	Initials                      string             `json:"initials,omitempty"`
	JobTitle                      string             `json:"jobTitle,omitempty"`
	Manager                       string             `json:"manager,omitempty"`
	MiddleName                    string             `json:"middleName,omitempty"`
	MobilePhone                   string             `json:"mobilePhone,omitempty"`
	NickName                      string             `json:"nickName,omitempty"`
	OfficeLocation                string             `json:"officeLocation,omitempty"`
	OtherAddress                  *PhysicalAddress   `json:"otherAddress,omitempty"`
	PersonalNotes                 string             `json:"personalNotes,omitempty"`
	PrimaryEmailAddress           *EmailAddress      `json:"primaryEmailAddress,omitempty"`
	SecondaryEmailAddress         *EmailAddress      `json:"secondaryEmailAddress,omitempty"`
	TertiaryEmailAddress          *EmailAddress      `json:"tertiaryEmailAddress,omitempty"`
	Profession                    string             `json:"profession,omitempty"`
	SpouseName                    string             `json:"spouseName,omitempty"`
	Surname                       string             `json:"surname,omitempty"`
	Title                         string             `json:"title,omitempty"`
	YomiCompanyName               string             `json:"yomiCompanyName,omitempty"`
	YomiGivenName                 string             `json:"yomiGivenName,omitempty"`
	YomiSurname                   string             `json:"yomiSurname,omitempty"`
	SingleValueExtendedProperties ExtendedProperties `json:"singleValueExtendedProperties,omitempty"`
	Removed                       *Removed           `json:"@removed,omitempty"`
}

// Field is one property of a write body (ContactPatch) with three states:
// absent (the zero Field: omitted from the JSON, so PATCH leaves the
// property alone), set to a value (Set), or explicitly null (Null). Set
// with an empty value sends "" or [] — the explicit clears Graph's PATCH
// needs (null, "" and [] are all expressible).
//
// Field relies on the `omitzero` struct tag to drop absent fields.
type Field[T any] struct {
	v     T
	state uint8 // 0 absent, 1 value, 2 null
}

// Set returns a Field holding v. A nil slice marshals as [], not null.
func Set[T any](v T) Field[T] { return Field[T]{v: v, state: 1} }

// Null returns a Field that clears the property: JSON null for a string,
// the empty form for a collection ([]) or a complex value (every member
// ""), since Graph answers a null complex value with 500.
func Null[T any]() Field[T] { return Field[T]{state: 2} }

// IsZero reports whether the field is absent; encoding/json's omitzero
// uses it.
func (f Field[T]) IsZero() bool { return f.state == 0 }

// IsNull reports whether the field is an explicit null.
func (f Field[T]) IsNull() bool { return f.state == 2 }

// Get returns the value and whether the field is present (set or null).
func (f Field[T]) Get() (T, bool) { return f.v, f.state != 0 }

// MarshalJSON encodes the value, or [] for a nil slice; a Null string as
// null, any other Null as its empty form (see Null).
func (f Field[T]) MarshalJSON() ([]byte, error) {
	switch v := any(f.v).(type) {
	case string:
		if f.state == 2 {
			return []byte("null"), nil
		}
		return appendJSONString(nil, v), nil
	case []string:
		return appendStrings(nil, v), nil
	case []EmailAddress:
		b := []byte{'['}
		for i := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEmail(b, &v[i])
		}
		return append(b, ']'), nil
	case PhysicalAddress:
		return appendAddress(nil, &v), nil
	case EmailAddress:
		return appendEmail(nil, &v), nil
	}
	if f.state == 2 {
		return []byte("null"), nil
	}
	return json.Marshal(f.v)
}

// UnmarshalJSON decodes null as Null and anything else as Set.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Null[T]()
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Set(v)
	return nil
}

// ContactPatch is the body of a contact create (POST) or update (PATCH):
// every v1.0 contact property galmirror may write. Absent fields are
// omitted; use Set("") / Set([]string{}) / Null to clear a field on PATCH.
// Always send DisplayName: Graph regenerates it when name parts change.
type ContactPatch struct {
	DisplayName           Field[string]          `json:"displayName,omitzero"`
	GivenName             Field[string]          `json:"givenName,omitzero"`
	MiddleName            Field[string]          `json:"middleName,omitzero"`
	Surname               Field[string]          `json:"surname,omitzero"`
	Initials              Field[string]          `json:"initials,omitzero"`
	NickName              Field[string]          `json:"nickName,omitzero"`
	Title                 Field[string]          `json:"title,omitzero"`
	Generation            Field[string]          `json:"generation,omitzero"`
	FileAs                Field[string]          `json:"fileAs,omitzero"`
	YomiGivenName         Field[string]          `json:"yomiGivenName,omitzero"`
	YomiSurname           Field[string]          `json:"yomiSurname,omitzero"`
	YomiCompanyName       Field[string]          `json:"yomiCompanyName,omitzero"`
	JobTitle              Field[string]          `json:"jobTitle,omitzero"`
	Department            Field[string]          `json:"department,omitzero"`
	CompanyName           Field[string]          `json:"companyName,omitzero"`
	OfficeLocation        Field[string]          `json:"officeLocation,omitzero"`
	Profession            Field[string]          `json:"profession,omitzero"`
	Manager               Field[string]          `json:"manager,omitzero"`
	AssistantName         Field[string]          `json:"assistantName,omitzero"`
	BusinessHomePage      Field[string]          `json:"businessHomePage,omitzero"`
	BusinessPhones        Field[[]string]        `json:"businessPhones,omitzero"`
	HomePhones            Field[[]string]        `json:"homePhones,omitzero"`
	MobilePhone           Field[string]          `json:"mobilePhone,omitzero"`
	EmailAddresses        Field[[]EmailAddress]  `json:"emailAddresses,omitzero"`
	IMAddresses           Field[[]string]        `json:"imAddresses,omitzero"`
	BusinessAddress       Field[PhysicalAddress] `json:"businessAddress,omitzero"`
	HomeAddress           Field[PhysicalAddress] `json:"homeAddress,omitzero"`
	OtherAddress          Field[PhysicalAddress] `json:"otherAddress,omitzero"`
	Categories            Field[[]string]        `json:"categories,omitzero"`
	PersonalNotes         Field[string]          `json:"personalNotes,omitzero"`
	Birthday              Field[string]          `json:"birthday,omitzero"`
	SpouseName            Field[string]          `json:"spouseName,omitzero"`
	Children              Field[[]string]        `json:"children,omitzero"`
	PrimaryEmailAddress   Field[EmailAddress]    `json:"primaryEmailAddress,omitzero"`
	SecondaryEmailAddress Field[EmailAddress]    `json:"secondaryEmailAddress,omitzero"`
	TertiaryEmailAddress  Field[EmailAddress]    `json:"tertiaryEmailAddress,omitzero"`
	// SingleValueExtendedProperties are written (created or overwritten)
	// with the item; Graph never returns them in the response.
	SingleValueExtendedProperties ExtendedProperties `json:"singleValueExtendedProperties,omitempty"`
}

// batchRequest and batchResponse are the $batch envelopes.
type batchRequest struct {
	Requests []batchRequestItem `json:"requests"`
}

type batchRequestItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

type batchResponse struct {
	Responses []batchResponseItem `json:"responses"`
}

type batchResponseItem struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}
