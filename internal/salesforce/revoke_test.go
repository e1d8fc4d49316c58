package salesforce

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// TestRevokeAccountLink runs the client against the simulated org's
// revocation resource, step by step on one org: every refusal that concerns
// the org matches identity.ErrRevocationUnavailable and names the setting to
// change, a refusal of one request does not, a link already gone counts as
// revoked, and no error carries the consumer secret or the session token.
func TestRevokeAccountLink(t *testing.T) {
	srv := newSim(t, 3, 3) // sub-0000000..2 sign in as u0000000..2
	org := srv.Org
	// newSim adds the provider's own Auth. Provider.
	for _, ap := range []sfsim.AuthProvider{{DeveloperName: "SamlIdp", ProviderType: "Saml"}} {
		if _, err := org.AddAuthProvider(ap); err != nil {
			t.Fatal(err)
		}
	}
	tpal := func(i int) identity.ThirdPartyAccountLink {
		t.Helper()
		l, ok := org.AccountLink(provider, fmt.Sprintf("sub-%07d", i))
		if !ok {
			t.Fatalf("no account link sub-%07d", i)
		}
		return l
	}
	l0, l1, l2 := tpal(0), tpal(1), tpal(2)
	c := newClient(t, ccConfig(srv))
	ctx := context.Background()
	enabled := &sfsim.PackageSettings{RevokeEnabled: true, AuthProvider: provider}
	tests := []struct {
		name        string
		settings    *sfsim.PackageSettings // nil: as the org was (a new org: the package's default)
		notDeployed bool                   // the org answers 404 NOT_FOUND: the Apex class is missing
		provider    string
		link        identity.ThirdPartyAccountLink
		unavailable bool     // errors.Is(err, identity.ErrRevocationUnavailable)
		errHas      []string // nil: no error
		calls       int      // revokeAccess calls made so far
	}{
		{name: "revocation off by default", link: l0, unavailable: true, errHas: []string{"403", "revocation_disabled", "Revoke_Enabled__c"}},
		{name: "settings record missing", settings: &sfsim.PackageSettings{Missing: true}, link: l0, unavailable: true,
			errHas: []string{"409", "not_configured", "Idlink_Setting__mdt.Default"}},
		{name: "provider not configured", settings: &sfsim.PackageSettings{RevokeEnabled: true}, link: l0, unavailable: true,
			errHas: []string{"409", "provider_not_configured", "Auth_Provider__c"}},
		{name: "provider not found", settings: &sfsim.PackageSettings{RevokeEnabled: true, AuthProvider: "Nope"}, provider: "Nope", link: l0, unavailable: true,
			errHas: []string{"provider_not_found", "Auth_Provider__c"}},
		{name: "provider not OIDC", settings: &sfsim.PackageSettings{RevokeEnabled: true, AuthProvider: "SamlIdp"}, provider: "SamlIdp", link: l0, unavailable: true,
			errHas: []string{"provider_not_oidc", "Open ID Connect"}},
		{name: "the package serves another provider", settings: enabled, provider: "Keycloak", link: l0, unavailable: true,
			errHas: []string{"provider_mismatch", "Auth_Provider__c"}},
		{name: "resource not deployed", notDeployed: true, link: l0, unavailable: true,
			errHas: []string{"404", "NOT_FOUND", "deploy IdlinkLinkRevocationResource", "revoke_account_links"}},
		{name: "not a user id", link: identity.ThirdPartyAccountLink{UserID: "not-an-id", RemoteIdentifier: l0.RemoteIdentifier},
			errHas: []string{"400", "bad_user_id", "not-an-id"}},
		{name: "revoked", link: l0, calls: 1},
		{name: "already gone", link: l0, calls: 1},
		{name: "the sub signs in as another user: nothing to revoke", link: identity.ThirdPartyAccountLink{UserID: l1.UserID, RemoteIdentifier: l2.RemoteIdentifier}, calls: 1},
		{name: "revoked by the 15-character id", provider: strings.ToUpper(provider), link: identity.ThirdPartyAccountLink{UserID: l1.UserID[:15], RemoteIdentifier: l1.RemoteIdentifier}, calls: 2},
	}
	var errs []error
	for _, tc := range tests {
		if tc.settings != nil {
			org.SetPackageSettings(*tc.settings)
		}
		if tc.notDeployed {
			srv.FailNextRequests(sfsim.EndpointRevoke, 1, 404, "NOT_FOUND", "Could not find a match for URL")
		}
		p := tc.provider
		if p == "" {
			p = provider
		}
		err := c.RevokeAccountLink(ctx, p, tc.link.UserID, tc.link.RemoteIdentifier)
		switch {
		case tc.errHas == nil && err != nil:
			t.Errorf("%s: %v, want nil", tc.name, err)
		case tc.errHas != nil && err == nil:
			t.Errorf("%s: nil error, want one naming %q", tc.name, tc.errHas)
		case err != nil:
			errs = append(errs, err)
			if errors.Is(err, identity.ErrRevocationUnavailable) != tc.unavailable {
				t.Errorf("%s: errors.Is(%v, ErrRevocationUnavailable) = %v, want %v", tc.name, err, !tc.unavailable, tc.unavailable)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s: %q does not say %q", tc.name, err, s)
				}
			}
		}
		if n := len(org.RevokeCalls()); n != tc.calls {
			t.Errorf("%s: %d revokeAccess calls so far, want %d", tc.name, n, tc.calls)
		}
	}
	for _, l := range []identity.ThirdPartyAccountLink{l0, l1} {
		if got, ok := org.AccountLink(provider, l.RemoteIdentifier); ok {
			t.Errorf("account link %s still there: %+v", l.RemoteIdentifier, got)
		}
	}
	if got, ok := org.AccountLink(provider, l2.RemoteIdentifier); !ok || got.UserID != l2.UserID {
		t.Errorf("account link %s: %+v %v, want it untouched", l2.RemoteIdentifier, got, ok)
	}
	for _, call := range org.RevokeCalls() {
		if call.ProviderName != "open id connect" || len(call.UserID) != 15 {
			t.Errorf("revokeAccess call %+v", call)
		}
	}
	c.mu.Lock()
	token := c.sess.token
	c.mu.Unlock()
	if token == "" {
		t.Fatal("no session token to look for")
	}
	for _, err := range errs {
		if s := err.Error(); strings.Contains(s, ccSecret) || strings.Contains(s, token) {
			t.Errorf("error carries a credential: %q", s)
		}
	}
}

