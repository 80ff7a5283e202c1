package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/store"
)

func unavailableResult() (Result, error) {
	return Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailUnavailable, Service: store.ServiceEntra,
		Code: "AADSTS90033", Message: "Entra ID unavailable: AADSTS90033: Entra ID is temporarily unavailable"}}, errors.New("unavailable")
}

// An Entra outage hitting twelve tenants for three hours: no 202 or 300 per
// tenant, one 481 naming all twelve, one 482 once it outlasts outageAfter,
// one 483 when the last tenant runs again; no 480 (nothing was alerted).
func TestOutageIsOneEventForAllTenants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool // read by the runs, set by the test
		down.Store(true)
		r := newFakeRunner(func(context.Context, config.Tenant, int) (Result, error) {
			if down.Load() {
				return unavailableResult()
			}
			return okResult(), nil
		})
		var tenants []string
		for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
			tenants = append(tenants, tenantJSON(n, `{"every": "1h", "jitter": "0s"}`))
		}
		h := startServiceCap(t, r, Options{}, 4, tenants...)
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		down.Store(false)
		time.Sleep(7 * time.Hour) // back-off reaches 80 min, then hourly
		synctest.Wait()
		h.stop(t)
		evs := h.drain()
		var got []events.ID
		for _, e := range evs {
			switch e.ID {
			case events.RunFailed, events.AuthFailed, events.RunRecovered:
				t.Errorf("tenant event %v during an outage: %s", e.ID, e.Text())
			case events.MicrosoftUnreachable, events.MicrosoftUnreachableLong, events.MicrosoftReachable:
				got = append(got, e.ID)
				if e.Field("count") != "12" || e.Field("service") != "entra" || !strings.Contains(e.Field("tenants"), "a,b,c") {
					t.Errorf("outage event %s", e.Text())
				}
			}
		}
		want := []events.ID{events.MicrosoftUnreachable, events.MicrosoftUnreachableLong, events.MicrosoftReachable}
		if !slices.Equal(got, want) {
			t.Fatalf("outage events %v, want %v", got, want)
		}
		for _, e := range evs {
			if e.ID == events.MicrosoftUnreachable && !strings.Contains(e.Text(), "Entra ID unreachable for 12 tenants") {
				t.Errorf("481 reads %q", e.Text())
			}
		}
		// The back-off applied: far fewer runs than one a minute.
		if n := len(r.callsOf("a")); n > 12 {
			t.Errorf("%d runs of a tenant in 10h", n)
		}
	})
}

// An outage shorter than the gathering time raises nothing; a failure
// that is not an outage raises 202 and its end 480.
func TestShortOutageQuietAuthFailureRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(func(ctx context.Context, tn config.Tenant, n int) (Result, error) {
			switch {
			case tn.Name == "long" && n == 0:
				// Still running when the blip is over: the outage cannot
				// be announced for having heard from every tenant.
				select {
				case <-time.After(30 * time.Minute):
				case <-ctx.Done():
				}
			case tn.Name == "blip" && n == 0:
				return unavailableResult()
			case tn.Name == "auth" && n < 2:
				return Result{Status: store.RunFailed, Failure: &store.Failure{Class: store.FailAuth, Code: "AADSTS700027", Message: "bad signature"}}, errors.New("auth")
			}
			return okResult(), nil
		})
		h := startServiceCap(t, r, Options{Timing: Timing{OutageGather: 10 * time.Minute}}, 3,
			tenantJSON("blip", `{"every": "1m", "jitter": "0s"}`), tenantJSON("auth", `{"every": "1h", "jitter": "0s"}`),
			tenantJSON("long", `{"every": "1h", "jitter": "0s"}`))
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		h.stop(t)
		evs := h.drain()
		if got := ids(evs, "blip"); slices.ContainsFunc(got, func(id events.ID) bool { return id != events.RunSucceeded }) {
			t.Errorf("a 5-minute outage raised %v", got)
		}
		if got := ids(evs, ""); slices.ContainsFunc(got, func(id events.ID) bool { return id >= 481 && id <= 483 }) {
			t.Errorf("service-wide events %v", got)
		}
		got := ids(evs, "auth")
		if i := slices.Index(got, events.RunRecovered); i < 0 || slices.Index(got, events.RunFailed) > i ||
			!slices.Contains(got, events.AuthFailed) {
			t.Fatalf("auth tenant events %v, want 202 300 ... 480", got)
		}
		for _, e := range evs {
			if e.ID == events.RunRecovered && (e.Field("failures") != "2" || e.Field("class") != "auth") {
				t.Errorf("480 %s", e.Text())
			}
		}
	})
}
