package graphsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// delegatedToken signs user in through the device code flow of Microsoft
// Graph Command Line Tools, as an admin does for onboarding.
func (e *testEnv) delegatedToken(user string, scopes ...string) string {
	e.t.Helper()
	if scopes == nil {
		scopes = []string{"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"}
	}
	for i := range scopes {
		scopes[i] = e.srv.URL() + "/" + scopes[i]
	}
	form := url.Values{"client_id": {"14d82eec-204b-4c2f-b7e8-296a70dab67e"}, "scope": {strings.Join(scopes, " ")}}
	var dc struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	e.postForm("/"+e.tenant.ID+"/oauth2/v2.0/devicecode", form, &dc)
	if err := e.srv.ApproveDeviceCode("", user, dc.UserCode); err != nil {
		e.t.Fatalf("approve %s: %v", user, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string
	}
	e.postForm("/"+e.tenant.ID+"/oauth2/v2.0/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"client_id": {"14d82eec-204b-4c2f-b7e8-296a70dab67e"}, "device_code": {dc.DeviceCode}}, &tok)
	if tok.AccessToken == "" {
		e.t.Fatalf("no token: %s", tok.Error)
	}
	return tok.AccessToken
}

func (e *testEnv) postForm(path string, form url.Values, out any) {
	e.t.Helper()
	resp, err := e.client.PostForm(e.srv.URL()+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		e.t.Fatal(err)
	}
}

// proof builds an addKey/removeKey proof of possession.
func proof(t *testing.T, key *rsa.PrivateKey, cert *x509.Certificate, iss string, mod func(h, c map[string]any)) string {
	t.Helper()
	tp := sha1.Sum(cert.Raw)
	now := time.Now()
	h := map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(tp[:])}
	c := map[string]any{"aud": "00000002-0000-0000-c000-000000000000", "iss": iss, "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	if mod != nil {
		mod(h, c)
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func newKeyPair(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	_, _, c, k, err := newSelfSigned("CN=galmirror onboarding test")
	if err != nil {
		t.Fatal(err)
	}
	return k, c
}

func keyCred(c *x509.Certificate) map[string]any {
	return map[string]any{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.StdEncoding.EncodeToString(c.Raw), "displayName": "CN=galmirror"}
}

func withAdmins(t *testing.T, e *testEnv) {
	t.Helper()
	alice, bob := e.user(0), e.user(1)
	alice.DirectoryRoles = []string{RoleGlobalAdministrator}
	bob.DirectoryRoles = []string{RoleApplicationAdministrator}
	for _, u := range []User{alice, bob} {
		if err := e.srv.PutUser(e.tenant.ID, u); err != nil {
			t.Fatal(err)
		}
	}
}

// The calls `galmirror onboard` makes, as the admin's delegated token
// makes them: create the app with its certificate and permissions, its
// service principal, the role grants; then the app's own token carries the
// roles, and it rolls its key with addKey and removeKey.
func TestApplicationsThroughGraph(t *testing.T) {
	e := newEnv(t)
	withAdmins(t, e)
	admin := e.delegatedToken(e.user(0).UserPrincipalName)
	k1, c1 := newKeyPair(t)
	appID, objID, oldKeyID := createAppStep(t, e, admin, c1)
	spID := servicePrincipalStep(t, e, admin, appID)
	grantStep(t, e, admin, spID)

	// The app's own token: the role, and no right to read applications.
	appTok, err := e.srv.AccessToken(e.tenant.ID, appID)
	if err != nil {
		t.Fatal(err)
	}
	if roles, _ := e.srv.Entra().AppRoles(e.tenant.ID, appID); !slices.Equal(roles, []string{"User.Read.All"}) {
		t.Errorf("roles %v", roles)
	}
	e.want(e.doToken(appTok, "GET", "/applications(appId='"+appID+"')", nil), http.StatusForbidden, "Authorization_RequestDenied")
	rollKeyStep(t, e, appTok, appID, objID, oldKeyID, k1, c1)

	e.want(e.doToken(admin, "DELETE", "/applications/"+objID, nil), http.StatusNoContent, "")
	if _, err := e.srv.AppRegistration(e.tenant.ID, appID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted app: %v", err)
	}
}

func createAppStep(t *testing.T, e *testEnv, admin string, c1 *x509.Certificate) (appID, objID, keyID string) {
	app := e.doToken(admin, "POST", "/applications", map[string]any{
		"displayName": "galmirror contoso", "signInAudience": "AzureADMyOrg", "tags": []string{"galmirror", "galmirror:contoso"},
		"keyCredentials": []any{keyCred(c1)}, "web": map[string]any{"redirectUris": []string{"http://localhost/galmirror-consent"}},
		"requiredResourceAccess": []any{map[string]any{"resourceAppId": GraphAppID, "resourceAccess": []any{
			map[string]any{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"}}}},
	})
	e.want(app, http.StatusCreated, "")
	appID, objID = app.body["appId"].(string), app.body["id"].(string)
	keys := app.body["keyCredentials"].([]any)
	if !isGUID(appID) || !isGUID(objID) || len(keys) != 1 || keys[0].(map[string]any)["key"] != nil ||
		keys[0].(map[string]any)["keyId"] == "" || app.body["signInAudience"] != "AzureADMyOrg" {
		t.Fatalf("created %s", app.raw)
	}
	list := e.doToken(admin, "GET", "/applications?$filter=tags/any(t:t eq 'galmirror:contoso')", nil)
	e.want(list, http.StatusOK, "")
	if len(list.value()) != 1 {
		t.Fatalf("filter by tag: %s", list.raw)
	}
	if r := e.doToken(admin, "GET", "/applications?$filter=startswith(displayName,'g')", nil); r.status != http.StatusBadRequest {
		t.Errorf("unsupported filter: %d", r.status)
	}
	byAppID := e.doToken(admin, "GET", "/applications(appId='"+appID+"')?$select=id,keyCredentials", nil)
	e.want(byAppID, http.StatusOK, "")
	if k := byAppID.body["keyCredentials"].([]any)[0].(map[string]any); k["key"] == nil || k["type"] != "AsymmetricX509Cert" {
		t.Errorf("keyCredentials selected: %v", k)
	}
	return appID, objID, keys[0].(map[string]any)["keyId"].(string)
}

func servicePrincipalStep(t *testing.T, e *testEnv, admin, appID string) string {
	if reg, _ := e.srv.AppRegistration(e.tenant.ID, appID); reg.ServicePrincipalID != "" {
		t.Fatalf("service principal before it was created: %+v", reg)
	}
	if r := e.doToken(admin, "GET", "/servicePrincipals(appId='"+appID+"')", nil); r.status != http.StatusNotFound {
		t.Fatalf("service principal before creation: %d", r.status)
	}
	sp := e.doToken(admin, "POST", "/servicePrincipals", map[string]any{"appId": appID})
	e.want(sp, http.StatusCreated, "")
	e.want(e.doToken(admin, "POST", "/servicePrincipals", map[string]any{"appId": appID}), http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue")
	return sp.body["id"].(string)
}

func grantStep(t *testing.T, e *testEnv, admin, spID string) {
	graphSP := e.doToken(admin, "GET", "/servicePrincipals(appId='"+GraphAppID+"')", nil)
	e.want(graphSP, http.StatusOK, "")
	roleIDs := map[string]string{}
	for _, r := range graphSP.body["appRoles"].([]any) {
		m := r.(map[string]any)
		roleIDs[m["value"].(string)] = m["id"].(string)
	}
	for v, id := range map[string]string{"User.Read.All": "df021288-bdef-4463-88db-98f22de89214", "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
		"OrgContact.Read.All": "e1a88a34-94c4-4418-be12-c87b00e26bea", "Contacts.ReadWrite": "6918b873-d17a-4dc1-b314-35f528134491"} {
		if roleIDs[v] != id {
			t.Errorf("Graph app role %s has id %q, want %s", v, roleIDs[v], id)
		}
	}
	gsp := graphSP.body["id"].(string)
	grant := map[string]any{"principalId": spID, "resourceId": gsp, "appRoleId": roleIDs["User.Read.All"]}
	// An Application Administrator may not grant Microsoft Graph's
	// application permissions.
	appAdmin := e.delegatedToken(e.user(1).UserPrincipalName)
	e.want(e.doToken(appAdmin, "POST", "/servicePrincipals/"+gsp+"/appRoleAssignedTo", grant), http.StatusForbidden, "Authorization_RequestDenied")
	a := e.doToken(admin, "POST", "/servicePrincipals/"+gsp+"/appRoleAssignedTo", grant)
	e.want(a, http.StatusCreated, "")
	if a.body["principalId"] != spID || a.body["principalType"] != "ServicePrincipal" || a.body["resourceDisplayName"] != "Microsoft Graph" {
		t.Errorf("assignment %s", a.raw)
	}
	e.want(e.doToken(admin, "POST", "/servicePrincipals/"+gsp+"/appRoleAssignedTo", grant), http.StatusBadRequest, "Request_BadRequest")
	if as := e.doToken(admin, "GET", "/servicePrincipals/"+spID+"/appRoleAssignments", nil); len(as.value()) != 1 {
		t.Fatalf("assignments %s", as.raw)
	}
}

// rollKeyStep: rolling its own key needs no permission, and a proof by a
// key the app has.
func rollKeyStep(t *testing.T, e *testEnv, appTok, appID, objID, oldKeyID string, k1 *rsa.PrivateKey, c1 *x509.Certificate) {
	k2, c2 := newKeyPair(t)
	addPath := "/applications(appId='" + appID + "')/addKey"
	body := func(p string) map[string]any {
		return map[string]any{"keyCredential": keyCred(c2), "passwordCredential": nil, "proof": p}
	}
	for name, p := range map[string]string{
		"wrong audience":   proof(t, k1, c1, objID, func(_, c map[string]any) { c["aud"] = "https://graph.microsoft.com" }),
		"issuer is appId":  proof(t, k1, c1, appID, nil),
		"signed elsewhere": proof(t, k2, c2, objID, nil),
		"too long":         proof(t, k1, c1, objID, func(_, c map[string]any) { c["exp"] = time.Now().Add(time.Hour).Unix() }),
		"not yet valid": proof(t, k1, c1, objID, func(_, c map[string]any) {
			c["nbf"], c["exp"] = time.Now().Add(time.Hour).Unix(), time.Now().Add(70*time.Minute).Unix()
		}),
		"PS256": proof(t, k1, c1, objID, func(h, _ map[string]any) { h["alg"] = "PS256" }),
	} {
		if r := e.doToken(appTok, "POST", addPath, body(p)); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	padded := proof(t, k1, c1, objID, nil)
	parts := strings.Split(padded, ".")
	padded = base64.URLEncoding.EncodeToString(mustB64(t, parts[0])) + "." + parts[1] + "." + parts[2]
	if strings.Contains(padded, "=") {
		e.want(e.doToken(appTok, "POST", addPath, body(padded)), http.StatusBadRequest, "Authentication_MissingOrMalformed")
	}
	other, _ := e.srv.AccessToken(e.tenant.ID, e.cred.ClientID)
	e.want(e.doToken(other, "POST", addPath, body(proof(t, k1, c1, objID, nil))), http.StatusForbidden, "Authorization_RequestDenied")

	added := e.doToken(appTok, "POST", addPath, body(proof(t, k1, c1, objID, nil)))
	e.want(added, http.StatusOK, "")
	newKeyID, _ := added.body["keyId"].(string)
	if !isGUID(newKeyID) || added.body["key"] != nil {
		t.Fatalf("addKey answered %s", added.raw)
	}
	e.want(e.doToken(appTok, "POST", addPath, body(proof(t, k1, c1, objID, nil))), http.StatusBadRequest, "Request_BadRequest")
	rm := "/applications(appId='" + appID + "')/removeKey"
	e.want(e.doToken(appTok, "POST", rm, map[string]any{"keyId": NewGUID(), "proof": proof(t, k2, c2, objID, nil)}), http.StatusNotFound, "Request_ResourceNotFound")
	e.want(e.doToken(appTok, "POST", rm, map[string]any{"keyId": oldKeyID, "proof": proof(t, k2, c2, objID, nil)}), http.StatusNoContent, "")
	reg, _ := e.srv.AppRegistration(e.tenant.ID, appID)
	if len(reg.Keys) != 1 || reg.Keys[0].KeyID != newKeyID || !reg.Keys[0].Active {
		t.Errorf("keys after the roll: %+v", reg.Keys)
	}
	// The old key no longer proves anything.
	e.want(e.doToken(appTok, "POST", rm, map[string]any{"keyId": newKeyID, "proof": proof(t, k1, c1, objID, nil)}), http.StatusBadRequest, "Request_BadRequest")
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Sign-in and authorisation refusals: a user without an admin role cannot
// consent to the management scopes; a delegated token without the scope,
// or of a user without an admin role, may not create apps; the admin
// consent link grants requiredResourceAccess and needs a role that may.
func TestApplicationsRefusals(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Propagation = time.Hour })
	withAdmins(t, e)
	form := url.Values{"client_id": {"14d82eec-204b-4c2f-b7e8-296a70dab67e"}, "scope": {e.srv.URL() + "/Application.ReadWrite.All"}}
	var dc struct {
		UserCode string `json:"user_code"`
	}
	e.postForm("/"+e.tenant.Domain+"/oauth2/v2.0/devicecode", form, &dc)
	carolless := e.user(3) // dave: no admin role
	if err := e.srv.ApproveDeviceCode(e.tenant.ID, carolless.UserPrincipalName, dc.UserCode); !errors.Is(err, ErrNeedsAdminConsent) {
		t.Fatalf("non-admin approval: %v", err)
	}
	readOnly := e.delegatedToken(e.user(0).UserPrincipalName, "Application.Read.All")
	e.want(e.doToken(readOnly, "POST", "/applications", map[string]any{"displayName": "x"}), http.StatusForbidden, "Authorization_RequestDenied")
	e.want(e.doToken(readOnly, "GET", "/applications", nil), http.StatusOK, "")
	e.want(e.doToken(e.token, "GET", "/applications", nil), http.StatusForbidden, "Authorization_RequestDenied")

	admin := e.delegatedToken(e.user(0).UserPrincipalName)
	_, c := newKeyPair(t)
	ec := keyCred(c)
	ec["type"] = "Symmetric"
	e.want(e.doToken(admin, "POST", "/applications", map[string]any{"displayName": "x", "keyCredentials": []any{ec}}), http.StatusBadRequest, "Request_BadRequest")
	e.want(e.doToken(admin, "POST", "/applications", map[string]any{"displayName": "x", "spa": map[string]any{}}), http.StatusBadRequest, "Request_BadRequest")
	e.want(e.doToken(admin, "POST", "/applications", map[string]any{"displayName": "x", "web": map[string]any{"redirectUris": []string{"http://example.com/consent"}}}), http.StatusBadRequest, "Request_BadRequest")
	e.want(e.doToken(admin, "POST", "/applications", map[string]any{"displayName": ""}), http.StatusBadRequest, "Request_BadRequest")
	app := e.doToken(admin, "POST", "/applications", map[string]any{"displayName": "galmirror contoso", "keyCredentials": []any{keyCred(c)},
		"requiredResourceAccess": []any{map[string]any{"resourceAppId": GraphAppID, "resourceAccess": []any{
			map[string]any{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"},
			map[string]any{"id": "98830695-27a2-44f7-8c18-0c3ebc9698f6", "type": "Role"}}}}})
	e.want(app, http.StatusCreated, "")
	appID := app.body["appId"].(string)

	if err := e.srv.AdminConsent(e.tenant.ID, appID, e.user(1).UserPrincipalName); !errors.Is(err, ErrNeedsAdminConsent) {
		t.Errorf("admin consent by an Application Administrator: %v", err)
	}
	if err := e.srv.AdminConsent(e.tenant.ID, appID, e.user(0).UserPrincipalName); err != nil {
		t.Fatal(err)
	}
	reg, err := e.srv.AppRegistration(e.tenant.ID, appID)
	if err != nil || reg.ServicePrincipalID == "" || len(reg.Roles) != 0 || len(reg.PendingRoles) != 2 || reg.Keys[0].Active {
		t.Fatalf("after consent, before propagation: %+v %v", reg, err)
	}
	e.srv.SetPropagation(0)
	if e.srv.Propagation() != 0 {
		t.Fatal("propagation")
	}
}

// For ReplicationLag after a create, Graph's other requests do not find
// the new object: the service principal create is refused as naming no
// valid application, a grant to the new service principal as naming no
// object. An update replaces keyCredentials and needs every key's
// certificate; a known certificate keeps its keyId.
func TestApplicationsReplicationAndKeyUpdate(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ReplicationLag = 500 * time.Millisecond })
	withAdmins(t, e)
	admin := e.delegatedToken(e.user(0).UserPrincipalName)
	_, c1 := newKeyPair(t)
	app := e.doToken(admin, "POST", "/applications", map[string]any{"displayName": "galmirror lag", "keyCredentials": []any{keyCred(c1)}})
	e.want(app, http.StatusCreated, "")
	appID, objID := app.body["appId"].(string), app.body["id"].(string)
	e.want(e.doToken(admin, "POST", "/servicePrincipals", map[string]any{"appId": appID}), http.StatusBadRequest, "Request_BadRequest")
	e.want(e.doToken(admin, "GET", "/applications(appId='"+appID+"')", nil), http.StatusNotFound, "Request_ResourceNotFound")
	time.Sleep(600 * time.Millisecond)
	sp := e.doToken(admin, "POST", "/servicePrincipals", map[string]any{"appId": appID})
	e.want(sp, http.StatusCreated, "")
	graphSP := e.doToken(admin, "GET", "/servicePrincipals(appId='"+GraphAppID+"')", nil).body["id"].(string)
	grant := map[string]any{"principalId": sp.body["id"], "resourceId": graphSP, "appRoleId": "df021288-bdef-4463-88db-98f22de89214"}
	e.want(e.doToken(admin, "POST", "/servicePrincipals/"+graphSP+"/appRoleAssignedTo", grant), http.StatusNotFound, "Request_ResourceNotFound")
	time.Sleep(600 * time.Millisecond)
	e.want(e.doToken(admin, "POST", "/servicePrincipals/"+graphSP+"/appRoleAssignedTo", grant), http.StatusCreated, "")

	keyID := app.body["keyCredentials"].([]any)[0].(map[string]any)["keyId"].(string)
	_, c2 := newKeyPair(t)
	byID := map[string]any{"keyId": keyID, "type": "AsymmetricX509Cert", "usage": "Verify"}
	e.want(e.doToken(admin, "PATCH", "/applications/"+objID, map[string]any{"keyCredentials": []any{byID, keyCred(c2)}}), http.StatusBadRequest, "Request_BadRequest")
	e.want(e.doToken(admin, "PATCH", "/applications/"+objID, map[string]any{"keyCredentials": []any{keyCred(c1), keyCred(c2)}}), http.StatusNoContent, "")
	reg, _ := e.srv.AppRegistration(e.tenant.ID, appID)
	if len(reg.Keys) != 2 || reg.Keys[0].KeyID != keyID {
		t.Errorf("keys after the update: %+v", reg.Keys)
	}
}

// Faults.AddKeyStatus makes addKey fail without adding the key.
func TestAddKeyFault(t *testing.T) {
	e := newEnv(t)
	withAdmins(t, e)
	admin := e.delegatedToken(e.user(0).UserPrincipalName)
	k1, c1 := newKeyPair(t)
	app := e.doToken(admin, "POST", "/applications", map[string]any{"displayName": "galmirror f", "keyCredentials": []any{keyCred(c1)}})
	appID, objID := app.body["appId"].(string), app.body["id"].(string)
	e.want(e.doToken(admin, "POST", "/servicePrincipals", map[string]any{"appId": appID}), http.StatusCreated, "")
	tok, err := e.srv.AccessToken(e.tenant.ID, appID)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetFaults(Faults{AddKeyStatus: http.StatusServiceUnavailable})
	_, c2 := newKeyPair(t)
	r := e.doToken(tok, "POST", "/applications(appId='"+appID+"')/addKey", map[string]any{"keyCredential": keyCred(c2), "passwordCredential": nil, "proof": proof(t, k1, c1, objID, nil)})
	e.want(r, http.StatusServiceUnavailable, "serviceNotAvailable")
	if reg, _ := e.srv.AppRegistration(e.tenant.ID, appID); len(reg.Keys) != 1 {
		t.Errorf("a failed addKey added a key: %+v", reg.Keys)
	}
}
