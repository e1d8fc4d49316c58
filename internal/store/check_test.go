package store

import (
	"testing"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

func TestObserveAgain(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	old := identity.Observation{Provider: "P", Subject: "s", ObjectID: "3f2a0000-0000-4000-8000-000000000001", FirstSeen: t0, LastSeen: t0.Add(time.Hour), Count: 3}
	again := identity.Observation{Provider: "P", Subject: "s", ObjectID: "3F2A0000-0000-4000-8000-000000000001", TenantID: "t", ClientID: "c",
		FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(2 * time.Hour), Count: 2}
	r := ObserveAgain(old, again)
	if r.Outcome != identity.ObservationKnown || r.Existing.FirstSeen != again.FirstSeen || r.Existing.LastSeen != again.LastSeen ||
		r.Existing.Count != 5 || r.Existing.TenantID != "t" || r.Existing.ClientID != "c" || r.Existing.ObjectID != old.ObjectID {
		t.Errorf("same object (case aside): %+v", r)
	}
	other := again
	other.ObjectID = "3f2a0000-0000-4000-8000-000000000002"
	if r := ObserveAgain(old, other); r.Outcome != identity.ObservationConflicting || r.Existing != old {
		t.Errorf("another object must conflict and leave the stored one: %+v", r)
	}
}
