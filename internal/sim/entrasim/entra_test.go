package entrasim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

const (
	testTenant = "7d1f3c2a-5b6e-4f70-8a9b-0c1d2e3f4a5b"
	jobApp     = "11111111-2222-4333-8444-555555555555"
	sfApp      = "99999999-8888-4777-8666-555555555555"
	jobSecret  = "s3cr3t~value.for-tests"
)

func testUserID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func newTestSim(t testing.TB, n int) *Sim {
	t.Helper()
	s, err := New(Options{
		TenantID:     testTenant,
		TenantDomain: "contoso.onmicrosoft.com",
		Apps: []App{
			{ClientID: jobApp, DisplayName: "idlink", Secret: jobSecret,
				GraphPermissions: []string{PermUserReadAll, PermApplicationReadAll, PermGroupMemberReadAll}},
			{ClientID: sfApp, DisplayName: "Salesforce"},
		},
		DeltaPageSize: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	users := make([]identity.EntraUser, n)
	for i := range users {
		users[i] = identity.EntraUser{ObjectID: testUserID(i), UPN: fmt.Sprintf("user%d@contoso.com", i),
			Mail: fmt.Sprintf("user%d@contoso.com", i), DisplayName: fmt.Sprintf("User %d", i),
			GivenName: "User", Surname: fmt.Sprint(i), AccountEnabled: true}
	}
	if err := s.AddUser(users...); err != nil {
		t.Fatal(err)
	}
	return s
}

type rawClient struct {
	t   testing.TB
	s   *Sim
	c   *http.Client
	tok string
}

func (rc *rawClient) token(tenant, clientID, secret, scope string) (int, map[string]any) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	resp, err := rc.c.PostForm(rc.s.LoginURL()+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		rc.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		rc.t.Fatal(err)
	}
	return resp.StatusCode, m
}

func (rc *rawClient) get(u string) (int, map[string]any, http.Header) {
	req, _ := http.NewRequest("GET", u, nil)
	if rc.tok != "" {
		req.Header.Set("Authorization", "Bearer "+rc.tok)
	}
	resp, err := rc.c.Do(req)
	if err != nil {
		rc.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		rc.t.Fatalf("GET %s: %v: %s", u, err, body)
	}
	return resp.StatusCode, m, resp.Header
}

func newRaw(t testing.TB, s *Sim) *rawClient {
	rc := &rawClient{t: t, s: s, c: s.HTTPClient()}
	code, m := rc.token(testTenant, jobApp, jobSecret, "https://graph.microsoft.com/.default")
	if code != 200 {
		t.Fatalf("token: %d %v", code, m)
	}
	rc.tok = m["access_token"].(string)
	return rc
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestTokenErrors(t *testing.T) {
	s := newTestSim(t, 1)
	rc := &rawClient{t: t, s: s, c: s.HTTPClient()}
	graph := "https://graph.microsoft.com/.default"
	tests := []struct {
		name, tenant, client, secret, scope string
		status                              int
		err                                 string
		aadsts                              float64
	}{
		{"ok", testTenant, jobApp, jobSecret, graph, 200, "", 0},
		{"ok by domain", "contoso.onmicrosoft.com", jobApp, jobSecret, graph, 200, "", 0},
		{"wrong secret", testTenant, jobApp, "nope", graph, 401, "invalid_client", 7000215},
		{"unknown tenant", "00000000-1111-4222-8333-444444444444", jobApp, jobSecret, graph, 400, "invalid_request", 90002},
		{"unknown app", testTenant, "12345678-1234-4234-8234-123456789012", jobSecret, graph, 400, "unauthorized_client", 700016},
		{"no secret", testTenant, jobApp, "", graph, 401, "invalid_client", 7000218},
		{"scope without .default", testTenant, jobApp, jobSecret, "User.Read.All", 400, "invalid_scope", 1002012},
		{"unknown resource", testTenant, jobApp, jobSecret, "https://nowhere.example/.default", 400, "invalid_resource", 500011},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, m := rc.token(tc.tenant, tc.client, tc.secret, tc.scope)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, m)
			}
			if tc.err == "" {
				if m["access_token"] == "" || m["token_type"] != "Bearer" {
					t.Fatalf("no token: %v", m)
				}
				return
			}
			if m["error"] != tc.err {
				t.Errorf("error %v, want %s", m["error"], tc.err)
			}
			desc, _ := m["error_description"].(string)
			if !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", int(tc.aadsts))) {
				t.Errorf("description %q", desc)
			}
			if codes, _ := m["error_codes"].([]any); len(codes) != 1 || codes[0] != tc.aadsts {
				t.Errorf("error_codes %v", m["error_codes"])
			}
			for _, k := range []string{"timestamp", "trace_id", "correlation_id"} {
				if m[k] == nil {
					t.Errorf("missing %s", k)
				}
			}
			if strings.Contains(desc, jobSecret) {
				t.Error("secret echoed")
			}
		})
	}
}

