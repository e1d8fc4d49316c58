package reconcile

import (
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// stages are assessActive's stages in their order; each test runs the ones
// before its own, which must let the case through.
var stages = []struct {
	name string
	run  func(*planner, *activeCase) bool
}{
	{"matched", (*planner).matched},
	{"resolveSubject", (*planner).resolveSubject},
	{"contradictions", (*planner).contradictions},
	{"bindings", (*planner).bindings},
	{"routing", (*planner).routing},
}

// TestAssessStages checks each stage of assessActive on its own: the cases
// it settles (and as what) and the ones it lets through (and what it leaves
// in the case for the next stage). The identity under test is oid(1).
func TestAssessStages(t *testing.T) {
	b2c := withCfg(func(c *Config) {
		c.Providers = []ProviderConfig{{Provider: identity.Provider{Name: pB, Strategy: identity.StrategyObjectID}}}
	})
	kc := withCfg(func(c *Config) {
		c.Providers = []ProviderConfig{{Provider: identity.Provider{Name: pK, Strategy: identity.StrategyPairwise}, Pairwise: kcRecipe}}
	})
	mail := func(m string) func(*identity.SalesforceUser) { return func(u *identity.SalesforceUser) { u.Email = m } }
	one := []identity.EntraUser{eu(1)}
	matchedA := []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1))}

	tests := []struct {
		name    string
		stage   string
		cfg     Config
		w       world
		settles identity.Situation // "": the stage lets the case through
		detail  string             // in the settled assessment's detail
		check   func(*testing.T, *planner, *activeCase)
	}{
		{name: "a match goes on with its rule", stage: "matched", cfg: observedCfg(),
			w: world{entra: one, sf: matchedA},
			check: func(t *testing.T, p *planner, x *activeCase) {
				if x.a.Rule != identity.RuleObjectID {
					t.Errorf("rule %q", x.a.Rule)
				}
			}},
		{name: "no match: unmatched", stage: "matched", cfg: observedCfg(),
			w:       world{entra: one, sf: []identity.SalesforceUser{su(2, "other@contoso.com", "")}},
			settles: identity.Unmatched, detail: "no Salesforce user matches"},
		{name: "no match, same email: unmatched with a candidate", stage: "matched", cfg: observedCfg(),
			w:       world{entra: one, sf: []identity.SalesforceUser{su(2, "other@contoso.com", "", mail("u1@contoso.com"))}},
			settles: identity.Unmatched, detail: "a candidate only"},
		{name: "no match but a live link: disputed", stage: "matched", cfg: observedCfg(),
			w: world{entra: one, sf: []identity.SalesforceUser{su(2, "other@contoso.com", "")},
				links: []identity.Link{link(pE, "sub1", 2, 1, identity.LinkActive)}},
			settles: identity.Disputed, detail: "a link points at " + sfid(2)},

		{name: "observed, no subject yet: unlinked", stage: "resolveSubject", cfg: observedCfg(),
			w: world{entra: one, sf: matchedA}, settles: identity.Unlinked, detail: "subject not known yet"},
		{name: "observed, one subject", stage: "resolveSubject", cfg: observedCfg(),
			w:     world{entra: one, sf: matchedA, obs: []identity.Observation{obs(pE, "sub1", 1)}},
			check: wantSubject("sub1")},
		{name: "observed, two subjects: disputed", stage: "resolveSubject", cfg: observedCfg(),
			w:       world{entra: one, sf: matchedA, obs: []identity.Observation{obs(pE, "sub1", 1), obs(pE, "sub2", 1)}},
			settles: identity.Disputed, detail: "several subjects"},
		{name: "object-id strategy computes the subject", stage: "resolveSubject", cfg: b2c,
			w: world{entra: one, sf: matchedA}, check: wantSubject(oid(1))},
		{name: "pairwise strategy computes the subject", stage: "resolveSubject", cfg: kc,
			w: world{entra: one, sf: matchedA}, check: wantSubject(kcRecipe.Subject(oid(1)))},

		{name: "observed subjects contradict nothing", stage: "contradictions", cfg: observedCfg(),
			w: world{entra: one, sf: matchedA, obs: []identity.Observation{obs(pB, "x", 1), obs(pE, "sub1", 1)}}},
		{name: "computed subject agrees with the observation", stage: "contradictions", cfg: b2c,
			w: world{entra: one, sf: matchedA, obs: []identity.Observation{obs(pB, oid(1), 1)}}},
		{name: "computed subject, another observed: disputed", stage: "contradictions", cfg: b2c,
			w:       world{entra: one, sf: matchedA, obs: []identity.Observation{obs(pB, "other", 1)}},
			settles: identity.Disputed, detail: "subject other was observed"},
		{name: "computed subject, Salesforce signs in another: disputed", stage: "contradictions", cfg: b2c,
			w:       world{entra: one, sf: matchedA, tpal: []identity.ThirdPartyAccountLink{tpal(pB, "other", 1)}},
			settles: identity.Disputed, detail: "signs in with subject other"},

		{name: "subject bound to nobody else", stage: "bindings", cfg: observedCfg(),
			w: world{entra: one, sf: matchedA, obs: []identity.Observation{obs(pE, "sub1", 1)}},
			check: func(t *testing.T, p *planner, x *activeCase) {
				if p.takenOver[0]["sub1"] {
					t.Error("nothing to take over")
				}
			}},
		{name: "subject also observed for another user: disputed", stage: "bindings", cfg: observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(2)}, sf: matchedA,
				obs: []identity.Observation{obs(pE, "sub1", 1), obs(pE, "sub1", 2)}},
			settles: identity.Disputed, detail: "also observed for Entra user " + oid(2)},
		{name: "a link binds the subject to another active user: disputed", stage: "bindings", cfg: observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(2)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u2@contoso.com", oid(2))},
				obs: []identity.Observation{obs(pE, "sub1", 1)}, links: []identity.Link{link(pE, "sub1", 2, 2, identity.LinkActive)}},
			settles: identity.Disputed, detail: "to another Entra user (" + oid(2) + ")"},
		{name: "a link of a vanished user is taken over", stage: "bindings", cfg: observedCfg(),
			w: world{entra: one, sf: matchedA,
				obs: []identity.Observation{obs(pE, "sub1", 1)}, links: []identity.Link{link(pE, "sub1", 1, 3, identity.LinkActive)}},
			check: func(t *testing.T, p *planner, x *activeCase) {
				if !p.takenOver[0]["sub1"] {
					t.Error("the vanished user's link is not taken over")
				}
			}},

		{name: "Salesforce signs the subject in as the matched user", stage: "routing", cfg: observedCfg(),
			w: world{entra: one, sf: matchedA, tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 1)}},
			check: func(t *testing.T, p *planner, x *activeCase) {
				if x.misrouted {
					t.Error("misrouted")
				}
			}},
		{name: "Salesforce signs the subject in as a JIT duplicate: misrouted", stage: "routing", cfg: observedCfg(),
			w: world{entra: one, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "jit@contoso.com", "")},
				obs: []identity.Observation{obs(pE, "sub1", 1)}, tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)}},
			check: func(t *testing.T, p *planner, x *activeCase) {
				if !x.misrouted || x.dupID != sfid(2) {
					t.Errorf("misrouted %v to %q", x.misrouted, x.dupID)
				}
			}},
		{name: "Salesforce signs the subject in as another person's account: disputed", stage: "routing", cfg: observedCfg(),
			w: world{entra: []identity.EntraUser{eu(1), eu(2)}, sf: []identity.SalesforceUser{su(1, "u1@contoso.com", oid(1)), su(2, "u2@contoso.com", oid(2))},
				obs: []identity.Observation{obs(pE, "sub1", 1)}, tpal: []identity.ThirdPartyAccountLink{tpal(pE, "sub1", 2)}},
			settles: identity.Disputed, detail: "which another Entra user matches"},
	}
	for _, tc := range tests {
		t.Run(tc.stage+"/"+tc.name, func(t *testing.T) {
			p, x := caseOf(t, tc.cfg, tc.w, oid(1))
			for _, st := range stages {
				through := st.run(p, x)
				if st.name != tc.stage {
					if !through {
						t.Fatalf("stage %s settled the case before %s: %+v", st.name, tc.stage, assessmentStrings(&p.assessments))
					}
					continue
				}
				if tc.settles == "" {
					if !through || p.assessments.Len() > 0 {
						t.Fatalf("%s settled the case: %+v", st.name, assessmentStrings(&p.assessments))
					}
					if tc.check != nil {
						tc.check(t, p, x)
					}
					return
				}
				if through || p.assessments.Len() != 1 {
					t.Fatalf("%s let the case through (assessments %+v)", st.name, assessmentStrings(&p.assessments))
				}
				if a := p.assessments.At(0); a.Situation != tc.settles || !strings.Contains(a.Detail, tc.detail) {
					t.Errorf("settled as %s (%q), want %s with %q", a.Situation, a.Detail, tc.settles, tc.detail)
				}
				return
			}
			t.Fatalf("no stage %q", tc.stage)
		})
	}
}

// caseOf prepares a planner over w and starts the case of the Entra user o
// under the first provider, as entraPass would.
func caseOf(t *testing.T, cfg Config, w world, o string) (*planner, *activeCase) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := w.snapshot(t)
	p := newPlanner(cfg, s)
	p.prepare()
	if i, ok := s.entraIdx(o); ok {
		e := s.entraAt(i)
		return p, p.newCase(&e, p.match[i], 0)
	}
	t.Fatalf("no Entra user %s", o)
	return nil, nil
}

func wantSubject(sub string) func(*testing.T, *planner, *activeCase) {
	return func(t *testing.T, p *planner, x *activeCase) {
		if x.sub != sub || x.a.Subject != sub {
			t.Errorf("subject %q (assessment %q), want %q", x.sub, x.a.Subject, sub)
		}
	}
}
