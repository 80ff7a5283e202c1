package graphsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

var errTODO = errors.New("graphsim: not implemented yet")

type tenantState struct{}
type limiter struct{}

func newLimiter(*Server) *limiter { return &limiter{} }
func (l *limiter) resetWindows()  {}

func entrasimFaults(f Faults) entrasim.Faults { return entrasim.Faults{Outage: f.TokenOutage} }

func (s *Server) putTenant(t Tenant) error                                 { return errTODO }
func (s *Server) exportTenant(string) (Tenant, error)                      { return Tenant{}, errTODO }
func (s *Server) exportFixture() Fixture                                   { return Fixture{} }
func (s *Server) putUser(string, User) error                               { return errTODO }
func (s *Server) patchUser(string, string, map[string]any) error           { return errTODO }
func (s *Server) deleteUser(string, string, bool) error                    { return errTODO }
func (s *Server) restoreUser(string, string) error                         { return errTODO }
func (s *Server) putGroup(string, Group) error                             { return errTODO }
func (s *Server) deleteGroup(string, string) error                         { return errTODO }
func (s *Server) putOrgContact(string, OrgContact) error                   { return errTODO }
func (s *Server) setMailboxState(string, string, MailboxState) error       { return errTODO }
func (s *Server) setRoles(string, string, []string) error                  { return errTODO }
func (s *Server) folders(string, string) ([]Folder, error)                 { return nil, errTODO }
func (s *Server) ownerCreateFolder(string, string, string) (string, error) { return "", errTODO }
func (s *Server) ownerDeleteFolder(string, string, string) error           { return errTODO }
func (s *Server) ownerCreateContact(string, string, string, json.RawMessage) (string, error) {
	return "", errTODO
}
func (s *Server) ownerUpdateContact(string, string, string, json.RawMessage) error { return errTODO }
func (s *Server) ownerDeleteContact(string, string, string) error                  { return errTODO }
func (s *Server) expireDeltaTokens(string) error                                   { return errTODO }
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request)              { http.NotFound(w, r) }
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request)                { http.NotFound(w, r) }
func writeGraphError(w http.ResponseWriter, r *http.Request, now time.Time, status int, code, msg string, h http.Header) {
	w.WriteHeader(status)
}

// GenerateOptions configures Generate.
type GenerateOptions struct {
	Users  int   `json:"users"`
	Groups int   `json:"groups"`
	Seed   int64 `json:"seed"`
	// Domain is the tenant's verified domain; empty derives one from the seed.
	Domain string `json:"domain,omitempty"`
}

// Generate builds a realistic tenant deterministically for a seed (the
// app's certificate excepted, which is always fresh): varied names with
// accents and non-Latin scripts, phones, titles, departments, companies,
// offices, addresses, nested groups, a few disabled users, guests, users
// without a mailbox, and an app holding AllRoles whose credential is
// returned.
func Generate(o GenerateOptions) (Tenant, AppCredential, error) {
	return Tenant{}, AppCredential{}, errTODO
}
