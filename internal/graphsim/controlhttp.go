package graphsim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// The control API over HTTP, for a benchmark or demo driving graphsim in
// another process. Every route is JSON; errors are {"error": "..."} with
// 400 (bad input) or 404 (unknown tenant, user, folder, contact). When
// Options.ControlKey is set, requests need "Authorization: Bearer <key>".
//
//	GET    /_sim/state                                  Fixture (everything)
//	PUT    /_sim/state                                  load a Fixture (tenants added or replaced)
//	PUT    /_sim/tenants                                Tenant: add or replace
//	GET    /_sim/tenants/{tid}                          Tenant export
//	POST   /_sim/tenants/{tid}/token?clientId=          {"access_token": ...}
//	PUT    /_sim/tenants/{tid}/users                    User: create or replace
//	PATCH  /_sim/tenants/{tid}/users/{user}             {"prop": value|null, ...}
//	DELETE /_sim/tenants/{tid}/users/{user}[?permanent=true]
//	POST   /_sim/tenants/{tid}/users/{id}/restore
//	PUT    /_sim/tenants/{tid}/users/{user}/mailbox     {"state": "normal"|"none"|"outOfScope"}
//	GET    /_sim/tenants/{tid}/users/{user}/folders     []Folder with contacts and extended properties
//	POST   /_sim/tenants/{tid}/users/{user}/folders     {"displayName": ...} -> {"id": ...}
//	DELETE /_sim/tenants/{tid}/users/{user}/folders/{folderId}[?permanent=true]
//	POST   /_sim/tenants/{tid}/users/{user}/folders/{folderId}/move   {"destinationId": ""|folderId}
//	POST   /_sim/tenants/{tid}/users/{user}/empty-deleted-items
//	PATCH  /_sim/tenants/{tid}/users/{user}/folders/{id}           contactFolder JSON (name, extended properties)
//	POST   /_sim/tenants/{tid}/users/{user}/contacts[?folderId=]   contact JSON -> {"id": ...}
//	PATCH  /_sim/tenants/{tid}/users/{user}/contacts/{contactId}   contact JSON (merge)
//	DELETE /_sim/tenants/{tid}/users/{user}/contacts/{contactId}
//	PUT    /_sim/tenants/{tid}/groups                   Group: create or replace
//	DELETE /_sim/tenants/{tid}/groups/{id}
//	PUT    /_sim/tenants/{tid}/orgContacts              OrgContact: create or replace
//	PUT    /_sim/tenants/{tid}/apps/{clientId}/roles    {"roles": [...]} (null revokes consent)
//	PUT    /_sim/tenants/{tid}/apps/{clientId}/mailbox-grants  {"users": [...]} (Exchange RBAC scope)
//	POST   /_sim/expire-delta-tokens[?tenant={tid}]
//	POST   /_sim/stale-delta-tokens[?tenant={tid}]
//	GET    /_sim/counters                               Counters
//	POST   /_sim/counters/reset
//	GET|PUT /_sim/throttle                              Throttle (durations in nanoseconds)
//	GET|PUT /_sim/faults                                Faults (durations in nanoseconds)
//	PUT    /_sim/users-delta-page-size                  {"n": 10}
//	POST   /_sim/devicecode/approve                     {"tenant": tid or "", "user": id or UPN, "userCode": ...} (403: needs admin consent)
//	POST   /_sim/devicecode/decline                     {"userCode": ...}
//	POST   /_sim/devicecode/block                       {"userCode": ...} (Conditional Access)
//	GET|PUT /_sim/propagation                           {"delay": ns, "replicationLag": ns}
//	GET    /_sim/tenants/{tid}/apps                     []AppRegistration
//	GET    /_sim/tenants/{tid}/apps/{clientId}          AppRegistration (keys, roles, pending roles)
//	POST   /_sim/tenants/{tid}/apps/{clientId}/admin-consent  {"user": ...} (the admin consent link, accepted)
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	if key := s.opts.ControlKey; key != "" {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
			ctlJSON(w, http.StatusUnauthorized, map[string]string{"error": "control API key missing or wrong"})
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil {
		ctlErr(w, err)
		return
	}
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/_sim/"), "/"), "/")
	m := r.Method
	decode := func(v any) bool {
		if err := json.Unmarshal(body, v); err != nil {
			ctlJSON(w, http.StatusBadRequest, map[string]string{"error": "request body: " + err.Error()})
			return false
		}
		return true
	}
	done := func(v any, err error) {
		if err != nil {
			ctlErr(w, err)
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ctlJSON(w, http.StatusOK, v)
	}
	n := len(segs)
	switch {
	case n == 1 && segs[0] == "state" && m == "GET":
		done(s.Fixture(), nil)
	case n == 1 && segs[0] == "state" && m == "PUT":
		var f Fixture
		if decode(&f) {
			var err error
			for _, t := range f.Tenants {
				if err = s.PutTenant(t); err != nil {
					break
				}
			}
			done(nil, err)
		}
	case n == 1 && segs[0] == "tenants" && m == "PUT":
		var t Tenant
		if decode(&t) {
			done(nil, s.PutTenant(t))
		}
	case n == 1 && segs[0] == "expire-delta-tokens" && m == "POST":
		done(nil, s.ExpireDeltaTokens(r.URL.Query().Get("tenant")))
	case n == 1 && segs[0] == "stale-delta-tokens" && m == "POST":
		done(nil, s.StaleDeltaTokens(r.URL.Query().Get("tenant")))
	case n == 1 && segs[0] == "counters" && m == "GET":
		done(s.Counters(), nil)
	case n == 2 && segs[0] == "counters" && segs[1] == "reset" && m == "POST":
		s.ResetCounters()
		done(nil, nil)
	case n == 1 && segs[0] == "throttle" && m == "GET":
		done(s.Throttle(), nil)
	case n == 1 && segs[0] == "throttle" && m == "PUT":
		var t Throttle
		if decode(&t) {
			s.SetThrottle(t)
			done(nil, nil)
		}
	case n == 1 && segs[0] == "faults" && m == "GET":
		done(s.Faults(), nil)
	case n == 1 && segs[0] == "faults" && m == "PUT":
		var f Faults
		if decode(&f) {
			s.SetFaults(f)
			done(nil, nil)
		}
	case n == 2 && segs[0] == "cpuprofile" && m == "POST":
		s.controlProfile(w, segs[1], done)
	case n == 1 && segs[0] == "users-delta-page-size" && m == "PUT":
		var v struct{ N int }
		if decode(&v) {
			s.SetUsersDeltaPageSize(v.N)
			done(nil, nil)
		}
	case (n == 2 && segs[0] == "devicecode") || (n == 1 && segs[0] == "propagation"):
		s.controlOnboarding(w, r, segs, decode, done)
	case n >= 2 && segs[0] == "tenants":
		s.controlTenant(w, r, segs[1], segs[2:], body, decode, done)
	default:
		ctlJSON(w, http.StatusNotFound, map[string]string{"error": "no control route " + m + " " + r.URL.Path})
	}
}

// controlOnboarding serves the device code and propagation routes.
func (s *Server) controlOnboarding(w http.ResponseWriter, r *http.Request, segs []string, decode func(any) bool, done func(any, error)) {
	m := r.Method
	switch {
	case segs[0] == "devicecode" && m == "POST":
		var v struct{ Tenant, User, UserCode string }
		if !decode(&v) {
			return
		}
		var err error
		switch segs[1] {
		case "approve":
			err = s.ApproveDeviceCode(v.Tenant, v.User, v.UserCode)
		case "decline":
			err = s.DeclineDeviceCode(v.UserCode)
		case "block":
			err = s.BlockDeviceCode(v.UserCode)
		default:
			ctlJSON(w, http.StatusNotFound, map[string]string{"error": "no control route " + m + " " + r.URL.Path})
			return
		}
		done(nil, err)
	case segs[0] == "propagation" && m == "GET":
		done(map[string]any{"delay": s.Propagation(), "replicationLag": s.ReplicationLag()}, nil)
	case segs[0] == "propagation" && m == "PUT":
		var v struct {
			Delay          time.Duration
			ReplicationLag *time.Duration
		}
		if decode(&v) {
			s.SetPropagation(v.Delay)
			if v.ReplicationLag != nil {
				s.SetReplicationLag(*v.ReplicationLag)
			}
			done(nil, nil)
		}
	default:
		ctlJSON(w, http.StatusNotFound, map[string]string{"error": "no control route " + m + " " + r.URL.Path})
	}
}

// controlApps serves a tenant's applications: the list, one, and the
// admin consent link accepted.
func (s *Server) controlApps(w http.ResponseWriter, r *http.Request, tid string, segs []string, decode func(any) bool, done func(any, error)) {
	switch m, n := r.Method, len(segs); {
	case n == 1 && m == "GET":
		done(s.Apps(tid))
	case n == 2 && m == "GET":
		done(s.AppRegistration(tid, segs[1]))
	case n == 3 && m == "POST":
		var v struct{ User string }
		if decode(&v) {
			done(nil, s.AdminConsent(tid, segs[1], v.User))
		}
	default:
		ctlJSON(w, http.StatusNotFound, map[string]string{"error": "no control route " + m + " " + r.URL.Path})
	}
}

// controlProfile starts or stops graphsim's CPU profile (the stop answers
// with the profile).
func (s *Server) controlProfile(w http.ResponseWriter, verb string, done func(any, error)) {
	switch verb {
	case "start":
		done(nil, s.StartCPUProfile())
	case "stop":
		b, err := s.StopCPUProfile()
		if err != nil {
			ctlJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
	default:
		ctlJSON(w, http.StatusNotFound, map[string]string{"error": "no control route cpuprofile/" + verb})
	}
}

func (s *Server) controlTenant(w http.ResponseWriter, r *http.Request, tid string, segs []string, body []byte, decode func(any) bool, done func(any, error)) {
	m := r.Method
	n := len(segs)
	switch {
	case n == 0 && m == "GET":
		t, err := s.Tenant(tid)
		done(t, err)
	case n == 1 && segs[0] == "token" && m == "POST":
		tok, err := s.AccessToken(tid, r.URL.Query().Get("clientId"))
		if err != nil {
			err = errors.Join(ErrNotFound, err)
		}
		done(map[string]string{"access_token": tok}, err)
	case n == 1 && segs[0] == "users" && m == "PUT":
		var u User
		if decode(&u) {
			done(nil, s.PutUser(tid, u))
		}
	case n == 2 && segs[0] == "users" && m == "PATCH":
		var p map[string]any
		if decode(&p) {
			done(nil, s.PatchUser(tid, segs[1], p))
		}
	case n == 2 && segs[0] == "users" && m == "DELETE":
		done(nil, s.DeleteUser(tid, segs[1], r.URL.Query().Get("permanent") == "true"))
	case n == 3 && segs[0] == "users" && segs[2] == "photo" && m == "PUT":
		done(nil, s.SetUserPhoto(tid, segs[1], r.Header.Get("Content-Type"), body))
	case n == 3 && segs[0] == "users" && segs[2] == "photo" && m == "DELETE":
		done(nil, s.SetUserPhoto(tid, segs[1], "", nil))
	case n == 3 && segs[0] == "users" && segs[2] == "restore" && m == "POST":
		done(nil, s.RestoreUser(tid, segs[1]))
	case n == 3 && segs[0] == "users" && segs[2] == "mailbox" && m == "PUT":
		var v struct{ State MailboxState }
		if decode(&v) {
			done(nil, s.SetMailboxState(tid, segs[1], v.State))
		}
	case n == 3 && segs[0] == "users" && segs[2] == "folders" && m == "GET":
		f, err := s.Folders(tid, segs[1])
		if f == nil {
			f = []Folder{}
		}
		done(f, err)
	case n == 3 && segs[0] == "users" && segs[2] == "folders" && m == "POST":
		var v struct{ DisplayName string }
		if decode(&v) {
			id, err := s.OwnerCreateFolder(tid, segs[1], v.DisplayName)
			done(map[string]string{"id": id}, err)
		}
	case n == 4 && segs[0] == "users" && segs[2] == "folders" && m == "DELETE":
		if r.URL.Query().Get("permanent") == "true" {
			done(nil, s.OwnerPermanentDeleteFolder(tid, segs[1], segs[3]))
		} else {
			done(nil, s.OwnerDeleteFolder(tid, segs[1], segs[3]))
		}
	case n == 4 && segs[0] == "users" && segs[2] == "folders" && m == "PATCH":
		done(nil, s.OwnerUpdateFolder(tid, segs[1], segs[3], body))
	case n == 5 && segs[0] == "users" && segs[2] == "folders" && segs[4] == "move" && m == "POST":
		var v struct{ DestinationID string }
		if decode(&v) {
			done(nil, s.OwnerMoveFolder(tid, segs[1], segs[3], v.DestinationID))
		}
	case n == 3 && segs[0] == "users" && segs[2] == "empty-deleted-items" && m == "POST":
		done(nil, s.OwnerEmptyDeletedItems(tid, segs[1]))
	case n == 3 && segs[0] == "users" && segs[2] == "contacts" && m == "POST":
		id, err := s.OwnerCreateContact(tid, segs[1], r.URL.Query().Get("folderId"), body)
		done(map[string]string{"id": id}, err)
	case n == 4 && segs[0] == "users" && segs[2] == "contacts" && m == "PATCH":
		done(nil, s.OwnerUpdateContact(tid, segs[1], segs[3], body))
	case n == 4 && segs[0] == "users" && segs[2] == "contacts" && m == "DELETE":
		done(nil, s.OwnerDeleteContact(tid, segs[1], segs[3]))
	case n == 1 && segs[0] == "groups" && m == "PUT":
		var g Group
		if decode(&g) {
			done(nil, s.PutGroup(tid, g))
		}
	case n == 2 && segs[0] == "groups" && m == "DELETE":
		done(nil, s.DeleteGroup(tid, segs[1]))
	case n == 1 && segs[0] == "orgContacts" && m == "PUT":
		var c OrgContact
		if decode(&c) {
			done(nil, s.PutOrgContact(tid, c))
		}
	case n == 2 && segs[0] == "orgContacts" && m == "DELETE":
		done(nil, s.DeleteOrgContact(tid, segs[1]))
	case segs[0] == "apps" && (n <= 2 || segs[2] == "admin-consent"):
		s.controlApps(w, r, tid, segs, decode, done)
	case n == 3 && segs[0] == "apps" && segs[2] == "mailbox-grants" && m == "PUT":
		var v struct{ Users []string }
		if decode(&v) {
			done(nil, s.SetMailboxGrants(tid, segs[1], v.Users))
		}
	case n == 3 && segs[0] == "apps" && segs[2] == "roles" && m == "PUT":
		var v struct{ Roles []string }
		if decode(&v) {
			done(nil, s.SetRoles(tid, segs[1], v.Roles))
		}
	default:
		ctlJSON(w, http.StatusNotFound, map[string]string{"error": "no control route " + m + " " + r.URL.Path})
	}
}

func ctlErr(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrNeedsAdminConsent):
		status = http.StatusForbidden
	}
	ctlJSON(w, status, map[string]string{"error": err.Error()})
}

func ctlJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(v))
}
