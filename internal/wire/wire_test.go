package wire

import (
	"testing"

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
