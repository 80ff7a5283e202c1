package entra

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

// deviceSTS is entrasim with a clock the test moves: the flow's Sleep
// advances it instead of waiting.
type deviceSTS struct {
	sim *entrasim.Server
	ts  *httptest.Server
	mu  sync.Mutex
	now time.Time
}

func newDeviceSTS(t *testing.T) *deviceSTS {
	t.Helper()
	d := &deviceSTS{now: time.Now()}
	var base string
	d.sim = entrasim.New(entrasim.Config{
		BaseURL: func() string { return base }, GraphRoot: func() string { return base }, SigningKey: testKey(t),
		Now: func() time.Time { d.mu.Lock(); defer d.mu.Unlock(); return d.now },
	})
	d.sim.PutTenant(entrasim.Tenant{ID: tenantID, Domains: []string{"contoso.example"}})
	d.ts = httptest.NewTLSServer(d.sim)
	base = d.ts.URL
	t.Cleanup(d.ts.Close)
	return d
}

func (d *deviceSTS) advance(by time.Duration) {
	d.mu.Lock()
	d.now = d.now.Add(by)
	d.mu.Unlock()
}

func (d *deviceSTS) flow(sleep func(context.Context, time.Duration) error) *DeviceCodeFlow {
	return &DeviceCodeFlow{HTTP: d.ts.Client(), Authority: d.ts.URL, Tenant: "contoso.example",
		Scopes: []string{d.ts.URL + "/Application.ReadWrite.All", d.ts.URL + "/AppRoleAssignment.ReadWrite.All"}, Sleep: sleep}
}

var globalAdmin = entrasim.SignedInUser{ID: "5c1d2e3f-0000-4000-8000-000000000001", UPN: "alice@contoso.example", DisplayName: "Alice",
	RoleTemplateIDs: []string{entrasim.RoleGlobalAdministrator}}

// The flow waits the interval between polls, slows down by five seconds
// after a slow_down, and returns the delegated token once the user signed
// in.
func TestDeviceCodeFlow(t *testing.T) {
	d := newDeviceSTS(t)
	var waits []time.Duration
	var dc *DeviceCode
	f := d.flow(func(_ context.Context, w time.Duration) error {
		waits = append(waits, w)
		switch len(waits) {
		case 1:
			d.advance(w)
		case 2: // too soon: the next poll comes at once
		case 3:
			d.advance(w)
			if err := d.sim.ApproveDeviceCode(dc.UserCode, tenantID, globalAdmin); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	var err error
	if dc, err = f.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if dc.Interval != 5*time.Second || !strings.Contains(dc.Message, dc.UserCode) || time.Until(dc.Expires) < 14*time.Minute {
		t.Fatalf("device code %+v", dc)
	}
	tok, err := f.Wait(t.Context(), dc)
	if err != nil {
		t.Fatal(err)
	}
	if len(waits) != 3 || waits[0] != 5*time.Second || waits[1] != 5*time.Second || waits[2] != 10*time.Second {
		t.Errorf("waits %v, want 5s, 5s, then 10s after slow_down", waits)
	}
	c, err := ParseAccessToken(tok)
	if err != nil || c.TenantID != tenantID {
		t.Fatalf("token claims %+v %v", c, err)
	}
}

// Declined, blocked by Conditional Access, expired: final errors that
// say which.
func TestDeviceCodeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		act   func(d *deviceSTS, code string)
		check func(*DeviceCodeError) bool
		text  string
	}{
		{"declined", func(d *deviceSTS, c string) { _ = d.sim.DeclineDeviceCode(c) }, (*DeviceCodeError).Declined, "authorization_declined"},
		{"blocked", func(d *deviceSTS, c string) { _ = d.sim.BlockDeviceCode(c) }, (*DeviceCodeError).BlockedByPolicy, "Conditional Access"},
		{"expired", func(d *deviceSTS, _ string) { d.advance(16 * time.Minute) }, (*DeviceCodeError).Expired, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeviceSTS(t)
			var dc *DeviceCode
			f := d.flow(func(_ context.Context, w time.Duration) error {
				d.advance(w)
				tc.act(d, dc.UserCode)
				return nil
			})
			var err error
			if dc, err = f.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			_, err = f.Wait(t.Context(), dc)
			var de *DeviceCodeError
			if !errors.As(err, &de) || !tc.check(de) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// An unknown public client and a cancelled wait.
func TestDeviceCodeStartAndCancel(t *testing.T) {
	d := newDeviceSTS(t)
	f := d.flow(nil)
	f.ClientID = "0f3c6a1e-5b8d-4c2e-9a7f-1d2e3f4a5b6c"
	var te *TokenError
	if _, err := f.Start(t.Context()); !errors.As(err, &te) || te.Code != 700016 {
		t.Fatalf("unknown client: %v", err)
	}
	f.ClientID = ""
	dc, err := f.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.Wait(ctx, dc); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}
