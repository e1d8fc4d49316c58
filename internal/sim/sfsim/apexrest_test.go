package sfsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

const revokeURLPath = "/services/apexrest/idlink/v1/account-links/revoke"

// revokeWorld is an org in which the sub of Erin, provisioned as
// erin@example.com, signs in as her JIT duplicate: the
// ThirdPartyAccountLink of sub-m (and of sub-n, -p, -q) names the duplicate, while
// idlink's Identity_Link__c names the provisioned account.
type revokeWorld struct {
	*testOrg
	provisioned, dup, other string
	providerID              string // the Auth. Provider "Entra"
}

func newRevokeWorld(t *testing.T) *revokeWorld {
	t.Helper()
	o := newTestOrg(t, 0)
	org := o.srv.Org
	w := &revokeWorld{testOrg: o}
	add := func(name, fed string) string {
		id, err := org.AddUser(identity.SalesforceUser{Username: name, Email: "erin@example.com", FederationIdentifier: fed, IsActive: true})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	w.provisioned = add("erin@example.com", "eeeeeeee-0000-0000-0000-000000000005")
	w.dup = add("erin@example.com.jit", "")
	w.other = add("frank@example.com", "")
	var err error
	if w.providerID, err = org.AddAuthProvider(AuthProvider{DeveloperName: provider}); err != nil {
		t.Fatal(err)
	}
	for _, ap := range []AuthProvider{{DeveloperName: "Other"}, {DeveloperName: "SamlIdp", ProviderType: "Saml"}} {
		if _, err := org.AddAuthProvider(ap); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []identity.ThirdPartyAccountLink{
		{Provider: provider, RemoteIdentifier: "sub-m", UserID: w.dup},
		{Provider: provider, RemoteIdentifier: "sub-n", UserID: w.dup},
		{Provider: provider, RemoteIdentifier: "sub-p", UserID: w.dup},
		{Provider: provider, RemoteIdentifier: "sub-q", UserID: w.dup},
		{Provider: provider, RemoteIdentifier: "sub-f", UserID: w.other},
		// The same kind of sub through another Auth. Provider.
		{Provider: "Other", RemoteIdentifier: "sub-o", UserID: w.dup},
	} {
		if _, err := org.AddAccountLink(l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := org.PutIdentityLink(IdentityLink{Subject: "sub-m", UserID: w.provisioned, Provider: provider, Status: "Active"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// revoke posts body to the resource and decodes its JSON answer.
func (w *revokeWorld) revoke(t *testing.T, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, w.srv.URL()+revokeURLPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("POST %s: Content-Type %q, want JSON", body, ct)
	}
	out := map[string]any{}
	if resp.StatusCode == http.StatusUnauthorized {
		// The platform answers before the resource runs: [{"errorCode", "message"}].
		var list []map[string]any
		if err := json.Unmarshal(b, &list); err != nil || len(list) != 1 {
			t.Fatalf("POST %s: answer 401 is not Salesforce's error list: %q", body, b)
		}
		return resp.StatusCode, list[0]
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s: answer %d is not a JSON object: %q", body, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func revokeBody(userID, subject string) string {
	b, _ := json.Marshal(map[string]string{"userId": userID, "subject": subject})
	return string(b)
}

// revokeBodyFor names the Auth. Provider too (the optional "provider" key).
func revokeBodyFor(provider, userID, subject string) string {
	b, _ := json.Marshal(map[string]string{"userId": userID, "subject": subject, "provider": provider})
	return string(b)
}

// TestRevokeResourceAnswers runs every answer of the revocation resource in
// the order IdlinkLinkRevocationResource checks them (settings, body, Auth.
// Provider, link). None but the 200 calls revokeAccess or removes a link.
func TestRevokeResourceAnswers(t *testing.T) {
	w := newRevokeWorld(t)
	org := w.srv.Org
	tok := w.token(t)
	enabled := &PackageSettings{RevokeEnabled: true, AuthProvider: provider}
	good := revokeBody(w.dup, "sub-m")
	tests := []struct {
		name     string
		settings *PackageSettings // nil: as the org was (a new org: the package's default)
		body     string
		status   int
		code     string
		msgHas   string
	}{
		{"new org: revocation off by default", nil, good, 403, "revocation_disabled", "Revoke_Enabled__c"},
		{"off: checked before the body", &PackageSettings{AuthProvider: provider}, "not json", 403, "revocation_disabled", "Revoke_Enabled__c"},
		{"settings record missing", &PackageSettings{Missing: true}, good, 409, "not_configured", "Idlink_Setting__mdt.Default"},
		{"settings record missing, even if enabled", &PackageSettings{Missing: true, RevokeEnabled: true, AuthProvider: provider}, good, 409, "not_configured", "Idlink_Setting__mdt.Default"},
		{"not JSON", enabled, "not json", 400, "bad_request", `{"userId"`},
		{"empty body", enabled, "", 400, "bad_request", "no other keys"},
		{"JSON null", enabled, "null", 400, "bad_request", "no other keys"},
		{"JSON array", enabled, "[]", 400, "bad_request", "no other keys"},
		{"unknown key", enabled, `{"userId":"` + w.dup + `","subject":"sub-m","force":true}`, 400, "bad_request", "no other keys"},
		{"userId missing", enabled, `{"subject":"sub-m"}`, 400, "bad_user_id", "005"},
		{"userId null", enabled, `{"userId":null,"subject":"sub-m"}`, 400, "bad_user_id", "005"},
		{"userId not an id", enabled, revokeBody("erin@example.com", "sub-m"), 400, "bad_user_id", "005"},
		{"userId of another object", enabled, revokeBody("0Jr8d0000000001AAA", "sub-m"), 400, "bad_user_id", "005"},
		{"subject missing", enabled, `{"userId":"` + w.dup + `"}`, 400, "bad_subject", "RemoteIdentifier"},
		{"subject blank", enabled, revokeBody(w.dup, "  "), 400, "bad_subject", "RemoteIdentifier"},
		{"no Auth. Provider configured", &PackageSettings{RevokeEnabled: true}, good, 409, "provider_not_configured", "Auth_Provider__c"},
		{"no Auth. Provider configured, the caller names one", &PackageSettings{RevokeEnabled: true}, revokeBodyFor("Other", w.dup, "sub-o"), 409, "provider_not_configured", "Auth_Provider__c"},
		{"the caller names another Auth. Provider", enabled, revokeBodyFor("Other", w.dup, "sub-o"), 409, "provider_mismatch", "Auth_Provider__c"},
		{"Auth. Provider not found", &PackageSettings{RevokeEnabled: true, AuthProvider: "NoSuchProvider"}, good, 409, "provider_not_found", "Auth_Provider__c"},
		{"Auth. Provider not found, the caller names it", &PackageSettings{RevokeEnabled: true, AuthProvider: "NoSuchProvider"}, revokeBodyFor("NoSuchProvider", w.dup, "sub-m"), 409, "provider_not_found", "Auth_Provider__c"},
		{"Auth. Provider not OIDC", &PackageSettings{RevokeEnabled: true, AuthProvider: "SamlIdp"}, good, 409, "provider_not_oidc", "Open ID Connect"},
		{"wrong user", enabled, revokeBody(w.provisioned, "sub-m"), 404, "link_not_found", "Manage Users"},
		{"wrong sub", enabled, revokeBody(w.dup, "sub-zzz"), 404, "link_not_found", "Manage Users"},
		{"sub in another case", enabled, revokeBody(w.dup, "SUB-M"), 404, "link_not_found", "Manage Users"},
		{"sub of the user through another Auth. Provider", enabled, revokeBody(w.dup, "sub-o"), 404, "link_not_found", "Manage Users"},
		{"another user's sub", enabled, revokeBody(w.dup, "sub-f"), 404, "link_not_found", "Manage Users"},
		{"wrong sub, the caller names the provider", enabled, revokeBodyFor(provider, w.dup, "sub-zzz"), 404, "link_not_found", "Manage Users"},
	}
	links := len(org.AccountLinks())
	for _, tc := range tests {
		if tc.settings != nil {
			org.SetPackageSettings(*tc.settings)
		}
		status, body := w.revoke(t, tok, tc.body)
		if status != tc.status || body["error"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.code)
			continue
		}
		if msg, _ := body["message"].(string); !strings.Contains(msg, tc.msgHas) || len(body) != 2 {
			t.Errorf("%s: body %v, want {error, message} with a message naming %q", tc.name, body, tc.msgHas)
		}
	}
	if n := len(org.RevokeCalls()); n != 0 {
		t.Fatalf("refused requests called revokeAccess %d times: %+v", n, org.RevokeCalls())
	}
	if n := len(org.AccountLinks()); n != links {
		t.Fatalf("refused requests removed account links: %d left of %d", n, links)
	}

	// Revoking: 200, the link is gone, revokeAccess got the lowercase
	// provider name and the 15-character Id. An 18- or a 15-character Id
	// works, and so does naming the configured provider in any case.
	org.SetPackageSettings(*enabled)
	for k, req := range []struct{ body, sub string }{
		{revokeBody(w.dup, "sub-m"), "sub-m"},
		{revokeBodyFor(strings.ToLower(provider), w.dup[:15], "sub-n"), "sub-n"},
		{`{"userId":"` + w.dup + `","subject":"sub-p","provider":null}`, "sub-p"},
		{revokeBodyFor("", w.dup, "sub-q"), "sub-q"},
	} {
		status, body := w.revoke(t, tok, req.body)
		if status != 200 || body["revoked"] != true || len(body) != 1 {
			t.Fatalf("revoke %s: %d %v, want 200 {revoked: true}", req.body, status, body)
		}
		if l, ok := org.AccountLink(provider, req.sub); ok {
			t.Fatalf("revoke %s: the ThirdPartyAccountLink is still there: %+v", req.sub, l)
		}
		calls := org.RevokeCalls()
		want := RevokeCall{AuthProviderID: w.providerID, ProviderName: "open id connect", UserID: w.dup[:15], RemoteIdentifier: req.sub}
		if len(calls) != k+1 || calls[k] != want || len(calls[k].UserID) != 15 {
			t.Fatalf("revoke %s: revokeAccess calls %+v, want the last %+v", req.sub, calls, want)
		}
	}
	if n := len(org.AccountLinks()); n != links-4 {
		t.Fatalf("%d account links left, want %d", n, links-4)
	}
	// The other links are intact and still found by their keys.
	for _, k := range []struct{ provider, sub, user string }{{provider, "sub-f", w.other}, {"Other", "sub-o", w.dup}} {
		if l, ok := org.AccountLink(k.provider, k.sub); !ok || l.UserID != k.user {
			t.Fatalf("account link %s/%s after the revokes: %+v %v, want user %s", k.provider, k.sub, l, ok, k.user)
		}
	}
	// Revoking again: nothing left to revoke, and no further revokeAccess call.
	if status, body := w.revoke(t, tok, good); status != 404 || body["error"] != "link_not_found" {
		t.Fatalf("second revoke: %d %v, want 404 link_not_found", status, body)
	}
	if n := len(org.RevokeCalls()); n != 4 {
		t.Fatalf("revokeAccess calls %d, want 4", n)
	}
	// Like every REST resource, it needs a session.
	if status, body := w.revoke(t, "not-a-token", good); status != 401 || body["errorCode"] != "INVALID_SESSION_ID" {
		t.Fatalf("without a session: %d %v, want 401", status, body)
	}
}

// TestRevokeAccessArguments: the emulated Auth.AuthToken.revokeAccess only
// revokes with the arguments the Apex Reference asks for, so a resource that
// passed AuthProvider.ProviderType, a capitalized name or the 18-character Id
// would fail the tests above.
func TestRevokeAccessArguments(t *testing.T) {
	w := newRevokeWorld(t)
	org := w.srv.Org
	tests := []struct {
		name string
		call RevokeCall
		want bool
	}{
		{"ProviderType instead of the provider name", RevokeCall{w.providerID, "OpenIdConnect", w.dup[:15], "sub-m"}, false},
		{"capitalized provider name", RevokeCall{w.providerID, "Open ID Connect", w.dup[:15], "sub-m"}, false},
		{"18-character user Id", RevokeCall{w.providerID, "open id connect", w.dup, "sub-m"}, false},
		{"unknown Auth. Provider id", RevokeCall{"0SO8d0000000099AAA", "open id connect", w.dup[:15], "sub-m"}, false},
		{"another user", RevokeCall{w.providerID, "open id connect", w.provisioned[:15], "sub-m"}, false},
		{"as documented", RevokeCall{w.providerID, "open id connect", w.dup[:15], "sub-m"}, true},
		{"once only", RevokeCall{w.providerID, "open id connect", w.dup[:15], "sub-m"}, false},
	}
	revoked := false
	for i, tc := range tests {
		org.mu.Lock()
		got := org.revokeAccess(tc.call)
		org.mu.Unlock()
		_, present := org.AccountLink(provider, "sub-m")
		revoked = revoked || got
		if got != tc.want || present == revoked || len(org.RevokeCalls()) != i+1 {
			t.Fatalf("%s: revokeAccess(%+v) = %v (link present %v), want %v", tc.name, tc.call, got, present, tc.want)
		}
	}
}

// TestSignInAfterRevoke: once the ThirdPartyAccountLink to the duplicate is
// revoked, Salesforce has no link for the sub and calls createUser again,
// which follows idlink's link to the provisioned account and creates the
// ThirdPartyAccountLink there.
func TestSignInAfterRevoke(t *testing.T) {
	w := newRevokeWorld(t)
	org := w.srv.Org
	org.SetPackageSettings(PackageSettings{RevokeEnabled: true, AuthProvider: provider})
	ui := userinfoServer(t, map[string]map[string]any{"erin": {"sub": "sub-m", "email": "erin@example.com"}})
	cfg := SignInConfig{Provider: provider, TenantID: tenant, JIT: true}
	signIn := func() SignInResult {
		t.Helper()
		res, err := w.srv.SignIn(context.Background(), w.client, ui, "erin", cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	before := signIn()
	if !before.ExistingLink || before.Decision == nil || before.Decision.Handler != HandlerConfirm || before.AccountLinkUserID != w.dup ||
		before.UserID != w.provisioned || !before.Routed {
		t.Fatalf("before the revoke: %+v, want confirmUser routing from %s to %s", before, w.dup, w.provisioned)
	}
	if status, body := w.revoke(t, w.token(t), revokeBody(w.dup, "sub-m")); status != 200 {
		t.Fatalf("revoke: %d %v", status, body)
	}
	users := len(org.Users())
	after := signIn()
	if after.ExistingLink || after.Decision == nil || after.Decision.Handler != HandlerCreate || after.Outcome != OutcomeLinkUser ||
		after.UserID != w.provisioned || after.CreatedUser || after.Routed {
		t.Fatalf("after the revoke: %+v, want createUser linking %s", after, w.provisioned)
	}
	if l, ok := org.AccountLink(provider, "sub-m"); !ok || l.UserID != w.provisioned || l.ID == "" {
		t.Fatalf("the new ThirdPartyAccountLink: %+v %v, want one to %s", l, ok, w.provisioned)
	}
	if n := len(org.Users()); n != users {
		t.Fatalf("the sign-in created a user: %d, want %d", n, users)
	}
	// From now on Salesforce's own link is the correct one.
	again := signIn()
	if !again.ExistingLink || again.Decision.Handler != HandlerConfirm || again.UserID != w.provisioned || again.Routed {
		t.Fatalf("next sign-in: %+v, want confirmUser keeping %s", again, w.provisioned)
	}
}

// TestQueryCursorAcrossRevokes: a query locator opened before a revoke keeps
// serving the records that still exist, each once; the revoked one is left
// out. (Cursors hold row indexes; a revoke removes a row.)
func TestQueryCursorAcrossRevokes(t *testing.T) {
	w := newRevokeWorld(t)
	org := w.srv.Org
	org.SetPackageSettings(PackageSettings{RevokeEnabled: true, AuthProvider: provider})
	grace, err := org.AddUser(identity.SalesforceUser{Username: "grace@example.com", IsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		if _, err := org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: provider, RemoteIdentifier: fmt.Sprintf("c-%03d", i), UserID: grace}); err != nil {
			t.Fatal(err)
		}
	}
	tok := w.token(t)
	soql := "SELECT Id, RemoteIdentifier FROM ThirdPartyAccountLink WHERE UserId = '" + grace + "'"
	open := func() queryPage {
		t.Helper()
		code, p, b := w.query(t, tok, soql, 200)
		if code != 200 || p.Done || len(p.Records) != 200 {
			t.Fatalf("first page: %d, %d records, done %v: %.300s", code, len(p.Records), p.Done, b)
		}
		return p
	}
	revoke := func(sub string) {
		t.Helper()
		if status, body := w.revoke(t, tok, revokeBody(grace, sub)); status != 200 {
			t.Fatalf("revoke %s: %d %v", sub, status, body)
		}
	}
	next := func(p queryPage) []map[string]any {
		t.Helper()
		code, _, b := w.do(t, "GET", p.NextRecordsURL, tok, nil, nil)
		var q queryPage
		if code != 200 || json.Unmarshal(b, &q) != nil || !q.Done {
			t.Fatalf("next page: %d %.300s", code, b)
		}
		return q.Records
	}
	subs := func(pages ...[]map[string]any) []string {
		var out []string
		for _, recs := range pages {
			for _, r := range recs {
				out = append(out, r["RemoteIdentifier"].(string))
			}
		}
		return out
	}
	want := func(skip ...string) []string {
		var out []string
		for i := range n {
			if s := fmt.Sprintf("c-%03d", i); !slices.Contains(skip, s) {
				out = append(out, s)
			}
		}
		return out
	}

	before := open() // c-000..c-199, then a locator for c-200..c-299
	revoke("c-000")  // already served
	between := open()
	revoke("c-250") // not served yet by either
	revoke("c-150") // served by before, not yet by between
	if got := subs(before.Records, next(before)); !slices.Equal(got, want("c-250")) {
		t.Errorf("cursor opened before the revokes served %d records, want %d: %v", len(got), n-1, got)
	}
	if got := subs(between.Records, next(between)); !slices.Equal(got, want("c-000", "c-250")) {
		t.Errorf("cursor opened between the revokes served %d records, want %d: %v", len(got), n-2, got)
	}
	recs, _ := w.queryAll(t, tok, soql, 200)
	if got := subs(recs); !slices.Equal(got, want("c-000", "c-150", "c-250")) {
		t.Errorf("a new query served %d records, want %d", len(got), n-3)
	}
}