func TestGraphAuth(t *testing.T) {
	s := newTestSim(t, 3)
	rc := newRaw(t, s)
	u := s.GraphURL() + "/v1.0/users"
	if code, _, _ := rc.get(u); code != 200 {
		t.Fatalf("with token: %d", code)
	}
	anon := &rawClient{t: t, s: s, c: rc.c}
	if code, m, h := anon.get(u); code != 401 || errCode(m) != "InvalidAuthenticationToken" || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %v", code, m)
	}
	bad := &rawClient{t: t, s: s, c: rc.c, tok: rc.tok[:len(rc.tok)-4] + "AAAA"}
	if code, m, _ := bad.get(u); code != 401 || errCode(m) != "InvalidAuthenticationToken" {
		t.Fatalf("tampered: %d %v", code, m)
	}
	// A token for the app itself is not a Graph token.
	_, at := s.IssueTokens(jobApp, testUserID(1), "api://"+jobApp+"/access_as_user")
	wrongAud := &rawClient{t: t, s: s, c: rc.c, tok: at}
	if code, m, _ := wrongAud.get(u); code != 401 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "audience") {
		t.Fatalf("app token at graph: %d %v", code, m)
	}
	s.Advance(2 * time.Hour)
	if code, m, _ := rc.get(u); code != 401 || !strings.Contains(fmt.Sprint(m), "expired") {
		t.Fatalf("expired: %d %v", code, m)
	}
	s.Advance(-2 * time.Hour)
	// Missing permission.
	if err := s.SetGraphPermissions(jobApp, PermUserReadAll); err != nil {
		t.Fatal(err)
	}
	rc2 := newRaw(t, s)
	if code, m, _ := rc2.get(s.GraphURL() + "/v1.0/servicePrincipals(appId='" + sfApp + "')"); code != 403 || errCode(m) != "Authorization_RequestDenied" {
		t.Fatalf("no Application.Read.All: %d %v", code, m)
	}
}

func TestUsersPaging(t *testing.T) {
	s := newTestSim(t, 250)
	if err := s.SoftDelete(testUserID(7)); err != nil {
		t.Fatal(err)
	}
	rc := newRaw(t, s)
	for _, top := range []string{"0", "1000", "x"} {
		code, m, _ := rc.get(s.GraphURL() + "/v1.0/users?$top=" + top)
		if code != 400 || errCode(m) != "Request_UnsupportedQuery" {
			t.Errorf("$top=%s: %d %v", top, code, m)
		}
	}
	if code, m, _ := rc.get(s.GraphURL() + "/v1.0/users?$select=id,nosuch"); code != 400 {
		t.Errorf("bad select: %d %v", code, m)
	}
	next := s.GraphURL() + "/v1.0/users?$select=id,userPrincipalName,accountEnabled&$top=100"
	seen := map[string]bool{}
	pages := 0
	for next != "" {
		code, m, _ := rc.get(next)
		if code != 200 {
			t.Fatalf("%d %v", code, m)
		}
		pages++
		if !strings.Contains(m["@odata.context"].(string), "$metadata#users(") {
			t.Errorf("context %v", m["@odata.context"])
		}
		for _, v := range m["value"].([]any) {
			u := v.(map[string]any)
			if _, ok := u["mail"]; ok {
				t.Fatalf("unselected mail returned: %v", u)
			}
			if u["accountEnabled"] != true {
				t.Fatalf("accountEnabled: %v", u)
			}
			seen[u["id"].(string)] = true
		}
		next, _ = m["@odata.nextLink"].(string)
	}
	if len(seen) != 249 || pages != 3 || seen[testUserID(7)] {
		t.Fatalf("saw %d users in %d pages", len(seen), pages)
	}
	// The recycle bin lists exactly the soft-deleted user.
	must(t, s.SoftDelete(testUserID(200)))
	must(t, s.HardDelete(testUserID(201)))
	items, _, _ := deltaRound(t, rc, s.GraphURL()+"/v1.0/directory/deletedItems/microsoft.graph.user?$select=id,userPrincipalName&$top=1")
	if len(items) != 2 || items[0]["id"] != testUserID(7) || items[1]["id"] != testUserID(200) || items[1]["userPrincipalName"] != "user200@contoso.com" {
		t.Fatalf("deleted items: %v", items)
	}
}

