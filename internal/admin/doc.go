// Package admin serves galmirror's remote administration API
// (galmirror.admin.v1.AdminService, proto/galmirror/admin/v1/admin.proto)
// with connect-go, so gRPC, gRPC-Web and Connect clients all work on one
// HTTPS port, and the same API on a local Unix socket or named pipe.
//
// Every request is authenticated before any handler runs (auth.go): a TLS
// client certificate pinned by SHA-256 or issued by a configured CA, HTTP
// Negotiate carrying Kerberos (package negotiate), or for the local listener
// the operating-system identity of the peer (package localipc). Failed
// attempts are rate-limited per source (ratelimit.go); a valid client
// certificate is admitted before the limit is asked. Authorisation (authz.go)
// maps the principal to a role per procedure in a connect request gate,
// before the request message is read; denied calls and operator actions go
// to the Backend's audit trail, floods summed up (digest.go) and
// caller-supplied text bounded (bounds.go).
//
// The service implements Backend (backend.go) over its scheduler, store and
// events; this package never reaches into them.
//
// Layout:
//
//	admin/             server, handlers, authentication, roles, rate limit, certificates, client
//	admin/adminv1/     generated protobuf and Connect code (do not edit; go generate ./internal/admin)
//	admin/negotiate/   RFC 4559: Acceptor (gokrb5 keytab | SSPI) and client TokenSource
//	admin/localipc/    Unix socket with SO_PEERCRED | named pipe with an SDDL
//	admin/kdctest/     test helper: a throwaway MIT KDC realm on 127.0.0.1
package admin

//go:generate sh ../../proto/generate.sh
