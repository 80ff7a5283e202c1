package config

// FileAsFormat is a template for a contact's fileAs (the name Outlook and
// phones sort by), such as "{surname}, {givenName}". Placeholders are the
// names in FileAsPlaceholders; anything else is literal text.
//
// Rendering: a placeholder with an empty value drops out together with the
// literal text between it and the previous non-empty placeholder, so
// "{surname}, {givenName}" renders "Smith, Ann", "Smith" or "Ann". Text before
// the first and after the last placeholder is kept. When every placeholder is
// empty the result is the displayName.
type FileAsFormat string

// FileAsPlaceholders are the placeholders a FileAsFormat may use.
var FileAsPlaceholders = []string{"displayName", "givenName", "surname", "companyName", "department", "jobTitle", "mail"}

// Render fills the template with value(placeholder), falling back to
// value("displayName") when every placeholder is empty.
func (f FileAsFormat) Render(value func(placeholder string) string) string {
	return "" // implemented below in the next commit
}
