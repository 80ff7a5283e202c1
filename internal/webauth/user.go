// Package webauth authenticates the people who use galmirror's web console:
// OpenID Connect against the MSP's own Entra ID tenant, client
// certificates, or nobody at all when the console listens on loopback.
// Whatever the method, a signed-in request carries a User in its context;
// the console's pages and actions read it with UserFrom.
package webauth

import "context"

// Role is what a console user may do.
type Role string

const (
	// Viewer sees every page and acts on nothing.
	Viewer Role = "viewer"
	// Operator may also sync now, pause, resume and check.
	Operator Role = "operator"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == Viewer || r == Operator }

// CanAct reports whether r may run actions on a customer's service.
func (r Role) CanAct() bool { return r == Operator }

// User is the person behind a console request.
type User struct {
	// Subject identifies the user for the audit log: the ID token's
	// issuer-qualified subject, a certificate's SHA-256 fingerprint, or
	// "loopback".
	Subject string
	// Name is what the page shows: the token's name or preferred
	// username, or the certificate's subject common name.
	Name string
	// Method is how the user was authenticated: "oidc", "certificate"
	// or "loopback".
	Method string
	Role   Role
}

type userKey struct{}

// WithUser returns a context carrying u.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user ctx carries, if any.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}
