package scenario

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// messSituation is the package comment's table, written down again here so
// that a change to either side shows. "" means no expectation.
var messSituation = map[Mess]identity.Situation{
	MessClean:                 identity.Unlinked,
	MessSignedIn:              identity.Unlinked,
	MessLinked:                identity.Linked,
	MessJITDuplicate:          identity.Misrouted,
	MessRenamedUPN:            identity.Unlinked,
	MessUPNOnly:               identity.Unlinked,
	MessDisabled:              identity.Deprovisioned,
	MessSoftDeleted:           identity.Deprovisioned,
	MessHardDeleted:           identity.Orphaned, // under the Salesforce user's key
	MessDuplicateFederationID: identity.Disputed,
	MessUnprovisioned:         identity.Unmatched,
	MessOutOfScope:            "",
	MessNestedOnly:            "",
	MessManualOrphan:          identity.Orphaned,
	MessLeftoverOrphan:        identity.Orphaned,
	MessIntegration:           identity.Orphaned,
}

// messOfKey maps an expectation back to the mess that produced it.
func messOfKey(t testing.TB, w *World, key string) Mess {
	t.Helper()
	switch {
	case strings.HasPrefix(key, KeyEntra):
		i, ok := w.EntraIndex(strings.TrimPrefix(key, KeyEntra))
		if !ok {
			t.Fatalf("expectation key %q names no Entra user", key)
		}
		return w.EntraMess(i)
	case strings.HasPrefix(key, KeySalesforce):
		k, ok := w.SalesforceIndex(strings.TrimPrefix(key, KeySalesforce))
		if !ok {
			t.Fatalf("expectation key %q names no Salesforce user", key)
		}
		role, owner := w.SalesforceRole(k)
		switch role {
		case RoleManualOrphan:
			return MessManualOrphan
		case RoleLeftoverOrphan:
			return MessLeftoverOrphan
		case RoleIntegration:
			return MessIntegration
		}
		if owner < 0 {
			t.Fatalf("Salesforce user %s has role %v and no owner", key, role)
		}
		return w.EntraMess(owner)
	}
	t.Fatalf("malformed expectation key %q", key)
	return 0
}

// signInProviders maps each signed-in oid to the provider its
// ThirdPartyAccountLink was made with, found through the Subject function.
func signInProviders(w *World) map[string]string {
	bySub := map[string]string{}
	for _, l := range w.AccountLinks {
		bySub[l.Provider+" "+l.RemoteIdentifier] = l.Provider
	}
	out := map[string]string{}
	for _, u := range w.Entra {
		for _, p := range w.Providers {
			if name, ok := bySub[p.Name+" "+w.Subject(p.ClientID, u.ObjectID)]; ok {
				out[u.ObjectID] = name
			}
		}
	}
	return out
}

func TestExpectedFollowsTheMessTable(t *testing.T) {
	for _, cfg := range []Config{
		{Seed: 1, Users: 3000},
		{Seed: 2, Users: 2500, SandboxName: "qa1"},
		{Seed: 3, Users: 2000, Providers: []identity.Provider{{Name: "Entra_Sales", ClientID: "c1"}, {Name: "Entra_Service", ClientID: "c2"}, {Name: "B2C_Partners", ClientID: "c3", Strategy: identity.StrategyObjectID}}},
	} {
		t.Run(fmt.Sprintf("seed%d", cfg.Seed), func(t *testing.T) {
			w := generate(t, cfg)
			exps := w.Expected()
			signedInWith := signInProviders(w)
			seen := map[string]bool{}
			entraKeys := map[string]int{}
			for _, e := range exps {
				id := e.Provider + " " + e.Key
				if seen[id] {
					t.Fatalf("two expectations for %s", id)
				}
				seen[id] = true
				if strings.HasPrefix(e.Key, KeyEntra) {
					entraKeys[e.Key]++
				}
				m := messOfKey(t, w, e.Key)
				want := messSituation[m]
				if m == MessSignedIn || m == MessLinked || m == MessJITDuplicate {
					oid := strings.TrimPrefix(e.Key, KeyEntra)
					if e.Provider != signedInWith[oid] {
						want = identity.Unlinked // the sign-in happened with another provider
					}
				}
				if e.Situation != want {
					t.Errorf("%s (%v) for %s: %s because %q, want %s", e.Key, m, e.Provider, e.Situation, e.Why, want)
				}
				if e.Why == "" {
					t.Errorf("%s: no reason given", e.Key)
				}
			}
			// Every Entra user whose mess has a situation is there once per
			// provider, the others not at all.
			for i, u := range w.Entra {
				m := w.EntraMess(i)
				want := len(w.Providers)
				if messSituation[m] == "" || m == MessHardDeleted {
					want = 0
				}
				if got := entraKeys[KeyEntra+u.ObjectID]; got != want {
					t.Errorf("%v user %s: %d expectations, want %d", m, u.ObjectID, got, want)
				}
			}
			counts := CountSituations(exps)
			for _, s := range identity.Situations {
				if counts[s] == 0 {
					t.Errorf("no %s identity in the default world: %v", s, counts)
				}
			}
		})
	}
}

