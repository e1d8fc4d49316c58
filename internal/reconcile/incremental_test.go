package reconcile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// eachRecord calls fn with the keys of every record of w and a function that
// copies that record into another world.
func (w world) eachRecord(cfg Config, fn func(keys []Key, copyTo func(*world))) {
	for _, u := range w.entra {
		fn(cfg.EntraUserKeys(u), func(o *world) { o.entra = append(o.entra, u) })
	}
	for _, u := range w.sf {
		fn(SalesforceUserKeys(u), func(o *world) { o.sf = append(o.sf, u) })
	}
	for _, l := range w.tpal {
		fn(AccountLinkKeys(l), func(o *world) { o.tpal = append(o.tpal, l) })
	}
	for _, l := range w.links {
		fn(LinkKeys(l), func(o *world) { o.links = append(o.links, l) })
	}
	for _, l := range w.remote {
		fn(LinkKeys(l), func(o *world) { o.remote = append(o.remote, l) })
	}
	for _, ob := range w.obs {
		fn(ObservationKeys(ob), func(o *world) { o.obs = append(o.obs, ob) })
	}
	for _, c := range w.conflicts {
		fn(ConflictKeys(c), func(o *world) { o.conflicts = append(o.conflicts, c) })
	}
	for _, d := range w.decisions {
		fn(DecisionKeys(d), func(o *world) { o.decisions = append(o.decisions, d) })
	}
}

// closure grows seeds to every key of every record that shares one with
// them, until nothing new is found: what a store does with its indexes.
func (w world) closure(cfg Config, seeds KeySet) KeySet {
	for grown := true; grown; {
		grown = false
		w.eachRecord(cfg, func(keys []Key, _ func(*world)) {
			if seeds.Any(keys) && seeds.Add(keys) {
				grown = true
			}
		})
	}
	return seeds
}

// subset is the records of w in ks.
func (w world) subset(cfg Config, ks KeySet) world {
	var out world
	w.eachRecord(cfg, func(keys []Key, copyTo func(*world)) {
		if ks.Any(keys) {
			copyTo(&out)
		}
	})
	return out
}

// changedKeys are the keys of every record that one world has and the other
// has not (a changed record is both: its old and its new version).
func changedKeys(cfg Config, before, after world) KeySet {
	count := func(w world) map[string]int {
		m := map[string]int{}
		w.eachRecord(cfg, func(keys []Key, copyTo func(*world)) {
			var one world
			copyTo(&one)
			m[fmt.Sprintf("%+v", one)]++
		})
		return m
	}
	b, a := count(before), count(after)
	ks := KeySet{}
	add := func(w world, other map[string]int) {
		w.eachRecord(cfg, func(keys []Key, copyTo func(*world)) {
			var one world
			copyTo(&one)
			if s := fmt.Sprintf("%+v", one); other[s] == 0 {
				ks.Add(keys)
			} else {
				other[s]--
			}
		})
	}
	add(before, a)
	add(after, b)
	return ks
}

// changeWorld makes one to four random changes of the kinds a scheduled run
// sees: users changed, added and removed on both sides, sign-ins recorded,
// links written, decisions taken. New values come from another random
// version of one of the world's islands, so they collide with its records
// as densely as they collide with each other.
func changeWorld(rng *rand.Rand, w world, islands int) world {
	island := rng.IntN(islands)
	pool := randomIsland(rng, island)
	w = shuffled(rng, w) // fresh slices, and the order must not matter anyway
	pick := func(n int) int { return rng.IntN(n) }
	for range 1 + rng.IntN(4) {
		switch rng.IntN(10) {
		case 0: // an Entra user changes (UPN, mail, enabled, scope, deletion)
			if i := slices.IndexFunc(w.entra, func(u identity.EntraUser) bool { return islandOf(u.ObjectID) == island }); i >= 0 {
				u := pool.entra[pick(len(pool.entra))]
				u.ObjectID = w.entra[i].ObjectID
				w.entra[i] = u
			}
		case 1: // an Entra user appears or disappears
			if rng.IntN(2) == 0 && len(w.entra) > 0 {
				w.entra = slices.Delete(w.entra, 0, 1)
			} else {
				u := pool.entra[pick(len(pool.entra))]
				u.ObjectID = oid(1000*island + 100 + pick(3))
				if !slices.ContainsFunc(w.entra, func(e identity.EntraUser) bool { return e.ObjectID == u.ObjectID }) {
					w.entra = append(w.entra, u)
				}
			}
		case 2: // a Salesforce user changes (username, FederationIdentifier, email, active)
			if i := slices.IndexFunc(w.sf, func(u identity.SalesforceUser) bool { return islandOf(u.ID) == island }); i >= 0 {
				u := pool.sf[pick(len(pool.sf))]
				u.ID = w.sf[i].ID
				w.sf[i] = u
			}
		case 3: // a Salesforce user appears (a JIT duplicate?) or disappears
			if rng.IntN(2) == 0 && len(w.sf) > 0 {
				w.sf = slices.Delete(w.sf, 0, 1)
			} else {
				u := pool.sf[pick(len(pool.sf))]
				u.ID = sfid(1000*island + 100 + pick(3))
				if !slices.ContainsFunc(w.sf, func(s identity.SalesforceUser) bool { return s.ID == u.ID }) {
					w.sf = append(w.sf, u)
				}
			}
		case 4: // a sign-in creates or re-points a ThirdPartyAccountLink, or one is revoked
			w.tpal = changeUnique(rng, w.tpal, pool.tpal, func(l identity.ThirdPartyAccountLink) string { return l.Provider + "/" + l.RemoteIdentifier })
		case 5: // idlink's links change
			w.links = changeUnique(rng, w.links, pool.links, func(l identity.Link) string { return l.Key().String() })
		case 6: // Identity_Link__c rows change in Salesforce
			w.remote = changeUnique(rng, w.remote, pool.remote, func(l identity.Link) string { return l.Key().String() })
		case 7: // the bridge observes a sign-in
			w.obs = changeUnique(rng, w.obs, pool.obs, func(o identity.Observation) string { return fmt.Sprint(o) })
		case 8: // an observation conflict is recorded
			if len(pool.obs) > 0 && len(w.entra) > 0 {
				o := pool.obs[pick(len(pool.obs))]
				other := o.ObjectID
				if rng.IntN(2) == 0 { // the same subject seen with a user anywhere in the tenant
					other = w.entra[pick(len(w.entra))].ObjectID
				}
				w.conflicts = append(w.conflicts, identity.ObservationConflict{Provider: o.Provider, Subject: o.Subject,
					ObjectID: pool.entra[pick(len(pool.entra))].ObjectID, OtherObject: other, Source: identity.SourceBridge})
			}
		case 9: // an admin decides
			w.decisions = changeUnique(rng, w.decisions, pool.decisions, func(d identity.Decision) string { return fmt.Sprint(d) })
		}
	}
	return w
}

