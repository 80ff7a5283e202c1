package renew

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/events"
	"github.com/galmirror/galmirror/internal/graph"
)

// appClient returns a Graph client acting as the app with cert: a fresh
// credential, so that a token of another certificate is never reused.
func (r *renewal) appClient(cert *entra.Certificate) (*graph.Client, *entra.TokenSource, error) {
	cred, err := entra.NewCredential(r.t.TenantID, r.t.ClientID, cert, r.ep, &entra.CredentialOptions{HTTPClient: r.hc})
	if err != nil {
		return nil, nil, err
	}
	ts := entra.NewTokenSource(cred, r.ep)
	c, err := graph.New(graph.Options{BaseURL: r.ep.GraphRoot + "/v1.0", Tokens: refreshable{ts}, HTTP: r.hc,
		PacerConfig: graph.PacerConfig{MaxAttempts: 3, BackoffBase: time.Second, BackoffCap: 4 * time.Second}})
	return c, ts, err
}

// refreshable adapts a token source to the Graph client.
type refreshable struct{ ts *entra.TokenSource }

func (t refreshable) Token(ctx context.Context) (string, error) { return t.ts.Token(ctx) }
func (t refreshable) Refresh(ctx context.Context, _ string) (string, error) {
	return t.ts.Token(ctx)
}

// signsIn reports whether a token can be had with cert.
func (r *renewal) signsIn(ctx context.Context, cert *entra.Certificate) error {
	_, ts, err := r.appClient(cert)
	if err != nil {
		return err
	}
	_, err = ts.Token(ctx)
	return err
}

// addKey adds the new certificate to the app, unless it signs in already
// (an earlier attempt added it and stopped before the switch).
func (r *renewal) addKey(ctx context.Context) bool {
	if r.signsIn(ctx, r.next) == nil {
		r.progress("the new certificate is already on the app")
		return true
	}
	c, _, err := r.appClient(r.cur)
	if err != nil {
		r.res.fail("addKey", err)
		return false
	}
	proof, err := entra.SignProof(r.cur.Leaf, r.cur.Signer(), r.t.ApplicationObjectID, r.now())
	if err != nil {
		r.res.fail("addKey", err)
		return false
	}
	keyID, err := c.AddKey(ctx, r.t.ClientID, r.next.Leaf.Raw, "CN="+r.next.Leaf.Subject.CommonName, proof)
	if err != nil {
		r.res.fail("addKey", err)
		return false
	}
	if r.o.Keys != nil {
		if err := r.o.Keys.SetAppKeyID(ctx, r.t.Name, r.next.ThumbprintSHA1(), keyID); err != nil {
			r.progress("record the new key's id: %v (its removal at the next renewal will rely on its expiry)", err)
		}
	}
	r.res.emit(events.CertKeyAdded, "", events.F("thumbprint", r.next.ThumbprintSHA1()), events.F("key_id", keyID))
	r.progress("added the new certificate to the app (keyId %s)", keyID)
	return true
}

// waitForKey waits until a token with the new certificate succeeds.
func (r *renewal) waitForKey(ctx context.Context) bool {
	start := time.Now()
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := r.signsIn(ctx, r.next)
		if err == nil {
			r.progress("a token with the new certificate succeeded (after %s)", time.Since(start).Round(time.Second))
			return true
		}
		if ctx.Err() != nil {
			r.res.fail("verify the new certificate", ctx.Err())
			return false
		}
		var te *entra.TokenError
		if !errors.As(err, &te) || (te.Code != 700027 && !te.Retryable()) {
			r.res.fail("verify the new certificate", err)
			return false
		}
		if time.Since(start)+wait > r.o.Wait {
			r.res.fail("verify the new certificate", fmt.Errorf("Entra ID did not honour the new key within %s (%v); the next attempt continues", r.o.Wait, err))
			return false
		}
		r.progress("waiting for Entra ID to honour the new key (attempt %d, %s)", attempt, time.Since(start).Round(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.res.fail("verify the new certificate", ctx.Err())
			return false
		case <-t.C:
		}
		wait = min(2*wait, 15*time.Second)
	}
}

