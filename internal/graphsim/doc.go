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
// and transitiveMembers (with the microsoft.graph.user cast), orgContacts
// and their delta (/contacts/delta, which neither returns nor tracks
// addresses, phones and proxyAddresses),
// contactFolders and contacts (strict validation, merge PATCH, extended
// properties, etags and If-Match), contacts delta per folder, and $batch.
// Errors use Graph's status codes, codes, messages and envelope.
// EVIDENCE.md lists, per behaviour, what graphsim does and the source it
// rests on (or why graphsim's choice is the stricter one).
//
// # Mailboxes as Exchange keeps them
//
// Every mailbox has the default Contacts folder and Deleted Items, a mail
// folder that contactFolders and childFolders never list. DELETE of a
// contact folder (contactFolders/{id} or .../childFolders/{id}) moves it,
// contents and id kept, into Deleted Items (409 ErrorFolderExists when a
// folder of that name is already there); DELETE of a contact moves it
// there with a new id. From Deleted Items, DELETE removes for good, as
// POST .../permanentDelete does anywhere (global cloud only). Contact
// writes fail as Exchange's do: a null address or emailAddresses element
// answers 500; more than 2 businessPhones or homePhones or 3
// emailAddresses answer 400.
//
// Routing takes OData key segments (users('x'), contactFolders('y'),
// childFolders('y'), contacts('z')) as well as slash segments, top-level
// and in $batch; links for mailbox resources (contacts delta, contact and
// folder lists) are written in Exchange's form,
// https://HOST/v1.0/users('{user}')/contactFolders('{folder}')/contacts/delta?$deltatoken=...,
// the user and folder named as the request named them. Directory links
// keep the slash form.
//
// Tenant.Cloud ("global", "usgov", "usgovdod", "china") removes what
// Microsoft does not offer there: permanentDelete outside global, contacts
// delta in China (both answer as an unknown segment). App.MailboxGrants
// models Exchange RBAC for Applications: without a Contacts.* role a token
// reaches exactly the granted mailboxes.
//
// # Paging, as Graph does it
//
// /users and member lists: $top default 100, at most 999, opaque
// $skiptoken nextLinks. users/delta and /contacts/delta: pages of
// Options.UsersDeltaPageSize (default 100; SetUsersDeltaPageSize forces
// paging), nextLinks then a deltaLink; $deltatoken=latest; Prefer:
// return=minimal. Outlook lists
// (contactFolders, contacts): $top default 10, at most 1000, $skip
// nextLinks. Contacts delta: Prefer: odata.maxpagesize, default 10, capped
// at 200. Follow every link verbatim; resend headers (ConsistencyLevel,
// Prefer) on every page.
//
// # $batch
//
// At most 20 items, ids unique case-insensitively, relative URLs, a body
// needs a Content-Type header. A batch in which any item has dependsOn runs
// all items one at a time in dependency order (a failed item makes its
// dependents 424); otherwise items run at most four at a time and each
// holds one concurrency slot of its (app, mailbox) for the whole batch, so
// items beyond the free slots of a mailbox get 429 MailboxConcurrency.
//
// # Throttling and faults
//
// Graph's published limits are the default (GraphThrottle): 4 concurrent
// requests per (app, mailbox) counting $batch items, 10,000 requests per
// (app, mailbox) per 10 minutes, a directory resource-unit budget per (app,
// tenant). Every 429 and 503 carries Retry-After (an integer, or a decimal
// such as "0.017" under a time scale) and names a deadline for its scope:
// a mailbox request or batch item its (app, mailbox), a directory request
// its (app, tenant), an outer $batch 503 every scope of its items. The
// deadline counts from when the response carrying it has been sent (for a
// batch item: the whole batch response). A violation
// (Counters.RetryAfterViolations) is a resend of the throttled request
// before its deadline, or any request of the scope arriving before the
// deadline more than Throttle.ReactionTime (default 50 ms) after the
// response was sent: requests already on their way when the client could
// not yet have read it are not the client's fault. TimeScale shrinks every window and
// Retry-After so a benchmark runs a 10-minute window in seconds. Faults
// injects 503/504 at seeded random rates, latency (per request and per batch
// item), token service outages, shuffled batch responses, mailbox writes
// answered 5xx after they committed (AfterCommitRate), batches carried out
// whose connection then drops (BatchDropRate) and a pager whose nextLink
// is the request's own URL (RepeatNextLink).
//
// # Delta state Graph refuses
//
// ExpireDeltaTokens: users/delta links answer 410 resyncRequired with a
// Location, contacts delta links 400 ErrorInvalidSyncStateData.
// StaleDeltaTokens (links older than Graph keeps state): users/delta links
// answer 400 syncStateNotFound, contacts delta links 400
// ErrorInvalidSyncStateData. A contacts delta link of a folder deleted for
// good answers 400 ErrorSyncFolderNotFound.
//
// # Control API
//
// Tests drive the tenant and read what happened through Go methods on
// Server (PutUser, PatchUser, DeleteUser, PutGroup, SetMailboxState,
// SetRoles, SetMailboxGrants, Folders, OwnerCreateFolder,
// OwnerDeleteFolder, OwnerPermanentDeleteFolder, OwnerMoveFolder, OwnerUpdateFolder,
// OwnerEmptyDeletedItems, OwnerCreateContact, OwnerUpdateContact,
// OwnerDeleteContact, OwnerMoveContact, ExpireDeltaTokens, StaleDeltaTokens, Counters,
// ResetCounters, SetThrottle, SetFaults). Owner actions behave as Outlook
// does (deleting moves to Deleted Items); Folders shows where things are
// (Folder.WellKnownName, ParentFolderID). The same operations are served
// as JSON under /_sim/ for a benchmark running graphsim as a separate
// process (routes in controlhttp.go; Options.ControlKey protects them).
//
// Valid access tokens are cached until they expire, so a token keeps the
// roles it was issued with (as Graph honours them): after SetRoles, get a
// new token to see the change.
package graphsim
