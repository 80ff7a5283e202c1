package service

import (
	"encoding/json"
	"net/http"
	"time"
)

// healthz serves GET /healthz: the service's health as `galmirror status`
// judges it, without authentication, for uptime monitors. 200 when healthy,
// 503 when not. The answer says nothing about tenants unless
// health.showTenants is set (then their names, states and problems).
type healthz struct{ s *Service }

type healthzAnswer struct {
	Status    string          `json:"status"` // healthy, unhealthy
	CheckedAt time.Time       `json:"checkedAt"`
	Tenants   []healthzTenant `json:"tenants,omitempty"`
}

type healthzTenant struct {
	Name     string    `json:"name"`
	Healthy  bool      `json:"healthy"`
	State    string    `json:"state"`
	Problems []Problem `json:"problems"`
}

func (h healthz) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	cfg := h.s.Config()
	rep, err := BuildReport(r.Context(), h.s.opts.State, cfg, time.Now(), PolicyOf(cfg.Health))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		h.s.log.Warn("health check", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(healthzAnswer{Status: "unhealthy", CheckedAt: time.Now().UTC()})
		return
	}
	ans := healthzAnswer{Status: "healthy", CheckedAt: rep.CheckedAt}
	if cfg.Health.ShowTenants {
		for _, t := range rep.Tenants {
			ans.Tenants = append(ans.Tenants, healthzTenant{Name: t.Name, Healthy: t.Healthy, State: t.State, Problems: t.Problems})
		}
	}
	code := http.StatusOK
	if !rep.Healthy {
		ans.Status, code = "unhealthy", http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(ans)
	}
}
