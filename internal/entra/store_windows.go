//go:build windows

package entra

import (
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/google/certtostore"
	"golang.org/x/sys/windows"
	"software.sslmate.com/src/go-pkcs12"
)

// openStoreCertificate finds a certificate by SHA-1 thumbprint in
// LocalMachine\My and wraps its private key, exportable or not, as a
// CNG-backed crypto.Signer (certtostore). The returned Certificate holds
// the store and the certificate context until Close.
func openStoreCertificate(thumbprint []byte) (*Certificate, error) {
	tpHex := strings.ToUpper(hex.EncodeToString(thumbprint))
	where := `LocalMachine\My thumbprint ` + tpHex
	name, err := windows.UTF16PtrFromString("MY")
	if err != nil {
		return nil, err
	}
	store, err := windows.CertOpenStore(windows.CERT_STORE_PROV_SYSTEM, 0, 0,
		windows.CERT_SYSTEM_STORE_LOCAL_MACHINE|windows.CERT_STORE_READONLY_FLAG|windows.CERT_STORE_OPEN_EXISTING_FLAG,
		uintptr(unsafe.Pointer(name)))
	if err != nil {
		return nil, &CertificateError{where, fmt.Sprintf("cannot open the store: %v", err)}
	}
	blob := windows.CryptHashBlob{Size: uint32(len(thumbprint)), Data: &thumbprint[0]}
	ctx, err := windows.CertFindCertificateInStore(store, windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING,
		0, windows.CERT_FIND_HASH, unsafe.Pointer(&blob), nil)
	if err != nil || ctx == nil {
		_ = windows.CertCloseStore(store, 0)
		return nil, &wrapped{&CertificateError{where, "no such certificate in the local machine's Personal store"}, ErrCertificateNotFound}
	}
	der := unsafe.Slice(ctx.EncodedCert, ctx.Length)
	leaf, err := x509.ParseCertificate(append([]byte(nil), der...))
	if err != nil {
		_ = windows.CertFreeCertificateContext(ctx)
		_ = windows.CertCloseStore(store, 0)
		return nil, &CertificateError{where, fmt.Sprintf("unreadable certificate: %v", err)}
	}
	wcs, err := certtostore.OpenWinCertStoreWithOptions(certtostore.WinCertStoreOptions{
		Provider:   certtostore.ProviderMSSoftware,
		StoreFlags: windows.CERT_STORE_READONLY_FLAG,
	})
	if err != nil {
		_ = windows.CertFreeCertificateContext(ctx)
		_ = windows.CertCloseStore(store, 0)
		return nil, &CertificateError{where, fmt.Sprintf("cannot open the key storage provider: %v", err)}
	}
	closeAll := func() error {
		return errors.Join(wcs.Close(), windows.CertFreeCertificateContext(ctx), windows.CertCloseStore(store, 0))
	}
	key, err := wcs.CertKey(ctx)
	if err != nil || key == nil {
		_ = closeAll()
		return nil, &CertificateError{where, fmt.Sprintf("no usable private key (is it a CNG key, and may this account read it?): %v", err)}
	}
	c, err := NewCertificateFromSigner(where, []*x509.Certificate{leaf}, key)
	if err != nil {
		_ = closeAll()
		return nil, err
	}
	c.closer = closeAll
	return c, nil
}

// ImportToMachineStore puts a certificate with its key into
// LocalMachine\My, the key in the machine's CNG key storage provider and
// not exportable, and returns the certificate's SHA-1 thumbprint. The key
// passes through this process's memory once, as a PFX that is never
// written to disk.
func ImportToMachineStore(cert *x509.Certificate, key crypto.PrivateKey) (string, error) {
	pw := NewPassword()
	pfx, err := pkcs12.LegacyDES.Encode(key, cert, nil, pw)
	if err != nil {
		return "", fmt.Errorf("store import: %w", err)
	}
	pw16, err := windows.UTF16PtrFromString(pw)
	if err != nil {
		return "", err
	}
	blob := windows.CryptDataBlob{Size: uint32(len(pfx)), Data: &pfx[0]}
	tmp, err := windows.PFXImportCertStore(&blob, pw16, windows.CRYPT_MACHINE_KEYSET|windows.PKCS12_ALWAYS_CNG_KSP)
	if err != nil {
		return "", fmt.Errorf("store import: PFXImportCertStore: %w", err)
	}
	defer windows.CertCloseStore(tmp, 0)
	name, err := windows.UTF16PtrFromString("MY")
	if err != nil {
		return "", err
	}
	my, err := windows.CertOpenStore(windows.CERT_STORE_PROV_SYSTEM, 0, 0,
		windows.CERT_SYSTEM_STORE_LOCAL_MACHINE|windows.CERT_STORE_OPEN_EXISTING_FLAG, uintptr(unsafe.Pointer(name)))
	if err != nil {
		return "", fmt.Errorf(`store import: open LocalMachine\My (run as an administrator): %w`, err)
	}
	defer windows.CertCloseStore(my, 0)
	ctx, err := windows.CertEnumCertificatesInStore(tmp, nil)
	if err != nil || ctx == nil {
		return "", fmt.Errorf("store import: the PFX held no certificate: %v", err)
	}
	defer windows.CertFreeCertificateContext(ctx)
	if err := windows.CertAddCertificateContextToStore(my, ctx, windows.CERT_STORE_ADD_REPLACE_EXISTING, nil); err != nil {
		return "", fmt.Errorf(`store import: add to LocalMachine\My: %w`, err)
	}
	s := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:])), nil
}
