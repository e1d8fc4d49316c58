package sfsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/simtls"
)

type testOrg struct {
	srv    *Server
	client *http.Client
	key    *rsa.PrivateKey
}

var testAuthority = func() *simtls.Authority {
	a, err := simtls.New()
	if err != nil {
		panic(err)
	}
	return a
}()

var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

func newTestOrg(t testing.TB, users int) *testOrg {
	t.Helper()
	org := NewOrg()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := org.AddUser(identity.SalesforceUser{Username: "integration@example.com", IsActive: true, UserType: "Standard"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < users; i++ {
		_, err := org.AddUser(identity.SalesforceUser{
			Username: fmt.Sprintf("user%06d@example.com", i), Email: fmt.Sprintf("user%06d@example.com", i),
			FederationIdentifier: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), IsActive: i%10 != 0,
			CreatedDate: base.Add(time.Duration(i) * time.Minute), SystemModstamp: base.Add(time.Duration(i) * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, err := Start(org, testAuthority, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	key := testKey
	srv.AddConnectedApp(ConnectedApp{ClientID: "cc-app", ClientSecret: "s3cret", ClientCredentialsUser: "integration@example.com"})
	srv.AddConnectedApp(ConnectedApp{ClientID: "no-user-app", ClientSecret: "s3cret"})
	srv.AddConnectedApp(ConnectedApp{ClientID: "jwt-app", ClientSecret: "unused", JWTKey: &key.PublicKey, PreAuthorized: []string{"integration@example.com"}})
	return &testOrg{srv: srv, client: testAuthority.Client(), key: key}
}

func (o *testOrg) postToken(t testing.TB, form url.Values, basic [2]string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.srv.URL()+"/services/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic[0] != "" {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := o.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func (o *testOrg) token(t testing.TB) string {
	t.Helper()
	code, body := o.postToken(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc-app"}, "client_secret": {"s3cret"}}, [2]string{})
	if code != 200 {
		t.Fatalf("token: %d %v", code, body)
	}
	return body["access_token"]
}

func (o *testOrg) do(t testing.TB, method, path, token string, body any, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, o.srv.URL()+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

type queryPage struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

func (o *testOrg) query(t testing.TB, token, soql string, batch int) (int, queryPage, []byte) {
	t.Helper()
	hdr := map[string]string{}
	if batch > 0 {
		hdr["Sforce-Query-Options"] = fmt.Sprintf("batchSize=%d", batch)
	}
	code, _, b := o.do(t, "GET", "/services/data/v62.0/query?q="+url.QueryEscape(soql), token, nil, hdr)
	var p queryPage
	if code == 200 {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("bad JSON %v: %s", err, b)
		}
	}
	return code, p, b
}

// queryAll follows nextRecordsUrl to the end and returns every record and the number of pages.
func (o *testOrg) queryAll(t testing.TB, token, soql string, batch int) ([]map[string]any, int) {
	t.Helper()
	code, p, b := o.query(t, token, soql, batch)
	if code != 200 {
		t.Fatalf("query %q: %d %s", soql, code, b)
	}
	recs, pages := p.Records, 1
	for !p.Done {
		hdr := map[string]string{}
		if batch > 0 {
			hdr["Sforce-Query-Options"] = fmt.Sprintf("batchSize=%d", batch)
		}
		code, _, b := o.do(t, "GET", p.NextRecordsURL, token, nil, hdr)
		if code != 200 {
			t.Fatalf("next page: %d %s", code, b)
		}
		p = queryPage{}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, p.Records...)
		pages++
	}
	return recs, pages
}

func TestClientCredentialsToken(t *testing.T) {
	o := newTestOrg(t, 0)
	tests := []struct {
		name      string
		form      url.Values
		basic     [2]string
		wantCode  int
		wantError string
		wantDesc  string
	}{
		{"secret in body", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc-app"}, "client_secret": {"s3cret"}}, [2]string{}, 200, "", ""},
		{"secret in basic header", url.Values{"grant_type": {"client_credentials"}}, [2]string{"cc-app", "s3cret"}, 200, "", ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc-app"}, "client_secret": {"nope"}}, [2]string{}, 400, "invalid_client", "invalid client credentials"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"who"}, "client_secret": {"s3cret"}}, [2]string{}, 400, "invalid_client_id", "client identifier invalid"},
		{"no run-as user", url.Values{"grant_type": {"client_credentials"}, "client_id": {"no-user-app"}, "client_secret": {"s3cret"}}, [2]string{}, 400, "invalid_grant", "no client credentials user enabled"},
		{"unknown grant", url.Values{"grant_type": {"password"}}, [2]string{}, 400, "unsupported_grant_type", "grant type not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := o.postToken(t, tc.form, tc.basic)
			if code != tc.wantCode || body["error"] != tc.wantError || body["error_description"] != tc.wantDesc {
				t.Fatalf("got %d %v, want %d %s %q", code, body, tc.wantCode, tc.wantError, tc.wantDesc)
			}
			if code == 200 {
				for _, k := range []string{"access_token", "instance_url", "id", "token_type", "issued_at", "signature", "scope"} {
					if body[k] == "" {
						t.Errorf("token response lacks %s: %v", k, body)
					}
				}
				if body["instance_url"] != o.srv.URL() || body["token_type"] != "Bearer" {
					t.Errorf("instance_url/token_type: %v", body)
				}
			}
		})
	}
}

func TestJWTBearerToken(t *testing.T) {
	o := newTestOrg(t, 2)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	sign := func(key *rsa.PrivateKey, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(3 * time.Minute).Unix()
	good := jwt.MapClaims{"iss": "jwt-app", "sub": "integration@example.com", "aud": "https://login.salesforce.com", "exp": exp}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name, assertion, wantError, wantDesc string
	}{
		{"login audience", sign(o.key, good), "", ""},
		{"test audience", sign(o.key, with("aud", "https://test.salesforce.com")), "", ""},
		{"my domain audience", sign(o.key, with("aud", o.srv.URL())), "", ""},
		{"wrong audience", sign(o.key, with("aud", "https://evil.example.com")), "invalid_grant", "audience is invalid"},
		{"not pre-authorized", sign(o.key, with("sub", "user000001@example.com")), "invalid_grant", "user hasn't approved this consumer"},
		{"unknown user", sign(o.key, with("sub", "ghost@example.com")), "invalid_grant", "invalid assertion"},
		{"wrong key", sign(other, good), "invalid_grant", "invalid assertion"},
		{"expired", sign(o.key, with("exp", time.Now().Add(-time.Hour).Unix())), "invalid_grant", "invalid assertion"},
		{"no exp", sign(o.key, with("exp", nil)), "invalid_grant", "invalid assertion"},
		{"unknown issuer", sign(o.key, with("iss", "nobody")), "invalid_client_id", "client identifier invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := o.postToken(t, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {tc.assertion}}, [2]string{})
			if tc.wantError == "" {
				if code != 200 || body["access_token"] == "" {
					t.Fatalf("got %d %v", code, body)
				}
				return
			}
			if code != 400 || body["error"] != tc.wantError || body["error_description"] != tc.wantDesc {
				t.Fatalf("got %d %v, want %s %q", code, body, tc.wantError, tc.wantDesc)
			}
		})
	}
}

func TestSessionExpiryAndLimits(t *testing.T) {
	o := newTestOrg(t, 3)
	tok := o.token(t)
	code, hdr, _ := o.do(t, "GET", "/services/data/v62.0/query?q="+url.QueryEscape("SELECT Id FROM User"), tok, nil, nil)
	if code != 200 || hdr.Get("Sforce-Limit-Info") != "api-usage=1/100000" {
		t.Fatalf("got %d %q", code, hdr.Get("Sforce-Limit-Info"))
	}
	code, _, b := o.do(t, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+User", "garbage", nil, nil)
	if code != 401 || !strings.Contains(string(b), `"errorCode":"INVALID_SESSION_ID"`) || !strings.Contains(string(b), "Session expired or invalid") {
		t.Fatalf("bad token: %d %s", code, b)
	}
	o.srv.ExpireSessions()
	code, _, b = o.do(t, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+User", tok, nil, nil)
	if code != 401 || !strings.Contains(string(b), "INVALID_SESSION_ID") {
		t.Fatalf("expired: %d %s", code, b)
	}
	tok = o.token(t)
	o.srv.SetDailyLimit(3)
	for i := 0; i < 2; i++ {
		if code, _, b := o.do(t, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+User", tok, nil, nil); code != 200 {
			t.Fatalf("call %d: %d %s", i, code, b)
		}
	}
	code, hdr, b = o.do(t, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+User", tok, nil, nil)
	if code != 403 || !strings.Contains(string(b), `"errorCode":"REQUEST_LIMIT_EXCEEDED"`) || !strings.Contains(string(b), "TotalRequests Limit exceeded.") {
		t.Fatalf("over limit: %d %s", code, b)
	}
	if hdr.Get("Sforce-Limit-Info") != "api-usage=3/3" {
		t.Errorf("limit header %q", hdr.Get("Sforce-Limit-Info"))
	}
}

func TestQueryPaging(t *testing.T) {
	o := newTestOrg(t, 4500)
	tok := o.token(t)
	for _, tc := range []struct{ batch, wantPages int }{{0, 3}, {200, 23}, {1000, 5}, {50, 23}, {5000, 3}} {
		recs, pages := o.queryAll(t, tok, "SELECT Id, Username, IsActive, SystemModstamp FROM User", tc.batch)
		if len(recs) != 4501 || pages != tc.wantPages {
			t.Errorf("batch %d: %d records in %d pages, want 4501 in %d", tc.batch, len(recs), pages, tc.wantPages)
		}
		seen := map[string]bool{}
		for _, r := range recs {
			id := r["Id"].(string)
			if seen[id] {
				t.Fatalf("duplicate %s", id)
			}
			seen[id] = true
			attrs := r["attributes"].(map[string]any)
			if attrs["type"] != "User" || attrs["url"] != "/services/data/v62.0/sobjects/User/"+id {
				t.Fatalf("attributes %v", attrs)
			}
		}
	}
}

func TestQueryFilters(t *testing.T) {
	o := newTestOrg(t, 30)
	tok := o.token(t)
	users := o.srv.Org.Users()
	tests := []struct {
		soql string
		want int
	}{
		{"SELECT Id FROM User", 31},
		{"SELECT Id FROM User WHERE IsActive = true", 28},
		{"SELECT Id FROM User WHERE IsActive = false", 3},
		{"SELECT Id FROM User WHERE IsActive != true AND Username != 'x'", 3},
		{"select id from user where username = 'USER000003@example.com'", 1},
		{"SELECT Id FROM User WHERE Username IN ('user000001@example.com', 'user000002@example.com', 'nobody')", 2},
		{"SELECT Id FROM User WHERE Username NOT IN ('user000001@example.com')", 30},
		{"SELECT Id FROM User WHERE SystemModstamp > 2025-01-01T00:10:00Z", 19 + 1},
		{"SELECT Id FROM User WHERE SystemModstamp >= 2025-01-01T00:10:00.000Z AND SystemModstamp < 2025-01-01T00:20:00+00:00", 10},
		{"SELECT Id FROM User WHERE FederationIdentifier = null", 1},
		{"SELECT Id FROM User WHERE FederationIdentifier != null", 30},
		{"SELECT Id FROM User WHERE (IsActive = false OR Username = 'user000001@example.com') AND NOT Username = 'user000000@example.com'", 3},
		{"SELECT Id FROM User WHERE Id > '" + users[10].ID + "'", 20},
		{"SELECT Id FROM User ORDER BY Id LIMIT 7", 7},
		{"SELECT Id FROM User LIMIT 0", 0},
		{"SELECT COUNT() FROM User WHERE IsActive = true", 28},
	}
	for _, tc := range tests {
		code, p, b := o.query(t, tok, tc.soql, 0)
		if code != 200 || p.TotalSize != tc.want {
			t.Errorf("%s: %d totalSize %d, want %d (%s)", tc.soql, code, p.TotalSize, tc.want, b)
		}
	}
	// ORDER BY DESC returns the newest first.
	_, p, _ := o.query(t, tok, "SELECT Id, Username FROM User WHERE Username != 'integration@example.com' ORDER BY SystemModstamp DESC LIMIT 2", 0)
	if len(p.Records) != 2 || p.Records[0]["Username"] != "user000029@example.com" {
		t.Errorf("order by desc: %v", p.Records)
	}
	// Nulls and dateTime rendering.
	_, p, _ = o.query(t, tok, "SELECT Id, FederationIdentifier, CreatedDate FROM User WHERE Username = 'user000001@example.com'", 0)
	if p.Records[0]["CreatedDate"] != "2025-01-01T00:01:00.000+0000" {
		t.Errorf("dateTime format: %v", p.Records[0])
	}
	_, p, _ = o.query(t, tok, "SELECT Id, FederationIdentifier FROM User WHERE Username = 'integration@example.com'", 0)
	if v, ok := p.Records[0]["FederationIdentifier"]; !ok || v != nil {
		t.Errorf("null field: %v", p.Records[0])
	}
}

func TestQueryErrors(t *testing.T) {
	o := newTestOrg(t, 1)
	tok := o.token(t)
	tests := []struct{ soql, code string }{
		{"SELECT Foo FROM User", "INVALID_FIELD"},
		{"SELECT Id FROM Nope", "INVALID_TYPE"},
		{"SELECT Id FROM Identity_Link", "INVALID_TYPE"},
		{"SELECT Id User", "MALFORMED_QUERY"},
		{"SELECT Id FROM User WHERE", "MALFORMED_QUERY"},
		{"SELECT Id FROM User WHERE Username = 'unterminated", "MALFORMED_QUERY"},
		{"SELECT Id FROM User WHERE SystemModstamp > '2025-01-01T00:00:00Z'", "INVALID_FIELD"},
		{"SELECT Id FROM User WHERE IsActive = 'true'", "INVALID_FIELD"},
		{"SELECT Id FROM User WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"},
		{"SELECT Id FROM User LIMIT x", "MALFORMED_QUERY"},
		{"SELECT Id FROM User ORDER BY Nope", "INVALID_FIELD"},
		{"SELECT COUNT(Id) FROM User", "MALFORMED_QUERY"},
	}
	for _, tc := range tests {
		code, _, b := o.query(t, tok, tc.soql, 0)
		var errs []apiError
		_ = json.Unmarshal(b, &errs)
		if code != 400 || len(errs) != 1 || errs[0].ErrorCode != tc.code || errs[0].Message == "" {
			t.Errorf("%s: %d %s, want 400 %s", tc.soql, code, b, tc.code)
		}
	}
	code, _, b := o.do(t, "GET", "/services/data/v62.0/query/01gXXXXXXXXXXXXXXX-2000", tok, nil, nil)
	if code != 400 || !strings.Contains(string(b), "INVALID_QUERY_LOCATOR") {
		t.Errorf("bad locator: %d %s", code, b)
	}
}

func TestAccountLinkCap(t *testing.T) {
	o := newTestOrg(t, 3000)
	users := o.srv.Org.Users()
	for i, u := range users[1:] {
		if _, err := o.srv.Org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: "Entra", RemoteIdentifier: fmt.Sprintf("sub-%05d", i), UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
	}
	tok := o.token(t)
	recs, pages := o.queryAll(t, tok, "SELECT Id, RemoteIdentifier, UserId FROM ThirdPartyAccountLink WHERE SsoProviderName = 'Entra'", 2000)
	if len(recs) != 2500 || pages != 5 {
		t.Errorf("capped chain: %d records in %d pages, want 2500 in 5 (500 per page)", len(recs), pages)
	}
	_, p, _ := o.query(t, tok, "SELECT COUNT() FROM ThirdPartyAccountLink WHERE SsoProviderName = 'Entra'", 0)
	if p.TotalSize != 3000 {
		t.Errorf("COUNT() = %d, want 3000", p.TotalSize)
	}
	// Keyset partitions below the cap read everything.
	last, total := "", 0
	for {
		q := "SELECT Id FROM ThirdPartyAccountLink WHERE SsoProviderName = 'Entra'"
		if last != "" {
			q += " AND Id > '" + last + "'"
		}
		recs, _ := o.queryAll(t, tok, q+" ORDER BY Id LIMIT 2000", 0)
		total += len(recs)
		if len(recs) < 2000 {
			break
		}
		last = recs[len(recs)-1]["Id"].(string)
	}
	if total != 3000 {
		t.Errorf("partitioned read got %d, want 3000", total)
	}
}

func TestCollectionsUpsert(t *testing.T) {
	o := newTestOrg(t, 5)
	tok := o.token(t)
	users := o.srv.Org.Users()
	rec := func(sub, user string, extra ...string) map[string]any {
		m := map[string]any{"attributes": map[string]string{"type": "Identity_Link__c"}, "Subject__c": sub, "User__c": user, "Status__c": "Active", "Match_Rule__c": "oid"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	o.srv.FailRecord("locked", 1, RecordError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"})
	body := map[string]any{"allOrNone": false, "records": []any{
		rec("sub-A", users[1].ID),
		rec("sub-a", users[2].ID), // external id is case-sensitive
		rec("sub-B", "005000000000000AAA"),
		rec("sub-C", "001000000000000AAA"),
		rec("sub-D", users[3].ID, "Status__c", "Gone"),
		rec("locked", users[4].ID),
		rec("sub-A", users[1].ID),
		map[string]any{"Subject__c": "no-type"},
	}}
	code, hdr, b := o.do(t, "PATCH", "/services/data/v62.0/composite/sobjects/Identity_Link__c/Subject__c", tok, body, nil)
	if code != 200 || hdr.Get("Sforce-Limit-Info") == "" {
		t.Fatalf("upsert: %d %s", code, b)
	}
	var res []upsertResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	want := []string{"", "", "INVALID_CROSS_REFERENCE_KEY", "FIELD_INTEGRITY_EXCEPTION", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "UNABLE_TO_LOCK_ROW", "DUPLICATE_EXTERNAL_ID", "INVALID_TYPE"}
	if len(res) != len(want) {
		t.Fatalf("%d results: %s", len(res), b)
	}
	for i, w := range want {
		got := ""
		if !res[i].Success {
			got = res[i].Errors[0].StatusCode
		}
		if got != w || (w == "" && (res[i].ID == "" || !res[i].Created)) {
			t.Errorf("record %d: %+v, want %q", i, res[i], w)
		}
	}
	if n := len(o.srv.Org.IdentityLinks()); n != 2 {
		t.Errorf("%d links stored, want 2", n)
	}
	// Retrying the locked record now succeeds; updating sub-A is not a create.
	body = map[string]any{"allOrNone": false, "records": []any{rec("locked", users[4].ID), rec("sub-A", users[1].ID, "Status__c", "Revoked", "Revoke_Reason__c", "deprovisioned")}}
	_, _, b = o.do(t, "PATCH", "/services/data/v62.0/composite/sobjects/Identity_Link__c/Subject__c", tok, body, nil)
	res = nil
	_ = json.Unmarshal(b, &res)
	if len(res) != 2 || !res[0].Success || !res[0].Created || !res[1].Success || res[1].Created {
		t.Errorf("retry: %s", b)
	}
	if l, _ := o.srv.Org.IdentityLinkBySubject("sub-A"); l.Status != "Revoked" || l.RevokeReason != "deprovisioned" || l.MatchRule != "oid" {
		t.Errorf("update merged wrongly: %+v", l)
	}
	// allOrNone rolls every record back when one fails.
	body = map[string]any{"allOrNone": true, "records": []any{rec("sub-E", users[1].ID), rec("sub-F", "005000000000000AAA")}}
	_, _, b = o.do(t, "PATCH", "/services/data/v62.0/composite/sobjects/Identity_Link__c/Subject__c", tok, body, nil)
	res = nil
	_ = json.Unmarshal(b, &res)
	if len(res) != 2 || res[0].Success || res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" {
		t.Errorf("allOrNone: %s", b)
	}
	if _, ok := o.srv.Org.IdentityLinkBySubject("sub-E"); ok {
		t.Error("allOrNone stored a record")
	}
	// More than 200 records is refused as a whole.
	var many []any
	for i := 0; i < 201; i++ {
		many = append(many, rec(fmt.Sprintf("m%d", i), users[1].ID))
	}
	code, _, b = o.do(t, "PATCH", "/services/data/v62.0/composite/sobjects/Identity_Link__c/Subject__c", tok, map[string]any{"records": many}, nil)
	if code != 400 || !strings.Contains(string(b), "EXCEEDED_ID_LIMIT") {
		t.Errorf("201 records: %d %s", code, b)
	}
	// The links are queryable.
	_, p, _ := o.query(t, tok, "SELECT Subject__c, User__c, Status__c FROM Identity_Link__c WHERE Status__c = 'Active'", 0)
	if p.TotalSize != 2 || p.Records[0]["Subject__c"] != "sub-a" || p.Records[1]["Subject__c"] != "locked" {
		t.Errorf("query links: %+v", p)
	}
	_, p, _ = o.query(t, tok, "SELECT Id FROM Identity_Link__c WHERE Subject__c = 'SUB-A'", 0)
	if p.TotalSize != 0 {
		t.Errorf("Subject__c must compare case-sensitively")
	}
}

func TestRequestFaults(t *testing.T) {
	o := newTestOrg(t, 1)
	tok := o.token(t)
	o.srv.FailNextRequests(EndpointQuery, 1, 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: 1-2-3")
	code, _, b := o.do(t, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+User", tok, nil, nil)
	if code != 500 || !strings.Contains(string(b), "UNKNOWN_EXCEPTION") {
		t.Fatalf("%d %s", code, b)
	}
	code, _, _ = o.do(t, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+User", tok, nil, nil)
	if code != 200 {
		t.Fatalf("second call %d", code)
	}
	if c := o.srv.Faults().Counter(EndpointQuery); c.Requests != 2 {
		t.Errorf("counter %+v", c)
	}
}

func userFixture(i int) identity.SalesforceUser {
	return identity.SalesforceUser{Username: fmt.Sprintf("f%d@example.com", i), Email: fmt.Sprintf("f%d@example.com", i), IsActive: i%2 == 0,
		FederationIdentifier: fmt.Sprintf("00000000-0000-0000-0000-%012d", i)}
}

func linkFixture(i int, userID string) identity.ThirdPartyAccountLink {
	return identity.ThirdPartyAccountLink{Provider: "Entra", RemoteIdentifier: fmt.Sprintf("sub-%d", i), UserID: userID}
}

func (o *testOrg) raw(t testing.TB, method, path, token, contentType, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, o.srv.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := o.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestBulkIngest(t *testing.T) {
	o := newTestOrg(t, 3)
	tok := o.token(t)
	users := o.srv.Org.Users()
	o.srv.SetBulkPolls(2)
	o.srv.FailRecord("s3", 1, RecordError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"})
	code, b := o.raw(t, "POST", "/services/data/v62.0/jobs/ingest", tok, "application/json",
		`{"object":"Identity_Link__c","externalIdFieldName":"Subject__c","contentType":"CSV","operation":"upsert","lineEnding":"LF"}`)
	var job map[string]any
	_ = json.Unmarshal(b, &job)
	if code != 200 || job["state"] != "Open" {
		t.Fatalf("create: %d %s", code, b)
	}
	id := job["id"].(string)
	csvData := "Subject__c,User__c,Status__c,Revoke_Reason__c\n" +
		"s1," + users[1].ID + ",Active,#N/A\n" +
		"s2,005000000000000AAA,Active,\n" +
		"s3," + users[2].ID + ",Active,\n" +
		"\"s,4\"," + users[3].ID + ",Revoked,left\n"
	if code, b := o.raw(t, "PUT", "/"+job["contentUrl"].(string), tok, "text/csv", csvData); code != 201 {
		t.Fatalf("upload: %d %s", code, b)
	}
	if code, b := o.raw(t, "PATCH", "/services/data/v62.0/jobs/ingest/"+id, tok, "application/json", `{"state":"UploadComplete"}`); code != 200 {
		t.Fatalf("close: %d %s", code, b)
	}
	if code, _ := o.raw(t, "GET", "/services/data/v62.0/jobs/ingest/"+id+"/successfulResults/", tok, "", ""); code != 400 {
		t.Errorf("results before completion: %d", code)
	}
	states := []string{}
	for i := 0; i < 3; i++ {
		_, b := o.raw(t, "GET", "/services/data/v62.0/jobs/ingest/"+id, tok, "", "")
		_ = json.Unmarshal(b, &job)
		states = append(states, job["state"].(string))
	}
	if fmt.Sprint(states) != "[InProgress InProgress JobComplete]" || job["numberRecordsProcessed"] != 4.0 || job["numberRecordsFailed"] != 2.0 {
		t.Fatalf("states %v job %v", states, job)
	}
	_, ok := o.raw(t, "GET", "/services/data/v62.0/jobs/ingest/"+id+"/successfulResults/", tok, "", "")
	_, failed := o.raw(t, "GET", "/services/data/v62.0/jobs/ingest/"+id+"/failedResults/", tok, "", "")
	if !strings.HasPrefix(string(ok), "sf__Id,sf__Created,Subject__c") || !strings.Contains(string(ok), ",true,s1,") || !strings.Contains(string(ok), "\"s,4\"") {
		t.Errorf("successful results:\n%s", ok)
	}
	if !strings.Contains(string(failed), "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:User__c") || !strings.Contains(string(failed), "UNABLE_TO_LOCK_ROW") {
		t.Errorf("failed results:\n%s", failed)
	}
	if l, ok := o.srv.Org.IdentityLinkBySubject("s,4"); !ok || l.Status != "Revoked" || l.RevokeReason != "left" {
		t.Errorf("s,4: %+v", l)
	}
	if c := o.srv.Faults().Counter(EndpointBulk); c.Requests != 9 {
		t.Errorf("bulk calls %d", c.Requests)
	}
}

func TestLimitsResource(t *testing.T) {
	o := newTestOrg(t, 0)
	tok := o.token(t)
	o.srv.SetDailyLimit(50)
	code, _, b := o.do(t, "GET", "/services/data/v62.0/limits", tok, nil, nil)
	if code != 200 || !strings.Contains(string(b), `"DailyApiRequests":{"Max":50,"Remaining":49}`) {
		t.Errorf("%d %s", code, b)
	}
}

// TestConcurrentLongRunningLimit: while LongRunningLimit requests have run
// for LongRunning or longer, a new API request gets 403 REQUEST_LIMIT_EXCEEDED
// ConcurrentPerOrgLongTxn; once they finish, requests are served again.
func TestConcurrentLongRunningLimit(t *testing.T) {
	o := newTestOrg(t, 3)
	tok := o.token(t)
	o.srv.mu.Lock()
	o.srv.cfg.LongRunning, o.srv.cfg.LongRunningLimit = time.Nanosecond, 1 // every request in flight counts as long
	o.srv.mu.Unlock()
	o.srv.Faults().Set(EndpointQuery, fault.Faults{Latency: 300 * time.Millisecond})
	slow := make(chan int, 1)
	go func() {
		code, _, _ := o.do(t, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+User", tok, nil, nil)
		slow <- code
	}()
	deadline := time.Now().Add(10 * time.Second)
	for o.srv.InFlight() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never arrived")
		}
		runtime.Gosched()
	}
	code, _, b := o.do(t, "GET", "/services/data/v62.0/limits", tok, nil, nil)
	if code != 403 || !strings.Contains(string(b), "REQUEST_LIMIT_EXCEEDED") || !strings.Contains(string(b), "ConcurrentPerOrgLongTxn") {
		t.Fatalf("a request beside a long-running one: %d %s", code, b)
	}
	if code := <-slow; code != 200 {
		t.Fatalf("the long-running request itself: %d", code)
	}
	if code, _, b := o.do(t, "GET", "/services/data/v62.0/limits", tok, nil, nil); code != 200 {
		t.Fatalf("after it finished: %d %s", code, b)
	}
	if n := o.srv.MaxInFlight(EndpointQuery); n != 1 {
		t.Errorf("max in flight %d", n)
	}
}
