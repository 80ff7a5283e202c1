package webauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// sealer signs small JSON values for cookies with HMAC-SHA256. Each use
// (purpose) gets its own key derived from the master key, so a login
// cookie never passes for a session.
type sealer struct{ key []byte }

func (s sealer) mac(purpose string, payload []byte) []byte {
	k := hmac.New(sha256.New, s.key)
	k.Write([]byte("galmirror-console/" + purpose))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write(payload)
	return m.Sum(nil)
}

func (s sealer) seal(purpose string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, b)), nil
}

var errBadSeal = errors.New("cookie is not signed by this console")

// maxCookie bounds what open reads.
const maxCookie = 4096

func (s sealer) open(purpose, val string, v any) error {
	if len(val) > maxCookie {
		return errBadSeal
	}
	p, m, ok := strings.Cut(val, ".")
	if !ok {
		return errBadSeal
	}
	b, err1 := base64.RawURLEncoding.DecodeString(p)
	sig, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, s.mac(purpose, b)) {
		return errBadSeal
	}
	return json.Unmarshal(b, v)
}

// sessionKeyBytes is the master key's size.
const sessionKeyBytes = 32

// loadSessionKey reads the key file (64 hex digits), creating it with a
// new random key (mode 0600) when it does not exist; an empty path means a
// key for this run only.
func loadSessionKey(path string) ([]byte, error) {
	key := make([]byte, sessionKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if path == "" {
		return key, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc.sessionKeyFile: create %s: %w", path, err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("auth.oidc.sessionKeyFile: write %s: %w", path, werr)
		}
		return key, nil
	case err != nil:
		return nil, fmt.Errorf("auth.oidc.sessionKeyFile: %w", err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < sessionKeyBytes {
		return nil, fmt.Errorf("auth.oidc.sessionKeyFile: %s does not hold a key of %d bytes in hex (delete it to have the console make a new one; everybody will be signed out)", path, sessionKeyBytes)
	}
	return k, nil
}
