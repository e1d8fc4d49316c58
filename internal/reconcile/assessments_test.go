package reconcile

import (
	"testing"
	"time"
	"unsafe"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Whatever an assessment says, At returns it exactly: read back from the
// rows it names where it agrees with them, kept whole where it does not.
func TestAssessmentsGiveBackWhatWasAdded(t *testing.T) {
	s := NewSnapshot()
	if err := s.AddEntraUser(identity.EntraUser{ObjectID: oid(1), UPN: "ada@example.com", AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSalesforceUser(identity.SalesforceUser{ID: sfid(1), Username: "ada@example.com.sf", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	e, u := s.entraAt(0), s.sfAt(0)
	both := identity.Assessment{Provider: pE, Situation: identity.Unlinked, ObjectID: e.oid, UPN: e.upn,
		SalesforceUserID: u.id, SalesforceUsername: u.username, Subject: "sub-1", Rule: identity.RuleObjectID, Detail: "matched"}
	tests := []struct {
		name      string
		a         identity.Assessment
		entra, sf int32
		whole     bool
	}{
		{"both sides from their rows", both, e.row, u.row, false},
		{"Entra side only", identity.Assessment{Provider: pE, Situation: identity.Unmatched, ObjectID: e.oid, UPN: e.upn}, e.row, none, false},
		{"Salesforce side only", identity.Assessment{Situation: identity.Orphaned, SalesforceUserID: u.id, SalesforceUsername: u.username}, none, u.row, false},
		{"nothing from a row", identity.Assessment{Provider: pE, Situation: identity.Orphaned, Subject: "s"}, none, none, false},
		{"object id not the row's", func() identity.Assessment { a := both; a.ObjectID = oid(2); return a }(), e.row, u.row, true},
		{"UPN not the row's", func() identity.Assessment { a := both; a.UPN = "other@example.com"; return a }(), e.row, u.row, true},
		{"username not the row's", func() identity.Assessment { a := both; a.SalesforceUsername = "x"; return a }(), e.row, u.row, true},
		{"Salesforce id without a row", func() identity.Assessment { a := both; return a }(), e.row, none, true},
		{"object id without a row", func() identity.Assessment { a := both; return a }(), none, u.row, true},
		{"row out of range", both, 7, u.row, true},
	}
	as := newAssessments(s, 0)
	for _, tt := range tests {
		as.add(tt.a, tt.entra, tt.sf)
	}
	for i, tt := range tests {
		if got := as.At(i); got != tt.a {
			t.Errorf("%s: At = %+v, want %+v", tt.name, got, tt.a)
		}
		if as.rows[i].whole != tt.whole {
			t.Errorf("%s: kept whole %v, want %v", tt.name, as.rows[i].whole, tt.whole)
		}
	}

	// Set keeps the rows an assessment names, and what no longer agrees
	// with them is kept whole (and back).
	changed := both
	changed.Situation, changed.Detail = identity.Linked, "linked by this run: matched"
	as.Set(0, changed)
	moved := changed
	moved.SalesforceUserID = sfid(9)
	as.Set(1, moved)
	as.Set(4, both)
	for i, want := range map[int]identity.Assessment{0: changed, 1: moved, 4: both} {
		if got := as.At(i); got != want {
			t.Errorf("after Set, At(%d) = %+v, want %+v", i, got, want)
		}
	}
	if as.rows[0].whole || !as.rows[1].whole || as.rows[4].whole {
		t.Errorf("after Set, kept whole: %v %v %v, want false true false", as.rows[0].whole, as.rows[1].whole, as.rows[4].whole)
	}

	for i, a := range as.All() {
		if got := as.Situation(i); got != a.Situation {
			t.Errorf("Situation(%d) = %s, want %s (whole %v)", i, got, a.Situation, as.rows[i].whole)
		}
	}

	counts := map[string]int64{}
	as.CountSituations(counts)
	want := map[identity.Situation]int64{}
	for _, a := range as.All() {
		want[a.Situation]++
	}
	for _, sit := range identity.Situations {
		if got := counts[identity.SituationKey(sit)]; got != want[sit] {
			t.Errorf("CountSituations: %s = %d, want %d", sit, got, want[sit])
		}
	}
}

// A planned action is the action it was made from, whatever it holds.
func TestPlannedActionsGiveBackWhatWasPlanned(t *testing.T) {
	link := identity.Link{Provider: pE, Subject: "sub-1", SalesforceUserID: sfid(1), ObjectID: oid(1), TenantID: "tid",
		Rule: identity.RuleObjectID, Status: identity.LinkActive, Reason: "matched by oid"}
	dated := link
	dated.UpdatedAt = time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	stored := link
	stored.StoreID = "db-1"
	tests := []struct {
		name  string
		a     identity.Action
		whole bool
	}{
		{"a create", identity.Action{Kind: identity.ActionCreateLink, Link: link, Reason: "matched by oid"}, false},
		{"a flag", identity.Action{Kind: identity.ActionFlag, Flag: FlagOrphan, Link: identity.Link{SalesforceUserID: sfid(2)}, Reason: "orphan"}, false},
		{"a link with a time", identity.Action{Kind: identity.ActionUpdateLink, Link: dated}, true},
		{"a link with a database id", identity.Action{Kind: identity.ActionRevokeLink, Link: stored}, true},
	}
	var c plannedActions
	var xs []planned
	for i, tt := range tests {
		xs = append(xs, c.encode(tt.a, i%2 == 0))
	}
	for i, tt := range tests {
		if got := c.decode(&xs[i]); got != tt.a {
			t.Errorf("%s: decode = %+v, want %+v", tt.name, got, tt.a)
		}
		if got := c.key(&xs[i]); got != tt.a.Link.Key() {
			t.Errorf("%s: key = %v, want %v", tt.name, got, tt.a.Link.Key())
		}
		if (xs[i].whole > 0) != tt.whole || xs[i].disruptive != (i%2 == 0) {
			t.Errorf("%s: whole %v disruptive %v, want %v %v", tt.name, xs[i].whole > 0, xs[i].disruptive, tt.whole, i%2 == 0)
		}
	}
	if n := unsafe.Sizeof(planned{}); n > 96 {
		t.Errorf("a planned action takes %d bytes, want at most 96", n)
	}
}
