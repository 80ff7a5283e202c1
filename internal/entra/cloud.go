// Package entra is galmirror's client side of Microsoft Entra ID: national
// clouds (login and Graph hosts), certificates (PFX, PEM, the Windows store),
// the token credential, access-token inspection for consent checks, and
// Entra's token errors as a typed error.
//
// It imports nothing of galmirror's: callers map their settings to these
// types.
package entra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cloud names accepted by ResolveCloud.
const (
	CloudGlobal   = "global"
	CloudUSGov    = "usgov"
	CloudUSGovDoD = "usgovdod"
	CloudChina    = "china"
	CloudCustom   = "custom"
)

// Endpoints are the hosts one tenant talks to. Every login and Graph host in
// galmirror comes from here.
type Endpoints struct {
	// Cloud is the cloud's name (one of the Cloud* constants).
	Cloud string
	// AuthorityHost is the login origin, e.g. https://login.microsoftonline.com
	// (no trailing slash).
	AuthorityHost string
	// GraphRoot is the Graph origin, e.g. https://graph.microsoft.com (no
	// trailing slash, no version).
	GraphRoot string
	// CAFile is an extra trusted CA bundle (PEM) for a custom cloud; empty
	// otherwise.
	CAFile string
}

// clouds maps the named clouds to their hosts
// (https://learn.microsoft.com/graph/deployments).
var clouds = map[string]Endpoints{
	CloudGlobal:   {Cloud: CloudGlobal, AuthorityHost: "https://login.microsoftonline.com", GraphRoot: "https://graph.microsoft.com"},
	CloudUSGov:    {Cloud: CloudUSGov, AuthorityHost: "https://login.microsoftonline.us", GraphRoot: "https://graph.microsoft.us"},
	CloudUSGovDoD: {Cloud: CloudUSGovDoD, AuthorityHost: "https://login.microsoftonline.us", GraphRoot: "https://dod-graph.microsoft.us"},
	CloudChina:    {Cloud: CloudChina, AuthorityHost: "https://login.chinacloudapi.cn", GraphRoot: "https://microsoftgraph.chinacloudapi.cn"},
}

// CloudNames lists the accepted cloud names, for help texts and schemas.
func CloudNames() []string {
	return []string{CloudGlobal, CloudUSGov, CloudUSGovDoD, CloudChina, CloudCustom}
}

// ResolveCloud turns a cloud name (empty means global) and, for the custom
// cloud, its explicit authority and Graph origins and optional CA file into
// Endpoints. authority, graph and caFile must be empty for the named clouds.
// Errors name the offending field as in settings.json (cloud,
// endpoints.authority, endpoints.graph, endpoints.caFile).
func ResolveCloud(name, authority, graph, caFile string) (Endpoints, error) {
	if name == "" {
		name = CloudGlobal
	}
	if ep, ok := clouds[name]; ok {
		if authority != "" || graph != "" || caFile != "" {
			return Endpoints{}, fmt.Errorf("endpoints: only used with cloud %q, not %q", CloudCustom, name)
		}
		return ep, nil
	}
	if name != CloudCustom {
		return Endpoints{}, fmt.Errorf("cloud: unknown cloud %q (want one of %s)", name, strings.Join(CloudNames(), ", "))
	}
	a, err := origin("endpoints.authority", authority)
	if err != nil {
		return Endpoints{}, err
	}
	g, err := origin("endpoints.graph", graph)
	if err != nil {
		return Endpoints{}, err
	}
	return Endpoints{Cloud: CloudCustom, AuthorityHost: a, GraphRoot: g, CAFile: caFile}, nil
}

// origin validates an https origin (a path is tolerated only as "/").
func origin(field, s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%s: required for cloud %q", field, CloudCustom)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%s: %q is not a URL", field, s)
	}
	switch {
	case u.Scheme != "https":
		return "", fmt.Errorf("%s: %q must be an https URL", field, s)
	case u.Host == "":
		return "", fmt.Errorf("%s: %q has no host", field, s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%s: %q must be a bare origin without user, query or fragment", field, s)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("%s: %q must be an origin without a path (e.g. https://host:port)", field, s)
	}
	return "https://" + u.Host, nil
}

// TokenEndpoint is the v2.0 token endpoint of a tenant in this cloud (the
// audience of a client assertion).
func (e Endpoints) TokenEndpoint(tenantID string) string {
	return e.AuthorityHost + "/" + tenantID + "/oauth2/v2.0/token"
}

// GraphScope is the only scope galmirror requests: the Graph root's
// .default scope.
func (e Endpoints) GraphScope() string { return e.GraphRoot + "/.default" }

// TLSConfig returns the TLS configuration of a tenant's token and Graph
// requests: nil (the system's trusted roots, what a customer normally
// has) when extraCAPEM is empty, else the system roots plus the PEM
// certificates in extraCAPEM (a custom cloud's private CA, or a
// TLS-inspecting proxy's).
func TLSConfig(extraCAPEM []byte) (*tls.Config, error) {
	if len(extraCAPEM) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(extraCAPEM) {
		return nil, errors.New("extra CA: no PEM certificate found")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// NewHTTPClient returns an HTTP client trusting the system roots plus the
// PEM certificates in extraCAPEM (none when empty). It is never nil.
func NewHTTPClient(extraCAPEM []byte) (*http.Client, error) {
	tc, err := TLSConfig(extraCAPEM)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

// LoadCAFile reads a custom cloud's CA file (a regular file of at most
// MaxCAFileSize bytes, see ReadFile); an empty path returns nil.
func LoadCAFile(ctx context.Context, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := ReadFile(ctx, path, MaxCAFileSize)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("CA file %w", err)
		}
		return nil, fmt.Errorf("CA file: %w", err)
	}
	if _, err := TLSConfig(b); err != nil {
		return nil, fmt.Errorf("CA file %s: no PEM certificate found", path)
	}
	return b, nil
}