// switchOver makes the tenant use the new certificate: the file is
// replaced in one rename (same path, same password), or the settings'
// thumbprint is changed.
func (r *renewal) switchOver(ctx context.Context) bool {
	t := r.t
	if t.Certificate.Thumbprint != "" {
		f, err := config.OpenForEdit(r.o.SettingsPath)
		if err == nil {
			err = f.SetTenantCertificateMember(t.Name, "thumbprint", r.next.ThumbprintSHA1())
		}
		if err == nil {
			err = f.Save()
		}
		if err != nil {
			r.res.fail("switch to the new certificate", err)
			return false
		}
		if r.o.Keys != nil {
			_ = r.o.Keys.SetAppKeyID(ctx, t.Name, pendingKey, "")
		}
	} else {
		if err := os.Rename(r.nextAt, t.Certificate.File); err != nil {
			r.res.fail("switch to the new certificate", err)
			return false
		}
		syncDir(filepath.Dir(t.Certificate.File))
		if cer := entra.CerPath(t.Certificate.File); cer != t.Certificate.File {
			if _, err := os.Stat(cer); err == nil {
				_ = writePrivate(cer, r.next.Leaf.Raw)
			}
		}
	}
	r.res.Switched = true
	r.res.NewThumbprint, r.res.NewNotAfter = r.next.ThumbprintSHA1(), r.next.NotAfter()
	r.res.emit(events.CertSwitched, "", events.F("thumbprint", r.next.ThumbprintSHA1()), events.F("old_thumbprint", r.res.OldThumbprint),
		events.F("not_after", r.next.NotAfter().UTC().Format(time.RFC3339)))
	r.progress("switched %s to the new certificate %s", t.Name, r.next.ThumbprintSHA1())
	return true
}

// removeOld removes the old certificate from the app. Its keyId is the one
// addKey answered when it was added (recorded), or the one onboarding
// gave it (derived from the certificate). A key whose id is unknown stays
// on the app until it expires, which is harmless.
func (r *renewal) removeOld(ctx context.Context) {
	old := r.res.OldThumbprint
	keyID := ""
	if r.o.Keys != nil {
		keyID, _ = r.o.Keys.AppKeyID(ctx, r.t.Name, old)
	}
	if keyID == "" {
		keyID = entra.KeyIDFor(r.cur.Leaf)
	}
	c, _, err := r.appClient(r.next)
	if err == nil {
		var proof string
		proof, err = entra.SignProof(r.next.Leaf, r.next.Signer(), r.t.ApplicationObjectID, r.now())
		if err == nil {
			err = c.RemoveKey(ctx, r.t.ClientID, keyID, proof)
		}
	}
	switch {
	case err == nil:
		r.res.emit(events.CertOldKeyRemoved, "", events.F("thumbprint", old), events.F("key_id", keyID))
		r.progress("removed the old certificate %s from the app", old)
		if r.o.Keys != nil {
			_ = r.o.Keys.SetAppKeyID(ctx, r.t.Name, old, "")
		}
	case graph.IsNotFound(err):
		r.res.emit(events.CertOldKeyRemoved, fmt.Sprintf("the app holds no key %s for the old certificate: left on the app until it expires on %s", keyID, r.cur.NotAfter().UTC().Format("2006-01-02")),
			events.F("thumbprint", old), events.F("key_id", keyID))
		r.progress("the old certificate's key is not known by id; it stays on the app until it expires")
	default:
		r.res.fail("removeKey", err)
	}
}

// writePrivate replaces path with data through a file beside it (mode
// 0600) and one rename.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	err = tmp.Chmod(0o600)
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		_ = tmp.Close()
		_ = os.Remove(name)
		return err
	}
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// pendingInStore makes the new certificate in LocalMachine\My (Windows)
// with a non-exportable key, or finds the one an earlier attempt made
// there (its thumbprint recorded under the tenant's ".next" key id).
func (r *renewal) pendingInStore(ctx context.Context) bool {
	if r.o.Keys != nil {
		if tp, _ := r.o.Keys.AppKeyID(ctx, r.t.Name, pendingKey); tp != "" {
			c, err := entra.LoadCertificate(ctx, entra.CertificateSource{Thumbprint: tp}, r.now())
			if err == nil && c.NotAfter().After(r.cur.NotAfter()) {
				r.next, r.nextAt = c, `LocalMachine\My `+tp
				r.res.NewThumbprint, r.res.NewNotAfter = c.ThumbprintSHA1(), c.NotAfter()
				return true
			}
			if err == nil {
				c.Close()
			}
		}
	}
	cert, key, err := entra.NewSelfSigned(entra.NewCertificateRequest{CommonName: commonName(r.cur.Leaf, r.t.Name), Now: r.now()})
	if err != nil {
		r.res.fail("make a key pair", err)
		return false
	}
	tp, err := entra.ImportToMachineStore(cert, key)
	if err != nil {
		r.res.fail("put the new certificate into the store", err)
		return false
	}
	if r.o.Keys != nil {
		_ = r.o.Keys.SetAppKeyID(ctx, r.t.Name, pendingKey, tp)
	}
	if r.next, err = entra.LoadCertificate(ctx, entra.CertificateSource{Thumbprint: tp}, r.now()); err != nil {
		r.res.fail("read the new certificate from the store", err)
		return false
	}
	r.nextAt = `LocalMachine\My ` + tp
	r.started()
	return true
}

// pendingKey names, among the recorded key ids, the thumbprint of a
// certificate made in the store and not switched to yet.
const pendingKey = "PENDING"
