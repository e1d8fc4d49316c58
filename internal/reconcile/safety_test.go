package reconcile

import (
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
)

// TestCheckLimitsMassChanges: the safety limit holds mass creates with
// computed subjects once links exist, and a drop of linked coverage against
// the previous successful run, each with a reason naming the numbers.
func TestCheckLimitsMassChanges(t *testing.T) {
	// plan builds a result: linked + unlinked matched identities, creates of
	// computed subjects for the first `creates` unlinked ones.
	plan := func(linked, unlinked, creates, active int) *Result {
		r := &Result{ActiveLinks: active}
		for i := range linked + unlinked {
			a := identity.Assessment{Provider: pB, ObjectID: oid(i), SalesforceUserID: sfid(i), Subject: oid(i), Situation: identity.Linked}
			if i >= linked {
				a.Situation = identity.Unlinked
				if i-linked < creates {
					r.ComputedCreates = append(r.ComputedCreates, len(r.Actions))
					r.Actions = append(r.Actions, identity.Action{Kind: identity.ActionCreateLink, Link: identity.Link{Provider: pB, Subject: oid(i), SalesforceUserID: sfid(i), ObjectID: oid(i), Status: identity.LinkActive}})
				}
			}
			r.Assessments.Append(a)
		}
		return r
	}
	limits := Limits{MaxChanges: 500, MaxPercent: 20, MaxCreates: 500, MaxCreatePercent: 20, MaxCoverageDrop: 10}
	tests := []struct {
		name     string
		r        *Result
		l        Limits
		baseline *Coverage
		reason   string // "" = not held
		held     int
	}{
		{"first backfill creates everyone's link: not limited", plan(0, 1000, 1000, 0), limits, nil, "", 0},
		{"a few new users: under the limits", plan(90, 10, 5, 90), limits, nil, "", 0},
		{"computed creates above 20% of matched: held", plan(50, 50, 30, 50), limits, nil, "create 30 links with computed subjects for 100 matched identities", 30},
		{"computed creates above the count: held", plan(50, 50, 3, 50), Limits{MaxCreates: 2, MaxCreatePercent: -1}, nil, "create 3 links", 3},
		{"create limit off", plan(50, 50, 50, 50), Limits{MaxCreates: -1, MaxCreatePercent: -1}, nil, "", 0},
		{"coverage drops 70 points below the last successful run: held", plan(10, 90, 0, 80), limits, &Coverage{Linked: 80, Total: 100}, "drop from 80.0% (80 of 100, previous successful run) to 10.0%", 0},
		{"coverage drops 5 points: fine", plan(75, 25, 0, 80), limits, &Coverage{Linked: 80, Total: 100}, "", 0},
		{"no previous successful run: no coverage limit", plan(10, 90, 0, 80), limits, nil, "", 0},
		{"coverage limit off", plan(10, 90, 0, 80), Limits{MaxCoverageDrop: -1, MaxCreatePercent: -1, MaxCreates: -1}, &Coverage{Linked: 80, Total: 100}, "", 0},
		{"creates that restore coverage count as linked", plan(10, 90, 90, 10), Limits{MaxCreates: -1, MaxCreatePercent: -1, MaxCoverageDrop: 10}, &Coverage{Linked: 100, Total: 100}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := CheckLimits(tc.r, tc.l, tc.baseline)
			if tc.reason == "" {
				if h != nil {
					t.Fatalf("held: %v", h)
				}
				return
			}
			if h == nil {
				t.Fatalf("not held, want %q", tc.reason)
			}
			if !strings.Contains(h.Error(), tc.reason) {
				t.Errorf("reason %q does not say %q", h.Error(), tc.reason)
			}
			if len(h.Held) != tc.held {
				t.Errorf("%d held actions, want %d", len(h.Held), tc.held)
			}
		})
	}
}
