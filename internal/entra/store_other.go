//go:build !windows

package entra

import "errors"

// openStoreCertificate is the Windows certificate store; elsewhere a
// thumbprint cannot be resolved.
func openStoreCertificate(thumbprint []byte) (*Certificate, error) {
	return nil, errors.New("certificate thumbprint selection is only available on Windows; use a PFX or PEM file")
}
