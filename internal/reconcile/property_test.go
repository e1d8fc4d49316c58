package reconcile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// randomWorld builds a small world dense with collisions: shared UPNs,
// FederationIdentifiers in odd spellings, reused subs, conflicting
// observations, stale links and decisions.
func randomWorld(rng *rand.Rand) world { return randomIsland(rng, 0) }

// randomIsland is randomWorld with ids, names and subjects of its own when
// island > 0: islands share no key, as far-apart parts of a tenant.
func randomIsland(rng *rand.Rand, island int) world {
	var w world
	base := 1000 * island
	tag := ""
	if island > 0 {
		tag = fmt.Sprintf("i%d.", island)
	}
	nE, nS := 1+rng.IntN(12), 1+rng.IntN(12)
	names := []string{"ann", "bob", "cyd", "dee", "eve", "fay"}
	upn := func() string {
		d := []string{"@contoso.com", "@CONTOSO.com", "@fabrikam.com"}[rng.IntN(3)]
		return tag + names[rng.IntN(len(names))] + d
	}
	fed := func() string {
		switch rng.IntN(6) {
		case 0:
			return ""
		case 1:
			return "{" + strings.ToUpper(oid(base+1+rng.IntN(nE+2))) + "}"
		case 2:
			return upn() // a FederationIdentifier that is no GUID
		default:
			return oid(base + 1 + rng.IntN(nE+2))
		}
	}
	for i := 1; i <= nE; i++ {
		u := eu(base + i)
		u.UPN = upn()
		if rng.IntN(8) == 0 {
			u.UPN = ""
		}
		u.Mail = upn()
		u.AccountEnabled = rng.IntN(5) != 0
		u.InScope = rng.IntN(4) != 0
		switch rng.IntN(10) {
		case 0:
			u.Deleted = identity.SoftDeleted
		case 1:
			u.Deleted = identity.HardDeleted
		}
		if rng.IntN(8) == 0 {
			u.UserType = "Guest"
		}
		w.entra = append(w.entra, u)
	}
	for i := 1; i <= nS; i++ {
		u := su(base+i, upn(), fed())
		if rng.IntN(3) == 0 {
			u.Username += ".uat"
		}
		u.Email = upn()
		u.IsActive = rng.IntN(4) != 0
		if rng.IntN(6) == 0 {
			u.UserType = "AutomatedProcess"
		}
		w.sf = append(w.sf, u)
	}
	provs := []string{pE, pB, pK}
	sub := func(p string) string {
		switch {
		case p == pB && rng.IntN(2) == 0:
			return oid(base + 1 + rng.IntN(nE+2))
		case p == pK && rng.IntN(2) == 0:
			return kcRecipe.Subject(oid(base + 1 + rng.IntN(nE+2)))
		}
		return fmt.Sprintf("%ss%d", tag, rng.IntN(6))
	}
	tp := map[string]bool{}
	for range rng.IntN(8) {
		p := provs[rng.IntN(3)]
		l := tpal(p, sub(p), base+1+rng.IntN(nS))
		if !tp[p+l.RemoteIdentifier] {
			tp[p+l.RemoteIdentifier] = true
			w.tpal = append(w.tpal, l)
		}
	}
	for range rng.IntN(8) {
		p := provs[rng.IntN(3)]
		w.obs = append(w.obs, obs(p, sub(p), base+1+rng.IntN(nE+2)))
	}
	statuses := []identity.LinkStatus{identity.LinkActive, identity.LinkActive, identity.LinkProposed, identity.LinkRevoked}
	seen := map[string]bool{}
	for range rng.IntN(8) {
		p := provs[rng.IntN(3)]
		l := link(p, sub(p), base+1+rng.IntN(nS+1), base+1+rng.IntN(nE+2), statuses[rng.IntN(4)])
		if rng.IntN(2) == 0 && !seen[l.Provider+l.Subject] {
			seen[l.Provider+l.Subject] = true
			w.links = append(w.links, l)
		}
		if rng.IntN(2) == 0 && l.Status != identity.LinkProposed {
			w.remote = append(w.remote, l)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range rng.IntN(4) {
		p := provs[rng.IntN(3)]
		w.decisions = append(w.decisions, identity.Decision{Provider: p, Subject: sub(p), SalesforceUserID: sfid(base + 1 + rng.IntN(nS)),
			ObjectID: oid(base + 1 + rng.IntN(nE)), Approved: rng.IntN(2) == 0, Actor: "admin", At: t0.Add(time.Duration(rng.IntN(3)) * time.Hour)})
	}
	// Identity_Link__c is unique per sub: keep the last row of each key.
	last := map[string]int{}
	for i, l := range w.remote {
		last[l.Provider+"/"+l.Subject] = i
	}
	var rem []identity.Link
	for i, l := range w.remote {
		if last[l.Provider+"/"+l.Subject] == i {
			rem = append(rem, l)
		}
	}
	w.remote = rem
	return w
}

func randomConfig(rng *rand.Rand) Config {
	c := Config{Providers: []ProviderConfig{
		{Provider: identity.Provider{Name: pE, Strategy: identity.StrategyObserved}},
		{Provider: identity.Provider{Name: pB, Strategy: identity.StrategyObjectID}},
		{Provider: identity.Provider{Name: pK, Strategy: identity.StrategyPairwise}, Pairwise: kcRecipe},
	}}
	if rng.IntN(2) == 0 {
		c.UPNRewrites = []SuffixRewrite{{From: "@contoso.com", To: "@contoso.com.uat"}}
	}
	switch rng.IntN(4) {
	case 0:
		c.Rules = []identity.Rule{identity.RuleUPN, identity.RuleObjectID}
	case 1:
		c.AutoLink = []identity.Rule{identity.RuleObjectID, identity.RuleUPN}
	case 2:
		c.Rules = []identity.Rule{identity.RuleObjectID}
	}
	if rng.IntN(2) == 0 {
		c.Orphans = OrphansProvisioned
	}
	return shipped(c)
}

func shuffled(rng *rand.Rand, w world) world {
	sh := func(n int, swap func(i, j int)) { rng.Shuffle(n, swap) }
	w.entra, w.sf, w.tpal = slices.Clone(w.entra), slices.Clone(w.sf), slices.Clone(w.tpal)
	w.links, w.remote, w.obs, w.decisions = slices.Clone(w.links), slices.Clone(w.remote), slices.Clone(w.obs), slices.Clone(w.decisions)
	sh(len(w.entra), func(i, j int) { w.entra[i], w.entra[j] = w.entra[j], w.entra[i] })
	sh(len(w.sf), func(i, j int) { w.sf[i], w.sf[j] = w.sf[j], w.sf[i] })
	sh(len(w.tpal), func(i, j int) { w.tpal[i], w.tpal[j] = w.tpal[j], w.tpal[i] })
	sh(len(w.links), func(i, j int) { w.links[i], w.links[j] = w.links[j], w.links[i] })
	sh(len(w.remote), func(i, j int) { w.remote[i], w.remote[j] = w.remote[j], w.remote[i] })
	sh(len(w.obs), func(i, j int) { w.obs[i], w.obs[j] = w.obs[j], w.obs[i] })
	sh(len(w.decisions), func(i, j int) { w.decisions[i], w.decisions[j] = w.decisions[j], w.decisions[i] })
	return w
}

// applyPerfectly plays the plan as a Salesforce that accepts every record:
// link changes go to idlink's links, all but proposals to Identity_Link__c.
func applyPerfectly(w world, r *Result) world {
	put := func(ls []identity.Link, l identity.Link) []identity.Link {
		for i := range ls {
			if ls[i].Key() == l.Key() {
				ls[i] = l
				return ls
			}
		}
		return append(ls, l)
	}
	w.links, w.remote = slices.Clone(w.links), slices.Clone(w.remote)
	for i, a := range r.Actions {
		switch a.Kind {
		case identity.ActionCreateLink, identity.ActionUpdateLink, identity.ActionRevokeLink:
			w.remote = put(w.remote, a.Link)
			if !r.remoteOnly(i) {
				w.links = put(w.links, a.Link)
			}
		case identity.ActionProposeLink:
			w.links = put(w.links, a.Link)
		}
	}
	return w
}

// checkInvariants checks what must hold for any world.
func checkInvariants(t *testing.T, cfg Config, w world, r *Result) {
	t.Helper()
	entra := map[string]identity.EntraUser{}
	for _, u := range w.entra {
		entra[u.ObjectID] = u
	}
	sf := map[string]identity.SalesforceUser{}
	for _, u := range w.sf {
		sf[u.ID] = u
	}
	// Exactly one situation per identity and provider.
	seen := map[string]bool{}
	orphaned := map[string]bool{}
	for _, a := range r.Assessments.All() {
		k := a.Provider + "|" + a.ObjectID + "|" + a.SalesforceUserID
		if a.ObjectID != "" {
			k = a.Provider + "|" + a.ObjectID
			if _, ok := entra[a.ObjectID]; !ok || entra[a.ObjectID].Deleted == identity.HardDeleted {
				k += "|" + a.Subject // links of vanished identities: one per link
			}
		}
		if seen[k] {
			t.Fatalf("two assessments for %s", k)
		}
		seen[k] = true
		if a.Situation == identity.Orphaned && a.ObjectID == "" {
			orphaned[a.SalesforceUserID] = true
		}
	}
	for _, a := range r.Actions {
		if a.Kind == identity.ActionFlag && a.Flag == FlagOrphan {
			orphaned[a.Link.SalesforceUserID] = true
		}
	}
	approved := map[string]bool{}
	for _, d := range w.decisions {
		approved[d.Provider+"|"+d.Subject+"|"+d.SalesforceUserID+"|"+d.ObjectID] = true
	}
	had := map[string]identity.Link{}
	for _, l := range w.links {
		had[l.Key().String()] = l
	}
	// One write per link key: Salesforce and the store see one final state.
	writes := map[string]identity.ActionKind{}
	for _, a := range r.Actions {
		if a.Kind == identity.ActionFlag {
			continue
		}
		k := a.Link.Key().String()
		if prev, dup := writes[k]; dup && !(prev == identity.ActionRevokeLink && a.Kind == identity.ActionProposeLink) {
			t.Fatalf("two writes for %s: %s and %s\n%v", k, prev, a.Kind, actionStrings(r.Actions))
		}
		writes[k] = a.Kind
	}
	upnAuto := slices.Contains(cfg.AutoLink, identity.RuleUPN)
	for _, a := range r.Actions {
		l := a.Link
		if a.Kind != identity.ActionCreateLink && a.Kind != identity.ActionUpdateLink && a.Kind != identity.ActionProposeLink {
			continue
		}
		u, ok := sf[l.SalesforceUserID]
		if !ok || !u.IsActive {
			t.Fatalf("%s to a missing or inactive Salesforce user: %+v", a.Kind, a)
		}
		if orphaned[l.SalesforceUserID] {
			t.Fatalf("%s to an orphaned Salesforce user: %+v", a.Kind, a)
		}
		e, ok := entra[l.ObjectID]
		if !ok || !e.Active() {
			t.Fatalf("%s for a missing or inactive Entra user: %+v", a.Kind, a)
		}
		fed, _ := identity.NormalizeGUID(u.FederationIdentifier)
		byOID := slices.Contains(cfg.Rules, identity.RuleObjectID) && fed == e.ObjectID
		byUPN := false
		if slices.Contains(cfg.Rules, identity.RuleUPN) && (fed == "" || !slices.Contains(cfg.Rules, identity.RuleObjectID)) {
			byUPN = upnMatchesOracle(e.UPN, u.Username, cfg.UPNRewrites)
		}
		if !byOID && !byUPN {
			t.Fatalf("%s not backed by an oid or UPN match (email alone?): %+v\n entra %+v\n sf %+v", a.Kind, a, e, u)
		}
		if l.Status == identity.LinkActive && !byOID && !upnAuto {
			prev := had[l.Key().String()]
			kept := prev.Status == identity.LinkActive && prev.SalesforceUserID == l.SalesforceUserID && prev.ObjectID == l.ObjectID
			if !approved[l.Provider+"|"+l.Subject+"|"+l.SalesforceUserID+"|"+l.ObjectID] && !kept {
				t.Fatalf("UPN-only link made active without approval: %+v", a)
			}
		}
	}
}

func TestPlanProperties(t *testing.T) {
	n := uint64(400)
	if v, err := strconv.ParseUint(os.Getenv("IDLINK_PROPERTY_SEEDS"), 10, 64); err == nil {
		n = v // e.g. IDLINK_PROPERTY_SEEDS=20000 for a longer search
	}
	for seed := range n {
		rng := rand.New(rand.NewPCG(seed, 7))
		w := randomWorld(rng)
		cfg := randomConfig(rng)
		r, err := Plan(cfg, w.snapshot(t))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			checkInvariants(t, cfg, w, r)

			// Determinism: the order records arrive in changes nothing.
			for range 3 {
				r2, err := Plan(cfg, shuffled(rng, w).snapshot(t))
				if err != nil {
					t.Fatal(err)
				}
				if !samePlan(r, r2) {
					t.Fatalf("plan depends on input order:%s", firstDifference(r, r2))
				}
			}

			// Fitting the loaded snapshot to its size (as LoadRest does)
			// changes nothing either.
			fitted := w.snapshot(t)
			fitted.fit()
			if r2, err := Plan(cfg, fitted); err != nil {
				t.Fatal(err)
			} else if !samePlan(r, r2) {
				t.Fatalf("plan of the fitted snapshot differs:%s", firstDifference(r, r2))
			}

			// Idempotence: after a successful apply, planning again writes nothing.
			w2 := applyPerfectly(w, r)
			r2, err := Plan(cfg, w2.snapshot(t))
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, cfg, w2, r2)
			if n := r2.WriteActions(); n != 0 {
				var writes []string
				for _, a := range r2.Actions {
					if a.Kind != identity.ActionFlag {
						writes = append(writes, string(a.Kind)+" "+a.Link.Key().String()+" -> "+a.Link.SalesforceUserID+": "+a.Reason)
					}
				}
				t.Fatalf("second plan after apply has %d writes:\n%s\nfirst plan: %v", n, strings.Join(writes, "\n"), actionStrings(r.Actions))
			}
		})
	}
}

