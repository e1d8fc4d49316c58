package reconcile

import (
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// TestKeepCountsWhatItKept: the assessments an incremental plan kept count
// in the situation counters, the coverage and the create limit's share of
// matched identities as if the plan held them; the counters only a full
// plan can complete are dropped.
func TestKeepCountsWhatItKept(t *testing.T) {
	create := identity.Action{Kind: identity.ActionCreateLink, Link: identity.Link{Provider: pE, Subject: "s", SalesforceUserID: sfid(1), ObjectID: oid(1), Status: identity.LinkActive}}
	plan := func() *Result {
		return &Result{
			Assessments:     assessmentsOf(identity.Assessment{Provider: pE, Situation: identity.Unlinked, ObjectID: oid(1), SalesforceUserID: sfid(1), Subject: "s"}),
			Actions:         []identity.Action{create, create, create},
			Counts:          map[string]int64{"entra.quiet": 3, "ignored.provider-rows": 1, identity.SituationKey(identity.Unlinked): 1},
			ComputedCreates: []int{0, 1, 2},
			ActiveLinks:     5,
		}
	}
	kept := Kept{Situations: map[identity.Situation]int64{identity.Linked: 90, identity.Unmatched: 9, identity.Orphaned: 4}, Matched: 90,
		Flags: map[string]int64{FlagGuest: 2, FlagSuspectedDuplicate: 0}}
	limits := Limits{MaxChanges: 10, MaxPercent: 50, MaxCreates: 100, MaxCreatePercent: 20, MaxCoverageDrop: 5}

	// Alone, three creates for one matched identity break the create share.
	if h := CheckLimits(plan(), limits, nil); h == nil {
		t.Fatal("three computed creates for one matched identity were not held: the test checks nothing")
	}
	r := plan()
	r.Keep(kept, 120)
	if h := CheckLimits(r, limits, nil); h != nil {
		t.Fatalf("with 90 kept matched identities the plan was held: %v", h)
	}
	if r.ActiveLinks != 120 {
		t.Errorf("ActiveLinks = %d, want the store's 120", r.ActiveLinks)
	}
	if r.Identities() != 104 {
		t.Errorf("Identities = %d, want 1 planned + 103 kept", r.Identities())
	}
	if got := CoverageAfter(r); got != (Coverage{Linked: 91, Total: 100}) {
		t.Errorf("CoverageAfter = %+v, want the kept 90 of 99 and the created link", got)
	}
	counts := map[string]int64{}
	r.CountSituations(counts)
	for s, want := range map[identity.Situation]int64{identity.Linked: 90, identity.Unlinked: 1, identity.Unmatched: 9, identity.Orphaned: 4, identity.Disputed: 0} {
		if counts[identity.SituationKey(s)] != want || r.Counts[identity.SituationKey(s)] != want {
			t.Errorf("%s: CountSituations %d, Counts %d; want %d", s, counts[identity.SituationKey(s)], r.Counts[identity.SituationKey(s)], want)
		}
	}
	if _, ok := r.Counts["entra.quiet"]; ok {
		t.Error("entra.quiet was kept: it counted only the planned part")
	}
	if _, ok := r.Counts["ignored.provider-rows"]; ok {
		t.Error("ignored.provider-rows was kept: it counted only the planned part")
	}
	if r.Counts["flag."+FlagGuest] != 2 || r.Counts["action.flag"] != 2 || len(r.Actions) != 3 {
		t.Errorf("kept flags: counts %v, actions %v; want two guest flags counted, the plan's own three actions", r.Counts, r.Actions)
	}
	if _, ok := r.Counts["flag."+FlagSuspectedDuplicate]; ok {
		t.Error("a flag none of which was kept got a counter")
	}
	// A coverage drop is judged on everything.
	base := Coverage{Linked: 99, Total: 100}
	if h := CheckLimits(r, limits, &base); h == nil {
		t.Error("coverage 91 % after 99 % was not held")
	}
}
