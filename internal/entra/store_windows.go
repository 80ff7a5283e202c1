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
	"syscall"
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

// PFX import flags (wincrypt.h).
const (
	pkcs12PreferCNGKSP  = 0x100 // PKCS12_PREFER_CNG_KSP
	certKeyProvInfo     = 2     // CERT_KEY_PROV_INFO_PROP_ID
	cryptDeleteKeyset   = 0x10  // CRYPT_DELETEKEYSET
	ncryptMachineKey    = 0x20  // NCRYPT_MACHINE_KEY_FLAG
	certStoreCtrlCommit = 3     // CERT_STORE_CTRL_COMMIT
)

var (
	crypt32                 = windows.NewLazySystemDLL("crypt32.dll")
	procCertGetContextProp  = crypt32.NewProc("CertGetCertificateContextProperty")
	procCertControlStore    = crypt32.NewProc("CertControlStore")
	advapi32                = windows.NewLazySystemDLL("advapi32.dll")
	procCryptAcquireContext = advapi32.NewProc("CryptAcquireContextW")
	ncrypt                  = windows.NewLazySystemDLL("ncrypt.dll")
	procNCryptOpenProvider  = ncrypt.NewProc("NCryptOpenStorageProvider")
	procNCryptOpenKey       = ncrypt.NewProc("NCryptOpenKey")
	procNCryptDeleteKey     = ncrypt.NewProc("NCryptDeleteKey")
	procNCryptFreeObject    = ncrypt.NewProc("NCryptFreeObject")
)

// cryptKeyProvInfo is CRYPT_KEY_PROV_INFO.
type cryptKeyProvInfo struct {
	ContainerName *uint16
	ProvName      *uint16
	ProvType      uint32
	Flags         uint32
	ProvParamN    uint32
	ProvParams    uintptr
	KeySpec       uint32
}

// ImportPFX imports the certificate and private key of a PFX file into
// LocalMachine\My, the key non-exportable in the machine's key storage,
// preferring CNG (the Microsoft Software Key Storage Provider, where the
// thumbprint loader reads keys). A certificate with the same thumbprint is
// replaced. CA certificates in the file are not added anywhere. The
// password has been checked by the caller (LoadCertificateFile).
//
// A system whose PFX import has no CNG key storage (Wine) gets the key in
// a CryptoAPI container instead, and a warning saying so.
func ImportPFX(pfx []byte, password, thumbprint string) (warnings []string, err error) {
	tp, err := ParseThumbprint(thumbprint)
	if err != nil {
		return nil, err
	}
	pw, err := windows.UTF16PtrFromString(password)
	if err != nil {
		return nil, errors.New("the PFX password contains a NUL character")
	}
	blob := windows.CryptDataBlob{Size: uint32(len(pfx)), Data: &pfx[0]}
	// No CRYPT_EXPORTABLE: the key cannot be exported again.
	tmp, err := windows.PFXImportCertStore(&blob, pw, windows.CRYPT_MACHINE_KEYSET|pkcs12PreferCNGKSP)
	// Wine 8 refuses the CNG flag without setting an error (EINVAL here).
	if errors.Is(err, windows.ERROR_INVALID_PARAMETER) || errors.Is(err, syscall.Errno(windows.NTE_BAD_FLAGS)) || errors.Is(err, syscall.EINVAL) {
		tmp, err = windows.PFXImportCertStore(&blob, pw, windows.CRYPT_MACHINE_KEYSET)
		if err == nil {
			warnings = append(warnings, "this system's PFX import has no CNG key storage (Wine): the key went to a CryptoAPI container, which the thumbprint loader does not read")
		}
	}
	if err != nil {
		return warnings, fmt.Errorf("import the PFX: %w", err)
	}
	defer windows.CertCloseStore(tmp, 0)
	hash := windows.CryptHashBlob{Size: uint32(len(tp)), Data: &tp[0]}
	leaf, err := windows.CertFindCertificateInStore(tmp, windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING, 0, windows.CERT_FIND_HASH, unsafe.Pointer(&hash), nil)
	if err != nil || leaf == nil {
		return warnings, fmt.Errorf("the imported PFX has no certificate with thumbprint %s", strings.ToUpper(hex.EncodeToString(tp)))
	}
	defer windows.CertFreeCertificateContext(leaf)
	my, err := openMachineMy(false)
	if err != nil {
		return warnings, err
	}
	defer windows.CertCloseStore(my, 0)
	if err := windows.CertAddCertificateContextToStore(my, leaf, windows.CERT_STORE_ADD_REPLACE_EXISTING, nil); err != nil {
		return warnings, fmt.Errorf("add the certificate to LocalMachine\\My: %w", err)
	}
	return warnings, nil
}

func openMachineMy(readOnly bool) (windows.Handle, error) {
	name, _ := windows.UTF16PtrFromString("MY")
	// Opened for writing, a missing store is created (Windows always has
	// one; a fresh Wine prefix has none until then).
	flags := uint32(windows.CERT_SYSTEM_STORE_LOCAL_MACHINE)
	if readOnly {
		flags |= windows.CERT_STORE_READONLY_FLAG | windows.CERT_STORE_OPEN_EXISTING_FLAG
	}
	h, err := windows.CertOpenStore(windows.CERT_STORE_PROV_SYSTEM, 0, 0, flags, uintptr(unsafe.Pointer(name)))
	if err != nil {
		return 0, fmt.Errorf("open LocalMachine\\My: %w", err)
	}
	return h, nil
}