// randomIslands is a world of one to three islands (randomIsland): a
// change on one leaves the others outside its closure.
func randomIslands(rng *rand.Rand, islands int) world {
	var w world
	for j := range islands {
		i := randomIsland(rng, j)
		w.entra, w.sf, w.tpal = append(w.entra, i.entra...), append(w.sf, i.sf...), append(w.tpal, i.tpal...)
		w.links, w.remote, w.obs = append(w.links, i.links...), append(w.remote, i.remote...), append(w.obs, i.obs...)
		w.conflicts, w.decisions = append(w.conflicts, i.conflicts...), append(w.decisions, i.decisions...)
	}
	return w
}

// islandOf is the island (randomIsland) an object id or Salesforce id of
// the test helpers oid and sfid belongs to.
func islandOf(id string) int {
	n, _ := strconv.Atoi(id[len(id)-12:])
	return n / 1000
}

// changeUnique removes a record, or adds one from pool in place of any with
// the same key.
func changeUnique[T any](rng *rand.Rand, rs, pool []T, key func(T) string) []T {
	if rng.IntN(3) == 0 && len(rs) > 0 {
		return slices.Delete(rs, 0, 1)
	}
	if len(pool) == 0 {
		return rs
	}
	r := pool[rng.IntN(len(pool))]
	rs = slices.DeleteFunc(rs, func(x T) bool { return key(x) == key(r) })
	return append(rs, r)
}

func renderIn(ks KeySet, r *Result, in bool) []string {
	var out []string
	for _, a := range r.Assessments.All() {
		if AssessmentIn(ks, a) == in {
			out = append(out, fmt.Sprintf("assessment %+v", a))
		}
	}
	for _, a := range r.Actions {
		if ActionIn(ks, a) == in {
			out = append(out, fmt.Sprintf("action %+v", a))
		}
	}
	slices.Sort(out)
	return out
}

// TestIncrementalPlanEqualsFullPlan: for random worlds and random changes,
// planning only the records that share keys with the changes (closed over
// those keys) decides those identities as the full plan of the changed world
// does, and the full plan's decisions on everything else are the previous
// plan's. So a scheduled run may plan what changed and keep the rest.
func TestIncrementalPlanEqualsFullPlan(t *testing.T) {
	n := uint64(1000)
	if v, err := strconv.ParseUint(os.Getenv("IDLINK_PROPERTY_SEEDS"), 10, 64); err == nil {
		n = v
	}
	nonTrivial := 0
	for seed := range n {
		rng := rand.New(rand.NewPCG(seed, 11))
		islands := 1 + rng.IntN(3)
		before := randomIslands(rng, islands)
		cfg := randomConfig(rng)
		after := changeWorld(rng, before, islands)
		ks := after.closure(cfg, changedKeys(cfg, before, after))

		full0, err := Plan(cfg, before.snapshot(t))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		full1, err := Plan(cfg, after.snapshot(t))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		part, err := Plan(cfg, after.subset(cfg, ks).snapshot(t))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got, want := renderIn(ks, part, true), renderIn(ks, full1, true); !slices.Equal(got, want) {
			t.Fatalf("seed %d: the plan of the affected records differs from the full plan's for them\n%s", seed, diff(want, got))
		}
		if extra := renderIn(ks, part, false); len(extra) > 0 {
			t.Fatalf("seed %d: the plan of the affected records decides on others: %v", seed, extra)
		}
		if got, want := renderIn(ks, full1, false), renderIn(ks, full0, false); !slices.Equal(got, want) {
			t.Fatalf("seed %d: outside what the changes affect, the full plan changed\n%s", seed, diff(want, got))
		}
		if len(renderIn(ks, full1, false)) > 0 {
			nonTrivial++
		}
	}
	// The property says little if every change affected everything.
	if nonTrivial < int(n)/3 {
		t.Fatalf("only %d of %d worlds kept identities outside the closure", nonTrivial, n)
	}
}