// TestRevokeAccountLinkRetriesThenFails: a 502 revoke_refused (revokeAccess
// refused or threw) is retried like any server error, and in the end fails
// this link only: it does not match ErrRevocationUnavailable.
func TestRevokeAccountLinkRetriesThenFails(t *testing.T) {
	srv := newSim(t, 1, 1)
	srv.Org.SetPackageSettings(sfsim.PackageSettings{RevokeEnabled: true, AuthProvider: provider})
	l, _ := srv.Org.AccountLink(provider, "sub-0000000")
	c := newClient(t, ccConfig(srv))
	ctx := context.Background()

	srv.FailNextRequests(sfsim.EndpointRevoke, 1, 502, "revoke_refused", "Salesforce did not revoke the link")
	if err := c.RevokeAccountLink(ctx, provider, l.UserID, l.RemoteIdentifier); err != nil {
		t.Fatalf("after one 502: %v, want the retry to revoke", err)
	}
	if _, ok := srv.Org.AccountLink(provider, l.RemoteIdentifier); ok {
		t.Fatal("the retried revoke left the link")
	}

	srv.FailNextRequests(sfsim.EndpointRevoke, 5, 502, "revoke_refused", "Salesforce did not revoke the link")
	err := c.RevokeAccountLink(ctx, provider, l.UserID, "sub-other")
	if err == nil || errors.Is(err, identity.ErrRevocationUnavailable) || !strings.Contains(err.Error(), "revoke_refused") ||
		!strings.Contains(err.Error(), "gave up after 5 attempts") || !strings.Contains(err.Error(), l.UserID) {
		t.Fatalf("after five 502s: %v, want a failure of this link naming revoke_refused and the user", err)
	}
}
