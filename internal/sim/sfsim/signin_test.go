package sfsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

const (
	tenant   = "11111111-2222-3333-4444-555555555555"
	provider = "Entra"
)

// userinfoServer stands in for a userinfo endpoint (Entra's or the bridge):
// the bearer token names which claims to return.
func userinfoServer(t *testing.T, claims map[string]map[string]any) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		c, ok := claims[tok]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(c)
	}))
	srv.TLS = testAuthority.ServerTLS()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/oidc/userinfo"
}

func TestSignIn(t *testing.T) {
	o := newTestOrg(t, 0)
	org := o.srv.Org
	add := func(name, fed string, active bool) string {
		id, err := org.AddUser(identity.SalesforceUser{Username: name, Email: name, FederationIdentifier: fed, IsActive: active})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	alice := add("alice@example.com", "aaaaaaaa-0000-0000-0000-000000000001", true)
	bob := add("bob@example.com", "{BBBBBBBB-0000-0000-0000-000000000002}", true)
	carol := add("carol@example.com", "cccccccc-0000-0000-0000-000000000003", false)
	dave := add("dave@example.com", "", true)
	add("twin1@example.com", "dddddddd-0000-0000-0000-000000000004", true)
	add("twin2@example.com", "dddddddd-0000-0000-0000-000000000004", true)
	if _, err := org.PutIdentityLink(IdentityLink{Subject: "sub-dave", UserID: dave, Provider: provider, Status: "Active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := org.PutIdentityLink(IdentityLink{Subject: "sub-carol", UserID: carol, Provider: provider, Status: "Active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: provider, RemoteIdentifier: "sub-existing", UserID: alice}); err != nil {
		t.Fatal(err)
	}
	claims := map[string]map[string]any{
		"existing":  {"sub": "sub-existing"},
		"dave":      {"sub": "sub-dave", "email": "dave@example.com"},
		"carol":     {"sub": "sub-carol", "oid": "cccccccc-0000-0000-0000-000000000003", "tid": tenant},
		"bob":       {"sub": "sub-bob", "oid": "bbbbbbbb-0000-0000-0000-000000000002", "tid": strings.ToUpper(tenant), "preferred_username": "bob@example.com"},
		"bob-other": {"sub": "sub-bob2", "oid": "bbbbbbbb-0000-0000-0000-000000000002", "tid": "99999999-2222-3333-4444-555555555555"},
		"twins":     {"sub": "sub-twin", "oid": "dddddddd-0000-0000-0000-000000000004", "tid": tenant},
		"plain":     {"sub": "sub-plain", "email": "alice@example.com", "preferred_username": "alice@example.com"},
		"nosub":     {"email": "x@example.com"},
	}
	ui := userinfoServer(t, claims)
	ctx := context.Background()
	cfg := SignInConfig{Provider: provider, TenantID: tenant}
	tests := []struct {
		token       string
		jit         bool
		want        Outcome
		wantUser    string
		existing    bool
		createsUser bool
	}{
		{token: "existing", want: OutcomeAccountLinkUser, wantUser: alice, existing: true},
		{token: "dave", want: OutcomeLinkUser, wantUser: dave},
		{token: "carol", want: OutcomeFailInactive},
		{token: "bob", want: OutcomeFederationUser, wantUser: bob},
		{token: "bob-other", want: OutcomeFailPending},
		{token: "twins", jit: true, want: OutcomeFailAmbiguous},
		{token: "plain", want: OutcomeFailPending},
		{token: "plain", jit: true, want: OutcomeCreateUser, createsUser: true},
	}
	for _, tc := range tests {
		c := cfg
		c.JIT = tc.jit
		res, err := o.srv.SignIn(ctx, o.client, ui, tc.token, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.token, err)
		}
		if res.Outcome != tc.want || res.ExistingLink != tc.existing || res.CreatedUser != tc.createsUser {
			t.Errorf("%s: %+v, want %s existing=%v created=%v", tc.token, res, tc.want, tc.existing, tc.createsUser)
			continue
		}
		if tc.wantUser != "" && res.UserID != tc.wantUser {
			t.Errorf("%s: user %s, want %s", tc.token, res.UserID, tc.wantUser)
		}
		if res.Outcome.Failed() {
			if res.Message == "" || res.UserID != "" {
				t.Errorf("%s: failure without message or with a user: %+v", tc.token, res)
			}
			if _, ok := org.AccountLink(provider, res.Subject); ok {
				t.Errorf("%s: failed sign-in created an account link", tc.token)
			}
			continue
		}
		l, ok := org.AccountLink(provider, res.Subject)
		if !ok || l.UserID != res.UserID {
			t.Errorf("%s: account link %+v ok=%v, want user %s", tc.token, l, ok, res.UserID)
		}
	}
	// The JIT user is a duplicate: a new account, never alice's.
	l, _ := org.AccountLink(provider, "sub-plain")
	if l.UserID == alice {
		t.Error("JIT linked the email match")
	}
	if u, _ := org.User(l.UserID); u.Username != "alice@example.com.jit" || u.FederationIdentifier != "" {
		t.Errorf("JIT user %+v", u)
	}
	// A second sign-in finds the link Salesforce created.
	res, err := o.srv.SignIn(ctx, o.client, ui, "bob", cfg)
	if err != nil || !res.ExistingLink || res.UserID != bob {
		t.Errorf("second sign-in: %+v %v", res, err)
	}
	// Errors from the userinfo endpoint surface.
	if _, err := o.srv.SignIn(ctx, o.client, ui, "unknown-token", cfg); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("userinfo 401: %v", err)
	}
	if _, err := o.srv.SignIn(ctx, o.client, ui, "nosub", cfg); err == nil || !strings.Contains(err.Error(), "no sub") {
		t.Errorf("no sub: %v", err)
	}
}

