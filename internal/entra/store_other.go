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
