package salesforce

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

func TestAuthFlows(t *testing.T) {
	srv := newSim(t, 10, 0)
	ctx := context.Background()
	cc := ccConfig(srv)
	basic := cc
	basic.SecretInHeader = true
	jwtCfg := cc
	jwtCfg.Auth, jwtCfg.ClientID, jwtCfg.ClientSecret, jwtCfg.Username, jwtCfg.PrivateKeyPEM = AuthJWTBearer, "jwt-app", "", integrator, testKeyPEM
	jwtTest := jwtCfg
	jwtTest.Audience = "test"
	for name, cfg := range map[string]Config{"client credentials, secret in body": cc, "client credentials, Basic header": basic, "jwt bearer, login audience": jwtCfg, "jwt bearer, test audience": jwtTest} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, cfg)
			st, run := openStore(t)
			n, _, err := c.ReadUsers(ctx, st, run, Full)
			if err != nil || n != 11 || countUsers(t, st) != 11 {
				t.Fatalf("read %d users: %v", n, err)
			}
			if s := c.Stats(); s.TokenRequests != 1 || s.APIRequests != 1 || !strings.HasPrefix(s.APIUsage, "api-usage=") {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestAuthErrorsNameTheFix(t *testing.T) {
	srv := newSim(t, 2, 0)
	wrongSecret := ccConfig(srv)
	wrongSecret.ClientSecret = "not-the-secret-XYZ"
	noRunAs := ccConfig(srv)
	noRunAs.ClientID = "no-runas"
	unknown := ccConfig(srv)
	unknown.ClientID = "nobody"
	jwtNotApproved := ccConfig(srv)
	jwtNotApproved.Auth, jwtNotApproved.ClientID, jwtNotApproved.Username, jwtNotApproved.PrivateKeyPEM = AuthJWTBearer, "jwt-app", "u0000001@contoso.example.com", testKeyPEM
	jwtAudience := jwtNotApproved
	jwtAudience.Username, jwtAudience.Audience = integrator, "https://elsewhere.example.com"
	tests := []struct {
		name      string
		cfg       Config
		code      string
		wantInMsg string
	}{
		{"wrong secret", wrongSecret, "invalid_client", "Consumer Secret"},
		{"no run-as user", noRunAs, "invalid_grant", "Run As"},
		{"unknown client id", unknown, "invalid_client_id", "Consumer Key"},
		{"jwt user not pre-authorized", jwtNotApproved, "invalid_grant", "Admin approved users are pre-authorized"},
		{"jwt audience", jwtAudience, "invalid_grant", "test.salesforce.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := newClient(t, tc.cfg).SignIn(context.Background())
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Code != tc.code || !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Fatalf("got %v, want %s mentioning %q", err, tc.code, tc.wantInMsg)
			}
			for _, secret := range []string{ccSecret, "not-the-secret-XYZ", "PRIVATE KEY"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

// expiringSink expires every session after the first page it receives.
type expiringSink struct {
	UserSink
	srv   *sfsim.Server
	pages atomic.Int32
}

func (s *expiringSink) UpsertSalesforceUsers(ctx context.Context, runID int64, users []identity.SalesforceUser, cur *identity.Cursor) error {
	if s.pages.Add(1) == 1 {
		s.srv.ExpireSessions()
	}
	return s.UserSink.UpsertSalesforceUsers(ctx, runID, users, cur)
}

func TestTokenExpiryMidRun(t *testing.T) {
	srv := newSim(t, 4500, 0)
	c := newClient(t, ccConfig(srv))
	st, run := openStore(t)
	sink := &expiringSink{UserSink: st, srv: srv}
	n, _, err := c.ReadUsers(context.Background(), sink, run, Full)
	if err != nil || n != 4501 {
		t.Fatalf("read %d: %v", n, err)
	}
	if got := countUsers(t, st); got != 4501 {
		t.Errorf("stored %d users", got)
	}
	// 3 pages + 1 repeated after the 401; two sign-ins.
	if s := c.Stats(); s.TokenRequests != 2 || s.APIRequests != 4 {
		t.Errorf("stats %+v, want 2 token requests and 4 API requests", s)
	}
}

func TestExtraExpiredStatus(t *testing.T) {
	srv := newSim(t, 5, 0)
	cfg := ccConfig(srv)
	cfg.ExpiredStatuses = []int{403}
	c := newClient(t, cfg)
	if err := c.SignIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.FailNextRequests(sfsim.EndpointQuery, 1, 403, "INVALID_AUTH_HEADER", "gateway says the token is stale")
	st, run := openStore(t)
	if _, _, err := c.ReadUsers(context.Background(), st, run, Full); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.TokenRequests != 2 {
		t.Errorf("403 in ExpiredStatuses must renew the token: %+v", s)
	}
	// Without the setting a 403 is an error, not retried.
	c2 := newClient(t, ccConfig(srv))
	srv.FailNextRequests(sfsim.EndpointQuery, 1, 403, "INSUFFICIENT_ACCESS", "no")
	_, _, err := c2.ReadUsers(context.Background(), st, run, Full)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 || c2.Stats().APIRequests != 1 {
		t.Errorf("got %v after %d requests", err, c2.Stats().APIRequests)
	}
}

func TestPagingAndIncremental(t *testing.T) {
	srv := newSim(t, 4500, 0)
	ctx := context.Background()
	for _, tc := range []struct{ batch, requests int }{{2000, 3}, {1000, 5}, {200, 23}} {
		cfg := ccConfig(srv)
		cfg.QueryBatchSize = tc.batch
		c := newClient(t, cfg)
		sink := &countingSink{}
		if n, inc, err := c.ReadUsers(ctx, sink, 1, Incremental); err != nil || n != 4501 || inc || sink.users.Load() != 4501 {
			t.Fatalf("batch %d: %d %v %v", tc.batch, n, inc, err)
		}
		if s := c.Stats(); s.APIRequests != int64(tc.requests) {
			t.Errorf("batch %d: %d requests, want %d", tc.batch, s.APIRequests, tc.requests)
		}
	}
	// Incremental: only users changed since the cursor come back.
	cfg := ccConfig(srv)
	cfg.IncrementalOverlap = -1
	c := newClient(t, cfg)
	st, run := openStore(t)
	if _, _, err := c.ReadUsers(ctx, st, run, Incremental); err != nil {
		t.Fatal(err)
	}
	cur, ok, _ := st.GetCursor(ctx, UserCursor)
	if !ok {
		t.Fatal("no cursor stored")
	}
	users := srv.Org.Users()
	for _, u := range users[100:102] {
		if err := srv.Org.UpdateUser(u.ID, func(u *identity.SalesforceUser) { u.IsActive = !u.IsActive }); err != nil {
			t.Fatal(err)
		}
	}
	n, inc, err := c.ReadUsers(ctx, st, run, Incremental)
	if err != nil || !inc || n < 2 || n > 3 {
		t.Fatalf("incremental read %d users (incremental=%v): %v", n, inc, err)
	}
	cur2, _, _ := st.GetCursor(ctx, UserCursor)
	if cur2 <= cur {
		t.Errorf("cursor did not advance: %s -> %s", cur, cur2)
	}
	for _, u := range users[100:102] {
		want, _ := srv.Org.User(u.ID)
		var stored identity.SalesforceUser
		_ = st.ScanSalesforceUsers(ctx, func(x identity.SalesforceUser) error {
			if x.ID == u.ID {
				stored = x
			}
			return nil
		})
		if stored.IsActive != want.IsActive || !stored.SystemModstamp.Equal(want.SystemModstamp) {
			t.Errorf("user %s: stored %+v, org has %+v", u.ID, stored, want)
		}
	}
}

func TestAccountLinkPartitions(t *testing.T) {
	srv := newSim(t, 5600, 5500)
	ctx := context.Background()
	c := newClient(t, ccConfig(srv))
	st, run := openStore(t)
	n, notSeen, _, err := c.ReadAccountLinks(ctx, st, run)
	if err != nil || n != 5500 || notSeen != 0 {
		t.Fatalf("read %d links (%d dropped): %v", n, notSeen, err)
	}
	stored := map[string]bool{}
	_ = st.ScanAccountLinks(ctx, func(l identity.ThirdPartyAccountLink) error { stored[l.RemoteIdentifier] = true; return nil })
	if len(stored) != 5500 {
		t.Errorf("stored %d distinct links, want 5500", len(stored))
	}
	// AuthProvider + COUNT() + 3 partitions (2000, 2000, 1500 rows) of 500-row pages.
	if s := c.Stats(); s.APIRequests != 1+1+4+4+3 {
		t.Errorf("%d requests, want 13", s.APIRequests)
	}
	// A partition as large as the cap could be truncated: an error, never a short list.
	cfg := ccConfig(srv)
	cfg.LinkPartitionSize = 2500
	_, _, _, err = newClient(t, cfg).ReadAccountLinks(ctx, st, run)
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("partition of 2500: %v, want ErrTruncated", err)
	}
	// A link that disappears from Salesforce leaves the snapshot on the next complete read.
	st2, run2 := openStore(t)
	_ = st2.UpsertAccountLinks(ctx, run2-0, []identity.ThirdPartyAccountLink{{ID: "0Jr8d0000000zzzAAA", Provider: provider, RemoteIdentifier: "gone", UserID: "0058d0000000001AAA"}})
	run3, _ := st2.StartRun(ctx, identity.KindRun, "test")
	_, notSeen, _, err = c.ReadAccountLinks(ctx, st2, run3.ID)
	if err != nil || notSeen != 1 {
		t.Errorf("not seen %d: %v", notSeen, err)
	}
}

func TestUpsertPartialFailure(t *testing.T) {
	srv := newSim(t, 500, 0)
	ctx := context.Background()
	c := newClient(t, ccConfig(srv))
	users := srv.Org.Users()
	var links []identity.Link
	for i := 0; i < 450; i++ {
		links = append(links, identity.Link{Provider: provider, Subject: fmt.Sprintf("sub-%04d", i), SalesforceUserID: users[i+1].ID,
			ObjectID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), TenantID: "11111111-2222-3333-4444-555555555555", Rule: identity.RuleObjectID, Status: identity.LinkActive})
	}
	links[5].SalesforceUserID = "005000000000000AAA" // no such user
	links[300].Status = identity.LinkProposed        // never sent
	srv.FailRecord("sub-0010", 1, sfsim.RecordError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"})
	srv.FailRecord("sub-0420", 99, sfsim.RecordError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "Subject must not change user", Fields: []string{"User__c"}})
	res, err := c.UpsertLinkRecords(ctx, links)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[int]string{}
	for i, r := range res {
		if r.Key != links[i].Key() {
			t.Fatalf("result %d is for %v", i, r.Key)
		}
		if !r.OK {
			failed[i] = r.Errors[0].StatusCode
		}
	}
	want := map[int]string{5: "INVALID_CROSS_REFERENCE_KEY", 300: "IDLINK_NOT_WRITABLE", 420: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
	if fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("failed %v, want %v", failed, want)
	}
	if res[10].Attempts != 2 || !res[10].OK {
		t.Errorf("locked record: %+v", res[10])
	}
	// 449 records in 200-record calls: 3 calls, plus one retry of the locked record.
	if got := srv.Faults().Counter(sfsim.EndpointCollections).Requests; got != 4 {
		t.Errorf("%d collection calls, want 4", got)
	}
	if got := len(srv.Org.IdentityLinks()); got != 447 {
		t.Errorf("org holds %d links, want 447", got)
	}
	// The result's Error carries Salesforce's words.
	wr, err := c.UpsertLinkRecords(ctx, links[419:421])
	if err != nil || !wr[0].OK || wr[1].OK || wr[1].Error() != "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject must not change user [User__c]" {
		t.Errorf("UpsertLinkRecords: %+v %v", wr, err)
	}
	// Round trip: what was written reads back as identity.Link.
	st, run := openStore(t)
	if n, gone, complete, err := c.ReadRemoteLinks(ctx, st, run, Incremental); err != nil || n != 447 || gone != 0 || !complete {
		t.Fatalf("read back %d (%d gone): %v", n, gone, err)
	}
	var back identity.Link
	_ = st.ScanRemoteLinks(ctx, func(l identity.Link) error {
		if l.Subject == "sub-0007" {
			back = l
		}
		return nil
	})
	w := links[7]
	if back.SalesforceUserID != w.SalesforceUserID || back.ObjectID != w.ObjectID || back.Rule != w.Rule || back.Status != w.Status || back.Provider != w.Provider || back.UpdatedAt.IsZero() {
		t.Errorf("read back %+v, wrote %+v", back, w)
	}
	// A record an admin deleted leaves the snapshot at the next complete read.
	if !srv.Org.DeleteIdentityLink("sub-0008") {
		t.Fatal("no Identity_Link__c sub-0008 to delete")
	}
	run2, err := st.StartRun(ctx, identity.KindRun, "test-host/1")
	if err != nil {
		t.Fatal(err)
	}
	if n, gone, _, err := c.ReadRemoteLinks(ctx, st, run2.ID, Incremental); err != nil || n != 446 || gone != 1 {
		t.Fatalf("read after a deletion: %d read, %d gone: %v", n, gone, err)
	}
	_ = st.ScanRemoteLinks(ctx, func(l identity.Link) error {
		if l.Subject == "sub-0008" {
			t.Error("the deleted Identity_Link__c is still in the snapshot")
		}
		return nil
	})
	// Revoking keeps the user and records the reason.
	rv := links[7]
	rv.Status, rv.Reason = identity.LinkRevoked, "deprovisioned"
	if r, err := c.UpsertLinkRecords(ctx, []identity.Link{rv}); err != nil || !r[0].OK || r[0].Created {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if l, _ := srv.Org.IdentityLinkBySubject("sub-0007"); l.Status != "Revoked" || l.RevokeReason != "deprovisioned" || l.UserID != w.SalesforceUserID {
		t.Errorf("revoked record %+v", l)
	}
}

// TestIncrementalRemoteLinkReads: between complete reads, a read of
// Identity_Link__c brings only the records changed since the last one and
// drops those deleted into the Recycle Bin; a record removed past the
// Recycle Bin is dropped by the next complete read.
func TestIncrementalRemoteLinkReads(t *testing.T) {
	srv := newSim(t, 10, 0)
	ctx := context.Background()
	// The org's clock only moves forward (SystemModstamp orders writes):
	// start it past every write so far.
	now := time.Now().Add(time.Hour)
	srv.Org.SetClock(func() time.Time { return now })
	users := srv.Org.Users()
	// Writes 10 minutes apart: a read re-reads the last one only (the
	// overlap is a minute).
	tick := func() { now = now.Add(10 * time.Minute) }
	put := func(sub string, user int, status string) {
		t.Helper()
		tick()
		if _, err := srv.Org.PutIdentityLink(sfsim.IdentityLink{Subject: sub, UserID: users[user].ID, Provider: provider,
			ObjectID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", user), MatchRule: "oid", Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		put(fmt.Sprintf("sub-%d", i), i+1, "Active")
	}
	cfg := ccConfig(srv)
	cfg.RemoteLinksCompleteEvery = time.Hour
	c := newClient(t, cfg)
	st, _ := openStore(t)
	snapshot := func() map[string]string {
		out := map[string]string{}
		if err := st.ScanRemoteLinks(ctx, func(l identity.Link) error { out[l.Subject] = string(l.Status); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	type read struct {
		n        int
		gone     int64
		complete bool
	}
	readAs := func(mode ReadMode) read {
		t.Helper()
		run, err := st.StartRun(ctx, identity.KindRun, "test") // each read is a run's
		if err != nil {
			t.Fatal(err)
		}
		n, gone, complete, err := c.ReadRemoteLinks(ctx, st, run.ID, mode)
		if err != nil {
			t.Fatal(err)
		}
		return read{n, gone, complete}
	}
	if got := readAs(Incremental); got != (read{8, 0, true}) {
		t.Fatalf("first read = %+v; want all 8, complete (no cursor yet)", got)
	}

	del := func(sub string) {
		t.Helper()
		tick()
		if !srv.Org.DeleteIdentityLink(sub) {
			t.Fatalf("no %s to delete", sub)
		}
	}
	put("sub-1", 2, "Revoked") // changed
	del("sub-2")
	del("sub-3") // deleted, then written again
	put("sub-3", 4, "Active")
	put("sub-9", 9, "Active") // new
	// queryAll returns sub-7 again (the overlap), sub-1, sub-2 (IsDeleted),
	// the deleted and the new sub-3, sub-9.
	if got := readAs(Incremental); got != (read{6, 1, false}) {
		t.Fatalf("incremental read = %+v; want 6 records, 1 gone, not complete", got)
	}
	want := map[string]string{"sub-0": "active", "sub-1": "revoked", "sub-3": "active", "sub-4": "active", "sub-5": "active",
		"sub-6": "active", "sub-7": "active", "sub-9": "active"}
	if got := snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshot after the incremental read = %v; want %v", got, want)
	}

	if got := readAs(Incremental); got != (read{1, 0, false}) {
		t.Fatalf("read with nothing changed = %+v; want sub-9 again (the overlap)", got)
	}
	// The cursor follows the org's clock (the responses' Date), not only
	// the newest record: the minute before sub-9 is not read again and
	// again while nothing changes.
	tick()
	if got := readAs(Incremental); got != (read{1, 0, false}) {
		t.Fatalf("read 10 minutes later = %+v; want sub-9 again (the overlap of the last cursor)", got)
	}
	if got := readAs(Incremental); got != (read{0, 0, false}) {
		t.Fatalf("read after that = %+v; want nothing: the cursor is the org's time of the last read", got)
	}
	// Past the Recycle Bin, only a complete read notices.
	del("sub-4")
	if srv.Org.PurgeDeletedIdentityLinks() != 3 {
		t.Fatal("want sub-2, the first sub-3 and sub-4 purged")
	}
	if got := readAs(Incremental); got != (read{0, 0, false}) {
		t.Fatalf("read after a purge = %+v; want nothing (sub-4 is gone from queryAll too)", got)
	}
	if _, ok := snapshot()["sub-4"]; !ok {
		t.Fatal("sub-4 left the snapshot without a complete read")
	}
	// The complete read comes when RemoteLinksCompleteEvery has passed since the last.
	if err := st.SetCursor(ctx, identity.Cursor{Name: RemoteLinkCompleteCursor, Value: time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339Nano)}); err != nil {
		t.Fatal(err)
	}
	if got := readAs(Incremental); got != (read{7, 1, true}) {
		t.Fatalf("read after the period = %+v; want all 7, 1 gone, complete", got)
	}
	if _, ok := snapshot()["sub-4"]; ok {
		t.Fatal("sub-4 still in the snapshot after a complete read")
	}
	if got := readAs(Full); !got.complete {
		t.Fatalf("a Full read = %+v; want complete", got)
	}
	c = newClient(t, ccConfig(srv)) // RemoteLinksCompleteEvery 0: every read is complete
	if got := readAs(Incremental); !got.complete {
		t.Fatalf("read with RemoteLinksCompleteEvery 0 = %+v; want complete", got)
	}
}

func TestRetries(t *testing.T) {
	srv := newSim(t, 4500, 0)
	ctx := context.Background()
	c := newClient(t, ccConfig(srv))
	st, run := openStore(t)
	srv.Faults().Set(sfsim.EndpointQueryMore, fault.Faults{UnavailableNext: 2, ResetNext: 1, ThrottleNext: 1})
	srv.FailNextRequests(sfsim.EndpointQuery, 1, 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
	if n, _, err := c.ReadUsers(ctx, st, run, Full); err != nil || n != 4501 {
		t.Fatalf("read %d: %v", n, err)
	}
	if s := c.Stats(); s.APIRequests != 3+1+4 {
		t.Errorf("%d requests, want 8 (3 pages, 1 retried 500, 4 retried faults)", s.APIRequests)
	}
	srv.FailNextRequests(sfsim.EndpointCollections, 1, 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
	r, err := c.UpsertLinkRecords(ctx, []identity.Link{{Provider: provider, Subject: "s1", Status: identity.LinkActive}})
	if err != nil || !r[0].OK {
		t.Fatalf("upsert after a 500: %+v %v", r, err)
	}
	// Past the retry budget the error says so.
	srv.Faults().Set(sfsim.EndpointQuery, fault.Faults{UnavailableNext: 10})
	_, _, err = c.ReadUsers(ctx, st, run, Full)
	if err == nil || !strings.Contains(err.Error(), "gave up after 5 attempts") || !strings.Contains(err.Error(), "SERVER_UNAVAILABLE") {
		t.Errorf("got %v", err)
	}
	// A cancelled context stops at once.
	srv.Faults().Set(sfsim.EndpointQuery, fault.Faults{Latency: time.Second})
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.ReadUsers(cctx, st, run, Full); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestDailyLimit(t *testing.T) {
	srv := newSim(t, 4500, 0)
	ctx := context.Background()
	c := newClient(t, ccConfig(srv))
	srv.SetDailyLimit(2) // the first two pages fit, the third does not
	st, run := openStore(t)
	_, _, err := c.ReadUsers(ctx, st, run, Full)
	if !errors.Is(err, ErrDailyLimit) || !strings.Contains(err.Error(), "api-usage=2/2") {
		t.Fatalf("got %v", err)
	}
	if s := c.Stats(); s.APIRequests != 3 {
		t.Errorf("%d requests: the daily limit must not be retried", s.APIRequests)
	}
	if _, ok, _ := st.GetCursor(ctx, UserCursor); ok {
		t.Error("an incomplete read committed its cursor")
	}
}

func TestConfigErrors(t *testing.T) {
	good := shipped(Config{LoginURL: "https://acme.my.salesforce.com", Auth: AuthClientCredentials, ClientID: "id", ClientSecret: "s", Providers: []string{"EntraID"}})
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no login url", func(c *Config) { c.LoginURL = "" }, "login URL is empty"},
		{"http", func(c *Config) { c.LoginURL = "http://acme.my.salesforce.com" }, "must be an https URL"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "client secret is empty"},
		{"unknown auth", func(c *Config) { c.Auth = "password" }, "unknown"},
		{"jwt without key", func(c *Config) { c.Auth, c.Username = AuthJWTBearer, "u@x" }, "private key is empty"},
		{"jwt bad key", func(c *Config) { c.Auth, c.Username, c.PrivateKeyPEM = AuthJWTBearer, "u@x", []byte("nope") }, "no PEM block"},
		{"bad api", func(c *Config) { c.APIVersion = "v62" }, "must look like 62.0"},
		{"no api version", func(c *Config) { c.APIVersion = "" }, "must look like 62.0"},
		{"no timeout", func(c *Config) { c.RequestTimeout = 0 }, "request timeout 0s must be positive"},
		{"no attempts", func(c *Config) { c.Retry.MaxAttempts = 0 }, "retry attempts 0"},
		{"jwt without audience", func(c *Config) {
			c.Auth, c.Username, c.PrivateKeyPEM, c.Audience = AuthJWTBearer, "u@x", testKeyPEM, ""
		}, "audience is empty"},
		{"batch", func(c *Config) { c.QueryBatchSize = 5000 }, "between 200 and 2000"},
		{"collection", func(c *Config) { c.CollectionSize = 201 }, "between 1 and 200"},
		{"partition", func(c *Config) { c.LinkPartitionSize = 3000 }, "between 1 and 2500"},
		{"provider quote", func(c *Config) { c.Providers = []string{"x' OR Id != '"} }, "developer name"},
		{"expired status", func(c *Config) { c.ExpiredStatuses = []int{200} }, "4xx or 5xx"},
	}
	if _, err := New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range tests {
		cfg := good
		tc.edit(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), `"s"`) {
			t.Errorf("%s: error shows the secret", tc.name)
		}
	}
	// A sandbox My Domain or test.salesforce.com implies the test audience,
	// also with the configuration's default "login".
	for _, aud := range []string{"login"} {
		for _, login := range []string{"https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"} {
			c, err := New(shipped(Config{LoginURL: login, Auth: AuthJWTBearer, ClientID: "id", Username: "u@x", PrivateKeyPEM: testKeyPEM, Audience: aud}))
			if err != nil || c.cfg.Audience != AudienceTest {
				t.Errorf("sandbox %s with audience %q: %v %v", login, aud, c, err)
			}
		}
	}
}

func TestBulkUpsert(t *testing.T) {
	srv := newSim(t, 500, 0)
	ctx := context.Background()
	cfg := ccConfig(srv)
	cfg.BulkThreshold, cfg.BulkPollInterval = 100, time.Millisecond
	c := newClient(t, cfg)
	srv.SetBulkPolls(2)
	users := srv.Org.Users()
	var links []identity.Link
	for i := 0; i < 450; i++ {
		links = append(links, identity.Link{Provider: provider, Subject: fmt.Sprintf("sub,%04d", i), SalesforceUserID: users[i+1].ID,
			ObjectID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Rule: identity.RuleUPN, Status: identity.LinkActive})
	}
	links[5].SalesforceUserID = "005000000000000AAA"
	links[9].Status, links[9].Reason = identity.LinkRevoked, "orphaned"
	srv.FailRecord("sub,0010", 1, sfsim.RecordError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"})
	srv.FailRecord("sub,0420", 1, sfsim.RecordError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "no: really", Fields: []string{"User__c", "Status__c"}})
	res, err := c.UpsertLinkRecords(ctx, links)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[int]string{}
	for i, r := range res {
		if !r.OK {
			failed[i] = r.Error()
		} else if r.ID == "" || !r.Created {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	want := map[int]string{5: "INVALID_CROSS_REFERENCE_KEY: invalid cross reference id [User__c]", 420: "FIELD_CUSTOM_VALIDATION_EXCEPTION: no: really [User__c, Status__c]"}
	if fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("failed %v, want %v", failed, want)
	}
	if res[10].Attempts != 2 || !res[10].OK {
		t.Errorf("locked record: %+v", res[10])
	}
	if b, col := srv.Faults().Counter(sfsim.EndpointBulk).Requests, srv.Faults().Counter(sfsim.EndpointCollections).Requests; b != 8 || col != 1 {
		t.Errorf("%d bulk calls (want 8: create, upload, close, 3 polls, 2 results), %d collection calls (want 1: the locked record)", b, col)
	}
	if l, _ := srv.Org.IdentityLinkBySubject("sub,0009"); l.Status != "Revoked" || l.RevokeReason != "orphaned" || l.MatchRule != "upn" {
		t.Errorf("revoked via bulk: %+v", l)
	}
	if got := len(srv.Org.IdentityLinks()); got != 448 {
		t.Errorf("org holds %d links, want 448", got)
	}
}

func TestParseBulkError(t *testing.T) {
	for in, want := range map[string]RecordError{
		"INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:User__c --":       {StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id", Fields: []string{"User__c"}},
		"FIELD_CUSTOM_VALIDATION_EXCEPTION:a: b:X__c,Y__c --":                     {StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "a: b", Fields: []string{"X__c", "Y__c"}},
		"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record: --": {StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"},
		"garbage": {StatusCode: "UNKNOWN", Message: "garbage"},
	} {
		if got := parseBulkError(in); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
	}
}

func FuzzParseBulkError(f *testing.F) {
	for _, s := range []string{"A:b:c --", "A:b", "", ":::", "X:y:z,w --"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := parseBulkError(s)
		if e.StatusCode == "" && strings.Contains(s, ":") && !strings.HasPrefix(strings.TrimSpace(s), ":") {
			t.Fatalf("%q: no status code in %+v", s, e)
		}
		for _, f := range e.Fields {
			if f == "" || strings.Contains(f, ",") {
				t.Fatalf("%q: bad field %q", s, f)
			}
		}
	})
}

func TestAuthErrorHints(t *testing.T) {
	tests := []struct {
		flow       AuthKind
		code, desc string
		want       string
	}{
		{AuthClientCredentials, "invalid_grant", "request not supported on this domain", "My Domain URL"},
		{AuthClientCredentials, "invalid_grant", "no client credentials user enabled", "Run As"},
		{AuthClientCredentials, "invalid_client", "invalid client credentials", "Consumer Secret"},
		{AuthJWTBearer, "invalid_client", "invalid client credentials", "Use digital signatures"},
		{AuthJWTBearer, "invalid_grant", "invalid assertion", "certificate"},
		{AuthJWTBearer, "invalid_grant", "user hasn't approved this consumer", "pre-authorized"},
		{AuthJWTBearer, "invalid_grant", "audience is invalid", "test.salesforce.com"},
		{AuthClientCredentials, "invalid_grant", "user is not active", "deactivated"},
		{AuthClientCredentials, "unsupported_grant_type", "grant type not supported", "Enable Client Credentials Flow"},
		{AuthClientCredentials, "invalid_client_id", "client identifier invalid", "Consumer Key"},
		{AuthClientCredentials, "weird", "something new", "OAuth settings"},
	}
	for _, tc := range tests {
		e := &AuthError{Flow: tc.flow, Status: 400, Code: tc.code, Description: tc.desc}
		if !strings.Contains(e.Error(), tc.want) || !strings.Contains(e.Error(), tc.desc) {
			t.Errorf("%s %q: %s, want a hint with %q", tc.code, tc.desc, e.Error(), tc.want)
		}
	}
}

// TestUpsertLinksAnswersPerRecord: UpsertLinks, the core's LinkWriter, gives
// one result per link with Salesforce's code for a refused record, and an
// error (not per-record results) when the call fails as a whole.
func TestUpsertLinksAnswersPerRecord(t *testing.T) {
	srv := newSim(t, 1, 0)
	c := newClient(t, ccConfig(srv))
	var uid string
	for _, u := range srv.Org.Users() {
		if u.IsActive {
			uid = u.ID
			break
		}
	}
	res, err := c.UpsertLinks(context.Background(), []identity.Link{
		{Provider: provider, Subject: "ok", SalesforceUserID: uid, Status: identity.LinkActive},
		{Provider: provider, Subject: "bad", SalesforceUserID: "005000000000000AAA", Status: identity.LinkActive},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].OK || res[1].OK || !strings.HasPrefix(res[1].Error, "INVALID_CROSS_REFERENCE_KEY") {
		t.Errorf("%+v", res)
	}
	srv.SetDailyLimit(0)
	if _, err := c.UpsertLinks(context.Background(), []identity.Link{{Provider: provider, Subject: "x", Status: identity.LinkActive}}); err == nil {
		t.Error("daily limit: want an error")
	}
}

// countingLinkSink counts the writes of account links that reach the store.
type countingLinkSink struct {
	Sink
	upserts, drops int
}

func (s *countingLinkSink) UpsertAccountLinks(ctx context.Context, runID int64, l []identity.ThirdPartyAccountLink) error {
	s.upserts++
	return s.Sink.UpsertAccountLinks(ctx, runID, l)
}

func (s *countingLinkSink) DropAccountLinksExcept(ctx context.Context, ids []string) (int64, error) {
	s.drops++
	return s.Sink.DropAccountLinksExcept(ctx, ids)
}

// A read stores only the pages of links that differ from what the last
// complete read stored, and drops links only when the pages differ; a write
// of the stored links by anyone makes the next read compare every page.
func TestAccountLinkPagesStoredUnchangedAreSkipped(t *testing.T) {
	srv := newSim(t, 1300, 1200) // 3 pages of 500
	ctx := context.Background()
	c := newClient(t, ccConfig(srv))
	st, run := openStore(t)
	read := func(name string, upserts, drops int, notSeen int64) {
		t.Helper()
		sink := &countingLinkSink{Sink: st}
		n, gone, _, err := c.ReadAccountLinks(ctx, sink, run)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sink.upserts != upserts || sink.drops != drops || gone != notSeen {
			t.Errorf("%s: %d pages stored, %d drops, %d dropped; want %d, %d, %d", name, sink.upserts, sink.drops, gone, upserts, drops, notSeen)
		}
		var stored []identity.ThirdPartyAccountLink
		err = st.ScanAccountLinks(ctx, func(l identity.ThirdPartyAccountLink) error { stored = append(stored, l); return nil })
		org := srv.Org.AccountLinks()
		if err != nil || n != len(org) || fmt.Sprint(stored) != fmt.Sprint(org) {
			t.Fatalf("%s: read %d, stored %d links, the org has %d (or other values)", name, n, len(stored), len(org))
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	read("first read", 3, 1, 0)
	read("nothing changed", 0, 0, 0)
	// A link written to the store by anyone else: every page is compared
	// again and the link the org does not have is dropped.
	must(st.UpsertAccountLinks(ctx, run, []identity.ThirdPartyAccountLink{{ID: "0Jr8d0000000zzzAAA", Provider: provider, RemoteIdentifier: "gone", UserID: "0058d0000000001AAA"}}))
	read("after a write elsewhere", 3, 1, 1)
	read("nothing changed again", 0, 0, 0)
	// A sign-in adds a link: its page (the last) is stored, and the read
	// checks for deletions.
	users := srv.Org.Users()
	_, err := srv.Org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: provider, RemoteIdentifier: "sub-new", UserID: users[1250].ID})
	must(err)
	read("a link added", 1, 1, 0)
	read("nothing changed at last", 0, 0, 0)

	// An org without links: a store that holds one the read did not record
	// is emptied, and only then are no pages "the same pages".
	empty := newSim(t, 10, 0)
	c, srv = newClient(t, ccConfig(empty)), empty
	st, run = openStore(t)
	must(st.UpsertAccountLinks(ctx, run, []identity.ThirdPartyAccountLink{{ID: "0Jr8d0000000zzzAAA", Provider: provider, RemoteIdentifier: "gone", UserID: "0058d0000000001AAA"}}))
	read("no links in the org", 0, 1, 1)
	read("still none", 0, 0, 0)
}
