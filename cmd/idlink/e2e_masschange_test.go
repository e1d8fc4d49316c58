package main

import (
	"os"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
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
				r := h.mustRun(ExitHeld, "run")
				mustContain(t, r, tc.name, tc.reason, "--override")
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