// TestConfirmUserRoutes: a ThirdPartyAccountLink that points at a JIT
// duplicate no longer decides where the person lands once idlink's records
// (or the bridge's oid) say otherwise; both answers to the undocumented
// question (does Salesforce re-point the link?) route every sign-in the same
// way, and a legacy handler keeps landing on the duplicate.
func TestConfirmUserRoutes(t *testing.T) {
	const oid = "eeeeeeee-0000-0000-0000-000000000005"
	for _, repoint := range []bool{false, true} {
		o := newTestOrg(t, 0)
		org := o.srv.Org
		add := func(name, fed string, active bool) string {
			id, err := org.AddUser(identity.SalesforceUser{Username: name, Email: "erin@example.com", FederationIdentifier: fed, IsActive: active})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		provisioned := add("erin@example.com", oid, true)
		dup := add("erin@example.com.jit", "", true)
		dupOff := add("erin2@example.com.jit", "", false)
		for sub, user := range map[string]string{"sub-linked": dup, "sub-bridge": dup, "sub-plain": dup, "sub-off": dupOff} {
			if _, err := org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: provider, RemoteIdentifier: sub, UserID: user}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := org.PutIdentityLink(IdentityLink{Subject: "sub-linked", UserID: provisioned, Provider: provider, Status: "Active"}); err != nil {
			t.Fatal(err)
		}
		ui := userinfoServer(t, map[string]map[string]any{
			"linked": {"sub": "sub-linked"},
			"bridge": {"sub": "sub-bridge", "oid": oid, "tid": tenant},
			"plain":  {"sub": "sub-plain", "email": "erin@example.com"},
			"off":    {"sub": "sub-off", "oid": oid, "tid": tenant},
		})
		cfg := SignInConfig{Provider: provider, TenantID: tenant, JIT: true, RepointOnConfirm: repoint}
		tests := []struct {
			token  string
			legacy bool
			want   Outcome
			user   string
		}{
			{"linked", true, OutcomeAccountLinkUser, dup},
			{"linked", false, OutcomeLinkUser, provisioned},
			{"linked", false, OutcomeLinkUser, provisioned},
			{"bridge", false, OutcomeFederationUser, provisioned},
			{"plain", false, OutcomeAccountLinkUser, dup},
			{"off", false, OutcomeFederationUser, provisioned},
		}
		for i, tc := range tests {
			c := cfg
			c.LegacyHandler = tc.legacy
			res, err := o.srv.SignIn(context.Background(), o.client, ui, tc.token, c)
			if err != nil {
				t.Fatal(err)
			}
			if !res.ExistingLink || res.Outcome != tc.want || res.UserID != tc.user || res.CreatedUser {
				t.Errorf("repoint=%v step %d (%s): %+v, want %s as %s", repoint, i, tc.token, res, tc.want, tc.user)
			}
			if tc.legacy || tc.want == OutcomeAccountLinkUser {
				continue
			}
			l, _ := org.AccountLink(provider, res.Subject)
			if wantLink := map[bool]string{false: res.AccountLinkUserID, true: tc.user}[repoint]; l.UserID != wantLink {
				t.Errorf("repoint=%v %s: account link now points at %s, want %s", repoint, tc.token, l.UserID, wantLink)
			}
		}
		if n := len(org.AccountLinks()); n != 4 {
			t.Errorf("account links: %d, want 4 (confirmUser creates none)", n)
		}
	}
}
