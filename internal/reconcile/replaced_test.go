package reconcile

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// TestReplacedAgreesWithTheClosure: what an incremental run records as
// replaced (KeySet.Replaced, stored as run_replaced rows and read back) is
// exactly what the run planned again: the store keeps a base's assessment
// or flag by reference when, and only when, AssessmentIn or ActionIn says
// the closure does not hold it. A disagreement either way shows an admin a
// stale flag beside a new one, or loses one.
func TestReplacedAgreesWithTheClosure(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	oids := []string{oid(1), oid(2), oid(3)}
	spell := func() string {
		o := oids[rng.IntN(len(oids))]
		switch rng.IntN(6) {
		case 0:
			return strings.ToUpper(o)
		case 1:
			return "{" + o + "}"
		case 2:
			return " " + o + "\n"
		case 3:
			return "not-a-guid"
		case 4:
			return ""
		}
		return o
	}
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	agreements := map[bool]int{}
	for range 2000 {
		ks := KeySet{}
		for range rng.IntN(6) {
			switch rng.IntN(5) {
			case 0:
				ks.Add(oidKey(nil, spell()))
			case 1:
				ks.Add([]Key{{Kind: KeySalesforce, Value: pick("005A", "005B", "005C")}})
			case 2:
				ks.Add([]Key{{Kind: KeySubject, Provider: pick("p", "q"), Value: pick("s1", "s2", "005A")}})
			case 3:
				ks.Add([]Key{{Kind: KeyUsername, Value: pick("005a", "s1")}})
			case 4:
				ks.Add([]Key{{Kind: KeyEmail, Value: pick("005A", oid(1))}})
			}
		}
		// As a store holds it: rows written, then read back.
		set := store.NewIdentitySet(store.Replaced{})
		kinds, values := store.ReplacedRows(ks.Replaced())
		for i := range kinds {
			set.AddReplaced(kinds[i], values[i])
		}
		for range 10 {
			a := identity.Action{Kind: identity.ActionFlag, Link: identity.Link{Provider: pick("p", "q"), Subject: pick("", "s1", "s2", "005A"),
				SalesforceUserID: pick("", "005A", "005B", "s1"), ObjectID: spell()}}
			if got, want := set.HasAction(a), ActionIn(ks, a); got != want {
				t.Fatalf("closure %v: action %+v: the store's HasAction = %v, ActionIn = %v", ks, a.Link, got, want)
			}
			as := identity.Assessment{Provider: pick("p", "q"), ObjectID: spell(), SalesforceUserID: pick("", "005A", "005C"), Subject: pick("", "s1")}
			got, want := set.Has(as), AssessmentIn(ks, as)
			if got != want {
				t.Fatalf("closure %v: assessment %+v: the store's Has = %v, AssessmentIn = %v", ks, as, got, want)
			}
			agreements[want]++
		}
	}
	if agreements[true] < 1000 || agreements[false] < 1000 {
		t.Fatalf("the cases were one-sided: %v", agreements)
	}
}
