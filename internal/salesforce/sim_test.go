package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
	"github.com/idlinkhq/idlink/internal/sim/simtls"
	"github.com/idlinkhq/idlink/internal/store"
	"github.com/idlinkhq/idlink/internal/store/sqlite"
)

const (
	ccSecret   = "cc-secret-VALUE-0123456789"
	integrator = "integration@example.com"
	provider   = "EntraID"
)

var (
	testCA = func() *simtls.Authority {
		a, err := simtls.New()
		if err != nil {
			panic(err)
		}
		return a
	}()
	testKey = func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	}()
	testKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey)})
)

// newSim starts a simulated org with m users (plus the integration user),
// the first `links` of them signed in once through provider.
func newSim(t testing.TB, m, links int) *sfsim.Server {
	t.Helper()
	org := sfsim.NewOrg()
	if _, err := org.AddUser(identity.SalesforceUser{Username: integrator, IsActive: true, UserType: "Standard"}); err != nil {
		t.Fatal(err)
	}
	if _, err := org.AddAuthProvider(sfsim.AuthProvider{DeveloperName: provider, FriendlyName: "Entra ID sign-in"}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < m; i++ {
		id, err := org.AddUser(identity.SalesforceUser{
			Username: fmt.Sprintf("u%07d@contoso.example.com", i), Email: fmt.Sprintf("u%07d@contoso.example.com", i),
			FederationIdentifier: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), IsActive: i%7 != 0, UserType: "Standard",
			CreatedDate: base, SystemModstamp: base.Add(time.Duration(i) * time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		if i < links {
			if _, err := org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: provider, RemoteIdentifier: fmt.Sprintf("sub-%07d", i), UserID: id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv, err := sfsim.Start(org, testCA, sfsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddConnectedApp(sfsim.ConnectedApp{ClientID: "cc-app", ClientSecret: ccSecret, ClientCredentialsUser: integrator})
	srv.AddConnectedApp(sfsim.ConnectedApp{ClientID: "no-runas", ClientSecret: ccSecret})
	srv.AddConnectedApp(sfsim.ConnectedApp{ClientID: "jwt-app", ClientSecret: "x", JWTKey: &testKey.PublicKey, PreAuthorized: []string{integrator}})
	return srv
}

func ccConfig(srv *sfsim.Server) Config {
	return shipped(Config{
		LoginURL: srv.URL(), Auth: AuthClientCredentials, ClientID: "cc-app", ClientSecret: ccSecret,
		Providers: []string{provider}, HTTPClient: testCA.Client(),
		Retry: RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
	})
}

// shipped fills the settings c leaves empty with the shipped defaults
// (internal/config owns them; the client keeps none), so a test states only
// what it is about.
func shipped(c Config) Config {
	d := config.Defaults().Salesforce
	if c.APIVersion == "" {
		c.APIVersion = d.APIVersion
	}
	if c.Audience == "" {
		c.Audience = d.Audience
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout.D()
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = d.MaxRetries + 1
	}
	if c.QueryBatchSize == 0 {
		c.QueryBatchSize = d.QueryBatchSize
	}
	return c
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openStore opens a real SQLite store in the test's temp dir and starts a run.
func openStore(t testing.TB) (*sqlite.Store, int64) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "idlink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	run, err := st.StartRun(ctx, identity.KindRun, "test")
	if err != nil {
		t.Fatal(err)
	}
	return st, run.ID
}

func countUsers(t testing.TB, st store.Store) int {
	n := 0
	if err := st.ScanSalesforceUsers(context.Background(), func(identity.SalesforceUser) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
