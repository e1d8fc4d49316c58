package main

import (
	"os"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
	"github.com/idlinkhq/idlink/internal/sim/sfsim"
)

// TestMassChangesHeld: after a successful run with links in place, a
// configuration change that would link everyone anew (strategy switched to
// object-id) or drop linked coverage (provider renamed) holds the run like
// mass revokes do, and nothing is written.
func TestMassChangesHeld(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		edit   func(yaml, provider string) string
		reason string
	}{
		{"strategy switched", func(y, _ string) string {
			return strings.Replace(y, "    strategy: observed\n", "    strategy: object-id\n", 1)
		}, "links with computed subjects"},
		{"provider renamed", func(y, p string) string {
			return strings.ReplaceAll(strings.ReplaceAll(y, "  - name: "+p+"\n", "  - name: "+p+"Renamed\n"), "provider: "+p+"\n", "provider: "+p+"Renamed\n")
		}, "linked coverage would drop"},
		{"provider renamed to one the org does not have", func(y, p string) string {
			return strings.ReplaceAll(strings.ReplaceAll(y, "  - name: "+p+"\n", "  - name: Okta\n"), "provider: "+p+"\n", "provider: Okta\n")
		}, `"Okta" is no Auth. Provider of this org`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, b string) {
				// The production safety defaults, not the harness's relaxed ones.
				h := newHarness(t, b, harnessOptions{Scenario: scenario.Config{Seed: 33, Users: 400},
					Edit: func(y string) string { return strings.Replace(y, defaultSafety, "", 1) }})
				h.mustRun(0, "backfill")
				st := h.store()
				bf := h.latestRun(st)
				if bf.Counts["situation.linked"] < 20 {
					t.Fatalf("only %d linked after the backfill", bf.Counts["situation.linked"])
				}
				before := h.links(st)
				orgBefore := len(h.orgLinks())
				raw, err := os.ReadFile(h.cfgPath)
				if err != nil {
					t.Fatal(err)
				}
				edited := tc.edit(string(raw), h.w.Provider.Name)
				if edited == string(raw) {
					t.Fatal("the edit changed nothing in the config")
				}
				if err := os.WriteFile(h.cfgPath, []byte(edited), 0o600); err != nil {
					t.Fatal(err)
				}
				// The renamed provider exists in the org (an admin made a new
				// Auth. Provider) but holds no links yet.
				if _, err := h.w.Org.AddAuthProvider(sfsim.AuthProvider{DeveloperName: h.w.Provider.Name + "Renamed"}); err != nil {
					t.Fatal(err)
				}
				want, also := ExitHeld, "--override"
				if strings.Contains(tc.name, "does not have") {
					want, also = ExitFailure, "developer name"
				}
				r := h.mustRun(want, "run")
				mustContain(t, r, tc.name, tc.reason, also)
				after := h.links(st)
				if len(after) != len(before) {
					t.Errorf("a held run changed idlink's links: %d before, %d after", len(before), len(after))
				}
				for k, l := range before {
					if after[k].Status != l.Status {
						t.Errorf("link %s changed from %s to %s by a held run", k, l.Status, after[k].Status)
					}
				}
				if n := len(h.orgLinks()); n != orgBefore {
					t.Errorf("a held run wrote Identity_Link__c rows: %d before, %d after", orgBefore, n)
				}
			})
		})
	}
}

// TestFriendlyProviderNameLinksRead: an org whose ThirdPartyAccountLink rows
// carry the Auth. Provider's friendly name in SsoProviderName (Salesforce
// documents only "the name associated with the AuthProvider") is read in
// full with the developer name configured, and the links come out as in an
// org that carries the developer name.
func TestFriendlyProviderNameLinksRead(t *testing.T) {
	t.Parallel()
	counts := map[bool]int64{}
	for _, friendly := range []bool{false, true} {
		h := newHarness(t, backendSQLite, harnessOptions{Scenario: scenario.Config{Seed: 34, Users: 300}})
		h.w.Org.SetSsoProviderNameFriendly(friendly)
		h.mustRun(0, "backfill")
		st := h.store()
		stored := 0
		if err := st.ScanAccountLinks(h.ctx, func(identity.ThirdPartyAccountLink) error { stored++; return nil }); err != nil {
			t.Fatal(err)
		}
		if want := len(h.w.Org.AccountLinks()); stored != want {
			t.Errorf("friendly=%v: stored %d ThirdPartyAccountLink rows, the org has %d", friendly, stored, want)
		}
		counts[friendly] = h.latestRun(st).Counts["situation.linked"]
	}
	if counts[false] == 0 || counts[true] != counts[false] {
		t.Errorf("linked after the backfill: %d with developer names, %d with friendly names; want equal and > 0", counts[false], counts[true])
	}
}
