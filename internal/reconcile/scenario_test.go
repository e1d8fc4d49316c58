package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// snapshotOfWorld loads a generated world as a run would read it: Entra users
// (soft- and hard-deleted included), Salesforce users, ThirdPartyAccountLink
// rows, the earlier run's links (in idlink's store and as Identity_Link__c
// rows) and the bridge's observations.
func snapshotOfWorld(t testing.TB, w *scenario.World) *Snapshot {
	t.Helper()
	s := NewSnapshot()
	var err error
	for _, u := range w.Entra {
		err = errorsJoin(err, s.AddEntraUser(u))
	}
	for _, u := range w.Salesforce {
		err = errorsJoin(err, s.AddSalesforceUser(u))
	}
	for _, l := range w.AccountLinks {
		err = errorsJoin(err, s.AddAccountLink(l))
	}
	for _, r := range w.IdentityLinks {
		err = errorsJoin(err, s.AddLink(r.Link))
		err = errorsJoin(err, s.AddRemoteLink(r.Link))
	}
	for _, o := range w.Observations {
		err = errorsJoin(err, s.AddObservation(o))
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func configOfWorld(w *scenario.World) Config {
	var c Config
	for _, p := range w.Providers {
		c.Providers = append(c.Providers, ProviderConfig{Provider: p})
	}
	if suf := w.SandboxSuffix(); suf != "" {
		c.UPNRewrites = []SuffixRewrite{{From: "@" + w.Domain, To: "@" + w.Domain + suf}}
	}
	return shipped(c)
}

// TestScenarioSituations compares the engine's situations with the ones the
// simulator's scenario generator expects, identity by identity.
func TestScenarioSituations(t *testing.T) {
	cases := []scenario.Config{
		{Seed: 1, Users: 3000},
		{Seed: 2, Users: 2000, SandboxName: "uat"},
		{Seed: 3, Users: 2000, Providers: []identity.Provider{
			{Name: "EntraID", ClientID: "11111111-1111-4111-8111-111111111111", Strategy: identity.StrategyObserved},
			{Name: "EntraPortal", ClientID: "22222222-2222-4222-8222-222222222222", Strategy: identity.StrategyObserved},
		}},
	}
	for ci, sc := range cases {
		t.Run(fmt.Sprintf("seed%d-%s", sc.Seed, sc.SandboxName), func(t *testing.T) {
			w, err := scenario.Generate(sc)
			if err != nil {
				t.Fatal(err)
			}
			if ci == 0 {
				mutate(t, w)
			}
			cfg := configOfWorld(w)
			r, err := Plan(cfg, snapshotOfWorld(t, w))
			if err != nil {
				t.Fatal(err)
			}
			// The engine's view, keyed like the generator's.
			got := map[string]identity.Assessment{}
			for _, a := range r.Assessments.All() {
				var keys []string
				switch {
				case a.ObjectID != "":
					keys = []string{a.Provider + "|" + scenario.KeyEntra + a.ObjectID}
				default: // an orphaned Salesforce user belongs to no provider
					for _, p := range w.Providers {
						keys = append(keys, p.Name+"|"+scenario.KeySalesforce+a.SalesforceUserID)
					}
				}
				for _, k := range keys {
					if prev, dup := got[k]; dup {
						t.Fatalf("two assessments for %s: %+v and %+v", k, prev, a)
					}
					got[k] = a
				}
			}
			want := map[string]scenario.Expectation{}
			for _, e := range w.Expected() {
				want[e.Provider+"|"+e.Key] = e
			}
			var problems []string
			for k, e := range want {
				a, ok := got[k]
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("%s: want %s (%s), engine has no assessment", k, e.Situation, e.Why))
				case a.Situation != e.Situation:
					problems = append(problems, fmt.Sprintf("%s: want %s (%s), got %s (%s)", k, e.Situation, e.Why, a.Situation, a.Detail))
				}
			}
			for k, a := range got {
				if _, ok := want[k]; !ok {
					problems = append(problems, fmt.Sprintf("%s: engine says %s (%s), generator expects nothing", k, a.Situation, a.Detail))
				}
			}
			sort.Strings(problems)
			if len(problems) > 0 {
				t.Fatalf("%d of %d expectations differ:\n%s", len(problems), len(want), strings.Join(problems[:min(len(problems), 20)], "\n"))
			}
			counts := scenario.CountSituations(w.Expected())
			for _, s := range identity.Situations {
				if counts[s] == 0 && s != identity.Orphaned {
					t.Logf("note: no %s identity in this world", s)
				}
			}
			t.Logf("%d expectations matched: %v", len(want), counts)

			// Idempotence on a realistic world: apply everything, plan again.
			var links []identity.Link
			for _, r := range w.IdentityLinks {
				links = append(links, r.Link)
			}
			before := world{entra: w.Entra, sf: w.Salesforce, tpal: w.AccountLinks, links: links, remote: links, obs: w.Observations}
			after := applyPerfectly(before, r)
			r2, err := Plan(cfg, after.snapshot(t))
			if err != nil {
				t.Fatal(err)
			}
			if n := r2.WriteActions(); n != 0 || r.WriteActions() == 0 {
				t.Fatalf("first plan wrote %d, second %d (want >0 then 0)", r.WriteActions(), n)
			}
		})
	}
}

// mutate changes the Entra side after generation as admins do between runs:
// renames, disables, deletions, scope changes.
func mutate(t *testing.T, w *scenario.World) {
	t.Helper()
	n := 0
	for i := 0; i < len(w.Entra) && n < 60; i += 37 {
		u := w.Entra[i]
		if u.Deleted != identity.NotDeleted || u.Guest() {
			continue
		}
		var err error
		switch n % 5 {
		case 0:
			err = w.RenameUPN(u.ObjectID, fmt.Sprintf("renamed%d@%s", i, w.Domain))
		case 1:
			err = w.Disable(u.ObjectID)
		case 2:
			err = w.SoftDelete(u.ObjectID)
		case 3:
			if err = w.SoftDelete(u.ObjectID); err == nil {
				err = w.HardDelete(u.ObjectID)
			}
		case 4:
			err = w.Reassign(u.ObjectID, false)
		}
		if err != nil {
			t.Fatalf("mutate %s: %v", u.ObjectID, err)
		}
		n++
	}
}
