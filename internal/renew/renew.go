// Package renew renews a tenant's app certificate before it expires: a new
// key pair, added to the app by the app itself with addKey (proven by the
// current certificate: an app needs no permission to roll its own keys),
// used once a token with it succeeds, and the old key removed with
// removeKey. A failure at any step leaves the old certificate in place
// and working; the next attempt picks up where this one stopped. The
// service runs it after each tenant run; `galmirror cert rotate` runs it
// on demand.
package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/syncer"
)

// KeyIDs records the keyIds addKey answered, by tenant and certificate.
// The state database implements it (store.AppKeyID, SetAppKeyID).
type KeyIDs interface {
	AppKeyID(ctx context.Context, tenant, thumbprint string) (string, error)
	SetAppKeyID(ctx context.Context, tenant, thumbprint, keyID string) error
}

// DefaultWait bounds the service's wait for Entra to honour a new key;
// beyond it the next run continues.
const DefaultWait = 2 * time.Minute

// Options describe one renewal.
type Options struct {
	Tenant *config.Tenant
	// SettingsPath is the settings file, edited when the certificate is a
	// thumbprint in the Windows store.
	SettingsPath string
	Keys         KeyIDs
	// Force renews whatever the expiry (cert rotate).
	Force bool
	// Wait bounds the wait for the new key; zero means DefaultWait.
	Wait time.Duration
	// Progress receives progress lines (cert rotate); nil discards.
	Progress func(string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result says what a renewal did. Events are the renewal's events, in
// order, without tenant or run (the caller adds them).
type Result struct {
	// Due says the certificate was due for renewal (or Force).
	Due bool
	// Switched says the tenant now uses the new certificate.
	Switched      bool
	OldThumbprint string
	NewThumbprint string
	NewNotAfter   time.Time
	Events        []events.Event
	Err           error
}

func (r *Result) emit(id events.ID, detail string, fields ...events.Field) {
	r.Events = append(r.Events, events.Event{ID: id, Detail: detail, Fields: fields})
}

// fail records a failed step: event 444, the old certificate untouched.
func (r *Result) fail(step string, err error) *Result {
	r.Err = fmt.Errorf("%s: %w", step, err)
	r.emit(events.CertRenewalFailed, r.Err.Error(), events.F("step", step), events.F("thumbprint", r.OldThumbprint))
	return r
}

// block records that the certificate cannot renew itself: event 445.
func (r *Result) block(why string) *Result {
	r.Err = errors.New(why)
	r.emit(events.CertRenewalBlocked, why, events.F("thumbprint", r.OldThumbprint))
	return r
}

// renewal is one renewal in progress.
type renewal struct {
	o      Options
	t      *config.Tenant
	res    *Result
	now    func() time.Time
	hc     *http.Client
	ep     entra.Endpoints
	pw     string
	cur    *entra.Certificate
	next   *entra.Certificate
	nextAt string // where the pending certificate is (a file, or the store)
}

func (r *renewal) progress(format string, args ...any) {
	if r.o.Progress != nil {
		r.o.Progress(fmt.Sprintf(format, args...))
	}
}

// Due reports whether a certificate expiring at notAfter is due for
// renewal at now under the tenant's settings.
func Due(t *config.Tenant, notAfter, now time.Time) bool {
	before := t.CertificateRenewBefore.Std()
	return before > 0 && !notAfter.IsZero() && notAfter.Sub(now) <= before
}

// Renew renews the tenant's certificate when it is due (or o.Force).
func Renew(ctx context.Context, o Options) *Result {
	r := &renewal{o: o, t: o.Tenant, res: &Result{}, now: o.Now}
	if r.now == nil {
		r.now = time.Now
	}
	if r.o.Wait <= 0 {
		r.o.Wait = DefaultWait
	}
	if !r.load(ctx) {
		return r.res
	}
	defer r.cur.Close()
	if r.next != nil {
		defer r.next.Close()
	}
	if !r.addKey(ctx) || !r.waitForKey(ctx) || !r.switchOver(ctx) {
		return r.res
	}
	r.removeOld(ctx)
	return r.res
}

// load reads the current certificate and decides whether it is due; it
// reports whether to go on.
func (r *renewal) load(ctx context.Context) bool {
	t, res := r.t, r.res
	if t.CertificateRenewBefore.Std() == 0 && !r.o.Force {
		return false
	}
	hc, err := syncer.HTTPClient(ctx, t)
	if err != nil {
		return false
	}
	ep, err := entra.ResolveCloud(string(t.Cloud), t.Endpoints.Authority, t.Endpoints.Graph, t.Endpoints.CAFile)
	if err != nil {
		return false
	}
	r.hc, r.ep = hc, ep
	if r.pw, err = syncer.CertificatePassword(t.Certificate); err != nil {
		return false // the run reports it (311)
	}
	now := r.now()
	cur, err := entra.LoadCertificate(ctx, entra.CertificateSource{File: t.Certificate.File, Password: r.pw, Thumbprint: t.Certificate.Thumbprint}, now)
	var expired *entra.CertificateExpiredError
	switch {
	case errors.As(err, &expired):
		res.Due, res.OldThumbprint = true, expired.Thumbprint
		res.block(fmt.Sprintf("the certificate expired on %s: an expired certificate cannot prove possession to add its successor; run galmirror onboard --config FILE --name %s with an administrator's sign-in to add a new one",
			expired.NotAfter.UTC().Format("2006-01-02"), t.Name))
		return false
	case err != nil:
		return false // the run reports it (310, 311)
	}
	r.cur = cur
	res.OldThumbprint = cur.ThumbprintSHA1()
	if !r.o.Force && !Due(t, cur.NotAfter(), now) {
		cur.Close()
		return false
	}
	res.Due = true
	if t.ApplicationObjectID == "" {
		cur.Close()
		res.block(fmt.Sprintf("the certificate expires on %s and cannot renew itself: applicationObjectId is not set for %s (run galmirror onboard --config FILE --name %s once, or add the app registration's Object ID)",
			cur.NotAfter().UTC().Format("2006-01-02"), t.Name, t.Name))
		return false
	}
	if !r.pending(ctx) {
		cur.Close()
		return false
	}
	return true
}

// pending loads the certificate an earlier attempt made, or makes one.
func (r *renewal) pending(ctx context.Context) bool {
	t := r.t
	if t.Certificate.Thumbprint != "" {
		return r.pendingInStore(ctx)
	}
	r.nextAt = t.Certificate.File + ".next"
	c, err := entra.LoadCertificateFile(ctx, r.nextAt, r.pw, r.now())
	if err == nil && c.NotAfter().After(r.cur.NotAfter()) {
		r.next = c
		r.res.NewThumbprint, r.res.NewNotAfter = c.ThumbprintSHA1(), c.NotAfter()
		r.progress("continuing with the new certificate %s made earlier (%s)", c.ThumbprintSHA1(), r.nextAt)
		return true
	}
	if err == nil {
		c.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.progress("discarding %s: %v", r.nextAt, err)
	}
	_ = os.Remove(r.nextAt)
	cert, key, err := entra.NewSelfSigned(entra.NewCertificateRequest{CommonName: commonName(r.cur.Leaf, t.Name), Now: r.now()})
	if err != nil {
		r.res.fail("make a key pair", err)
		return false
	}
	var data []byte
	if isPEM(t.Certificate.File) {
		data, err = entra.EncodePEM(cert, key)
	} else {
		data, err = entra.EncodePFX(cert, key, r.pw)
	}
	if err == nil {
		err = writePrivate(r.nextAt, data)
	}
	if err != nil {
		r.res.fail("write the new certificate", err)
		return false
	}
	if r.next, err = entra.LoadCertificateFile(ctx, r.nextAt, r.pw, r.now()); err != nil {
		r.res.fail("read the new certificate back", err)
		return false
	}
	r.started()
	return true
}

func (r *renewal) started() {
	c := r.next
	r.res.NewThumbprint, r.res.NewNotAfter = c.ThumbprintSHA1(), c.NotAfter()
	r.res.emit(events.CertRenewalStarted, "", events.F("thumbprint", r.res.OldThumbprint), events.F("new_thumbprint", c.ThumbprintSHA1()),
		events.F("not_after", r.cur.NotAfter().UTC().Format(time.RFC3339)), events.F("new_not_after", c.NotAfter().UTC().Format(time.RFC3339)))
	r.progress("made a new key pair: certificate %s, valid until %s", c.ThumbprintSHA1(), c.NotAfter().UTC().Format("2006-01-02"))
}

func commonName(c *x509.Certificate, tenant string) string {
	if cn := c.Subject.CommonName; cn != "" && len(cn) <= 64 {
		return cn
	}
	return "galmirror " + tenant
}

func isPEM(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".pem") }