// StoreHasCertificate reports whether LocalMachine\My holds the
// certificate with this SHA-1 thumbprint.
func StoreHasCertificate(thumbprint string) (bool, error) {
	tp, err := ParseThumbprint(thumbprint)
	if err != nil {
		return false, err
	}
	my, err := openMachineMy(true)
	if err != nil {
		return false, err
	}
	defer windows.CertCloseStore(my, 0)
	hash := windows.CryptHashBlob{Size: uint32(len(tp)), Data: &tp[0]}
	c, err := windows.CertFindCertificateInStore(my, windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING, 0, windows.CERT_FIND_HASH, unsafe.Pointer(&hash), nil)
	if err != nil || c == nil {
		return false, nil
	}
	windows.CertFreeCertificateContext(c)
	return true, nil
}

// RemoveStoreCertificate deletes the certificate with this thumbprint from
// LocalMachine\My and its private key from the key storage. A certificate
// that is not there is not an error.
func RemoveStoreCertificate(thumbprint string) error {
	tp, err := ParseThumbprint(thumbprint)
	if err != nil {
		return err
	}
	my, err := openMachineMy(false)
	if err != nil {
		return err
	}
	defer windows.CertCloseStore(my, 0)
	hash := windows.CryptHashBlob{Size: uint32(len(tp)), Data: &tp[0]}
	c, err := windows.CertFindCertificateInStore(my, windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING, 0, windows.CERT_FIND_HASH, unsafe.Pointer(&hash), nil)
	if err != nil || c == nil {
		return nil
	}
	keyErr := deleteKey(c)
	// CertDeleteCertificateFromStore frees the context.
	if err := windows.CertDeleteCertificateFromStore(c); err != nil {
		return fmt.Errorf("delete certificate %s from LocalMachine\\My: %w", thumbprint, err)
	}
	// Write the deletion through now (Wine's registry store keeps it in
	// memory otherwise).
	if r, _, err := procCertControlStore.Call(uintptr(my), 0, certStoreCtrlCommit, 0); r == 0 {
		return fmt.Errorf("delete certificate %s from LocalMachine\\My: commit: %w", thumbprint, err)
	}
	if keyErr != nil {
		return fmt.Errorf("certificate %s deleted, its private key not: %w", thumbprint, keyErr)
	}
	return nil
}

// deleteKey deletes the private key a certificate context points to: a CNG
// key (provider type 0) through NCrypt, a CryptoAPI container through
// CryptAcquireContext(CRYPT_DELETEKEYSET).
func deleteKey(c *windows.CertContext) error {
	var n uint32
	if r, _, _ := procCertGetContextProp.Call(uintptr(unsafe.Pointer(c)), certKeyProvInfo, 0, uintptr(unsafe.Pointer(&n))); r == 0 || n == 0 {
		return nil // no key
	}
	b := make([]byte, n)
	if r, _, err := procCertGetContextProp.Call(uintptr(unsafe.Pointer(c)), certKeyProvInfo, uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&n))); r == 0 {
		return fmt.Errorf("read the key's location: %w", err)
	}
	pi := (*cryptKeyProvInfo)(unsafe.Pointer(&b[0]))
	if pi.ProvType == 0 {
		var prov, key uintptr
		if r, _, _ := procNCryptOpenProvider.Call(uintptr(unsafe.Pointer(&prov)), uintptr(unsafe.Pointer(pi.ProvName)), 0); r != 0 {
			return fmt.Errorf("open key storage provider %s: 0x%x", windows.UTF16PtrToString(pi.ProvName), r)
		}
		defer procNCryptFreeObject.Call(prov)
		if r, _, _ := procNCryptOpenKey.Call(prov, uintptr(unsafe.Pointer(&key)), uintptr(unsafe.Pointer(pi.ContainerName)), uintptr(pi.KeySpec), ncryptMachineKey); r == uintptr(uint32(windows.NTE_BAD_KEYSET)) {
			return nil // already gone
		} else if r != 0 {
			return fmt.Errorf("open key %s: 0x%x", windows.UTF16PtrToString(pi.ContainerName), r)
		}
		// NCryptDeleteKey frees the key handle.
		if r, _, _ := procNCryptDeleteKey.Call(key, 0); r != 0 {
			return fmt.Errorf("delete key %s: 0x%x", windows.UTF16PtrToString(pi.ContainerName), r)
		}
		return nil
	}
	var h uintptr
	flags := uint32(cryptDeleteKeyset)
	if pi.Flags&windows.CRYPT_MACHINE_KEYSET != 0 {
		flags |= windows.CRYPT_MACHINE_KEYSET
	}
	if r, _, err := procCryptAcquireContext.Call(uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(pi.ContainerName)), uintptr(unsafe.Pointer(pi.ProvName)), uintptr(pi.ProvType), uintptr(flags)); r == 0 && !errors.Is(err, syscall.Errno(windows.NTE_BAD_KEYSET)) {
		return fmt.Errorf("delete key container %s: %w", windows.UTF16PtrToString(pi.ContainerName), err)
	}
	return nil
}
