package reconcile

import (
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Kept is what an incremental plan kept of an earlier run: its assessments,
// how many by situation and how many of them are matched (Matched), and its
// flags, how many by flag name.
type Kept struct {
	Situations map[identity.Situation]int64
	Matched    int
	Flags      map[string]int64
}

// Matched reports whether a counts as a matched identity for the create
// limit: an Entra user matched to a Salesforce user it can sign in as.
func Matched(a identity.Assessment) bool {
	return a.ObjectID != "" && a.SalesforceUserID != "" &&
		(a.Situation == identity.Linked || a.Situation == identity.Unlinked || a.Situation == identity.Misrouted)
}

// Keep completes the plan of the records some changes affect with what an
// earlier plan decided for every other identity, which a plan of everything
// would decide again (TestIncrementalPlanEqualsFullPlan): kept tallies their
// assessments and flags, which the store keeps in that plan's run
// (store.MergeAssessments, store.MergeActions); every other action of a
// successful run was applied, so its identity changed and is planned again.
// activeLinks is the store's count of active links, the safety limit's
// denominator, which a partial snapshot does not know.
//
// The counters of Entra users that get no assessment ("entra.quiet",
// "entra.guest", "entra.no-upn", "ignored.*") cannot be completed from an
// earlier plan's totals; they are dropped, and kept by full plans only.
func (r *Result) Keep(kept Kept, activeLinks int) {
	for k := range r.Counts {
		if strings.HasPrefix(k, "entra.") || strings.HasPrefix(k, "ignored.") {
			delete(r.Counts, k)
		}
	}
	r.Kept = kept
	for s, n := range kept.Situations {
		r.Counts[identity.SituationKey(s)] += n
	}
	for f, n := range kept.Flags {
		if n > 0 {
			r.Counts["action."+string(identity.ActionFlag)] += n
			r.Counts["flag."+f] += n
		}
	}
	r.ActiveLinks = activeLinks
}

// Identities is how many assessments the plan stands for: its own and the
// ones it kept.
func (r *Result) Identities() int {
	n := r.Assessments.Len()
	for _, k := range r.Kept.Situations {
		n += int(k)
	}
	return n
}

// CountSituations sets counts' situation counters to those of the plan's
// assessments and the kept ones.
func (r *Result) CountSituations(counts map[string]int64) {
	r.Assessments.CountSituations(counts)
	for s, n := range r.Kept.Situations {
		counts[identity.SituationKey(s)] += n
	}
}

// Matched is how many identities the plan and what it kept count as matched.
func (r *Result) Matched() int {
	n := r.Kept.Matched
	as := &r.Assessments
	for i := range as.Len() {
		switch as.Situation(i) { // Matched's situations: only those are read whole
		case identity.Linked, identity.Unlinked, identity.Misrouted:
			if Matched(as.At(i)) {
				n++
			}
		}
	}
	return n
}

// keptCoverage is the kept assessments' share of the coverage: no action of
// the plan concerns them.
func (r *Result) keptCoverage() Coverage {
	k := r.Kept.Situations
	return Coverage{Linked: int(k[identity.Linked]),
		Total: int(k[identity.Linked] + k[identity.Unlinked] + k[identity.Unmatched] + k[identity.Disputed] + k[identity.Misrouted])}
}
