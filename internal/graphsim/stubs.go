package graphsim

import (
	"errors"
	"net/http"
)

var errTODO = errors.New("graphsim: not implemented yet")

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }

// GenerateOptions configures Generate.
type GenerateOptions struct {
	Users  int   `json:"users"`
	Groups int   `json:"groups"`
	Seed   int64 `json:"seed"`
	// Domain is the tenant's verified domain; empty derives one from the seed.
	Domain string `json:"domain,omitempty"`
}

// Generate builds a realistic tenant deterministically for a seed (the
// app's certificate excepted, which is always fresh).
func Generate(o GenerateOptions) (Tenant, AppCredential, error) { return Tenant{}, AppCredential{}, errTODO }
