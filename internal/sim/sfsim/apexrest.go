package sfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// EndpointRevoke is the idlink package's revocation resource
// (configs/salesforce IdlinkLinkRevocationResource).
const EndpointRevoke = "apex-revoke"

// PackageSettings is the idlink package's Idlink_Setting__mdt.Default record
// as the revocation resource reads it. The package ships with revocation
// off, so a new org answers 403 revocation_disabled.
type PackageSettings struct {
	// Missing: the Default record is not deployed.
	Missing bool
	// RevokeEnabled is Revoke_Enabled__c.
	RevokeEnabled bool
	// AuthProvider is Auth_Provider__c: the Auth. Provider's developer name.
	AuthProvider string
}

// SetPackageSettings replaces the package's Default settings record.
func (o *Org) SetPackageSettings(s PackageSettings) {
	o.mu.Lock()
	o.pkg = s
	o.mu.Unlock()
}

// RevokeCall is one call of Auth.AuthToken.revokeAccess as the resource made it.
type RevokeCall struct {
	AuthProviderID, ProviderName, UserID, RemoteIdentifier string
}

// RevokeCalls returns the revokeAccess calls made so far, in order.
func (o *Org) RevokeCalls() []RevokeCall {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return append([]RevokeCall(nil), o.revokes...)
}

// revokeAccess emulates Auth.AuthToken.revokeAccess(authProviderId,
// providerName, userId, remoteIdentifier). The Apex Reference ("AuthToken
// Class", https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_class_Auth_AuthToken.htm)
// says providerName must be lower case ("open id connect" for an Open ID
// Connect provider) and userId is the 15-character user Id; any other form
// revokes nothing here, so a caller that gets either wrong fails the tests.
// Revoking removes the ThirdPartyAccountLink: the next sign-in of the sub
// calls createUser again.
func (o *Org) revokeAccess(c RevokeCall) bool {
	o.revokes = append(o.revokes, c)
	if c.ProviderName != "open id connect" || len(c.UserID) != 15 {
		return false
	}
	ap, ok := o.authProviderByID(c.AuthProviderID)
	if !ok {
		return false
	}
	i, ok := o.tpalByKey[ap.developerName+"\x00"+c.RemoteIdentifier]
	if !ok || o.accountLinks.rows[i].userID[:15] != c.UserID {
		return false
	}
	o.removeAccountLinkLocked(i)
	return true
}

// removeAccountLinkLocked deletes row i and re-indexes the rows after it.
// The removal is logged for the query cursors opened before it, which hold
// row indexes (see cursor.removedSeen).
func (o *Org) removeAccountLinkLocked(i int32) {
	r := o.accountLinks.rows[i]
	o.tpalRemoved = append(o.tpalRemoved, i)
	delete(o.tpalByKey, r.providerName+"\x00"+r.remoteID)
	o.accountLinks.rows = append(o.accountLinks.rows[:i], o.accountLinks.rows[i+1:]...)
	for j := int(i); j < len(o.accountLinks.rows); j++ {
		x := o.accountLinks.rows[j]
		o.tpalByKey[x.providerName+"\x00"+x.remoteID] = int32(j)
	}
}

type revokeAnswer struct {
	status int
	body   map[string]any
}

func revokeFail(status int, code, msg string) revokeAnswer {
	return revokeAnswer{status, map[string]any{"error": code, "message": msg}}
}

// handleRevoke serves POST /services/apexrest/idlink/v1/account-links/revoke
// with the statuses and bodies of IdlinkLinkRevocationResource: every answer
// is JSON, errors {"error": code, "message": text}.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, _ string, _ float64) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	a := s.Org.revoke(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
}

