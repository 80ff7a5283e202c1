package service

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/galmirror/galmirror/internal/events"
)

// The admin API is set up once at start: a reload that changes its settings
// says a restart is needed, keeps reporting the settings in force, and still
// applies the rest.
func TestReloadAdminChangeNeedsRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startService(t, newFakeRunner(nil), Options{}, tenantJSON("a", `{"every": "1h", "jitter": "0s"}`))
		time.Sleep(time.Minute)
		doc := `{"dataDir": "state", "admin": {"localSocket": false}, "tenants": [` +
			tenantJSON("a", `{"every": "1h", "jitter": "0s"}`) + `,` + tenantJSON("b", `{"every": "1h", "jitter": "0s"}`) + `]}`
		if err := writeFile(h.path, doc); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // reported again until the restart
			h.svc.Reload()
			time.Sleep(time.Second)
			synctest.Wait()
			var got []events.Event
			for _, e := range h.drain() {
				if e.ID == events.ConfigReloaded {
					got = append(got, e)
				}
			}
			if len(got) != 1 || !strings.Contains(got[0].Detail, "admin settings apply at the next restart") {
				t.Fatalf("reload %d: config_reloaded events %+v, want one saying admin needs a restart", i, got)
			}
			if i == 0 && got[0].Field("added") != "b" {
				t.Errorf("the rest of the change was not applied: %+v", got[0])
			}
		}
		if !h.svc.Config().Admin.LocalSocket {
			t.Errorf("Config() reports admin settings not in force")
		}
		if _, ok := h.svc.Config().Tenant("b"); !ok {
			t.Errorf("Config() lacks the added tenant")
		}
		h.stop(t)
	})
}
