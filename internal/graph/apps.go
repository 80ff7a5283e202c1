package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Application management: what `galmirror onboard` does with an
// administrator's delegated token (create the app, its service principal
// and its app role assignments) and what an app does with its own token to
// roll its keys (addKey, removeKey). Evidence for each call is in
// docs/graph-fidelity.md, section 11.

// MicrosoftGraphAppID is Microsoft Graph's application id, the same in
// every tenant and cloud.
const MicrosoftGraphAppID = "00000003-0000-0000-c000-000000000000"

// Application is the part of an application object galmirror reads.
type Application struct {
	ID                     string                   `json:"id"`
	AppID                  string                   `json:"appId"`
	DisplayName            string                   `json:"displayName"`
	SignInAudience         string                   `json:"signInAudience"`
	Tags                   []string                 `json:"tags"`
	KeyCredentials         []KeyCredential          `json:"keyCredentials"`
	RequiredResourceAccess []RequiredResourceAccess `json:"requiredResourceAccess"`
	Web                    *WebApplication          `json:"web"`
}

// KeyCredential is a certificate registered on an application. Key is the
// DER certificate in base64; Graph returns it only to a $select of
// keyCredentials on a single application, and null otherwise.
type KeyCredential struct {
	KeyID               string  `json:"keyId,omitempty"`
	Type                string  `json:"type"`
	Usage               string  `json:"usage"`
	Key                 *string `json:"key,omitempty"`
	DisplayName         string  `json:"displayName,omitempty"`
	CustomKeyIdentifier string  `json:"customKeyIdentifier,omitempty"`
	StartDateTime       string  `json:"startDateTime,omitempty"`
	EndDateTime         string  `json:"endDateTime,omitempty"`
}

// CertificateKey returns the keyCredential that registers a DER
// certificate for app authentication (type AsymmetricX509Cert, usage
// Verify); keyID may be empty to let Graph choose.
func CertificateKey(der []byte, keyID, displayName string) KeyCredential {
	k := base64.StdEncoding.EncodeToString(der)
	return KeyCredential{KeyID: keyID, Type: "AsymmetricX509Cert", Usage: "Verify", Key: &k, DisplayName: displayName}
}

// RequiredResourceAccess lists the permissions an app asks of one resource.
type RequiredResourceAccess struct {
	ResourceAppID  string           `json:"resourceAppId"`
	ResourceAccess []ResourceAccess `json:"resourceAccess"`
}

// ResourceAccess is one permission: an app role ("Role") or a delegated
// scope ("Scope") by id.
type ResourceAccess struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// NewApplication is the body of an application create.
type NewApplication struct {
	DisplayName            string                   `json:"displayName"`
	SignInAudience         string                   `json:"signInAudience"`
	Tags                   []string                 `json:"tags"`
	KeyCredentials         []KeyCredential          `json:"keyCredentials,omitempty"`
	RequiredResourceAccess []RequiredResourceAccess `json:"requiredResourceAccess,omitempty"`
	Web                    *WebApplication          `json:"web,omitempty"`
}

// WebApplication is an application's web platform: its redirect URIs.
type WebApplication struct {
	RedirectURIs []string `json:"redirectUris"`
}

// ApplicationPatch is the body of an application update; nil members are
// left out. KeyCredentials replaces the whole collection: list the keys
// to keep, each with its key.
type ApplicationPatch struct {
	Tags                   []string                 `json:"tags,omitempty"`
	Web                    *WebApplication          `json:"web,omitempty"`
	KeyCredentials         []KeyCredential          `json:"keyCredentials,omitempty"`
	RequiredResourceAccess []RequiredResourceAccess `json:"requiredResourceAccess,omitempty"`
}

// ServicePrincipal is the part of a service principal galmirror reads.
type ServicePrincipal struct {
	ID          string    `json:"id"`
	AppID       string    `json:"appId"`
	DisplayName string    `json:"displayName"`
	AppRoles    []AppRole `json:"appRoles"`
}

// AppRole is an app role a resource service principal offers.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
}

// RoleID returns the id of the enabled application role with value v.
func (sp *ServicePrincipal) RoleID(v string) (string, bool) {
	for _, r := range sp.AppRoles {
		if strings.EqualFold(r.Value, v) && r.IsEnabled {
			for _, t := range r.AllowedMemberTypes {
				if t == "Application" {
					return r.ID, true
				}
			}
		}
	}
	return "", false
}

// AppRoleAssignment is an app role granted to a service principal.
type AppRoleAssignment struct {
	ID          string `json:"id"`
	AppRoleID   string `json:"appRoleId"`
	PrincipalID string `json:"principalId"`
	ResourceID  string `json:"resourceId"`
}

// IsNotFound reports whether err is Graph's 404 for the object asked for.
func IsNotFound(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusNotFound
}

// IsForbidden reports whether err is Graph's 403.
func IsForbidden(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusForbidden
}

// appKey is the alternate key segment of an application or service
// principal by its application id: (appId='...').
func appKey(appID string) string {
	return "(appId='" + url.PathEscape(strings.ReplaceAll(appID, "'", "''")) + "')"
}

