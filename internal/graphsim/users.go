package graphsim

// userProp is one Graph user property graphsim serves.
type userProp struct {
	name string
	get  func(*User) any // nil for an unset scalar; []string{} for an empty collection
	def  bool            // returned without $select
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func strs(v []string) any {
	if v == nil {
		return []string{}
	}
	return v
}

// userProps lists the served properties in Graph's order of the default
// set first.
var userProps = []userProp{
	{"businessPhones", func(u *User) any { return strs(u.BusinessPhones) }, true},
	{"displayName", func(u *User) any { return str(u.DisplayName) }, true},
	{"givenName", func(u *User) any { return str(u.GivenName) }, true},
	{"jobTitle", func(u *User) any { return str(u.JobTitle) }, true},
	{"mail", func(u *User) any { return str(u.Mail) }, true},
	{"mobilePhone", func(u *User) any { return str(u.MobilePhone) }, true},
	{"officeLocation", func(u *User) any { return str(u.OfficeLocation) }, true},
	{"preferredLanguage", func(u *User) any { return str(u.PreferredLanguage) }, true},
	{"surname", func(u *User) any { return str(u.Surname) }, true},
	{"userPrincipalName", func(u *User) any { return u.UserPrincipalName }, true},
	{"id", func(u *User) any { return u.ID }, true},
	{"accountEnabled", func(u *User) any { return u.AccountEnabled == nil || *u.AccountEnabled }, false},
	{"city", func(u *User) any { return str(u.City) }, false},
	{"companyName", func(u *User) any { return str(u.CompanyName) }, false},
	{"country", func(u *User) any { return str(u.Country) }, false},
	{"createdDateTime", func(u *User) any { return str(u.CreatedDateTime) }, false},
	{"department", func(u *User) any { return str(u.Department) }, false},
	{"employeeId", func(u *User) any { return str(u.EmployeeID) }, false},
	{"faxNumber", func(u *User) any { return str(u.FaxNumber) }, false},
	{"mailNickname", func(u *User) any { return str(u.MailNickname) }, false},
	{"otherMails", func(u *User) any { return strs(u.OtherMails) }, false},
	{"postalCode", func(u *User) any { return str(u.PostalCode) }, false},
	{"proxyAddresses", func(u *User) any { return strs(u.ProxyAddresses) }, false},
	{"state", func(u *User) any { return str(u.State) }, false},
	{"streetAddress", func(u *User) any { return str(u.StreetAddress) }, false},
	{"usageLocation", func(u *User) any { return str(u.UsageLocation) }, false},
	{"userType", func(u *User) any { return str(u.UserType) }, false},
}

var userPropIndex = func() map[string]int {
	m := map[string]int{}
	for i, p := range userProps {
		m[p.name] = i
	}
	return m
}()

// userValues returns every served property's value by name.
func userValues(u *User) map[string]any {
	m := make(map[string]any, len(userProps))
	for _, p := range userProps {
		m[p.name] = p.get(u)
	}
	return m
}

// userDefaultSelect are the properties Graph returns without $select.
var userDefaultSelect = func() []string {
	var out []string
	for _, p := range userProps {
		if p.def {
			out = append(out, p.name)
		}
	}
	return out
}()

// userObject adapts a user to the $filter evaluator.
type userObject struct{ u *User }

func (o userObject) prop(name string) (any, bool) {
	i, ok := userPropIndex[name]
	if !ok {
		return nil, false
	}
	return userProps[i].get(o.u), true
}
