// Package negotiate implements the server and client halves of HTTP
// Negotiate authentication (RFC 4559) carrying Kerberos, for the admin API.
//
// Kerberos is single-leg: the client sends one SPNEGO token with each
// request, and the server accepts or refuses it there and then, so it works
// per request over HTTP/2 and gRPC with no connection or session state. NTLM
// needs several legs bound to one TCP connection; it is refused with a
// message that says how to get Kerberos instead.
//
// The server side is the Acceptor interface: on Windows SSPI under the
// service's machine account (acceptor_windows.go), elsewhere gokrb5 with a
// keytab (acceptor_other.go). The client side is TokenSource: SSPI with the
// logged-on user's credentials on Windows, the user's Kerberos credential
// cache (kinit) elsewhere.
package negotiate

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Scheme is the HTTP authentication scheme name.
const Scheme = "Negotiate"

// MaxTokenBytes bounds the decoded token. Kerberos tickets with a large PAC
// (users in hundreds of groups) reach about 48 KiB, Windows' default
// MaxTokenSize; a larger header is refused before decoding.
const MaxTokenBytes = 64 << 10

// Identity is an authenticated Kerberos client.
type Identity struct {
	// Principal is the client's name, "user@REALM".
	Principal string
	// Aliases are further names role bindings may use for this client,
	// where the acceptor learns them: from Active Directory the DOMAIN\user
	// name and the group SIDs in the ticket's PAC, and on Windows also the
	// groups' DOMAIN\name. Empty for a plain MIT Kerberos ticket.
	Aliases []string
}

// Acceptor validates one Negotiate token from a client.
type Acceptor interface {
	// Accept validates token (the decoded Authorization header value) and
	// returns the client's identity, and a token to return to the client in
	// WWW-Authenticate (may be nil). Errors wrap ErrRejected (the token was
	// read and refused: bad ticket, wrong service, clock skew, replay),
	// ErrNTLM or ErrContinueNeeded; their text is safe to show the client.
	Accept(ctx context.Context, token []byte) (id Identity, out []byte, err error)
	// Close releases the acceptor's credentials.
	Close() error
}

// Errors returned by acceptors and ParseAuthorization.
var (
	// ErrRejected: the token was refused.
	ErrRejected = errors.New("kerberos token rejected")
	// ErrNTLM: the client offered NTLM.
	ErrNTLM = errors.New("NTLM is not accepted: use Kerberos (connect by the server's DNS name, for which an HTTP/ SPN is registered, from a domain-joined machine or after kinit)")
	// ErrContinueNeeded: the exchange needs another leg, which per-request
	// authentication cannot do (it is NTLM or a SPNEGO renegotiation).
	ErrContinueNeeded = errors.New("multi-leg Negotiate exchange (usually NTLM) is not supported: use Kerberos")
	// ErrMalformed: the Authorization header is not a Negotiate token.
	ErrMalformed = errors.New("malformed Negotiate authorization header")
)

// ParseAuthorization decodes an "Authorization: Negotiate <base64>" header
// value. ok is false if the header uses another scheme (or is empty); err is
// set for a Negotiate header that cannot be decoded, and ErrNTLM for an NTLM
// token in either scheme.
func ParseAuthorization(header string) (token []byte, ok bool, err error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	switch {
	case strings.EqualFold(scheme, "NTLM"):
		return nil, true, ErrNTLM
	case !strings.EqualFold(scheme, Scheme):
		return nil, false, nil
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return nil, true, fmt.Errorf("%w: no token after %q", ErrMalformed, Scheme)
	}
	if base64.StdEncoding.DecodedLen(len(rest)) > MaxTokenBytes {
		return nil, true, fmt.Errorf("%w: token longer than %d bytes", ErrMalformed, MaxTokenBytes)
	}
	token, err = base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, true, fmt.Errorf("%w: token is not base64", ErrMalformed)
	}
	if IsNTLM(token) {
		return nil, true, ErrNTLM
	}
	return token, true, nil
}

// ntlmSignature starts every NTLM message (MS-NLMP 2.2.1).
var ntlmSignature = []byte("NTLMSSP\x00")

// IsNTLM reports whether token is a raw NTLM message or a SPNEGO token whose
// first offered mechanism is NTLM (OID 1.3.6.1.4.1.311.2.2.10). It exists to
// give a clear message early; acceptors also refuse NTLM structurally,
// because NTLM never completes in one leg.
func IsNTLM(token []byte) bool {
	if bytes.HasPrefix(token, ntlmSignature) {
		return true
	}
	// A SPNEGO NegTokenInit lists its mechanisms first; the DER encoding of
	// the NTLMSSP OID is unambiguous. Look only in the head of the token,
	// where the mechTypes list sits, and require the NTLM message itself.
	head := token
	if len(head) > 64 {
		head = head[:64]
	}
	return bytes.Contains(head, ntlmOID) && bytes.Contains(token, ntlmSignature)
}

var ntlmOID = []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}

// FormatAuthorization returns the Authorization header value for token.
func FormatAuthorization(token []byte) string {
	return Scheme + " " + base64.StdEncoding.EncodeToString(token)
}

// TokenSource makes a client's Negotiate token for one request.
type TokenSource interface {
	// Token returns a fresh SPNEGO token for the service principal spn
	// ("HTTP/host.example.com").
	Token(ctx context.Context, spn string) ([]byte, error)
}

// SPNForHost returns the conventional HTTP service principal for a host
// name: Kerberos SPNs carry no port.
func SPNForHost(host string) string {
	return "HTTP/" + strings.ToLower(strings.TrimSuffix(host, "."))
}