func (o *Org) revoke(body []byte) revokeAnswer {
	o.mu.Lock()
	defer o.mu.Unlock()
	cfg := o.pkg
	if cfg.Missing {
		return revokeFail(http.StatusConflict, "not_configured", "The custom metadata record Idlink_Setting__mdt.Default is missing: deploy configs/salesforce or create it in Setup > Custom Metadata Types.")
	}
	if !cfg.RevokeEnabled {
		return revokeFail(http.StatusForbidden, "revocation_disabled", "Revocation is turned off: check Revoke_Enabled__c on Idlink_Setting__mdt.Default to allow it.")
	}
	var req struct {
		UserID   *string `json:"userId"`
		Subject  *string `json:"subject"`
		Provider *string `json:"provider"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return revokeFail(http.StatusBadRequest, "bad_request", `The body must be JSON {"userId": "005...", "subject": "<sub>"} with no other keys.`)
	}
	if req.UserID == nil || !validID(*req.UserID) || !strings.HasPrefix(*req.UserID, prefixUser) {
		return revokeFail(http.StatusBadRequest, "bad_user_id", "userId must be a Salesforce user id (005...).")
	}
	if req.Subject == nil || strings.TrimSpace(*req.Subject) == "" {
		return revokeFail(http.StatusBadRequest, "bad_subject", "subject must be the sub (ThirdPartyAccountLink.RemoteIdentifier) to revoke.")
	}
	if cfg.AuthProvider == "" {
		return revokeFail(http.StatusConflict, "provider_not_configured", "Set Auth_Provider__c on Idlink_Setting__mdt.Default to the Auth. Provider developer name.")
	}
	if req.Provider != nil && *req.Provider != "" && !strings.EqualFold(*req.Provider, cfg.AuthProvider) {
		return revokeFail(http.StatusConflict, "provider_mismatch", "This package revokes links of the Auth. Provider in Auth_Provider__c on Idlink_Setting__mdt.Default only.")
	}
	ap, ok := o.authProviders[cfg.AuthProvider]
	if !ok {
		return revokeFail(http.StatusConflict, "provider_not_found", "No Auth. Provider has the developer name in Auth_Provider__c on Idlink_Setting__mdt.Default.")
	}
	if ap.providerType != "OpenIdConnect" {
		return revokeFail(http.StatusConflict, "provider_not_oidc", "The configured Auth. Provider is not of type Open ID Connect.")
	}
	user15 := (*req.UserID)[:15]
	i, ok := o.tpalByKey[ap.developerName+"\x00"+*req.Subject]
	if !ok || o.accountLinks.rows[i].userID[:15] != user15 {
		return revokeFail(http.StatusNotFound, "link_not_found", "No third-party account link for this user and subject (already revoked, or the integration user lacks Manage Users).")
	}
	if !o.revokeAccess(RevokeCall{AuthProviderID: ap.id, ProviderName: "open id connect", UserID: user15, RemoteIdentifier: *req.Subject}) {
		return revokeFail(http.StatusBadGateway, "revoke_refused", "Salesforce did not revoke the link; retry later or revoke it in Setup > Users.")
	}
	return revokeAnswer{http.StatusOK, map[string]any{"revoked": true}}
}

type authProviderRow struct {
	id, developerName, friendlyName, providerType string
}

// AuthProvider is an Auth. Provider setup record.
type AuthProvider struct {
	ID            string
	DeveloperName string
	FriendlyName  string
	ProviderType  string // "OpenIdConnect" for Open ID Connect
}

// AddAuthProvider adds an Auth. Provider; ProviderType defaults to
// OpenIdConnect. It returns the record id.
func (o *Org) AddAuthProvider(ap AuthProvider) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ap.DeveloperName == "" {
		return "", fmt.Errorf("sim salesforce: Auth. Provider needs a DeveloperName")
	}
	if _, ok := o.authProviders[ap.DeveloperName]; ok {
		return "", fmt.Errorf("sim salesforce: Auth. Provider %s exists already", ap.DeveloperName)
	}
	if ap.ProviderType == "" {
		ap.ProviderType = "OpenIdConnect"
	}
	if ap.FriendlyName == "" {
		ap.FriendlyName = ap.DeveloperName
	}
	if ap.ID == "" {
		ap.ID = o.newID(prefixAuthProvider)
	}
	o.authProviders[ap.DeveloperName] = authProviderRow{id: ap.ID, developerName: ap.DeveloperName, friendlyName: ap.FriendlyName, providerType: ap.ProviderType}
	o.authProviderList = append(o.authProviderList, ap.DeveloperName)
	return ap.ID, nil
}

// SetSsoProviderNameFriendly makes ThirdPartyAccountLink.SsoProviderName
// hold the friendly name of the Auth. Provider rather than its developer
// name. The Object Reference says only "the name associated with the
// AuthProvider"; idlink must work with either.
func (o *Org) SetSsoProviderNameFriendly(on bool) {
	o.mu.Lock()
	o.ssoNameFriendly = on
	o.mu.Unlock()
}

// SetAuthProviderQueryDenied makes queries of AuthProvider fail as for a user
// without access: "Only users with Customize Application and Manage
// AuthProviders permissions can access this object" (Object Reference,
// AuthProvider). Salesforce answers INVALID_TYPE for objects a user cannot see.
func (o *Org) SetAuthProviderQueryDenied(on bool) {
	o.mu.Lock()
	o.authProviderDenied = on
	o.mu.Unlock()
}

// AuthProviders returns the Auth. Provider records.
func (o *Org) AuthProviders() []AuthProvider {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []AuthProvider
	for _, n := range o.authProviderList {
		r := o.authProviders[n]
		out = append(out, AuthProvider{ID: r.id, DeveloperName: r.developerName, FriendlyName: r.friendlyName, ProviderType: r.providerType})
	}
	return out
}

func (o *Org) authProviderByID(id string) (authProviderRow, bool) {
	for _, ap := range o.authProviders {
		if ap.id == id {
			return ap, true
		}
	}
	return authProviderRow{}, false
}
