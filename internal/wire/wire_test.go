package wire

import (
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/reconcile"
)

// TestDefaultsReachTheParts: each documented default of the configuration
// reaches the part that uses it unchanged - the wiring keeps no defaults or
// translations of its own.
func TestDefaultsReachTheParts(t *testing.T) {
	cfg := config.Defaults()
	cfg.Providers = []config.Provider{{Name: "EntraID", Strategy: "observed", AuthProviderID: "0SO000000000001AAA", RevokeAccountLinks: true}}

	rc := ReconcileConfig(cfg)
	want := reconcile.Limits{MaxChanges: cfg.Safety.MaxChanges, MaxPercent: cfg.Safety.MaxChangePercent,
		MaxCreates: cfg.Safety.MaxCreates, MaxCreatePercent: cfg.Safety.MaxCreatePercent, MaxCoverageDrop: cfg.Safety.MaxCoverageDrop}
	if rc.Limits != want {
		t.Errorf("safety limits reach the core as %+v, want the configuration's %+v", rc.Limits, want)
	}
	if len(rc.Providers) != 1 || !rc.Providers[0].RevokeAccountLinks {
		t.Errorf("providers[].revoke_account_links lost: %+v", rc.Providers)
	}

	tests := []struct {
		name     string
		mod      func(*config.Config)
		audience string
	}{
		// The Salesforce client turns "login" into the test audience for a
		// sandbox login host, so the wiring must hand it on as it is.
		{"default audience for a sandbox", func(c *config.Config) {
			c.Salesforce.LoginURL = "https://acme--uat.sandbox.my.salesforce.com"
		}, "login"},
		{"explicit test audience", func(c *config.Config) { c.Salesforce.Audience = "test" }, "test"},
		{"audience URL", func(c *config.Config) { c.Salesforce.Audience = "https://login.example.com" }, "https://login.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			tc.mod(&c)
			sc, err := salesforceConfig(c, "idl-test", nil)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Audience != tc.audience {
				t.Errorf("audience %q, want %q", sc.Audience, tc.audience)
			}
			if sc.StoreID != "idl-test" || sc.ProviderIDs["EntraID"] != "0SO000000000001AAA" || sc.APIVersion != c.Salesforce.APIVersion {
				t.Errorf("salesforce config %+v", sc)
			}
		})
	}
	if got := cfg.Entra.GraphTokenScope(); got != "https://graph.microsoft.com/.default" {
		t.Errorf("default graph scope %q", got)
	}
}

// TestDocumentedDefaultsReachEachAdapter: the adapters keep no defaults of
// their own, so what the example configuration documents is what they run
// with - including the cases where an adapter's own default used to differ
// (Entra scope all vs app-assignments, a 5 vs 10 minute throttle budget, a
// bridge leeway of 0 turned into 60 s).
func TestDocumentedDefaultsReachEachAdapter(t *testing.T) {
	d := config.Defaults()
	d.Entra.TenantID, d.Entra.ClientID = "72f988bf-86f1-41af-91ab-2d7cd011db47", "11111111-2222-4333-8444-555555555555"
	ec := entraConfig(d)
	if string(ec.Scope) != "app-assignments" || ec.ThrottleBudget != 10*time.Minute ||
		ec.GraphScope != "https://graph.microsoft.com/.default" || ec.AuthorityHost != "https://login.microsoftonline.com/" {
		t.Errorf("entra config %s budget %s", ec, ec.ThrottleBudget)
	}
	d.Entra.GraphBaseURL, d.Entra.GraphScope = "https://graph-gw.contoso.net/v1.0", "https://graph.microsoft.com/.default"
	if ec := entraConfig(d); ec.GraphBaseURL != "https://graph-gw.contoso.net" || ec.GraphScope != "https://graph.microsoft.com/.default" {
		t.Errorf("behind a gateway: %s", ec)
	}

	d.Salesforce.ClientID = "app"
	sc, err := salesforceConfig(d, "idl-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.APIVersion != "62.0" || sc.RequestTimeout != time.Minute || sc.Retry.MaxAttempts != 5 || sc.QueryBatchSize != 2000 || sc.Audience != "login" {
		t.Errorf("salesforce config %+v", sc)
	}

	d.Bridge.Issuers = []config.BridgeIssuer{{Provider: "EntraID", Issuer: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", Audiences: []string{"app"}}}
	for _, tc := range []struct {
		name   string
		mod    func(*config.Bridge)
		listen string
		leeway time.Duration
	}{
		{"plain HTTP behind a proxy", func(*config.Bridge) {}, ":8080", time.Minute},
		{"with a certificate", func(b *config.Bridge) { b.TLSCertFile, b.TLSKeyFile = "c.pem", "k.pem" }, ":8443", time.Minute},
		{"explicit listen", func(b *config.Bridge) { b.Listen = "127.0.0.1:9000" }, "127.0.0.1:9000", time.Minute},
		{"no leeway stays none", func(b *config.Bridge) { b.Leeway = 0 }, ":8080", 0},
	} {
		c := d
		tc.mod(&c.Bridge)
		bc, err := BridgeConfig(c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if bc.ListenAddr != tc.listen || bc.Leeway != tc.leeway || bc.EmailPolicy != "never" || bc.FlushInterval != 30*time.Second ||
			bc.JWKSRefreshInterval != time.Hour || bc.JWKSMinRefreshInterval != time.Minute || bc.OpsAddr != "127.0.0.1:9465" {
			t.Errorf("%s: bridge config %+v", tc.name, bc)
		}
	}
}
