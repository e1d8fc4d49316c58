package sfsim

import (
	"context"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
)

// TestSignInThroughEntraUserinfo plays DESIGN §1 end to end with the Entra
// simulator: Entra's own userinfo carries a pairwise sub and no oid, so the
// first sign-in of a provisioned user finds nothing (or makes a duplicate
// with JIT on); once idlink has written an Identity_Link__c for that sub,
// the sign-in lands on the provisioned account.
func TestSignInThroughEntraUserinfo(t *testing.T) {
	const clientID = "6f1c2c8e-1b7a-4c55-9d0e-3f5b8a2d7c11"
	oid := "0a1b2c3d-0000-4000-8000-000000000001"
	es, err := entrasim.New(entrasim.Options{TenantID: tenant, Apps: []entrasim.App{{ClientID: clientID, DisplayName: "Salesforce SSO"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if err := es.AddUser(identity.EntraUser{ObjectID: oid, TenantID: tenant, UPN: "ada@contoso.com", Mail: "ada@contoso.com", DisplayName: "Ada", AccountEnabled: true, UserType: "Member"}); err != nil {
		t.Fatal(err)
	}
	o := newTestOrg(t, 0)
	provisioned, err := o.srv.Org.AddUser(identity.SalesforceUser{Username: "ada@contoso.com", Email: "ada@contoso.com", FederationIdentifier: oid, IsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	userinfo := es.GraphURL() + "/oidc/userinfo"
	signIn := func(jit bool) SignInResult {
		t.Helper()
		tok, err := es.SignIn(clientID, oid, "openid", "profile", "email")
		if err != nil {
			t.Fatal(err)
		}
		res, err := o.srv.SignIn(context.Background(), es.HTTPClient(), userinfo, tok.AccessToken, SignInConfig{Provider: provider, TenantID: tenant, JIT: jit})
		if err != nil {
			t.Fatal(err)
		}
		if res.Subject != tok.Subject {
			t.Fatalf("userinfo sub %s, token sub %s", res.Subject, tok.Subject)
		}
		return res
	}
	// Entra's userinfo has no oid: the handler cannot find the provisioned user.
	res := signIn(false)
	if res.Outcome != OutcomeFailPending || res.Decision.OID || res.Subject == oid {
		t.Fatalf("first sign-in: %+v", res)
	}
	// idlink learns the sub (here: from the failed sign-in) and writes the link.
	if _, err := o.srv.Org.PutIdentityLink(IdentityLink{Subject: res.Subject, UserID: provisioned, ObjectID: oid, TenantID: tenant, Provider: provider, MatchRule: "oid", Status: "Active"}); err != nil {
		t.Fatal(err)
	}
	res = signIn(true)
	if res.Outcome != OutcomeLinkUser || res.UserID != provisioned || res.CreatedUser {
		t.Fatalf("after the link: %+v", res)
	}
	if l, ok := o.srv.Org.AccountLink(provider, res.Subject); !ok || l.UserID != provisioned {
		t.Errorf("ThirdPartyAccountLink %+v %v", l, ok)
	}
}

// TestJITDuplicateThroughEntraUserinfo: with JIT on and no link, Entra's
// userinfo makes a duplicate account, the mess idlink reports as misrouted.
func TestJITDuplicateThroughEntraUserinfo(t *testing.T) {
	const clientID = "6f1c2c8e-1b7a-4c55-9d0e-3f5b8a2d7c11"
	oid := "0a1b2c3d-0000-4000-8000-000000000002"
	es, err := entrasim.New(entrasim.Options{TenantID: tenant, Apps: []entrasim.App{{ClientID: clientID, DisplayName: "Salesforce SSO"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if err := es.AddUser(identity.EntraUser{ObjectID: oid, TenantID: tenant, UPN: "bo@contoso.com", Mail: "bo@contoso.com", AccountEnabled: true, UserType: "Member"}); err != nil {
		t.Fatal(err)
	}
	o := newTestOrg(t, 0)
	provisioned, _ := o.srv.Org.AddUser(identity.SalesforceUser{Username: "bo@contoso.com", Email: "bo@contoso.com", FederationIdentifier: oid, IsActive: true})
	tok, err := es.SignIn(clientID, oid, "openid", "email")
	if err != nil {
		t.Fatal(err)
	}
	res, err := o.srv.SignIn(context.Background(), es.HTTPClient(), es.GraphURL()+"/oidc/userinfo", tok.AccessToken, SignInConfig{Provider: provider, TenantID: tenant, JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeCreateUser || !res.CreatedUser || res.UserID == provisioned {
		t.Fatalf("%+v", res)
	}
	if l, _ := o.srv.Org.AccountLink(provider, tok.Subject); l.UserID != res.UserID {
		t.Errorf("the sub's ThirdPartyAccountLink points at %s, want the duplicate %s", l.UserID, res.UserID)
	}
}
