package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/entrasim"
	"github.com/idlinkhq/idlink/internal/sim/fault"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

const (
	tenantID  = "3c1e5a2b-7d4f-4a6b-9c8d-1e2f3a4b5c6d"
	jobID     = "0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e"
	certJobID = "1b2c3d4e-5f60-4172-8839-4a5b6c7d8e9f"
	sfAppID   = "2c3d4e5f-6071-4283-894a-5b6c7d8e9fa0"
	secret    = "Xy7~q.TopSecretValue-for-tests_42"
)

func oidOf(i int) string { return fmt.Sprintf("10000000-0000-4000-8000-%012d", i) }

type world struct {
	sim    *entrasim.Sim
	caFile string
	cert   string          // PEM file: certificate + key registered on certJobID
	k8sKey *rsa.PrivateKey // signs service account tokens trusted by wiJobID
}

const (
	wiJobID   = "3d4e5f60-7182-4394-8a5b-6c7d8e9fa0b1"
	k8sIssuer = "https://oidc.prod-aks.azure.com/abc/"
	k8sSub    = "system:serviceaccount:idlink:idlink"
)

func newWorld(t testing.TB, n int) *world {
	t.Helper()
	dir := t.TempDir()
	certPEM, cert := makeCert(t, dir)
	k8sKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := entrasim.New(entrasim.Options{
		TenantID: tenantID,
		Apps: []entrasim.App{
			{ClientID: jobID, DisplayName: "idlink", Secret: secret, GraphPermissions: []string{entrasim.PermUserReadAll, entrasim.PermApplicationReadAll, entrasim.PermGroupMemberReadAll}},
			{ClientID: certJobID, DisplayName: "idlink (cert)", Certificate: cert, GraphPermissions: []string{entrasim.PermUserReadAll}},
			{ClientID: sfAppID, DisplayName: "Salesforce"},
			{ClientID: wiJobID, DisplayName: "idlink (workload)", GraphPermissions: []string{entrasim.PermUserReadAll},
				Federated: []entrasim.FederatedCredential{{Issuer: k8sIssuer, Subject: k8sSub, Key: &k8sKey.PublicKey}}},
		},
		DeltaPageSize: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := &world{sim: s, caFile: filepath.Join(dir, "ca.pem"), cert: certPEM, k8sKey: k8sKey}
	if err := s.TLS().WriteCA(w.caFile); err != nil {
		t.Fatal(err)
	}
	addUsers(t, s, 0, n)
	return w
}

func addUsers(t testing.TB, s *entrasim.Sim, from, to int) {
	t.Helper()
	us := make([]identity.EntraUser, 0, to-from)
	for i := from; i < to; i++ {
		us = append(us, identity.EntraUser{ObjectID: oidOf(i), UPN: fmt.Sprintf("u%d@contoso.com", i), Mail: fmt.Sprintf("u%d@contoso.com", i),
			DisplayName: fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i), AccountEnabled: true})
	}
	if err := s.AddUser(us...); err != nil {
		t.Fatal(err)
	}
}

func makeCert(t testing.TB, dir string) (string, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "idlink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pk, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(dir, fmt.Sprintf("cert-%d.pem", time.Now().UnixNano()))
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cert
}

// serviceAccountToken writes a projected service account token as the
// Kubernetes API server would sign it.
func (w *world) serviceAccountToken(t testing.TB, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": k8sIssuer, "sub": sub, "aud": []string{"api://AzureADTokenExchange"},
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "k8s"
	signed, err := tok.SignedString(w.k8sKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(path, []byte(signed), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (w *world) config() Config {
	return Config{
		TenantID: tenantID, ClientID: jobID, Credential: CredClientSecret, ClientSecret: secret,
		AuthorityHost: w.sim.LoginURL(), GraphBaseURL: w.sim.GraphURL(), DisableInstanceDiscovery: true,
		CABundleFile: w.caFile, ThrottleBudget: 30 * time.Second, Scope: ScopeAll, GraphScope: w.sim.GraphURL() + "/.default",
	}
}

func (w *world) source(t testing.TB, cfg Config) *Source {
	t.Helper()
	src, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func startRun(t testing.TB, st store.Store) int64 {
	t.Helper()
	r, err := st.StartRun(context.Background(), identity.KindRun, "test")
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func runSync(t testing.TB, src *Source, st store.Store, mode Mode) Result {
	t.Helper()
	ctx := context.Background()
	id := startRun(t, st)
	res, err := src.Sync(ctx, st, id, mode)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	r, _ := st.GetRun(ctx, id)
	r.Status, r.FinishedAt = identity.StatusSucceeded, time.Now()
	if err := st.FinishRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	return res
}

func stored(t testing.TB, st store.Store) map[string]identity.EntraUser {
	t.Helper()
	m := map[string]identity.EntraUser{}
	if err := st.ScanEntraUsers(context.Background(), func(u identity.EntraUser) error { m[u.ObjectID] = u; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFullListing(t *testing.T) {
	w := newWorld(t, 2100)
	s := w.sim
	must(t, s.AddUser(
		identity.EntraUser{ObjectID: oidOf(9001), UPN: "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com", Mail: "ann@fabrikam.com", DisplayName: "Ann (guest)", AccountEnabled: true, UserType: "Guest"},
		identity.EntraUser{ObjectID: oidOf(9002), UPN: "", DisplayName: "No UPN", AccountEnabled: true},
		identity.EntraUser{ObjectID: oidOf(9003), UPN: "binned@contoso.com", AccountEnabled: true, Deleted: identity.SoftDeleted},
	))
	st := openStore(t)
	src := w.source(t, w.config())
	res := runSync(t, src, st, ModeAuto)
	if res.Kind != "full" || res.Users != 2103 || res.RecycleBin != 1 || res.Pages != 3 || res.Guests != 1 || res.NoUPN != 1 || res.InScope != -1 {
		t.Fatalf("result %+v", res)
	}
	got := stored(t, st)
	if len(got) != 2103 {
		t.Fatalf("stored %d users", len(got))
	}
	u := got[oidOf(42)]
	want := identity.EntraUser{ObjectID: oidOf(42), TenantID: tenantID, UPN: "u42@contoso.com", Mail: "u42@contoso.com", DisplayName: "User 42",
		GivenName: "User", Surname: "42", AccountEnabled: true, InScope: true, UserType: "Member"}
	if u != want {
		t.Fatalf("stored user\n got %+v\nwant %+v", u, want)
	}
	if g := got[oidOf(9001)]; !g.Guest() {
		t.Errorf("guest not kept as guest: %+v", g)
	}
	if u := got[oidOf(9003)]; u.Deleted != identity.SoftDeleted || u.UPN != "binned@contoso.com" {
		t.Errorf("user in the recycle bin: %+v", u)
	}
	if c := s.Faults.Counter(entrasim.EPUsers); c.Requests != 3 {
		t.Errorf("users requests %d, want ceil(2102/999) = 3", c.Requests)
	}
	if v, ok, _ := st.GetCursor(context.Background(), src.CursorName()); !ok || !strings.Contains(v, "$deltatoken=") {
		t.Errorf("deltaLink not stored: %q", v)
	}
	// A backfill after a user vanished marks it hard deleted; one put in the
	// recycle bin is soft deleted; a restored one is back.
	must(t, s.HardDelete(oidOf(7)))
	must(t, s.SoftDelete(oidOf(8)))
	must(t, s.Restore(oidOf(9003)))
	res = runSync(t, src, st, ModeFull)
	got = stored(t, st)
	if res.NotSeen != 1 || got[oidOf(7)].Deleted != identity.HardDeleted || got[oidOf(8)].Deleted != identity.SoftDeleted || got[oidOf(9003)].Deleted != identity.NotDeleted {
		t.Fatalf("backfill: %+v\n%+v %+v %+v", res, got[oidOf(7)], got[oidOf(8)], got[oidOf(9003)])
	}
}

func TestScopeThroughNestedGroups(t *testing.T) {
	w := newWorld(t, 20)
	s := w.sim
	gSales, gEMEA, gParis, gOther := "20000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000002", "20000000-0000-4000-8000-000000000003", "20000000-0000-4000-8000-000000000004"
	for id, name := range map[string]string{gSales: "Sales", gEMEA: "Sales EMEA", gParis: "Sales Paris", gOther: "Engineering"} {
		must(t, s.AddGroup(id, name))
	}
	must(t, s.AddMember(gSales, oidOf(1)))
	must(t, s.AddMember(gSales, gEMEA))
	must(t, s.AddMember(gEMEA, oidOf(2)))
	must(t, s.AddMember(gEMEA, gParis))
	must(t, s.AddMember(gParis, oidOf(3)))
	must(t, s.AddMember(gOther, oidOf(4)))
	must(t, s.AssignAppRole(sfAppID, gSales, ""))
	must(t, s.AssignAppRole(sfAppID, gParis, "")) // also nested in gSales: read once
	must(t, s.AssignAppRole(sfAppID, oidOf(5), ""))
	cfg := w.config()
	cfg.Scope, cfg.SalesforceAppID = ScopeAppAssignments, sfAppID
	inScope := func(st store.Store, want ...int) {
		t.Helper()
		got := stored(t, st)
		if len(got) != 20 {
			t.Fatalf("out-of-scope users must be kept: %d stored", len(got))
		}
		for i := 0; i < 20; i++ {
			if got[oidOf(i)].InScope != slices.Contains(want, i) {
				t.Errorf("user %d in scope %v, want %v", i, got[oidOf(i)].InScope, !got[oidOf(i)].InScope)
			}
		}
	}
	// Entra's own rule: direct members of assigned groups only.
	st := openStore(t)
	res := runSync(t, w.source(t, cfg), st, ModeAuto)
	if res.InScope != 3 {
		t.Fatalf("in scope %d, want 3: %+v", res.InScope, res)
	}
	inScope(st, 1, 3, 5)
	if c := s.Faults.Counter(entrasim.EPMembers); c.Requests != 2 {
		t.Errorf("member requests %d, want 2", c.Requests)
	}

	// Nested groups counted on request, through transitiveMembers.
	s.Faults.Reset()
	cfg.NestedGroups = true
	st = openStore(t)
	res = runSync(t, w.source(t, cfg), st, ModeAuto)
	if res.InScope != 4 {
		t.Fatalf("in scope %d, want 4: %+v", res.InScope, res)
	}
	inScope(st, 1, 2, 3, 5)
	if c := s.Faults.Counter(entrasim.EPMembers); c.Requests != 1 {
		t.Errorf("member requests %d, want 1 (nested assigned group already covered)", c.Requests)
	}
	// By service principal id, and a scope change picked up by a delta run.
	cfg.SalesforceAppID, cfg.SalesforceServicePrincipalID = "", s.ServicePrincipalID(sfAppID)
	must(t, s.AddMember(gParis, oidOf(6)))
	res = runSync(t, w.source(t, cfg), st, ModeAuto)
	if res.Kind != "delta" || res.InScope != 5 {
		t.Fatalf("after membership change: %+v", res)
	}
	inScope(st, 1, 2, 3, 5, 6)
}

func TestDeltaRounds(t *testing.T) {
	w := newWorld(t, 450)
	s := w.sim
	st := openStore(t)
	src := w.source(t, w.config())
	if res := runSync(t, src, st, ModeAuto); res.Kind != "full" {
		t.Fatalf("first run %+v", res)
	}
	must(t, s.UpdateUser(oidOf(1), func(u *identity.EntraUser) { u.DisplayName = "Renamed One" }))
	must(t, s.UpdateUser(oidOf(1), func(u *identity.EntraUser) { u.UPN = "one@contoso.com" }))
	must(t, s.UpdateUser(oidOf(2), func(u *identity.EntraUser) { u.AccountEnabled = false }))
	must(t, s.UpdateUser(oidOf(3), func(u *identity.EntraUser) { u.Mail = "" })) // cleared: Graph sends null
	must(t, s.SetJobTitle(oidOf(4), "Ignored"))                                  // not selected: not reported
	must(t, s.SoftDelete(oidOf(5)))
	must(t, s.HardDelete(oidOf(6)))
	must(t, s.SoftDelete(oidOf(7)))
	addUsers(t, s, 1000, 1300) // more than one delta page of changes
	before := s.Faults.Counter(entrasim.EPUsers).Requests
	res := runSync(t, src, st, ModeAuto)
	if res.Kind != "delta" || res.Changed != 303 || res.SoftDeleted != 2 || res.HardDeleted != 1 || res.Pages < 2 {
		t.Fatalf("delta result %+v", res)
	}
	if s.Faults.Counter(entrasim.EPUsers).Requests != before {
		t.Error("delta run listed /users")
	}
	got := stored(t, st)
	if u := got[oidOf(1)]; u.DisplayName != "Renamed One" || u.UPN != "one@contoso.com" || u.Mail != "u1@contoso.com" || u.Surname != "1" {
		t.Errorf("merged user 1: %+v", u)
	}
	if u := got[oidOf(2)]; u.AccountEnabled || u.DisplayName != "User 2" {
		t.Errorf("disabled user 2: %+v", u)
	}
	if u := got[oidOf(3)]; u.Mail != "" || u.UPN != "u3@contoso.com" {
		t.Errorf("cleared mail: %+v", u)
	}
	if got[oidOf(5)].Deleted != identity.SoftDeleted || got[oidOf(7)].Deleted != identity.SoftDeleted || got[oidOf(6)].Deleted != identity.HardDeleted {
		t.Errorf("removals: %+v %+v %+v", got[oidOf(5)], got[oidOf(6)], got[oidOf(7)])
	}
	if u := got[oidOf(1299)]; u.UPN != "u1299@contoso.com" || !u.InScope {
		t.Errorf("new user: %+v", u)
	}
	if len(got) != 750 {
		t.Errorf("stored %d", len(got))
	}
	// Restore: the user reappears, whole.
	must(t, s.Restore(oidOf(7)))
	res = runSync(t, src, st, ModeAuto)
	if res.Kind != "delta" || res.Changed != 1 || stored(t, st)[oidOf(7)].Deleted != identity.NotDeleted {
		t.Fatalf("restore: %+v %+v", res, stored(t, st)[oidOf(7)])
	}
	// No changes: one request, nothing written.
	res = runSync(t, src, st, ModeAuto)
	if res.Pages != 1 || res.Users != 0 {
		t.Fatalf("idle round: %+v", res)
	}
}

func TestDeltaLinkExpiryResyncs(t *testing.T) {
	for _, status := range []int{400, 410} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			w := newWorld(t, 300)
			s := w.sim
			s.SetExpiredDeltaStatus(status)
			st := openStore(t)
			runSync(t, w.source(t, w.config()), st, ModeAuto)
			must(t, s.UpdateUser(oidOf(9), func(u *identity.EntraUser) { u.DisplayName = "Late change" }))
			must(t, s.HardDelete(oidOf(10)))
			s.Advance(8 * 24 * time.Hour)
			// A new process (its token is from the simulated future too).
			res := runSync(t, w.source(t, w.config()), st, ModeAuto)
			if !res.Resynced || res.Kind != "full" || !strings.Contains(res.Note, "full resync") || res.NotSeen != 1 {
				t.Fatalf("result %+v", res)
			}
			got := stored(t, st)
			if got[oidOf(9)].DisplayName != "Late change" || got[oidOf(10)].Deleted != identity.HardDeleted {
				t.Fatalf("after resync: %+v %+v", got[oidOf(9)], got[oidOf(10)])
			}
			// The new deltaLink works.
			res = runSync(t, w.source(t, w.config()), st, ModeAuto)
			if res.Kind != "delta" || res.Resynced {
				t.Fatalf("after resync: %+v", res)
			}
		})
	}
}

func TestThrottling(t *testing.T) {
	w := newWorld(t, 1500)
	s := w.sim
	st := openStore(t)
	s.Faults.Set(entrasim.EPUsers, fault.Faults{ThrottleNext: 2, RetryAfter: time.Second})
	start := time.Now()
	res := runSync(t, w.source(t, w.config()), st, ModeFull)
	if res.ThrottleWait != 2*time.Second || time.Since(start) < 2*time.Second || len(stored(t, st)) != 1500 {
		t.Fatalf("within budget: %+v after %s", res, time.Since(start))
	}
	if c := s.Faults.Counter(entrasim.EPUsers); c.Requests != 4 || c.Throttled != 2 {
		t.Errorf("users counter %+v: the SDK must retry each 429 once, no second layer", c)
	}

	cfg := w.config()
	cfg.ThrottleBudget = 1500 * time.Millisecond
	s.Faults.Set(entrasim.EPUsers, fault.Faults{ThrottleNext: 100, RetryAfter: time.Second})
	s.Faults.Reset()
	id := startRun(t, st)
	res, err := w.source(t, cfg).Sync(context.Background(), st, id, ModeFull)
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("past budget: %v", err)
	}
	if res.ThrottleWait != time.Second || !strings.Contains(err.Error(), "safe to retry") {
		t.Errorf("wait %s, error %v", res.ThrottleWait, err)
	}
	if c := s.Faults.Counter(entrasim.EPUsers); c.Requests != 2 {
		t.Errorf("requests %d, want 2 (one retry within 1.5 s)", c.Requests)
	}
	// 503 is retried the same way.
	s.Faults.Set(entrasim.EPUsers, fault.Faults{UnavailableNext: 1})
	cfg.ThrottleBudget = 10 * time.Second
	if _, err := w.source(t, cfg).Sync(context.Background(), st, startRun(t, st), ModeFull); err != nil {
		t.Fatalf("503 once: %v", err)
	}
}

func TestCredentialAndPermissionErrors(t *testing.T) {
	w := newWorld(t, 5)
	ctx := context.Background()
	st := openStore(t)
	run := func(cfg Config) error {
		src, err := New(cfg, nil)
		if err != nil {
			return err
		}
		_, err = src.Sync(ctx, st, startRun(t, st), ModeFull)
		return err
	}
	badCert, _ := makeCert(t, t.TempDir())
	tests := []struct {
		name   string
		mod    func(*Config)
		code   int
		wantIn []string
	}{
		{"wrong secret", func(c *Config) { c.ClientSecret = "wrong-secret-value" }, 7000215, []string{"AADSTS7000215", "client secret is wrong", "Certificates & secrets"}},
		{"unknown tenant", func(c *Config) { c.TenantID = "99999999-0000-4000-8000-000000000000" }, 90002, []string{"AADSTS90002", "tenant does not exist", "entra.tenant_id"}},
		{"unknown app", func(c *Config) { c.ClientID = "88888888-0000-4000-8000-000000000000" }, 700016, []string{"AADSTS700016", "not registered", "entra.client_id"}},
		{"unregistered certificate", func(c *Config) {
			c.ClientID, c.Credential, c.ClientSecret, c.CertificateFile = certJobID, CredClientCertificate, "", badCert
		}, 700027, []string{"AADSTS700027", "certificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := w.config()
			tc.mod(&cfg)
			err := run(cfg)
			var ce *CredentialError
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("error %v (%T), want AADSTS%d", err, err, tc.code)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err.Error(), s)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprint(errors.Unwrap(err)), secret) {
				t.Error("secret leaked into the error")
			}
		})
	}
	t.Run("workload identity ok", func(t *testing.T) {
		cfg := w.config()
		cfg.ClientID, cfg.Credential, cfg.ClientSecret, cfg.FederatedTokenFile = wiJobID, CredWorkloadIdentity, "", w.serviceAccountToken(t, k8sSub)
		if err := run(cfg); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("workload identity wrong subject", func(t *testing.T) {
		cfg := w.config()
		cfg.ClientID, cfg.Credential, cfg.ClientSecret, cfg.FederatedTokenFile = wiJobID, CredWorkloadIdentity, "", w.serviceAccountToken(t, "system:serviceaccount:other:sa")
		err := run(cfg)
		var ce *CredentialError
		if !errors.As(err, &ce) || ce.Code != 70021 || !strings.Contains(err.Error(), "federated credential") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("certificate ok", func(t *testing.T) {
		cfg := w.config()
		cfg.ClientID, cfg.Credential, cfg.ClientSecret, cfg.CertificateFile = certJobID, CredClientCertificate, "", w.cert
		if err := run(cfg); err != nil {
			t.Fatal(err)
		}
	})
	perms := []struct {
		granted []string
		scope   ScopeMode
		want    string
	}{
		{nil, ScopeAll, "User.Read.All"},
		{[]string{entrasim.PermUserReadAll}, ScopeAppAssignments, "Application.Read.All"},
		{[]string{entrasim.PermUserReadAll, entrasim.PermApplicationReadAll}, ScopeAppAssignments, "GroupMember.Read.All"},
	}
	g := "30000000-0000-4000-8000-000000000001"
	must(t, w.sim.AddGroup(g, "Sales"))
	must(t, w.sim.AssignAppRole(sfAppID, g, ""))
	for _, p := range perms {
		t.Run("missing "+p.want, func(t *testing.T) {
			must(t, w.sim.SetGraphPermissions(jobID, p.granted...))
			cfg := w.config()
			cfg.Scope, cfg.SalesforceAppID = p.scope, sfAppID
			err := run(cfg)
			var pe *PermissionError
			if !errors.As(err, &pe) || pe.Permission != p.want {
				t.Fatalf("error %v, want missing %s", err, p.want)
			}
			if !strings.Contains(err.Error(), "Grant admin consent") || !strings.Contains(err.Error(), p.want) {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{TenantID: tenantID, ClientID: jobID, Credential: CredClientSecret, ClientSecret: "x",
		AuthorityHost: "https://login.microsoftonline.com/", GraphBaseURL: "https://graph.microsoft.com",
		GraphScope: "https://graph.microsoft.com/.default", Scope: ScopeAll, ThrottleBudget: time.Minute}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no tenant", func(c *Config) { c.TenantID = "" }, "entra.tenant_id"},
		{"bad client", func(c *Config) { c.ClientID = "abc" }, "entra.client_id"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "no secret was given"},
		{"bad kind", func(c *Config) { c.Credential = "password" }, "unknown"},
		{"http graph", func(c *Config) { c.GraphBaseURL = "http://graph.example" }, "https"},
		{"scope without app", func(c *Config) { c.Scope = ScopeAppAssignments }, "salesforce_app_id"},
		{"page size", func(c *Config) { c.PageSize = 1000 }, "1..999"},
		{"cert without file", func(c *Config) { c.Credential = CredClientCertificate }, "certificate_file"},
		{"no scope", func(c *Config) { c.Scope = "" }, "entra.scope is empty"},
		{"no graph scope", func(c *Config) { c.GraphScope = "" }, "entra.graph_scope is empty"},
		{"no throttle budget", func(c *Config) { c.ThrottleBudget = 0 }, "throttle_budget 0s must be positive"},
		{"no authority", func(c *Config) { c.AuthorityHost = "" }, "entra.authority_host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := New(c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "x\"") {
				t.Error("secret in error")
			}
		})
	}
	if _, err := New(ok, nil); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if s := fmt.Sprint(ok); strings.Contains(s, "ClientSecret") {
		t.Errorf("String leaks fields: %s", s)
	}
}
