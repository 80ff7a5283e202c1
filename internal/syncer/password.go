package syncer

import (
	"errors"
	"fmt"
	"os"

	"github.com/galmirror/galmirror/internal/config"
	"github.com/galmirror/galmirror/internal/dpapi"
)

// PasswordError says why a certificate's PFX password cannot be had: the
// environment variable passwordEnv names is not set in this process, or
// the passwordProtected blob does not decrypt on this machine. It names
// the setting and the variable, never a value.
type PasswordError struct {
	// Setting is "passwordEnv" or "passwordProtected".
	Setting string
	// Variable is the environment variable's name (passwordEnv).
	Variable string
	// Err is why a protected password did not decrypt.
	Err error
}

func (e *PasswordError) Error() string {
	if e.Setting == "passwordEnv" {
		return fmt.Sprintf("the environment variable %s (certificate.passwordEnv) that holds the PFX password is not set", e.Variable)
	}
	return fmt.Sprintf("certificate.passwordProtected does not decrypt on this machine: %v", e.Err)
}

func (e *PasswordError) Unwrap() error { return e.Err }

// CertificatePassword returns the PFX password a certificate setting
// names: the value of the environment variable passwordEnv names (set but
// empty is an empty password), or the passwordProtected blob decrypted
// with DPAPI on this machine; "" when neither is set. An error is a
// *PasswordError.
func CertificatePassword(c config.Certificate) (string, error) {
	switch {
	case c.PasswordEnv != "":
		pw, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return "", &PasswordError{Setting: "passwordEnv", Variable: c.PasswordEnv}
		}
		return pw, nil
	case c.PasswordProtected != "":
		blob, err := dpapi.Decode(c.PasswordProtected)
		if err != nil { // config.Load has checked it; a hand-made Config may not be
			return "", &PasswordError{Setting: "passwordProtected", Err: err}
		}
		pw, err := dpapi.Unprotect(blob)
		if err != nil {
			if errors.Is(err, dpapi.ErrUnsupported) {
				err = errors.New("DPAPI-protected passwords are only available on Windows; use passwordEnv here")
			}
			return "", &PasswordError{Setting: "passwordProtected", Err: err}
		}
		return string(pw), nil
	}
	return "", nil
}