const appSelect = "id,appId,displayName,signInAudience,tags,requiredResourceAccess,keyCredentials,web"

// ApplicationsTagged lists the applications carrying tag.
func (c *Client) ApplicationsTagged(ctx context.Context, tag string) ([]Application, error) {
	q := url.Values{"$filter": {"tags/any(t:t eq '" + strings.ReplaceAll(tag, "'", "''") + "')"}, "$select": {appSelect}}
	var page struct {
		Value []Application `json:"value"`
	}
	if err := c.DoJSON(ctx, &Request{URL: "/applications?" + q.Encode()}, &page); err != nil {
		return nil, err
	}
	return page.Value, nil
}

// ApplicationByAppID reads an application by its application (client)
// id, its certificates' keys included.
func (c *Client) ApplicationByAppID(ctx context.Context, appID string) (*Application, error) {
	var a Application
	if err := c.DoJSON(ctx, &Request{URL: "/applications" + appKey(appID) + "?$select=" + appSelect}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateApplication creates an application.
func (c *Client) CreateApplication(ctx context.Context, a NewApplication) (*Application, error) {
	var out Application
	if err := c.DoJSON(ctx, &Request{Method: http.MethodPost, URL: "/applications", Body: a}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateApplication patches an application by object id.
func (c *Client) UpdateApplication(ctx context.Context, objectID string, p ApplicationPatch) error {
	return c.DoJSON(ctx, &Request{Method: http.MethodPatch, URL: "/applications/" + url.PathEscape(objectID), Body: p}, nil)
}

// DeleteApplication deletes an application by object id (with its service
// principal in its home tenant).
func (c *Client) DeleteApplication(ctx context.Context, objectID string) error {
	return c.DoJSON(ctx, &Request{Method: http.MethodDelete, URL: "/applications/" + url.PathEscape(objectID)}, nil)
}

// ServicePrincipalByAppID reads the service principal of an application
// id (Microsoft Graph's included: MicrosoftGraphAppID).
func (c *Client) ServicePrincipalByAppID(ctx context.Context, appID string) (*ServicePrincipal, error) {
	var sp ServicePrincipal
	if err := c.DoJSON(ctx, &Request{URL: "/servicePrincipals" + appKey(appID) + "?$select=id,appId,displayName,appRoles"}, &sp); err != nil {
		return nil, err
	}
	return &sp, nil
}

// CreateServicePrincipal creates the service principal of an application
// in its home tenant. A second create answers 409, so it is safe to send
// again after an ambiguous failure.
func (c *Client) CreateServicePrincipal(ctx context.Context, appID string) (*ServicePrincipal, error) {
	var sp ServicePrincipal
	err := c.DoJSON(ctx, &Request{Method: http.MethodPost, URL: "/servicePrincipals", Body: map[string]string{"appId": appID}, Idempotent: true}, &sp)
	if err != nil {
		return nil, err
	}
	return &sp, nil
}

// AppRoleAssignments lists the app roles granted to a service principal.
func (c *Client) AppRoleAssignments(ctx context.Context, spID string) ([]AppRoleAssignment, error) {
	var page struct {
		Value []AppRoleAssignment `json:"value"`
	}
	if err := c.DoJSON(ctx, &Request{URL: "/servicePrincipals/" + url.PathEscape(spID) + "/appRoleAssignments"}, &page); err != nil {
		return nil, err
	}
	return page.Value, nil
}

// GrantAppRole grants the app role appRoleID of resourceSP to principalSP:
// admin consent to an application permission without a browser.
func (c *Client) GrantAppRole(ctx context.Context, resourceSP, principalSP, appRoleID string) (*AppRoleAssignment, error) {
	var out AppRoleAssignment
	body := map[string]string{"principalId": principalSP, "resourceId": resourceSP, "appRoleId": appRoleID}
	err := c.DoJSON(ctx, &Request{Method: http.MethodPost, URL: "/servicePrincipals/" + url.PathEscape(resourceSP) + "/appRoleAssignedTo", Body: body}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AddKey adds a certificate to the application with application id appID,
// proven by proof (entra.SignProof with one of its valid certificates).
// It returns the new key's keyId.
func (c *Client) AddKey(ctx context.Context, appID string, der []byte, displayName, proof string) (string, error) {
	k := CertificateKey(der, "", displayName)
	body := map[string]any{"keyCredential": k, "passwordCredential": nil, "proof": proof}
	var out KeyCredential
	if err := c.DoJSON(ctx, &Request{Method: http.MethodPost, URL: "/applications" + appKey(appID) + "/addKey", Body: body}, &out); err != nil {
		return "", err
	}
	if out.KeyID == "" {
		return "", fmt.Errorf("graph: addKey answered without a keyId")
	}
	return out.KeyID, nil
}

// RemoveKey removes the key keyID from the application with application
// id appID, proven by proof.
func (c *Client) RemoveKey(ctx context.Context, appID, keyID, proof string) error {
	body := map[string]string{"keyId": keyID, "proof": proof}
	return c.DoJSON(ctx, &Request{Method: http.MethodPost, URL: "/applications" + appKey(appID) + "/removeKey", Body: body}, nil)
}
