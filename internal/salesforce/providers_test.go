package salesforce

import (
	"context"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// TestProvidersResolvedByID: ThirdPartyAccountLink.SsoProviderName is
// documented only as "the name associated with the AuthProvider", so links
// are read by SsoProviderId of the provider's AuthProvider record, found by
// developer name or friendly name; rows are stored under the configured
// name; a provider reading nothing while others have links is named loudly.
func TestProvidersResolvedByID(t *testing.T) {
	const friendly = "Entra ID sign-in" // newSim's friendly name for provider
	tests := []struct {
		name         string
		configured   string
		friendlyName bool // the org's SsoProviderName holds the friendly name
		denied       bool // AuthProvider cannot be queried
		id           bool // providers[].auth_provider_id given
		other        bool // a second Auth. Provider holds links too
		wantLinks    int
		wantErr      string
		wantNote     string
		requests     int
	}{
		{name: "developer name, SsoProviderName holds the developer name", configured: provider, wantLinks: 5, requests: 3},
		{name: "developer name, SsoProviderName holds the friendly name", configured: provider, friendlyName: true, wantLinks: 5, requests: 3},
		{name: "friendly name configured", configured: friendly, friendlyName: true, wantLinks: 5, requests: 3},
		{name: "friendly name in other letter case", configured: strings.ToUpper(friendly), wantLinks: 5, requests: 3},
		{name: "unknown name: an error naming the org's providers", configured: "Okta", wantErr: `"Okta" is no Auth. Provider of this org`},
		{name: "id configured: no AuthProvider query needed", configured: provider, friendlyName: true, denied: true, id: true, wantLinks: 5, requests: 2},
		{name: "AuthProvider denied: read by name, with a note", configured: provider, denied: true, wantLinks: 5, wantNote: "auth_provider_id", requests: 3},
		{name: "AuthProvider denied and the name differs: 0 links, named loudly", configured: provider, denied: true, friendlyName: true, other: true, wantLinks: 0, wantNote: "read no ThirdPartyAccountLink rows, but the org holds links of other Auth. Providers (" + friendly + ", Google)", requests: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSim(t, 10, 5)
			org := srv.Org
			org.SetSsoProviderNameFriendly(tc.friendlyName)
			org.SetAuthProviderQueryDenied(tc.denied)
			if tc.other {
				if _, err := org.AddAuthProvider(sfsim.AuthProvider{DeveloperName: "Google", ProviderType: "Google"}); err != nil {
					t.Fatal(err)
				}
				users := org.Users()
				if _, err := org.AddAccountLink(identity.ThirdPartyAccountLink{Provider: "Google", RemoteIdentifier: "g-1", UserID: users[7].ID}); err != nil {
					t.Fatal(err)
				}
			}
			cfg := ccConfig(srv)
			cfg.Providers = []string{tc.configured}
			if tc.id {
				cfg.ProviderIDs = map[string]string{tc.configured: org.AuthProviders()[0].ID}
			}
			c := newClient(t, cfg)
			st, run := openStore(t)
			before := c.Stats().APIRequests
			n, _, notes, err := c.ReadAccountLinks(context.Background(), st, run)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), provider) {
					t.Fatalf("err %v, want %q naming the org's providers", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantLinks {
				t.Errorf("read %d links, want %d", n, tc.wantLinks)
			}
			joined := strings.Join(notes, "\n")
			if tc.wantNote == "" && joined != "" || !strings.Contains(joined, tc.wantNote) {
				t.Errorf("notes %q, want %q", joined, tc.wantNote)
			}
			if got := c.Stats().APIRequests - before; tc.requests != 0 && got != int64(tc.requests) {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			err = st.ScanAccountLinks(context.Background(), func(l identity.ThirdPartyAccountLink) error {
				if l.Provider != tc.configured {
					t.Errorf("link stored under provider %q, want the configured %q", l.Provider, tc.configured)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