// deltaRound follows a delta chain to its deltaLink and returns the items.
func deltaRound(t *testing.T, rc *rawClient, start string) (items []map[string]any, deltaLink string, pages int) {
	t.Helper()
	next := start
	for next != "" {
		code, m, _ := rc.get(next)
		if code != 200 {
			t.Fatalf("delta %s: %d %v", next, code, m)
		}
		pages++
		for _, v := range m["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		next, _ = m["@odata.nextLink"].(string)
		if dl, ok := m["@odata.deltaLink"].(string); ok {
			if next != "" {
				t.Fatal("both nextLink and deltaLink")
			}
			deltaLink = dl
		}
	}
	return items, deltaLink, pages
}

func TestDelta(t *testing.T) {
	s := newTestSim(t, 120)
	rc := newRaw(t, s)
	items, dl, pages := deltaRound(t, rc, s.GraphURL()+"/v1.0/users/delta()?$select=displayName,userPrincipalName,accountEnabled&$top=999")
	if len(items) != 120 || pages != 3 || dl == "" {
		t.Fatalf("initial: %d items, %d pages, link %q", len(items), pages, dl)
	}
	// Nothing changed: empty round.
	items, dl2, _ := deltaRound(t, rc, dl)
	if len(items) != 0 {
		t.Fatalf("no changes but %v", items)
	}
	must(t, s.UpdateUser(testUserID(1), func(u *identity.EntraUser) { u.DisplayName = "Renamed" }))
	must(t, s.UpdateUser(testUserID(1), func(u *identity.EntraUser) { u.AccountEnabled = false }))
	must(t, s.SetJobTitle(testUserID(2), "Not selected"))
	must(t, s.UpdateUser(testUserID(3), func(u *identity.EntraUser) { u.Mail = "new@contoso.com" })) // mail not selected
	must(t, s.SoftDelete(testUserID(4)))
	must(t, s.HardDelete(testUserID(5)))
	must(t, s.SoftDelete(testUserID(6)))
	must(t, s.AddUser(identity.EntraUser{ObjectID: testUserID(500), UPN: "new@contoso.com", DisplayName: "New", AccountEnabled: true}))
	items, dl3, _ := deltaRound(t, rc, dl2)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[it["id"].(string)] = it
	}
	if len(got) != len(items) {
		t.Fatalf("user reported twice in one round: %v", items)
	}
	u1 := got[testUserID(1)]
	if u1 == nil || u1["displayName"] != "Renamed" || u1["accountEnabled"] != false || u1["userPrincipalName"] != nil {
		t.Errorf("changed user: %v", u1)
	}
	if got[testUserID(2)] != nil || got[testUserID(3)] != nil {
		t.Errorf("unselected property changes reported: %v %v", got[testUserID(2)], got[testUserID(3)])
	}
	if r := got[testUserID(4)]["@removed"]; fmt.Sprint(r) != "map[reason:changed]" {
		t.Errorf("soft delete: %v", r)
	}
	if r := got[testUserID(5)]["@removed"]; fmt.Sprint(r) != "map[reason:deleted]" {
		t.Errorf("hard delete: %v", r)
	}
	if n := got[testUserID(500)]; n == nil || n["userPrincipalName"] != "new@contoso.com" {
		t.Errorf("new user: %v", n)
	}
	if len(got) != 5 {
		t.Errorf("round 2 reported %d users: %v", len(got), items)
	}
	// Restore reappears with all selected properties.
	must(t, s.Restore(testUserID(6)))
	items, _, _ = deltaRound(t, rc, dl3)
	if len(items) != 1 || items[0]["id"] != testUserID(6) || items[0]["userPrincipalName"] != "user6@contoso.com" {
		t.Errorf("restore: %v", items)
	}
	// latest: only a deltaLink.
	code, m, _ := rc.get(s.GraphURL() + "/v1.0/users/delta?$select=displayName&$deltatoken=latest")
	if code != 200 || len(m["value"].([]any)) != 0 || m["@odata.deltaLink"] == nil {
		t.Fatalf("latest: %d %v", code, m)
	}
	// Expiry after 7 days, and a forged token.
	s.Advance(7*24*time.Hour + time.Minute)
	rc = newRaw(t, s) // the old access token expired with the clock
	for _, link := range []string{dl3, s.GraphURL() + "/v1.0/users/delta?$deltatoken=Zm9yZ2Vk"} {
		code, m, _ := rc.get(link)
		if code != 400 || errCode(m) != "syncStateNotFound" {
			t.Errorf("expired/unknown: %d %v", code, m)
		}
	}
	s.SetExpiredDeltaStatus(http.StatusGone)
	if code, m, h := rc.get(dl3); code != 410 || h.Get("Location") == "" {
		t.Errorf("410 mode: %d %v", code, m)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAssignmentsAndMembers(t *testing.T) {
	s := newTestSim(t, 10)
	g1, g2, g3 := "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002", "aaaaaaaa-0000-4000-8000-000000000003"
	must(t, s.AddGroup(g1, "Sales"))
	must(t, s.AddGroup(g2, "Sales EMEA"))
	must(t, s.AddGroup(g3, "Unassigned"))
	must(t, s.AddMember(g1, testUserID(1)))
	must(t, s.AddMember(g1, g2))
	must(t, s.AddMember(g2, testUserID(2)))
	must(t, s.AddMember(g2, testUserID(3)))
	must(t, s.AddMember(g2, g1)) // a cycle must not loop
	must(t, s.AddMember(g3, testUserID(4)))
	must(t, s.AssignAppRole(sfApp, g1, ""))
	must(t, s.AssignAppRole(sfApp, testUserID(5), ""))
	must(t, s.SoftDelete(testUserID(3)))
	rc := newRaw(t, s)
	code, sp, _ := rc.get(s.GraphURL() + "/v1.0/servicePrincipals(appId='" + sfApp + "')")
	if code != 200 || sp["appId"] != sfApp {
		t.Fatalf("sp: %d %v", code, sp)
	}
	code, list, _ := rc.get(s.GraphURL() + "/v1.0/servicePrincipals?$filter=" + url.QueryEscape("appId eq '"+sfApp+"'"))
	if code != 200 || len(list["value"].([]any)) != 1 {
		t.Fatalf("sp filter: %d %v", code, list)
	}
	code, m, _ := rc.get(s.GraphURL() + "/v1.0/servicePrincipals/" + sp["id"].(string) + "/appRoleAssignedTo?$top=1")
	if code != 200 || len(m["value"].([]any)) != 1 || m["@odata.nextLink"] == nil {
		t.Fatalf("assignments page 1: %d %v", code, m)
	}
	code, m2, _ := rc.get(m["@odata.nextLink"].(string))
	if code != 200 || len(m2["value"].([]any)) != 1 || m2["@odata.nextLink"] != nil {
		t.Fatalf("assignments page 2: %d %v", code, m2)
	}
	a := m2["value"].([]any)[0].(map[string]any)
	if a["principalType"] != "User" || a["principalId"] != testUserID(5) {
		t.Fatalf("assignment %v", a)
	}
	code, mem, _ := rc.get(s.GraphURL() + "/v1.0/groups/" + g1 + "/transitiveMembers?$select=id")
	if code != 200 {
		t.Fatalf("members %d %v", code, mem)
	}
	var users, groups []string
	for _, v := range mem["value"].([]any) {
		o := v.(map[string]any)
		switch o["@odata.type"] {
		case "#microsoft.graph.user":
			users = append(users, o["id"].(string))
		case "#microsoft.graph.group":
			groups = append(groups, o["id"].(string))
		}
	}
	if fmt.Sprint(users) != fmt.Sprint([]string{testUserID(1), testUserID(2)}) || fmt.Sprint(groups) != "["+g2+"]" {
		t.Fatalf("transitive members users=%v groups=%v", users, groups)
	}
	// Paging keeps $select.
	code, p1, _ := rc.get(s.GraphURL() + "/v1.0/groups/" + g1 + "/transitiveMembers/microsoft.graph.user?$select=id,mail&$top=1")
	if code != 200 || p1["@odata.nextLink"] == nil {
		t.Fatalf("members page 1: %d %v", code, p1)
	}
	code, p2, _ := rc.get(p1["@odata.nextLink"].(string))
	if code != 200 || len(p2["value"].([]any)) != 1 {
		t.Fatalf("members page 2: %d %v", code, p2)
	}
	if _, ok := p2["value"].([]any)[0].(map[string]any)["mail"]; !ok {
		t.Errorf("page 2 lost $select: %v", p2)
	}
	code, direct, _ := rc.get(s.GraphURL() + "/v1.0/groups/" + g1 + "/members")
	if code != 200 || len(direct["value"].([]any)) != 2 {
		t.Fatalf("direct members %d %v", code, direct)
	}
	must(t, s.RemoveMember(g1, testUserID(1)))
	if n, err := s.UnassignAppRole(sfApp, testUserID(5)); err != nil || n != 1 {
		t.Fatalf("unassign: %d %v", n, err)
	}
	_, direct, _ = rc.get(s.GraphURL() + "/v1.0/groups/" + g1 + "/members")
	_, as, _ := rc.get(s.GraphURL() + "/v1.0/servicePrincipals/" + sp["id"].(string) + "/appRoleAssignedTo")
	if len(direct["value"].([]any)) != 1 || len(as["value"].([]any)) != 1 {
		t.Fatalf("after removal: members %v assignments %v", direct, as)
	}
}

func TestSignInAndUserinfo(t *testing.T) {
	s := newTestSim(t, 3)
	t1, err := s.SignIn(sfApp, testUserID(1), "openid", "profile", "email")
	must(t, err)
	t2, err := s.SignIn(jobApp, testUserID(1), "openid")
	must(t, err)
	if t1.Subject == t2.Subject || t1.Subject == testUserID(1) {
		t.Fatal("sub is not pairwise per client")
	}
	idc, err := s.verify(t1.IDToken)
	must(t, err)
	if idc["aud"] != sfApp || idc["iss"] != s.Issuer() || idc["oid"] != testUserID(1) || idc["sub"] != t1.Subject || idc["tid"] != testTenant || idc["preferred_username"] != "user1@contoso.com" {
		t.Fatalf("id token claims %v", idc)
	}
	atc, err := s.verify(t1.AccessToken)
	must(t, err)
	if atc["aud"] != GraphAppID {
		t.Fatalf("graph access token aud %v", atc["aud"])
	}
	rc := &rawClient{t: t, s: s, c: s.HTTPClient(), tok: t1.AccessToken}
	code, ui, _ := rc.get(s.GraphURL() + "/oidc/userinfo")
	if code != 200 {
		t.Fatalf("userinfo %d %v", code, ui)
	}
	want := []string{"email", "family_name", "given_name", "name", "picture", "sub"}
	var keys []string
	for k := range ui {
		keys = append(keys, k)
	}
	if fmt.Sprint(sortStrings(keys)) != fmt.Sprint(want) || ui["sub"] != t1.Subject {
		t.Fatalf("userinfo %v", ui)
	}
	// Key rotation: old tokens verify while the old key is published.
	oldKid := s.SigningKeyID()
	newKid, err := s.RotateKeys()
	must(t, err)
	if newKid == oldKid {
		t.Fatal("same kid")
	}
	if _, err := s.verify(t1.IDToken); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	code, jwks, _ := rc.get(s.JWKSURL())
	if code != 200 || len(jwks["keys"].([]any)) != 2 {
		t.Fatalf("jwks %v", jwks)
	}
	s.RetireOldKeys()
	if _, err := s.verify(t1.IDToken); err == nil {
		t.Fatal("retired key still verifies")
	}
	t3, err := s.SignIn(sfApp, testUserID(1), "api://"+sfApp+"/access")
	must(t, err)
	c3, _ := s.verify(t3.AccessToken)
	if c3["aud"] != sfApp || c3["iss"] != s.Issuer() {
		t.Fatalf("app access token %v", c3)
	}
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestOpenIDConfiguration(t *testing.T) {
	s := newTestSim(t, 0)
	rc := &rawClient{t: t, s: s, c: s.HTTPClient()}
	code, m, _ := rc.get(s.LoginURL() + "/" + testTenant + "/v2.0/.well-known/openid-configuration")
	if code != 200 || m["issuer"] != s.Issuer() || m["jwks_uri"] != s.JWKSURL() || m["token_endpoint"] != s.LoginURL()+"/"+testTenant+"/oauth2/v2.0/token" {
		t.Fatalf("%d %v", code, m)
	}
	code, m, _ = rc.get(s.LoginURL() + "/00000000-1111-4222-8333-444444444444/v2.0/.well-known/openid-configuration")
	if code != 400 || !strings.HasPrefix(m["error_description"].(string), "AADSTS90002") {
		t.Fatalf("unknown tenant: %d %v", code, m)
	}
}

func TestFaults(t *testing.T) {
	s := newTestSim(t, 5)
	rc := newRaw(t, s)
	s.Faults.Set(EPUsers, faultThrottle(1))
	code, m, h := rc.get(s.GraphURL() + "/v1.0/users")
	if code != 429 || errCode(m) != "TooManyRequests" || h.Get("Retry-After") != "1" {
		t.Fatalf("%d %v %v", code, m, h)
	}
	if code, _, _ := rc.get(s.GraphURL() + "/v1.0/users"); code != 200 {
		t.Fatalf("after fault: %d", code)
	}
	if c := s.Faults.Counter(EPUsers); c.Requests != 2 || c.Throttled != 1 {
		t.Fatalf("counters %+v", c)
	}
}

func faultThrottle(n int) fault.Faults { return fault.Faults{ThrottleNext: n, RetryAfter: time.Second} }

func TestLoadScenario(t *testing.T) {
	w, err := scenario.Generate(scenario.Config{Seed: 7, Users: 400})
	must(t, err)
	s, err := New(Options{TenantID: w.TenantID, Apps: []App{{ClientID: jobApp, Secret: jobSecret,
		GraphPermissions: []string{PermUserReadAll, PermApplicationReadAll, PermGroupMemberReadAll}}}})
	must(t, err)
	defer s.Close()
	must(t, s.LoadScenario(w))
	listed, inScope := 0, map[string]bool{}
	for i, u := range w.Entra {
		if w.Listed(i) {
			listed++
		}
		if u.InScope && w.Listed(i) {
			inScope[u.ObjectID] = true
		}
	}
	if listed < 300 || len(inScope) < 100 || listed == len(inScope) {
		t.Fatalf("scenario too small to test: %d listed, %d in scope", listed, len(inScope))
	}
	rc := &rawClient{t: t, s: s, c: s.HTTPClient()}
	code, m := rc.token(w.TenantID, jobApp, jobSecret, "https://graph.microsoft.com/.default")
	if code != 200 {
		t.Fatalf("token %d %v", code, m)
	}
	rc.tok = m["access_token"].(string)
	_, page, _ := rc.get(s.GraphURL() + "/v1.0/users?$top=999")
	if n := len(page["value"].([]any)); n != listed {
		t.Errorf("listed %d users, scenario lists %d", n, listed)
	}
	// Direct members of assigned groups plus directly assigned users = the
	// scenario's InScope.
	got := map[string]bool{}
	_, as, _ := rc.get(s.GraphURL() + "/v1.0/servicePrincipals/" + w.App.ServicePrincipalID + "/appRoleAssignedTo?$top=999")
	for _, v := range as["value"].([]any) {
		a := v.(map[string]any)
		id := a["principalId"].(string)
		if a["principalType"] == "User" {
			got[id] = true
			continue
		}
		_, mem, _ := rc.get(s.GraphURL() + "/v1.0/groups/" + id + "/members/microsoft.graph.user?$select=id&$top=999")
		for _, u := range mem["value"].([]any) {
			got[u.(map[string]any)["id"].(string)] = true
		}
	}
	for oid := range got {
		if u, ok := s.User(oid); !ok || u.Deleted != identity.NotDeleted {
			delete(got, oid)
		}
	}
	if len(got) != len(inScope) {
		t.Errorf("assignments give %d users in scope, scenario says %d", len(got), len(inScope))
	}
	for oid := range inScope {
		if !got[oid] {
			t.Errorf("scenario in-scope user %s not assigned in the simulator", oid)
			break
		}
	}
	// Sign-in subjects are the scenario's.
	p := w.Providers[0]
	for i, u := range w.Entra {
		if w.Listed(i) && u.AccountEnabled {
			tk, err := s.SignIn(p.ClientID, u.ObjectID, "openid")
			must(t, err)
			if tk.Subject != w.Subject(p.ClientID, u.ObjectID) {
				t.Fatalf("sub %s, scenario %s", tk.Subject, w.Subject(p.ClientID, u.ObjectID))
			}
			break
		}
	}
}
