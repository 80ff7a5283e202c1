// Package graphsim is a faithful in-process emulator of the parts of
// Microsoft Graph v1.0 and Entra ID that galmirror uses. Tests, the demo and
// the benchmark talk to it through real HTTP and TLS on 127.0.0.1, exactly as
// galmirror talks to graph.microsoft.com; wherever graphsim is kinder than
// Graph (no paging, no throttling, lax validation), the product would break
// in a customer's tenant, so graphsim errs on the strict side.
//
// It is a test tool: only tests, cmd/galmirror's graphsim and demo commands
// and the benchmark import it, never the service's packages.
//
// # Starting a server
//
// A test starts a server, loads a tenant and points galmirror at it:
//
//	app, cred, err := graphsim.NewApp("galmirror", graphsim.AllRoles...)
//	tenant := graphsim.Tenant{
//		ID: graphsim.NewGUID(), Name: "Contoso", Domain: "contoso.onmicrosoft.com",
//		Apps: []graphsim.App{app},
//		Users: []graphsim.User{{ID: graphsim.NewGUID(), DisplayName: "Zoë Adams",
//			UserPrincipalName: "zoe@contoso.onmicrosoft.com", Mail: "zoe@contoso.onmicrosoft.com"}},
//	}
//	srv, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{tenant}})
//	defer srv.Close()
//	// srv.URL() is both the Entra authority host and the Graph root:
//	//   token endpoint  srv.URL()+"/"+tenant.ID+"/oauth2/v2.0/token"
//	//   Graph           srv.URL()+"/v1.0/users"
//	// srv.Client() trusts graphsim's CA; srv.CACertPEM() is that CA.
//	// cred.CertPEM / cred.KeyPEM / cred.ClientID are what galmirror's
//	// certificate credential needs.
//
// Or, for a realistic tenant of any size:
//
//	tenant, cred, err := graphsim.Generate(graphsim.GenerateOptions{Users: 200, Groups: 20, Seed: 1})
//
// # What is emulated
//
// The token service (OpenID discovery, client_credentials with a certificate
// assertion) is the subpackage entrasim, mounted on the same origin. Every
// /v1.0 request needs a bearer token from it (srv.AccessToken issues one
// without a certificate round trip). Graph endpoints: users (list, $select,
// $filter subset, $top, $skiptoken paging), users/delta, groups/{id}/members
// and transitiveMembers (with the microsoft.graph.user cast), orgContacts,
// contactFolders and contacts (strict validation, merge PATCH, extended
// properties, etags and If-Match), contacts delta per folder, and $batch.
// Errors use Graph's status codes, codes, messages and envelope.
//
// # Throttling and faults
//
// Graph's published limits are the default (GraphThrottle): 4 concurrent
// requests per (app, mailbox) counting $batch items, 10,000 requests per
// (app, mailbox) per 10 minutes, a directory resource-unit budget per (app,
// tenant). Every 429 and 503 carries Retry-After; a request that arrives in a
// scope before the deadline a Retry-After named is counted as a violation
// (Counters.RetryAfterViolations). TimeScale shrinks every window and
// Retry-After so a benchmark runs a 10-minute window in seconds. Faults
// injects 503/504 at seeded random rates, latency (per request and per batch
// item), token service outages and shuffled batch responses.
//
// # Control API
//
// Tests drive the tenant and read what happened through Go methods on
// Server (PutUser, PatchUser, DeleteUser, PutGroup, SetMailboxState,
// SetRoles, Folders, OwnerCreateContact, OwnerUpdateContact,
// OwnerDeleteContact, ExpireDeltaTokens, Counters, ResetCounters,
// SetThrottle, SetFaults). The same operations are served as JSON under
// /_sim/ for a benchmark running graphsim as a separate process (see
// control.go for the routes).
package graphsim