func TestPristineWorldIsAllUnlinked(t *testing.T) {
	w := generate(t, Config{Seed: 4, Users: 300, Rates: &Rates{}, NoIntegrationUsers: true})
	counts := CountSituations(w.Expected())
	if counts[identity.Unlinked] != 300 || len(w.Salesforce) != 300 || len(w.AccountLinks) != 0 {
		t.Fatalf("pristine world: %v, %d Salesforce users, %d links", counts, len(w.Salesforce), len(w.AccountLinks))
	}
	for _, s := range identity.Situations {
		if s != identity.Unlinked && counts[s] != 0 {
			t.Errorf("pristine world has %d %s", counts[s], s)
		}
	}
}

// summary renders counts per mess and situation: the golden file is the
// package comment's table with numbers.
func summary(t testing.TB, w *World) string {
	var b strings.Builder
	cfg := w.Config()
	fmt.Fprintf(&b, "seed %d, %d Entra users, %d Salesforce users, %d ThirdPartyAccountLinks, %d Identity_Link__c, %d observations, %d groups, %d assignments, providers %d\n",
		cfg.Seed, len(w.Entra), len(w.Salesforce), len(w.AccountLinks), len(w.IdentityLinks), len(w.Observations), len(w.Groups), len(w.Assignments), len(w.Providers))
	fmt.Fprintf(&b, "tenant %s, first oid %s, first Salesforce user %s %s\n\n", w.TenantID, w.Entra[0].ObjectID, w.Salesforce[0].ID, w.Salesforce[0].Username)
	exps := w.Expected()
	cross := map[Mess]map[identity.Situation]int{}
	for _, e := range exps {
		m := messOfKey(t, w, e.Key)
		if cross[m] == nil {
			cross[m] = map[identity.Situation]int{}
		}
		cross[m][e.Situation]++
	}
	counts := w.MessCounts()
	fmt.Fprintf(&b, "%-24s %6s  %s\n", "mess", "count", "expected situations")
	for _, m := range Messes() {
		var parts []string
		for _, s := range identity.Situations {
			if n := cross[m][s]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", s, n))
			}
		}
		if len(parts) == 0 {
			parts = []string{"(none)"}
		}
		fmt.Fprintf(&b, "%-24s %6d  %s\n", m, counts[m], strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "\n%-24s %6s\n", "situation", "count")
	sc := CountSituations(exps)
	for _, s := range identity.Situations {
		fmt.Fprintf(&b, "%-24s %6d\n", s, sc[s])
	}
	whys := map[string]int{}
	for _, e := range exps {
		whys[string(e.Situation)+": "+e.Why]++
	}
	keys := make([]string, 0, len(whys))
	for k := range whys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("\nreasons\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%6d  %s\n", whys[k], k)
	}
	return b.String()
}

func TestSummaryGolden(t *testing.T) {
	for _, tt := range []struct {
		file string
		cfg  Config
	}{
		{"summary-default.golden", Config{Seed: 20261123, Users: 4000}},
		{"summary-sandbox-two-providers.golden", Config{Seed: 7, Users: 1500, SandboxName: "uat", IntegrationUsers: 2,
			Providers: []identity.Provider{{Name: "Entra_Sales", ClientID: "11111111-1111-1111-1111-111111111111"}, {Name: "Entra_Service", ClientID: "22222222-2222-2222-2222-222222222222"}}}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got := summary(t, generate(t, tt.cfg))
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestSummaryGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("summary differs from %s (rerun with -update if intended):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}