// samePlan reports whether a and b hold the same plan: the same assessments
// (however they are held) and otherwise equal.
func samePlan(a, b *Result) bool {
	if a.Assessments.Len() != b.Assessments.Len() {
		return false
	}
	for i := range a.Assessments.Len() {
		if a.Assessments.At(i) != b.Assessments.At(i) {
			return false
		}
	}
	x, y := *a, *b
	x.Assessments, y.Assessments = Assessments{}, Assessments{}
	return reflect.DeepEqual(x, y)
}

func firstDifference(a, b *Result) string {
	for i := range min(a.Assessments.Len(), b.Assessments.Len()) {
		if x, y := a.Assessments.At(i), b.Assessments.At(i); x != y {
			return fmt.Sprintf("\nassessment %d:\n %+v\n %+v", i, x, y)
		}
	}
	for i := range min(len(a.Actions), len(b.Actions)) {
		if a.Actions[i] != b.Actions[i] {
			return fmt.Sprintf("\naction %d:\n %+v\n %+v", i, a.Actions[i], b.Actions[i])
		}
	}
	return fmt.Sprintf("\nlengths %d/%d %d/%d; disruptive %v %v; counts %v %v; Salesforce only %v %v", a.Assessments.Len(), b.Assessments.Len(),
		len(a.Actions), len(b.Actions), a.Disruptive, b.Disruptive, a.Counts, b.Counts, a.SalesforceOnly, b.SalesforceOnly)
}

// upnMatchesOracle says, independently of the planner's upnKeys, whether a
// userPrincipalName matches a Salesforce username: equal ignoring case and
// surrounding spaces, or equal once one configured suffix is rewritten.
func upnMatchesOracle(upn, username string, rewrites []SuffixRewrite) bool {
	u, n := strings.ToLower(strings.TrimSpace(upn)), strings.ToLower(strings.TrimSpace(username))
	if u == "" || n == "" {
		return false
	}
	if u == n {
		return true
	}
	for _, rw := range rewrites {
		from, to := strings.ToLower(rw.From), strings.ToLower(rw.To)
		if len(u) > len(from) && strings.HasSuffix(u, from) && strings.TrimSuffix(u, from)+to == n {
			return true
		}
	}
	return false
}
