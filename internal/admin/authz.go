package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	adminv1 "github.com/galmirror/galmirror/internal/admin/adminv1"
	"github.com/galmirror/galmirror/internal/admin/adminv1/adminv1connect"
)

// Role is what a principal may do; higher includes lower.
type Role int

// Roles.
const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
)

// ParseRole parses "viewer" or "operator".
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	}
	return RoleNone, fmt.Errorf("role %q: want viewer or operator", s)
}

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	}
	return "none"
}

func (r Role) proto() adminv1.Role {
	switch r {
	case RoleViewer:
		return adminv1.Role_ROLE_VIEWER
	case RoleOperator:
		return adminv1.Role_ROLE_OPERATOR
	}
	return adminv1.Role_ROLE_UNSPECIFIED
}

// RoleBinding grants Role to the principal named Principal: a Kerberos name
// (alice@EXAMPLE.COM), a Windows DOMAIN\user or group name or a group SID
// (from Active Directory tickets), "cert:" and a SHA-256 certificate
// fingerprint, or "cn:" and the subject common name of a certificate issued
// by the configured client CA. Matching ignores case.
type RoleBinding struct {
	Principal string
	Role      Role
}

// requiredRole is the least role each procedure needs. A procedure missing
// here is refused to everyone: new methods must be classified to be
// reachable.
var requiredRole = map[string]Role{
	adminv1connect.AdminServiceGetServiceInfoProcedure:               RoleViewer,
	adminv1connect.AdminServiceListTenantsProcedure:                  RoleViewer,
	adminv1connect.AdminServiceGetTenantProcedure:                    RoleViewer,
	adminv1connect.AdminServiceListRunsProcedure:                     RoleViewer,
	adminv1connect.AdminServiceGetRunProcedure:                       RoleViewer,
	adminv1connect.AdminServiceWatchEventsProcedure:                  RoleViewer,
	adminv1connect.AdminServiceCheckTenantProcedure:                  RoleViewer,
	adminv1connect.AdminServiceSyncNowProcedure:                      RoleOperator,
	adminv1connect.AdminServicePauseTenantProcedure:                  RoleOperator,
	adminv1connect.AdminServiceResumeTenantProcedure:                 RoleOperator,
	"/grpc.health.v1.Health/Check":                                   RoleViewer,
	"/grpc.health.v1.Health/Watch":                                   RoleViewer,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      RoleViewer,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": RoleViewer,
}

// roleOf returns p's role: operator for a local caller (the listener admitted
// only administrators and the service's user), else the highest role bound
// to any of p's names.
func (s *Server) roleOf(p Principal) Role {
	if p.Method == MethodLocal {
		return RoleOperator
	}
	if p.Method == MethodConsole {
		return s.opts.ConsoleRole
	}
	best := RoleNone
	for _, b := range s.roles {
		if b.Role > best && p.hasName(b.Principal) {
			best = b.Role
		}
	}
	return best
}

// gate authorises a call before its request is read: connect runs it once
// the headers are in.
func (s *Server) gate(ctx context.Context, spec connect.Spec, _ connect.Peer, _ http.Header) (context.Context, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		// Unreachable behind the authenticator; refuse rather than trust.
		return nil, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("authentication required"))
	}
	need, known := requiredRole[spec.Procedure]
	have := s.roleOf(p)
	if known && have >= need {
		return ctx, nil
	}
	method := procedureName(spec.Procedure) // the server's own names
	name := p.recorded()
	s.denied.record(ctx, AuditRecord{
		Kind: AuditDenied, Time: time.Now(), Principal: name, Role: have.String(),
		Method: method, Source: p.Source, Result: connect.CodePermissionDenied.String(),
	}, name, method)
	if !known {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s is not available to any role", method))
	}
	if have == RoleNone {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s has no role on this server; an administrator can grant one in admin.roles", name))
	}
	return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s needs the %s role; %s is a %s", method, need, name, have))
}
