//go:build !windows

package entra

import (
	"crypto"
	"crypto/x509"
	"errors"
)

// openStoreCertificate is the Windows certificate store; elsewhere a
// thumbprint cannot be resolved.
func openStoreCertificate(thumbprint []byte) (*Certificate, error) {
	return nil, errors.New("certificate thumbprint selection is only available on Windows; use a PFX or PEM file")
}

// ImportToMachineStore is the Windows certificate store; elsewhere it
// fails with ErrStoreUnavailable.
func ImportToMachineStore(*x509.Certificate, crypto.PrivateKey) (string, error) {
	return "", ErrStoreUnavailable
}

// ErrNoStore: this system has no Windows certificate store.
var ErrNoStore = errors.New("the Windows certificate store (LocalMachine\\My) is only available on Windows")

// ImportPFX returns ErrNoStore on this system.
func ImportPFX(pfx []byte, password, thumbprint string) ([]string, error) { return nil, ErrNoStore }

// StoreHasCertificate returns ErrNoStore on this system.
func StoreHasCertificate(thumbprint string) (bool, error) { return false, ErrNoStore }

// RemoveStoreCertificate returns ErrNoStore on this system.
func RemoveStoreCertificate(thumbprint string) error { return ErrNoStore }
